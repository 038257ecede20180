"""Where the forecast error of Figs. 4 and 5 falls, and whether that is what section 3 claims.

The paper's statements (paper-claims C1, C2), for one period triple with individual periods
p1 < p2 < p3 and common period ℓ = lcm, all in observations:

* **C1** (one memory unit, Fig. 4): the error stays high until the context holds one full common
  period, then drops sharply; there is no drop at the individual periods.
* **C2** (three units, Fig. 5): the error falls as the context covers each moon's period and is
  low once it covers the slowest one, p3, before ℓ.

The curve m(L) (mean MAD over windows at context length L, on a grid of step Δ) is read through
three levels and a drop profile; every constant below is fixed from those statements, not fitted
to any curve:

* levels, means of m over context ranges: ``E0`` before any period is covered,
  L ∈ [L_min, 0.9·p1]; ``E1`` once every individual period but not ℓ is covered,
  L ∈ [1.1·p3, 0.9·ℓ]; ``E2`` once ℓ is covered, L ∈ [ℓ, 1.1·ℓ];
* **share of the fall made before the lcm**, ``s = (E0 − E1) / (E0 − E2)``: C1 says most of
  the fall waits for the lcm (s < 1/2), C2 says most of it is done once p3 is covered (s > 1/2);
* **drop profile** ``D(L)`` = mean of m over [L − w, L) minus mean over [L, L + w), a step of
  the curve seen through a window of half-width w = half the smallest gap between consecutive
  reference points 0, p1, p2, p3, ℓ (so neighbouring steps stay apart). A step of the error at
  context M gives a peak of D at the first grid point after M;
* "near" a reference M: within ±10% of M, plus one grid step (the resolution of the grid);
* C1's location parts: the largest drop of the whole curve, argmax D, is near ℓ; no drop near
  an individual period is *comparable* to it (each is below half of it);
* C2's location part: the three largest steps among contexts up to 1.1·p3 are near the three
  individual periods, one each; a step is a peak of D (the largest value within ±w) of at least
  5% of the fall E0 − E2, so that the wiggles of a flat stretch are not steps.

The share, the location parts and the verdicts are computed on the mean curve and on bootstrap
resamples of the windows (the units: each window is an independent draw of a start): the share's
95% interval is decided against 1/2 (:func:`mosaic.harness.claims.decide`); a location part
holds if it holds in at least 97.5% of the resamples, fails if in at most 2.5%, and is
inconclusive otherwise. A triple's verdict combines its parts (:func:`mosaic.harness.claims.combine`).

Known answers (tests): with W_φ = W_ψ = W_z = identity and no training, 1 head drops once, at ℓ
(0.61 → 0.16 on the held-out triple), and 3 heads step down at 44, 89 and 133 observations;
both claims hold on both triples. A grid too coarse to separate the references (Δ > w, e.g. the
smoke configuration) or too short to reach 1.1·ℓ gives ``inconclusive`` with the reason.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mosaic.harness.claims import FAILS, HOLDS, INCONCLUSIVE, LEVEL, N_BOOT, combine, decide

TOLERANCE = 0.1  # "near" a reference period: within ±10% (plus one grid step)
COMPARABLE = 0.5  # a drop at an individual period is comparable to the lcm drop if at least half of it
SHARE_BOUNDARY = 0.5  # "most of the fall": share of the fall made before the lcm vs 1/2
STEP_MIN = 0.05  # a step is a drop of at least 5% of the fall E0 - E2 (smaller wiggles are not steps)
N_STEPS = 3  # one step per moon
CLAIM_OF_HEADS = {1: "C1", 3: "C2"}
CLAIM_TEXT = {
    "C1": "error stays high until the lcm, then drops; no drop at the individual periods",
    "C2": "error steps down at the individual periods and is low once the slowest is covered, before the lcm",
}


@dataclass(frozen=True)
class Marks:
    """The reference context lengths of one triple, in observations."""

    periods: tuple[float, float, float]  # ascending
    lcm: float

    @classmethod
    def from_curve(cls, curve: pd.DataFrame) -> Marks:
        periods = sorted(float(p) for p in str(curve["periods_obs"].iloc[0]).split(";"))
        return cls(tuple(periods), float(curve["lcm_obs"].iloc[0]))  # type: ignore[arg-type]

    def half_width(self) -> float:
        """w: half the smallest gap between consecutive references 0, p1, p2, p3, lcm."""
        refs = sorted({0.0, *self.periods, self.lcm})
        return float(np.min(np.diff(refs))) / 2 if len(refs) > 1 else 0.0


def near(L: np.ndarray | float, reference: float, step: float) -> np.ndarray | bool:
    """Whether context(s) ``L`` lie within ±10% of ``reference`` plus one grid ``step``."""
    return np.abs(np.asarray(L, dtype=float) - reference) <= TOLERANCE * reference + step


class CurveAnalysis:
    """The fixed linear read-outs of a curve on one context grid (levels, drop profile) and the
    statistics of :mod:`this module <.transitions>` for one curve or many (bootstrap) at once."""

    def __init__(self, contexts: Sequence[int], marks: Marks):
        L = np.asarray(contexts, dtype=float)
        if L.ndim != 1 or len(L) < 2 or np.any(np.diff(L) <= 0):
            raise ValueError("a curve needs at least 2 strictly increasing context lengths")
        self.L, self.marks = L, marks
        self.step = float(np.median(np.diff(L)))
        self.w = marks.half_width()
        p1, _, p3 = marks.periods
        lcm = marks.lcm
        self.ranges = {"E0": (L[0], (1 - TOLERANCE) * p1), "E1": ((1 + TOLERANCE) * p3, (1 - TOLERANCE) * lcm),
                       "E2": (lcm, (1 + TOLERANCE) * lcm)}
        self.level_weights = {}
        for name, (lo, hi) in self.ranges.items():
            inside = (L >= lo) & (L <= hi)
            self.level_weights[name] = inside / inside.sum() if inside.any() else None
        # D = A @ m: mean over [L - w, L) minus mean over [L, L + w); NaN unless both windows lie
        # inside the grid (a truncated window at L_min = 1, the empty memory, would be a false step)
        A = np.zeros((len(L), len(L)))
        self.drop_defined = np.zeros(len(L), dtype=bool)
        for i, x in enumerate(L):
            before = (L >= x - self.w) & (L < x)
            after = (L >= x) & (L < x + self.w)
            inside = x - self.w >= L[0] and x + self.w <= L[-1] + self.step
            if inside and before.any() and after.any():
                A[i] = before / before.sum() - after / after.sum()
                self.drop_defined[i] = True
        self.A = A
        self.near_period = [near(L, p, self.step) for p in marks.periods]
        self.near_lcm = near(L, lcm, self.step)
        self.step_range = L <= (1 + TOLERANCE) * p3 + self.step
        self.reason = self._unresolved_reason()

    def _unresolved_reason(self) -> str:
        """Why this grid cannot decide the claims ("" if it can)."""
        if self.w <= 0 or self.step > self.w:
            return (f"context grid too coarse: step {self.step:g} > {self.w:.1f} observations (half the "
                    f"smallest gap between the periods {', '.join(f'{p:.1f}' for p in self.marks.periods)} "
                    f"and the lcm {self.marks.lcm:.1f})")
        empty = [name for name, weights in self.level_weights.items() if weights is None]
        if empty:
            spans = ", ".join(f"{n} [{self.ranges[n][0]:.0f}, {self.ranges[n][1]:.0f}]" for n in empty)
            return f"no context of the grid ({self.L[0]:g}..{self.L[-1]:g}) in the level range(s) {spans}"
        return ""

    # -- statistics of many curves at once: m is (B, C) ------------------------------------------
    def levels(self, m: np.ndarray) -> dict[str, np.ndarray]:
        return {name: (m @ wts if wts is not None else np.full(m.shape[0], np.nan))
                for name, wts in self.level_weights.items()}

    def drops(self, m: np.ndarray) -> np.ndarray:
        D = m @ self.A.T
        D[:, ~self.drop_defined] = np.nan
        return D

    def statistics(self, m: np.ndarray) -> dict[str, np.ndarray]:
        """Per curve (row of ``m``): levels, share, largest drop and the location parts of C1/C2."""
        m = np.atleast_2d(np.asarray(m, dtype=float))
        lv = self.levels(m)
        fall = lv["E0"] - lv["E2"]
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(fall > 0, (lv["E0"] - lv["E1"]) / fall, np.nan)
        D = self.drops(m)
        Dm = np.where(np.isnan(D), -np.inf, D)
        star = Dm.argmax(axis=1)
        d_star = Dm[np.arange(len(m)), star]
        near_period_max = np.stack([np.where(mask, Dm, -np.inf).max(axis=1) for mask in self.near_period], axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            period_ratio = np.where(d_star > 0, near_period_max.max(axis=1) / d_star, np.nan)
        steps = self.top_steps(D, STEP_MIN * fall)
        found = np.isfinite(d_star)  # False when the grid defines no drop at all
        return {
            **lv, "share": share, "gap_at_lcm": lv["E1"] - lv["E2"],
            "drop_at": np.where(found, self.L[star], np.nan), "drop": np.where(found, d_star, np.nan),
            "drop_located": self.near_lcm[star] & (d_star > 0),
            "period_drop_ratio": period_ratio,
            "no_period_drop": np.nan_to_num(period_ratio, nan=np.inf) < COMPARABLE,
            "steps": steps,
            "steps_at_periods": np.array([self._steps_at_periods(s) for s in steps]),
        }

    def top_steps(self, D: np.ndarray, minimum: np.ndarray) -> list[list[float]]:
        """Per curve (row of D), the contexts of its ``N_STEPS`` largest steps up to 1.1·p3, largest
        first: peaks of D at least w apart, each larger than that curve's ``minimum`` (and than 0)."""
        out = []
        for row, least in zip(D, minimum):
            d = np.where(self.step_range & ~np.isnan(row), row, -np.inf)
            found: list[float] = []
            for i in np.argsort(-d, kind="stable"):
                if len(found) == N_STEPS or not (d[i] > 0 and d[i] >= least):
                    break
                if all(abs(self.L[i] - f) >= self.w for f in found):
                    found.append(float(self.L[i]))
            out.append(found)
        return out

    def _steps_at_periods(self, steps: list[float]) -> bool:
        """Whether the steps sit one near each individual period."""
        if len(steps) < N_STEPS:
            return False
        return any(all(near(s, p, self.step) for s, p in zip(order, self.marks.periods))
                   for order in itertools.permutations(steps))


