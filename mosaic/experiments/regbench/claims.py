"""Scorecard rows C7 (paper §5, Fig. 11) and C8 (Fig. 11 footnote, Table 4) for RegBench.

Both are computed from the per-sequence scores ``fig11`` and ``table4`` write beside their tables
(``tables/fig11_regbench_per_sequence.csv``, ``tables/table4_regbench_iid_per_sequence.csv``):
one row per (architecture, N, selected checkpoint, test sequence) with the sums of
``metrics.MetricAccumulator.per_sequence``. The *mosaic* is the architecture named ``mosaic``;
every other trained architecture (transformer, LSTM, SSM, plug-ins) is a *baseline*; the
training-free n-gram references are not.

The decision rules were fixed from the paper's wording before any result was seen. Both claims
are read in the **last-token** convention, the one the paper's text uses for them (the
prediction of each test sequence's final symbol, ``metrics.py``); the all-position verdict is
given in the note. Intervals are 95% percentile bootstraps (``mosaic.harness.claims``: 2000
resamples, seed 0) over **automata**, the independent units: a test automaton carries one test
sequence, a training automaton several IID sequences (their sums are pooled per automaton).

C7 — "the mosaic dominates transformers, RNNs and SSMs across training-set sizes, with higher
accuracy and lower TVD". At each N, on the test pool: accuracy of the mosaic minus that of the
best baseline, and TVD of the best baseline minus that of the mosaic, paired over test automata.
The best baseline (highest accuracy, resp. lowest TVD, on the whole pool at that N) is chosen on
the same automata it is compared on, which favours the baselines: the rule errs towards "fails",
never towards "holds". Holds if at every N both intervals lie above 0; fails if at some N either
lies entirely below 0; inconclusive otherwise. The value is the part (N, metric) with the lowest
interval bound (the weakest evidence).

C8 — "with few training automata, baselines that fail out of distribution can do well in
distribution". At the IID training size: gap = IID accuracy (checkpoint chosen on ``iid_val``,
scored on ``iid_test``: fresh strings of the training automata) − OOD accuracy (checkpoint
chosen on ``val``, scored on the test pool of held-out automata); the statistic is the gap of
the best baseline (the one with the highest IID accuracy, chosen on the full IID test set) minus
the mosaic's gap. IID training automata and OOD test automata are resampled independently, each
paired between the two models. Holds if the interval lies above 0, fails if below, else
inconclusive.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from mosaic.experiments.regbench.metrics import PER_SEQUENCE
from mosaic.experiments.regbench.report import MOSAIC, PER_SEQUENCE_COLUMNS
from mosaic.harness.claims import LEVEL, N_BOOT, ClaimResult, bootstrap_ci, combine, decide, not_run

FIG11_PER_SEQUENCE = Path("tables") / "fig11_regbench_per_sequence.csv"
TABLE4_PER_SEQUENCE = Path("tables") / "table4_regbench_iid_per_sequence.csv"
CONVENTIONS = {  # name: (correct column, TVD-sum column, denominator column) of the per-automaton sums
    "last token": ("correct_last_token", "tvd_last_token", "n_sequences"),
    "all positions": ("correct_all_positions", "tvd_sum_all_positions", "n_positions"),
}
PRIMARY = "last token"

C7_STATISTIC = ("per N, on the test pool, last-token accuracy of the mosaic minus the best baseline's "
                "(transformer, RNN, SSM: the highest on the pool), and the best (lowest-TVD) baseline's last-token "
                "TVD minus the mosaic's; paired over test automata")
C7_DECISION = ("holds if at every N both 95% CIs lie above 0; fails if at some N either CI lies below 0; "
               "otherwise inconclusive (value: the part with the lowest CI bound)")
C8_STATISTIC = ("at the IID training size: (IID − OOD last-token accuracy) of the best baseline (highest IID "
                "accuracy) minus the mosaic's; IID = fresh strings of the training automata (checkpoint chosen "
                "on iid_val), OOD = held-out test automata (checkpoint chosen on val)")
C8_DECISION = "holds if the 95% CI lies above 0; fails if it lies below 0; otherwise inconclusive"


def read_per_sequence(path: Path) -> pd.DataFrame:
    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not a RegBench per-sequence table ({exc}); run `snakemake fig11 table4` "
                         "again") from None
    missing = sorted(set(PER_SEQUENCE_COLUMNS) - set(df.columns))
    if missing:
        raise ValueError(f"{path} is not a RegBench per-sequence table (lacks {missing}); run `snakemake fig11 "
                         "table4` again")
    return df


def per_automaton(df: pd.DataFrame, path: Path) -> dict[str, pd.DataFrame]:
    """Per model, the per-automaton sums of one (N, selection) slice, indexed by automaton and
    checked to cover the same automata for every model (the pairing)."""
    sums = {}
    for model, d in df.groupby("model", sort=False):
        g = d.groupby("automaton").agg(**{c: (c, "sum") for c in PER_SEQUENCE}, n_sequences=("sequence", "size"))
        sums[model] = g.sort_index()
    reference = next(iter(sums.values()))
    for model, g in sums.items():
        if not (g.index.equals(reference.index) and (g["n_positions"] == reference["n_positions"]).all()):
            raise ValueError(f"{path}: {model} was not scored on the same test sequences as "
                             f"{next(iter(sums))}; run `snakemake fig11 table4` again")
    return sums


def _fmt(value: float, low: float, high: float) -> str:
    return f"{value:+.3f} [{low:+.3f}, {high:+.3f}]"


# -- C7 ------------------------------------------------------------------------------------------
def best_baselines(sums: dict[str, pd.DataFrame], convention: str) -> dict[str, str]:
    """``{"accuracy": the baseline with the highest accuracy, "TVD": the one with the lowest TVD}``
    on the whole pool (first in config order on ties)."""
    correct, tvd, denom = CONVENTIONS[convention]
    base = [m for m in sums if m != MOSAIC]
    acc = {m: sums[m][correct].sum() / sums[m][denom].sum() for m in base}
    dist = {m: sums[m][tvd].sum() / sums[m][denom].sum() for m in base}
    return {"accuracy": max(base, key=acc.get), "TVD": min(base, key=dist.get)}


def pooled_margin(units: np.ndarray) -> float:
    """Units ``[denominator, sum of A, sum of B]`` per automaton -> the pooled rate of A minus
    that of B (the tables' micro-averages, not a mean of per-automaton rates)."""
    return float((units[:, 1].sum() - units[:, 2].sum()) / units[:, 0].sum())


def dominance_parts(sums: dict[str, pd.DataFrame],
                    convention: str) -> dict[str, tuple[str, tuple[float, float, float]]]:
    """``{"accuracy": (best baseline, (value, low, high)), "TVD": ...}`` at one N: accuracy of the
    mosaic minus the best baseline's, TVD of the best baseline minus the mosaic's (both positive
    when the mosaic is better), bootstrapped over automata, paired."""
    correct, tvd, denom = CONVENTIONS[convention]
    best = best_baselines(sums, convention)
    n = sums[MOSAIC][denom].to_numpy(float)
    acc_units = np.column_stack([n, sums[MOSAIC][correct], sums[best["accuracy"]][correct]]).astype(float)
    tvd_units = np.column_stack([n, sums[best["TVD"]][tvd], sums[MOSAIC][tvd]]).astype(float)
    return {"accuracy": (best["accuracy"], bootstrap_ci(acc_units, pooled_margin)),
            "TVD": (best["TVD"], bootstrap_ci(tvd_units, pooled_margin))}


def claim_c7(path: Path) -> ClaimResult:
    df = read_per_sequence(path)
    df = df[(df["selected_on"] == "val") & (df["eval_split"] == "test")]
    models = list(dict.fromkeys(df["model"]))
    if MOSAIC not in models or len(models) < 2:
        return not_run("C7", C7_STATISTIC, C7_DECISION,
                       [f"{path} has no {'mosaic' if MOSAIC not in models else 'baseline'} rows (architectures: "
                        f"{', '.join(models) or 'none'})"])
    verdicts: dict[str, list[str]] = {c: [] for c in CONVENTIONS}
    parts, notes = [], []
    sizes = sorted(df["n_train"].unique())
    for n_train in sizes:
        d = df[df["n_train"] == n_train]
        present = set(d["model"])
        if MOSAIC not in present or len(present) < 2:
            raise ValueError(f"{path}: at N={n_train} the mosaic or every baseline is missing (models: "
                             f"{sorted(present)}); run `snakemake fig11` again")
        sums = per_automaton(d, path)
        texts = []
        for convention in CONVENTIONS:
            result = dominance_parts(sums, convention)
            verdict = combine([decide(ci[1], ci[2], 0.0, "above") for _, ci in result.values()])
            verdicts[convention].append(verdict)
            if convention == PRIMARY:
                parts += [(n_train, metric, *ci) for metric, (_, ci) in result.items()]
            texts.append(f"{convention}: " + ", ".join(f"{metric} {_fmt(*ci)} vs {best}"
                                                       for metric, (best, ci) in result.items()) + f" → {verdict}")
        notes.append(f"N={n_train} ({len(sums[MOSAIC])} automata) " + "; ".join(texts))
    n_train, metric, value, low, high = min(parts, key=lambda p: p[3] if math.isfinite(p[3]) else -math.inf)
    note = (f"worst part: N={n_train} {metric}. Mosaic minus best baseline (TVD: best baseline minus mosaic), "
            "95% CI: " + " | ".join(notes) + f". All-position verdict: {combine(verdicts['all positions'])}.")
    return ClaimResult("C7", C7_STATISTIC, C7_DECISION, combine(verdicts[PRIMARY]), value=value, ci_low=low,
                       ci_high=high, units=f"test automata at each of N = {', '.join(map(str, sizes))} "
                                           f"({len(df['automaton'].unique())} automata)",
                       sources=[str(path)], note=note)


# -- C8 ------------------------------------------------------------------------------------------
def two_sample_bootstrap(iid: np.ndarray, ood: np.ndarray, stat_iid: Callable[[np.ndarray], float],
                         stat_ood: Callable[[np.ndarray], float], n_boot: int = N_BOOT, level: float = LEVEL,
                         seed: int = 0) -> tuple[float, float, float]:
    """``stat_iid(iid) − stat_ood(ood)`` with a percentile interval, the rows of ``iid`` and of
    ``ood`` (independent samples of units) resampled independently."""
    point = stat_iid(iid) - stat_ood(ood)
    if len(iid) < 2 or len(ood) < 2:
        return point, math.nan, math.nan
    rng = np.random.default_rng(seed)
    stats = np.empty(n_boot)
    for b in range(n_boot):
        iid_draw, ood_draw = rng.integers(0, len(iid), len(iid)), rng.integers(0, len(ood), len(ood))
        stats[b] = stat_iid(iid[iid_draw]) - stat_ood(ood[ood_draw])
    alpha = (1.0 - level) / 2.0
    low, high = np.nanquantile(stats, [alpha, 1.0 - alpha])
    return float(point), float(low), float(high)


def gap_difference(iid: dict[str, pd.DataFrame], ood: dict[str, pd.DataFrame], baseline: str,
                   convention: str) -> tuple[float, float, float]:
    """(IID − OOD accuracy) of ``baseline`` minus the mosaic's = (IID_b − IID_m) − (OOD_b − OOD_m)."""
    correct, _, denom = CONVENTIONS[convention]

    def units(sums):  # per automaton: [denominator, baseline's sum, mosaic's sum]
        return np.column_stack([sums[MOSAIC][denom], sums[baseline][correct], sums[MOSAIC][correct]]).astype(float)

    return two_sample_bootstrap(units(iid), units(ood), pooled_margin, pooled_margin)


def claim_c8(path: Path) -> ClaimResult:
    df = read_per_sequence(path)
    iid_rows = df[(df["selected_on"] == "iid_val") & (df["eval_split"] == "iid_test")]
    ood_rows = df[(df["selected_on"] == "val") & (df["eval_split"] == "test")]
    models = list(dict.fromkeys(iid_rows["model"]))
    if MOSAIC not in models or len(models) < 2:
        return not_run("C8", C8_STATISTIC, C8_DECISION,
                       [f"{path} has no {'mosaic' if MOSAIC not in models else 'baseline'} rows (architectures: "
                        f"{', '.join(models) or 'none'})"])
    sizes = sorted(set(iid_rows["n_train"]) | set(ood_rows["n_train"]))
    if len(sizes) != 1 or set(ood_rows["model"]) != set(models):
        raise ValueError(f"{path}: expected every architecture's IID and OOD scores at one training size, got sizes "
                         f"{sizes} and OOD models {sorted(set(ood_rows['model']))}; run `snakemake table4` again")
    iid, ood = per_automaton(iid_rows, path), per_automaton(ood_rows, path)
    results, rates = {}, {}
    for convention, (correct, _, denom) in CONVENTIONS.items():
        rates[convention] = {m: (iid[m][correct].sum() / iid[m][denom].sum(),
                                 ood[m][correct].sum() / ood[m][denom].sum()) for m in models}
        baselines = [m for m in models if m != MOSAIC]
        best = max(baselines, key=lambda m: rates[convention][m][0])
        results[convention] = (best, gap_difference(iid, ood, best, convention))
    best, (value, low, high) = results[PRIMARY]
    verdict = decide(low, high, 0.0, "above")

    def describe(convention: str) -> str:
        return ", ".join(f"{m} {i:.3f}/{o:.3f} (gap {i - o:+.3f})" for m, (i, o) in rates[convention].items())

    other_best, other = results["all positions"]
    note = (f"N={sizes[0]}, IID/OOD accuracy, last token (primary): {describe(PRIMARY)}; best baseline by IID "
            f"accuracy: {best}. All positions: {describe('all positions')}; {other_best} gap − mosaic gap "
            f"{_fmt(*other)} → {decide(other[1], other[2], 0.0, 'above')}.")
    return ClaimResult("C8", C8_STATISTIC, C8_DECISION, verdict, value=value, ci_low=low, ci_high=high,
                       units=f"{len(iid[MOSAIC])} IID training automata ({int(iid[MOSAIC]['n_sequences'].sum())} "
                             f"sequences) and {len(ood[MOSAIC])} OOD test automata, resampled independently",
                       sources=[str(path)], note=note)


def claim_results(results: Path) -> list[ClaimResult]:
    """Rows C7 and C8 from ``results`` (the run's results directory); ``not run`` where the
    per-sequence tables are absent (a run without RegBench)."""
    results = Path(results)
    rows = []
    for claim, statistic, decision, rel, compute in [
            ("C7", C7_STATISTIC, C7_DECISION, FIG11_PER_SEQUENCE, claim_c7),
            ("C8", C8_STATISTIC, C8_DECISION, TABLE4_PER_SEQUENCE, claim_c8)]:
        path = results / rel
        rows.append(compute(path) if path.is_file() else not_run(claim, statistic, decision, [str(path)]))
    return rows
