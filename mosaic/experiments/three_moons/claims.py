"""Scorecard rows C1, C2, C3 (section 3, Figs. 4-6) from the files the three-moons rules write.

* C1, C2: ``runs/three_moons/{one_head,three_heads}/eval.csv`` and the per-window errors next to
  them (``eval_windows.csv.gz``), analysed by :mod:`mosaic.experiments.three_moons.transitions`
  (the same analysis as ``tables/three_moons_transitions.csv``) on the training and the held-out
  triple. The statistic is the share of the error's fall made before the context holds the lcm;
  the location parts (where the drops are) are decided over the same bootstrap resamples of the
  windows. A claim holds only if it holds on both triples.
* C3: ``tables/three_moons_decoupling.csv`` (Fig. 6): the fraction of each learned matrix's mass
  on its best permutation, 3-head model against the 1-head model. One trained model per head
  count, so there is no interval: the spread over training seeds is not measured.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from mosaic.experiments.three_moons.evaluate import WINDOWS_FILE, read_window_errors
from mosaic.experiments.three_moons.transitions import COMPARABLE, SHARE_BOUNDARY, STEP_MIN, TOLERANCE, assess_run
from mosaic.harness.claims import FAILS, HOLDS, INCONCLUSIVE, LEVEL, N_BOOT, ClaimResult, combine, not_run

RUN_DIRS = {"C1": "one_head", "C2": "three_heads"}
DECOUPLING_BOUNDARY = 2 / 3  # halfway between uniform mixing (1/3) and a permutation (1)

SHARE_TEXT = ("share of the forecast error's fall made before the context holds the lcm, "
              "s = (E0 - E1)/(E0 - E2), with E0 the mean MAD for contexts up to 0.9 x the fastest period, "
              "E1 from 1.1 x the slowest period to 0.9 x lcm, E2 from lcm to 1.1 x lcm")
STATISTIC = {
    "C1": f"1 head: {SHARE_TEXT}; the larger over the training and held-out triple. Location parts: the "
          f"largest drop of the curve (window of half the smallest gap between periods) lies within "
          f"±{TOLERANCE:.0%} (+1 grid step) of the lcm, and no drop near an individual period is "
          f"{COMPARABLE:g}x as large",
    "C2": f"3 heads: {SHARE_TEXT}; the smaller over the training and held-out triple. Location part: the "
          f"three largest steps (drops of at least {STEP_MIN:.0%} of E0 - E2) up to 1.1 x the slowest period "
          f"lie within ±{TOLERANCE:.0%} (+1 grid step) of the three individual periods, one each",
}
DECISION = {
    "C1": f"holds if on both triples the 95% bootstrap interval of s lies below {SHARE_BOUNDARY:g} and each "
          f"location part holds in >= 97.5% of the resamples; fails if on one triple the interval lies above "
          f"{SHARE_BOUNDARY:g} or a part holds in <= 2.5%; inconclusive otherwise",
    "C2": f"holds if on both triples the 95% bootstrap interval of s lies above {SHARE_BOUNDARY:g} and the "
          f"location part holds in >= 97.5% of the resamples; fails if on one triple the interval lies below "
          f"{SHARE_BOUNDARY:g} or the part holds in <= 2.5%; inconclusive otherwise",
    "C3": f"holds if each of the 3-head model's W_phi, W_psi, W_z has a score above {DECOUPLING_BOUNDARY:.3g} "
          f"(closer to a permutation than to uniform mixing), they route each unit to the same moon "
          f"('consistent'), and each exceeds the 1-head model's score for the same matrix; fails otherwise "
          f"(no interval: one trained model per head count)",
}
C3_STATISTIC = ("smallest decoupling score of the 3-head model's W_phi, W_psi, W_z: fraction of sum|W_ij| on "
                "the best permutation (1 = one moon per unit, 1/3 = uniform); the 1-head model's as contrast")


def claim_results(results: Path) -> list[ClaimResult]:
    """Rows C1, C2, C3 from the results directory ``results`` of a run (``not run`` if absent)."""
    results = Path(results)
    return [curve_claim("C1", results), curve_claim("C2", results), decoupling_claim(results)]


def curve_claim(claim_id: str, results: Path, n_boot: int = N_BOOT) -> ClaimResult:
    """C1 (one head) or C2 (three heads) on both triples of the run's evaluation."""
    eval_csv = results / "runs" / "three_moons" / RUN_DIRS[claim_id] / "eval.csv"
    if not eval_csv.is_file():
        return not_run(claim_id, STATISTIC[claim_id], DECISION[claim_id], [eval_csv])
    curves = pd.read_csv(eval_csv)
    heads = 1 if claim_id == "C1" else 3
    if set(curves["heads"]) != {heads}:
        raise ValueError(f"{eval_csv}: expected the {heads}-head model's curves, got heads {sorted(set(curves['heads']))}")
    windows_csv = eval_csv.parent / WINDOWS_FILE
    per_window = read_window_errors(windows_csv) if windows_csv.is_file() else None
    sources = [str(eval_csv)] + ([str(windows_csv)] if per_window is not None else [])
    table = results / "tables" / "three_moons_transitions.csv"
    if table.is_file():
        sources.append(str(table))
    rows = assess_run(curves, per_window, n_boot=n_boot)
    shares = np.array([r["share"] for r in rows], dtype=float)
    value = None  # a grid that cannot resolve the periods gives no number worth reporting
    if all(r["resolved"] for r in rows) and np.isfinite(shares).all():
        value = float(shares.max() if claim_id == "C1" else shares.min())
    low = high = None
    boots = [r["share_boot"] for r in rows]
    if all(len(b) for b in boots):
        # the triples' windows share their start offsets (same eval seed) and bootstrap_means draws
        # the same resamples for both: resample i is one draw of window indices for both triples
        with np.errstate(all="ignore"):
            joint = (np.fmax if claim_id == "C1" else np.fmin).reduce(np.stack(boots), axis=0)
        if np.isfinite(joint).mean() >= (1 + LEVEL) / 2:
            low, high = (float(q) for q in np.nanquantile(joint, [(1 - LEVEL) / 2, (1 + LEVEL) / 2]))
    verdict = combine([r["verdict"] for r in rows])
    n_windows = sorted({r["windows"] for r in rows})
    units = (f"{'/'.join(str(n) for n in n_windows)} windows per triple ({n_boot} bootstrap resamples)"
             if per_window is not None else "mean curves only (no per-window errors)")
    return ClaimResult(claim_id, STATISTIC[claim_id], DECISION[claim_id], verdict, value=value, ci_low=low,
                       ci_high=high, units=units, sources=sources, note=" | ".join(_triple_note(r) for r in rows))


