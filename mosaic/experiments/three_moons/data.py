"""Three moons (section 3 of the paper): observations of three moons circling a planet.

Each moon j moves on the unit circle with period p_j (time units). Observed from the planet, the
state at time τ is the complex number z_j(τ) = sin(2πτ/p_j + φ) + i·cos(2πτ/p_j + φ), and one
observation is the 6 reals ``x = [s1, c1, s2, c2, s3, c3]`` (the official ``observer="sun"``
setting: no noise, no rotation, equal radii, a common phase φ = 0.3).

Time is sampled at a fixed rate ρ observations per time unit (the paper's ρ = 800/18 ≈ 44.4,
so that an 800-observation window spans 18 time units), so moon j repeats every ρ·p_j
observations and the whole system every ρ·lcm(p1, p2, p3) observations (its *common period*).

Periods come from {0.5, 1, ..., 3.5}. Training uses the triples with the smallest common period;
one triple, (1, 2, 3), is held out for validation. Ties in the common period are broken by the
slowest period, then lexicographically (see :func:`select_triples`); with the paper's 8 training
triples this reproduces the official list exactly.

Windows are generated on the fly: a window is a triple and an integer start n0, and holds the
observations at τ = (n0 + n)/ρ for n = 0..window. Everything is a pure function of a
``torch.Generator``, so a batch is reproducible from the trainer's seed and step.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import torch

Triple = tuple[float, float, float]

PAPER_PERIODS: tuple[float, ...] = (0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5)
PAPER_SAMPLES_PER_UNIT = 800 / 18  # ρ: 800 observations span 18 time units


def common_period(periods: Sequence[float]) -> float:
    """Least common multiple of periods given as (exact) decimal numbers, e.g. (0.5, 1, 2.5) -> 5."""
    fracs = [Fraction(str(p)) for p in periods]
    if any(f <= 0 for f in fracs):
        raise ValueError(f"periods must be positive, got {tuple(periods)}")
    denominator = math.lcm(*(f.denominator for f in fracs))
    numerators = [int(f * denominator) for f in fracs]
    return float(Fraction(math.lcm(*numerators), denominator))


def select_triples(
    periods: Sequence[float] = PAPER_PERIODS,
    n_train: int = 8,
    val_triple: Sequence[float] = (1.0, 2.0, 3.0),
) -> tuple[list[Triple], Triple]:
    """The training triples and the validation triple.

    All triples of distinct periods are ranked by (common period, slowest period, lexicographic);
    the validation triple is removed and the first ``n_train`` are kept. With the paper's periods
    this yields the official 8 training triples (the official code ranks by common period only
    and its tie order among the common-period-6 triples comes from numpy's argsort; the
    slowest-period tie break picks the same two, (0.5, 1.5, 2) and (1, 1.5, 2)).
    """
    val = tuple(float(p) for p in val_triple)
    if len(val) != 3 or len(set(val)) != 3:
        raise ValueError(f"val_triple must be 3 distinct periods, got {tuple(val_triple)}")
    candidates = [tuple(float(p) for p in t) for t in itertools.combinations(sorted(periods), 3)]
    if tuple(sorted(val)) not in candidates:
        raise ValueError(f"val_triple {val} is not made of the configured periods {tuple(periods)}")
    ranked = sorted(candidates, key=lambda t: (common_period(t), max(t), t))
    train = [t for t in ranked if t != tuple(sorted(val))][:n_train]
    if len(train) < n_train:
        raise ValueError(f"only {len(train)} training triples available, n_train={n_train}")
    return train, val  # type: ignore[return-value]


def observe(periods: torch.Tensor, start: torch.Tensor, length: int,
            samples_per_unit: float = PAPER_SAMPLES_PER_UNIT, phase: float = 0.3) -> torch.Tensor:
    """Observations of windows: ``periods`` (B, 3) time units, ``start`` (B,) integer offsets.

    Returns (B, length, 6) float32 ``[s1, c1, s2, c2, s3, c3]`` at τ = (start + n)/ρ.
    Angles are computed in float64 so long offsets lose no precision.
    """
    n = start.to(torch.float64)[:, None] + torch.arange(length, dtype=torch.float64)  # (B, T)
    tau = n / samples_per_unit
    angle = 2 * math.pi * tau[:, :, None] / periods.to(torch.float64)[:, None, :] + phase  # (B,T,3)
    x = torch.stack([torch.sin(angle), torch.cos(angle)], dim=-1)  # (B, T, 3, 2)
    return x.reshape(x.shape[0], length, 6).to(torch.float32)


@dataclass
class ThreeMoonsData:
    """Window sampler for training (random training triple) and validation (the held-out triple)."""

    train_triples: list[Triple]
    val_triple: Triple
    window: int = 800
    samples_per_unit: float = PAPER_SAMPLES_PER_UNIT
    max_start: int = 8400
    phase: float = 0.3
    batch_size: int = 64
    _train: torch.Tensor = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._train = torch.tensor(self.train_triples, dtype=torch.float64)

    @classmethod
    def from_config(cls, section: dict, batch_size: int | None = None) -> ThreeMoonsData:
        train, val = select_triples(section["periods"], section["n_train_triples"], section["val_triple"])
        return cls(train, val, window=section["window"], samples_per_unit=section["samples_per_unit"],
                   max_start=section["max_start"], phase=section["phase"],
                   batch_size=batch_size or section.get("train", {}).get("batch_size", cls.batch_size))

    def windows(self, periods: torch.Tensor, n: int, generator: torch.Generator,
                length: int | None = None) -> torch.Tensor:
        """``n`` windows of ``length`` (default window + 1) observations; ``periods`` is (3,) or (n, 3)."""
        periods = periods.to(torch.float64)
        if periods.dim() == 1:
            periods = periods.expand(n, 3)
        start = torch.randint(0, self.max_start, (n,), generator=generator)
        return observe(periods, start, length or self.window + 1, self.samples_per_unit, self.phase)

    def get_batch(self, split: str, step: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Trainer hook: (inputs x_0..x_{T-1}, targets x_1..x_T), each (B, T, 6), T = ``window``."""
        if split == "train":
            which = torch.randint(0, len(self.train_triples), (self.batch_size,), generator=generator)
            periods = self._train[which]
        elif split == "val":
            periods = torch.tensor(self.val_triple, dtype=torch.float64)
        else:
            raise ValueError(f"unknown split {split!r} (expected 'train' or 'val')")
        seq = self.windows(periods, self.batch_size, generator)
        return seq[:, :-1], seq[:, 1:]


def period_marks(triple: Sequence[float], samples_per_unit: float = PAPER_SAMPLES_PER_UNIT) -> dict:
    """Periods of a triple in observations: the individual ones, the slowest and the common one."""
    individual = [p * samples_per_unit for p in triple]
    return {"individual": individual, "max": max(individual),
            "lcm": common_period(triple) * samples_per_unit}
