"""Scorecard rows of the story language-modelling experiment: C4 (Fig. 9) and C5 (Table 1).

C4, as the paper states it: at small depth the mosaic is slightly better than the transformer (both
trained with the hyper-parameters tuned for the transformer, Table 3); as depth grows the
difference vanishes. Read off the final models' losses on the same fixed validation windows
(``results/tables/stories_val_per_sequence.csv``, written with Fig. 9), as the gap
``loss(transformer) − loss(mosaic)`` per window, bootstrapped over windows:

* part (a) holds if the gap's 95% interval at the smallest depth lies above 0 (fails below 0);
* part (b) holds if the gap shrinks from the smallest to the largest depth: the interval of
  ``gap(smallest) − gap(largest)`` lies above 0 (fails below 0).

C5 (the deepest models' continuations are of similar quality) is qualitative: ``not judged``,
with the table to read.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mosaic.harness.claims import NOT_JUDGED, ClaimResult, bootstrap_ci, combine, decide, not_run

PER_SEQUENCE = "tables/stories_val_per_sequence.csv"
TABLE1 = "tables/table1_continuations_deep.md"
C4_STATISTIC = ("validation loss gap transformer − mosaic per fixed window, final models of Fig. 9: at the "
                "smallest depth (value), and its shrinkage to the largest depth")
C4_DECISION = ("holds if the gap's 95% CI at the smallest depth is above 0 and the CI of "
               "gap(smallest) − gap(largest) is above 0; fails if either CI is below 0; else inconclusive")


def _gaps(table: pd.DataFrame, mosaic: str, baseline: str) -> dict[int, np.ndarray]:
    """Per depth, the paired gaps baseline − mosaic over the windows both were scored on."""
    out = {}
    for depth, part in table.groupby("n_layer"):
        wide = part.pivot_table(index="window", columns="arch", values="loss")
        if {mosaic, baseline} <= set(wide.columns):
            paired = wide[[mosaic, baseline]].dropna()
            out[int(depth)] = (paired[baseline] - paired[mosaic]).to_numpy()
    return out


def c4(results: Path, mosaic: str = "mosaic", baseline: str = "transformer") -> ClaimResult:
    path = results / PER_SEQUENCE
    if not path.is_file():
        return not_run("C4", C4_STATISTIC, C4_DECISION, [path])
    gaps = _gaps(pd.read_csv(path), mosaic, baseline)
    if not gaps:
        return not_run("C4", C4_STATISTIC, C4_DECISION, [f"{mosaic} and {baseline} runs in {path}"])
    depths = sorted(gaps)
    small, large = depths[0], depths[-1]
    value, low, high = bootstrap_ci(gaps[small])
    parts = [decide(low, high, 0.0)]
    per_depth = []
    for d in depths:
        point, lo, hi = bootstrap_ci(gaps[d])
        per_depth.append(f"N_b={d}: {point:+.4f} [{lo:+.4f}, {hi:+.4f}]")
    if large != small:
        shrink, s_low, s_high = bootstrap_ci(np.stack([gaps[small], gaps[large]], axis=1),
                                             statistic=lambda pairs: float(np.mean(pairs[:, 0] - pairs[:, 1])))
        parts.append(decide(s_low, s_high, 0.0))
        trend = f"shrinkage gap(N_b={small}) − gap(N_b={large}) {shrink:+.4f} [{s_low:+.4f}, {s_high:+.4f}]"
    else:
        trend = "one depth only: the trend with depth is not measured"
        parts.append("inconclusive")
    note = f"gap {baseline} − {mosaic} (nats) by depth: " + "; ".join(per_depth) + f"; {trend}; parts: {parts}"
    return ClaimResult("C4", C4_STATISTIC, C4_DECISION, combine(parts), value, low, high,
                       units=f"{len(gaps[small])} validation windows", sources=[str(path)], note=note)


def c5(results: Path) -> ClaimResult:
    path = results / TABLE1
    statistic = "continuations of the evaluation prompts by the deepest models, side by side"
    decision = "qualitative: read the table (no automatic verdict)"
    if not path.is_file():
        return not_run("C5", statistic, decision, [path])
    return ClaimResult("C5", statistic, decision, NOT_JUDGED, sources=[str(path)],
                       note=f"see {path}")


def claim_results(results: str | Path) -> list[ClaimResult]:
    results = Path(results)
    return [c4(results), c5(results)]