def _triple_note(r: dict) -> str:
    def ci(lo, hi):
        return f"[{lo:.3f}, {hi:.3f}]" if math.isfinite(lo) and math.isfinite(hi) else "[no interval]"

    parts = [f"{r['split']} {r['triple']}: {r['verdict']}",
             f"s {r['share']:.3f} {ci(r['share_ci_low'], r['share_ci_high'])}",
             f"MAD E0 {r['E0']:.3f}, E1 {r['E1']:.3f}, E2 {r['E2']:.3f} "
             f"(gap E1-E2 {r['gap_at_lcm']:.3f} {ci(r['gap_ci_low'], r['gap_ci_high'])})"]
    if r["claim"] == "C1":
        parts.append(f"largest drop at L={r['drop_at']:g} (lcm {r['lcm_obs']:.1f}; "
                     f"located in {r.get('drop_located_freq', math.nan):.1%} of resamples), "
                     f"period drops/lcm drop {r['period_drop_ratio']:.2f} "
                     f"(< {COMPARABLE:g} in {r.get('no_period_drop_freq', math.nan):.1%})")
    else:
        steps = ", ".join(f"{s:g}" for s in r["steps"]) or "none"
        parts.append(f"steps at L={steps} (slowest period {r['max_period_obs']:.1f}, lcm {r['lcm_obs']:.1f}; "
                     f"at the periods in {r.get('steps_at_periods_freq', math.nan):.1%} of resamples)")
    if r["reason"]:
        parts.append(r["reason"])
    return "; ".join(parts)


def decoupling_claim(results: Path) -> ClaimResult:
    """C3 from the decoupling table of Fig. 6."""
    path = results / "tables" / "three_moons_decoupling.csv"
    if not path.is_file():
        return not_run("C3", C3_STATISTIC, DECISION["C3"], [path])
    table = pd.read_csv(path)
    need = {"model", "matrix", "decoupling", "consistent"}
    if not need <= set(table.columns):
        raise ValueError(f"{path}: not a decoupling table (missing columns {sorted(need - set(table.columns))})")
    three = table[table["model"] == "3 heads"].set_index("matrix")
    one = table[table["model"] == "1 head"].set_index("matrix")
    if three.empty:
        raise ValueError(f"{path}: no rows for the 3-head model")
    scores = three["decoupling"].astype(float)
    value = float(scores.min())
    consistent = bool(three["consistent"].astype(str).str.lower().eq("true").all())
    above = bool((scores > DECOUPLING_BOUNDARY).all())
    note = ["3 heads: " + ", ".join(f"{m} {s:.3f}" for m, s in scores.items()),
            f"routing consistent: {consistent}"]
    if one.empty:
        contrast, verdict_contrast = None, INCONCLUSIVE
        note.append("no 1-head contrast in the table")
    else:
        shared = [m for m in scores.index if m in one.index]
        contrast = bool(shared) and all(scores[m] > float(one.loc[m, "decoupling"]) for m in shared)
        verdict_contrast = HOLDS if contrast else FAILS
        note.append("1 head: " + ", ".join(f"{m} {float(one.loc[m, 'decoupling']):.3f}" for m in shared))
    verdict = combine([HOLDS if above and consistent else FAILS, verdict_contrast])
    note.append("no bootstrap: the scores are functions of one trained model's weights; their spread "
                "over training seeds is not measured")
    return ClaimResult("C3", C3_STATISTIC, DECISION["C3"], verdict, value=value, units="1 trained model per head count",
                       sources=[str(path)], note="; ".join(note))