def bootstrap_means(per_window: np.ndarray, n_boot: int = N_BOOT, seed: int = 0) -> np.ndarray:
    """(n_boot, C) mean curves of windows (rows of ``per_window``, (N, C)) resampled with
    replacement; the same seed gives the same resamples (a reproducible scorecard)."""
    n = per_window.shape[0]
    rng = np.random.default_rng(seed)
    counts = np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(n_boot)])
    return counts @ per_window / n


def frequency_verdict(freq: float) -> str:
    """A binary part decided over bootstrap resamples: holds in ≥ 97.5% of them, fails in ≤ 2.5%."""
    alpha = (1 - LEVEL) / 2
    if not math.isfinite(freq):
        return INCONCLUSIVE
    return HOLDS if freq >= 1 - alpha else FAILS if freq <= alpha else INCONCLUSIVE


def assess_curve(contexts: Sequence[int], per_window: np.ndarray, marks: Marks, heads: int,
                 n_boot: int = N_BOOT, seed: int = 0) -> dict:
    """C1 (1 head) or C2 (3 heads) on one triple's curve from its per-window errors (N, C).

    Returns the mean curve's statistics, the share's bootstrap interval, the bootstrap frequency of
    each location part, the verdict with its reason, and ``share_boot`` (the resampled shares, for
    a verdict across triples)."""
    if heads not in CLAIM_OF_HEADS:
        raise ValueError(f"three-moons claims are about 1 or 3 heads, got {heads}")
    claim = CLAIM_OF_HEADS[heads]
    per_window = np.atleast_2d(np.asarray(per_window, dtype=float))
    an = CurveAnalysis(contexts, marks)
    point = {k: v[0] for k, v in an.statistics(per_window.mean(axis=0)).items()}
    n = per_window.shape[0]
    out = {"claim": claim, "windows": n, "grid_step": an.step, "half_width": an.w, "resolved": not an.reason, **point,
           "share_ci_low": math.nan, "share_ci_high": math.nan, "gap_ci_low": math.nan, "gap_ci_high": math.nan,
           "share_boot": np.full(0, np.nan)}
    parts = {"C1": ("drop_located", "no_period_drop"), "C2": ("steps_at_periods",)}[claim]
    if an.reason:
        return {**out, **{f"{p}_freq": math.nan for p in parts}, "verdict": INCONCLUSIVE, "reason": an.reason}
    if n < 2:
        return {**out, **{f"{p}_freq": math.nan for p in parts}, "verdict": INCONCLUSIVE,
                "reason": f"{n} window: no interval"}
    boot = an.statistics(bootstrap_means(per_window, n_boot, seed))
    alpha = (1 - LEVEL) / 2
    share = boot["share"]  # NaN where the error does not fall from E0 to E2
    no_fall = float(np.mean(np.isnan(share)))
    if no_fall <= alpha:
        low, high = np.nanquantile(share, [alpha, 1 - alpha])
        share_verdict = decide(low, high, SHARE_BOUNDARY, "below" if claim == "C1" else "above")
    else:  # both claims say the error falls: it does not in most resamples -> fails, else undecided
        low = high = math.nan
        share_verdict = FAILS if no_fall >= 1 - alpha else INCONCLUSIVE
    g_low, g_high = np.quantile(boot["gap_at_lcm"], [alpha, 1 - alpha])
    freqs = {p: float(np.mean(boot[p])) for p in parts}
    verdicts = {"share": share_verdict, **{p: frequency_verdict(f) for p, f in freqs.items()}}
    verdict = combine(list(verdicts.values()))
    reason = "; ".join(f"{k} {v}" for k, v in verdicts.items() if v != HOLDS)
    if no_fall > alpha:
        reason += f" (the error does not fall from E0 to E2 in {no_fall:.0%} of the resamples)"
    return {**out, "share_ci_low": float(low), "share_ci_high": float(high), "gap_ci_low": float(g_low),
            "gap_ci_high": float(g_high), **{f"{p}_freq": f for p, f in freqs.items()}, "verdict": verdict,
            "reason": reason, "share_boot": share}


