"""Scorecard row C12 (paper footnote 5): a single Memory Mosaic block handles the induction-head
task of Bietti et al. (2023), for which a transformer needs two blocks.

The decision rule was fixed from the paper's wording before any result was seen. "Handles" is
read as *solves*: held-out recall accuracy of at least :data:`HANDLES` = 0.9 (a model that
copies the right token at nine recall positions in ten), judged on the 95% bootstrap interval
over held-out sequences (:mod:`mosaic.harness.claims`). The claim has two parts, both required
(:func:`mosaic.harness.claims.combine`):

(a) the 1-block mosaic handles the task: its accuracy interval lies above 0.9;
(b) a transformer needs two blocks: the 1-block transformer's accuracy interval lies below 0.9,
    the 2-block transformer's above 0.9, and the paired difference (2-block − 1-block, sequence
    by sequence over the same held-out sequences) lies above 0.

The row's value is part (a)'s accuracy; the note gives every model's accuracy and every part's
verdict, whatever the outcome.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from mosaic.experiments.induction.experiment import read_eval
from mosaic.harness.claims import ClaimResult, bootstrap_ci, combine, decide, not_run, paired_difference_ci

CLAIM_ID = "C12"
HANDLES = 0.9  # accuracy at which a model "handles" the task (fixed before looking at results)
MOSAIC_1, TRANSFORMER_1, TRANSFORMER_2 = "mosaic_L1", "transformer_L1", "transformer_L2"
STATISTIC = ("held-out recall accuracy of the 1-block mosaic (mean over sequences of the fraction of recall "
             "positions predicted right); with the 1- and 2-block transformers' accuracies and their paired "
             "difference")
DECISION = (f"holds if (a) the 1-block mosaic's 95% CI lies above {HANDLES} and (b) the 1-block transformer's "
            f"CI lies below {HANDLES}, the 2-block transformer's above {HANDLES}, and the paired difference "
            "2-block − 1-block transformer above 0; fails if any part's CI lies on the other side")


def eval_path(results: Path, run: str) -> Path:
    return Path(results) / "runs" / "induction" / run / "eval.csv"


def _fmt(value: float, low: float, high: float, signed: bool = False) -> str:
    sign = "+" if signed else ""
    return f"{value:{sign}.3f} [{low:{sign}.3f}, {high:{sign}.3f}]"


def claim_results(results: Path) -> list[ClaimResult]:
    """Row C12 from the per-sequence evaluations ``runs/induction/<run>/eval.csv`` of ``results``."""
    results = Path(results)
    paths = {run: eval_path(results, run) for run in (MOSAIC_1, TRANSFORMER_1, TRANSFORMER_2)}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        return [not_run(CLAIM_ID, STATISTIC, DECISION, missing)]
    frames = {run: read_eval(path).sort_values("sequence") for run, path in paths.items()}
    reference = frames[MOSAIC_1]
    for run, frame in frames.items():
        same = (frame["eval_fingerprint"].nunique() == 1
                and frame["eval_fingerprint"].iloc[0] == reference["eval_fingerprint"].iloc[0]
                and np.array_equal(frame["sequence"].to_numpy(), reference["sequence"].to_numpy()))
        if not same:
            raise ValueError(f"C12: {paths[run]} and {paths[MOSAIC_1]} were not scored on the same held-out "
                             "sequences (eval_fingerprint or sequence ids differ); re-run `mosaic induction "
                             "evaluate` for every run with one eval section")
    acc = {run: frame["accuracy"].to_numpy() for run, frame in frames.items()}
    ci = {run: bootstrap_ci(values) for run, values in acc.items()}
    diff = paired_difference_ci(acc[TRANSFORMER_2], acc[TRANSFORMER_1])
    part_a = decide(ci[MOSAIC_1][1], ci[MOSAIC_1][2], HANDLES, "above")
    part_b = {
        "1-block transformer below": decide(ci[TRANSFORMER_1][1], ci[TRANSFORMER_1][2], HANDLES, "below"),
        "2-block transformer above": decide(ci[TRANSFORMER_2][1], ci[TRANSFORMER_2][2], HANDLES, "above"),
        "2-block − 1-block > 0": decide(diff[1], diff[2], 0.0, "above"),
    }
    verdict_b = combine(list(part_b.values()))
    note = ("accuracy (95% CI): " + "; ".join(f"{run} {_fmt(*ci[run])}" for run in frames)
            + f"; transformer 2-block − 1-block {_fmt(*diff, signed=True)}. "
            + f"(a) 1-block mosaic above {HANDLES}: {part_a}; (b) {verdict_b} ("
            + ", ".join(f"{name}: {verdict}" for name, verdict in part_b.items()) + ")"
            + f". Chance level {float(reference['chance'].iloc[0]):.3f}.")
    value, low, high = ci[MOSAIC_1]
    return [ClaimResult(CLAIM_ID, STATISTIC, DECISION, combine([part_a, verdict_b]), value=value, ci_low=low,
                        ci_high=high, units=f"{len(reference)} held-out sequences",
                        sources=[str(p) for p in paths.values()], note=note)]
