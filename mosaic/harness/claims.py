"""Deciding whether a claim holds, with its uncertainty: the scorecard's statistics.

Every row of the reproduction scorecard (``results/tables/claims.*``, built by
:mod:`mosaic.experiments.claims`) is a :class:`ClaimResult`: a statistic computed from a run's
outputs, a 95% bootstrap interval over independent units (windows, sequences, automata, seeds), and
a verdict read off the interval against a decision boundary fixed *before* looking at the data:

* ``holds`` — the whole interval is on the claim's side of the boundary;
* ``fails`` — the whole interval is on the other side;
* ``inconclusive`` — the interval straddles the boundary (never a silent pass);
* ``not run`` — the run has no output to compute it from (an experiment left out of the run);
* ``not judged`` — a qualitative claim, reported with the table to read instead.

Experiments compute their rows in ``mosaic/experiments/<experiment>/claims.py`` with the helpers
here; nothing in this module knows an experiment.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

HOLDS, FAILS, INCONCLUSIVE, NOT_RUN, NOT_JUDGED = "holds", "fails", "inconclusive", "not run", "not judged"
VERDICTS = (HOLDS, FAILS, INCONCLUSIVE, NOT_RUN, NOT_JUDGED)
LEVEL = 0.95
N_BOOT = 2000


@dataclass
class ClaimResult:
    """One scorecard row (the claim's own text and place come from the scorecard's registry).

    ``statistic``: what is computed, in words; ``decision``: the rule that turns it into a verdict
    (e.g. "holds if the CI lies above 0"); ``value`` and ``ci_low``/``ci_high``: this run's number
    and its 95% interval; ``units``: what the bootstrap resamples and how many (e.g. "300
    windows"); ``sources``: the files it was computed from; ``note``: anything a reader needs
    (a caveat of the scale, a secondary number)."""

    id: str
    statistic: str
    decision: str
    verdict: str
    value: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    units: str = ""
    sources: list[str] = field(default_factory=list)
    note: str = ""

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"claim {self.id}: verdict must be one of {VERDICTS}, got {self.verdict!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def not_run(claim_id: str, statistic: str, decision: str, missing: Sequence[str]) -> ClaimResult:
    """The row of a claim whose outputs are not in this run."""
    return ClaimResult(claim_id, statistic, decision, NOT_RUN,
                       note="not in this run: missing " + ", ".join(str(m) for m in missing))


def bootstrap_ci(units: Sequence[Any] | np.ndarray, statistic: Callable[[np.ndarray], float] = np.mean,
                 n_boot: int = N_BOOT, level: float = LEVEL, seed: int = 0) -> tuple[float, float, float]:
    """``(statistic(units), low, high)``: the percentile bootstrap interval at ``level``,
    resampling the first axis of ``units`` (one row per independent unit) with replacement.
    The seed is fixed so a scorecard is reproducible. Fewer than 2 units give a degenerate
    interval (nan), which :func:`decide` reads as inconclusive."""
    data = np.asarray(units, dtype=float)
    if data.ndim == 0 or len(data) == 0:
        raise ValueError("bootstrap_ci needs at least one unit")
    point = float(statistic(data))
    if len(data) < 2:
        return point, math.nan, math.nan
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(data), size=(n_boot, len(data)))
    stats = np.array([statistic(data[i]) for i in idx], dtype=float)
    alpha = (1.0 - level) / 2.0
    low, high = np.nanquantile(stats, [alpha, 1.0 - alpha])
    return point, float(low), float(high)


def paired_difference_ci(a: Sequence[float], b: Sequence[float], **kwargs: Any) -> tuple[float, float, float]:
    """Mean of ``a - b`` over paired units (the same windows / sequences / automata scored by two
    models) with its bootstrap interval."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired units differ in shape: {a.shape} vs {b.shape}")
    return bootstrap_ci(a - b, **kwargs)


def decide(low: float | None, high: float | None, boundary: float, claim_side: str = "above") -> str:
    """The verdict of an interval ``[low, high]`` for a claim that the quantity lies ``above``
    (or ``below``) ``boundary``: holds if the whole interval is on that side, fails if the whole
    interval is on the other side, inconclusive if it straddles the boundary or is undefined."""
    if claim_side not in ("above", "below"):
        raise ValueError(f"claim_side must be 'above' or 'below', got {claim_side!r}")
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        return INCONCLUSIVE
    above, below = low > boundary, high < boundary
    if claim_side == "below":
        above, below = below, above
    return HOLDS if above else FAILS if below else INCONCLUSIVE


def combine(verdicts: Sequence[str]) -> str:
    """One verdict for a claim made of several parts that must all hold: fails if any part
    fails, holds if all hold, inconclusive otherwise (not run if any part was not run)."""
    if not verdicts:
        raise ValueError("combine needs at least one verdict")
    if NOT_RUN in verdicts:
        return NOT_RUN
    if FAILS in verdicts:
        return FAILS
    return HOLDS if all(v == HOLDS for v in verdicts) else INCONCLUSIVE