def window_matrix(per_window: pd.DataFrame, heads: int, split: str) -> tuple[list[int], np.ndarray]:
    """The (windows × contexts) MAD matrix of one curve from the long per-window table."""
    d = per_window[(per_window["heads"] == heads) & (per_window["split"] == split)]
    if d.empty:
        raise ValueError(f"no per-window errors for {heads} head(s), split {split!r}")
    wide = d.pivot(index="window", columns="context", values="mad").sort_index(axis=1)
    if wide.isna().any().any():
        raise ValueError(f"per-window errors of {heads} head(s), split {split!r} miss some (window, context) cells")
    return [int(c) for c in wide.columns], wide.to_numpy(dtype=float)


TABLE_COLUMNS = [
    "heads", "split", "triple", "claim", "paper_claim", "max_period_obs", "lcm_obs", "grid_step", "half_width",
    "windows", "E0", "E1", "E2", "share", "share_ci_low", "share_ci_high", "gap_at_lcm", "gap_ci_low",
    "gap_ci_high", "drop_at", "drop_over_lcm", "drop", "period_drop_ratio", "steps", "drop_located_freq",
    "no_period_drop_freq", "steps_at_periods_freq", "verdict", "reason",
]


def assess_run(curves: pd.DataFrame, per_window: pd.DataFrame | None, n_boot: int = N_BOOT) -> list[dict]:
    """:func:`assess_curve` for every (heads, split) of ``curves`` (``eval.csv`` rows). Without
    ``per_window`` the mean curve alone is analysed (one unit: no interval, inconclusive)."""
    rows = []
    for (heads, split), curve in curves.groupby(["heads", "split"], sort=True):
        curve = curve.sort_values("context")
        marks = Marks.from_curve(curve)
        if per_window is not None:
            contexts, matrix = window_matrix(per_window, int(heads), split)
            if contexts != [int(c) for c in curve["context"]]:
                raise ValueError(f"per-window contexts of {heads} head(s), {split} differ from eval.csv's")
        else:
            contexts, matrix = [int(c) for c in curve["context"]], curve["mad"].to_numpy()[None, :]
        result = assess_curve(contexts, matrix, marks, int(heads), n_boot=n_boot)
        if per_window is None and not CurveAnalysis(contexts, marks).reason:
            result["reason"] = "no per-window errors: no interval"
        rows.append({"heads": int(heads), "split": split, "triple": curve["triple"].iloc[0],
                     "max_period_obs": marks.periods[-1], "lcm_obs": marks.lcm, **result})
    return rows


def transitions_table(curves: pd.DataFrame, per_window: pd.DataFrame | None = None,
                      n_boot: int = N_BOOT) -> pd.DataFrame:
    """One row per (heads, split): levels, share of the fall before the lcm with its interval,
    the largest drop and the steps, the bootstrap frequency of each location part, the verdict."""
    rows = []
    for r in assess_run(curves, per_window, n_boot):
        r = dict(r)
        r.pop("share_boot")
        r["paper_claim"] = CLAIM_TEXT[r["claim"]]
        r["drop_over_lcm"] = r["drop_at"] / r["lcm_obs"]
        r["steps"] = ";".join(f"{s:g}" for s in r["steps"])
        rows.append(r)
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)
