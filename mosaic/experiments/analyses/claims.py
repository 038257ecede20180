"""Scorecard rows C6, C9, C10 and C11: the paper's claims about trained story models (Fig. 10,
12, 13, 15), decided on this run's measurements.

Every statistic, boundary and decision rule below was fixed from the paper's wording before any
result was looked at (Zhang et al., "Memory Mosaics", ICLR 2025, §5 and Appendix). Intervals are
95% percentile bootstraps (:mod:`mosaic.harness.claims`) over independent units:

* **C6** (Fig. 10, "after ~50 tokens the mosaic is much better than the transformer out of
  distribution"): per OOD window, the mean over target positions 51..ctx of transformer loss −
  mosaic loss (the same windows and targets for both models); the mean over windows, bootstrapped
  over windows. Targets equal to the vocabulary's unknown id, if it has one, are left out (the
  paper's full GPT-2 vocabulary has none; an ``<unk>`` target is not a word piece). Holds if the CI
  lies above 0, fails if below, else inconclusive. The paper gives no number for "much", so no
  margin is imposed; the size of the gap (nats and % of the transformer's loss) is in the note.
* **C9** (Fig. 12): on the window-averaged last-position attention (mean over heads):
  (a) the transformer has a strong sink, :func:`~mosaic.experiments.analyses.attention.sink_ratio`
  (position 0 over the median position) above :data:`STRONG_SINK` = 10, an order of magnitude;
  (b) the mosaic is mostly flat away from the most recent tokens,
  :func:`~mosaic.experiments.analyses.attention.binned_flatness` (largest over smallest mean of 8
  equal runs of key positions 0..ctx-1-k, k = :func:`~mosaic.experiments.analyses.attention.recent_tokens`)
  below :data:`FLAT_LIMIT` = 2. Each part is decided on its CI; both must hold.
* **C10** (Fig. 13, at ``factor`` × the trained context):
  :func:`~mosaic.experiments.analyses.attention.beyond_inside_ratio` R = mean weight per key
  beyond the trained context over the mean inside it (the most recent keys left out). The mosaic
  "stays essentially flat": R within (1/2, 2); ALiBi "fades": R below :data:`FADE_LIMIT` = 1/2;
  RoPE "does not extend": R outside [1/2, 2] (the pattern learned inside is not continued,
  whichever way). A part whose model is not in the run is ``not run``.
* **C11** (Fig. 15, "the width of a unit's attention depends on λ_φ"): Spearman's ρ between the
  heads' learned λ_φ and their attention width (attention-weighted mean look-back within the
  most recent W tokens), bootstrapped over heads (the units of the claim). The sign follows
  eq. 7: a larger λ_φ keeps a longer memory in the key's leaky average, so keys stay similar over
  more steps and the attention peak is wider. Holds if the CI lies above 0, fails if below.

For the bootstrap of C9 and C10 the units are the windows (runs of consecutive windows past
:data:`~mosaic.experiments.analyses.attention.MAX_UNITS`), as the measurement's ``.npz`` stores
them (:mod:`mosaic.experiments.analyses.window_arrays`); each resample re-averages the attention
and recomputes the statistic, so the interval is that of the averaged pattern the figure shows.

A part computed from fewer than :data:`MIN_UNITS` = 10 units (windows, or heads for C11) is
inconclusive whatever its interval: a percentile bootstrap of a handful of units is far too
narrow. A claim with several parts fails if any part that ran fails; otherwise the parts are combined
with :func:`mosaic.harness.claims.combine`. Which models a claim compares is read from the
figure's own table (``results/tables/fig10_ood_position_loss.csv``, ``results/figures/fig12_*.csv``,
``fig13_*.csv``, ``results/tables/fig15_lambda_width.csv``), so the scorecard judges what the
figures show.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from mosaic.experiments.analyses.attention import (
    beyond_inside_ratio,
    binned_flatness,
    pooled_mean,
    recent_tokens,
    sink_ratio,
    spearman,
    spearman_rho,
)
from mosaic.experiments.analyses.position_loss import WindowLosses
from mosaic.experiments.analyses.window_arrays import read_window_arrays
from mosaic.harness.claims import (
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    NOT_RUN,
    ClaimResult,
    bootstrap_ci,
    combine,
    decide,
    not_run,
)

AFTER_POSITION = 50  # C6: "after ~50 tokens" (Fig. 10)
STRONG_SINK = 10.0  # C9 (a): position 0 gets at least 10x the median position's attention
FLAT_LIMIT = 2.0  # C9 (b), C10: flat = no part of the window gets twice another's attention
FADE_LIMIT = 1.0 / FLAT_LIMIT  # C10: ALiBi fades = beyond the trained context less than half the weight
N_BINS = 8  # C9 (b): runs of key positions averaged before the flatness ratio
# Fewer independent units than this (windows, runs of windows, heads) give no verdict: the
# percentile bootstrap of a handful of units is far too narrow (4 heads ranked alike resample to
# rho = 1 every time). Such a part is inconclusive, its numbers still reported.
MIN_UNITS = 10

FIG10_TABLE = Path("tables") / "fig10_ood_position_loss.csv"
FIG12_DATA = Path("figures") / "fig12_attention_last_position.csv"
FIG13_DATA = Path("figures") / "fig13_attention_long_context.csv"
FIG15_TABLE = Path("tables") / "fig15_lambda_width.csv"

C6_STATISTIC = (f"mean over OOD windows of the per-window mean, over target positions {AFTER_POSITION + 1}..ctx, "
                "of transformer loss − mosaic loss (nats/token; the same windows and targets for both models; "
                "targets equal to the vocabulary's unknown id, if it has one, left out)")
C6_DECISION = ("holds if the 95% bootstrap CI over windows lies above 0, fails if below 0, else inconclusive; "
               "the paper gives no number for 'much', so no margin is imposed (the gap's size is in the note)")
C9_STATISTIC = ("(a) transformer: attention of the last position on key 0 over the median key, on the window-"
                "averaged row (mean over heads); (b) mosaic: largest over smallest mean attention of "
                f"{N_BINS} equal runs of keys 0..ctx-1-k, k = ctx//16 most recent keys left out. Value: (a)")
C9_DECISION = (f"holds if (a)'s CI lies above {STRONG_SINK:g} and (b)'s below {FLAT_LIMIT:g}; a part fails if its "
               "CI lies on the other side; bootstrap over windows")
C10_STATISTIC = ("R = mean attention per key beyond the trained context / mean per key inside it (the trained "
                 "ctx//16 most recent keys left out), on the window-averaged last-position row (mean over heads) "
                 "at factor × the trained context. Value: the mosaic's R")
C10_DECISION = (f"holds if the mosaic's CI lies inside ({FADE_LIMIT:g}, {FLAT_LIMIT:g}), ALiBi's below {FADE_LIMIT:g} "
                f"and RoPE's outside [{FADE_LIMIT:g}, {FLAT_LIMIT:g}]; a part fails if its CI lies wholly on the "
                "other side; a part whose model is not in the run is not run; bootstrap over windows")
C11_STATISTIC = ("Spearman ρ between the learned λ_φ of the mosaic's heads (all layers) and their attention "
                 "width (attention-weighted mean look-back within the W most recent tokens)")
C11_DECISION = ("holds if the 95% bootstrap CI over heads lies above 0 (larger λ_φ, wider attention, eq. 7), "
                "fails if below 0, else inconclusive")


# -- reading ---------------------------------------------------------------------------------------
def _read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


def _plain(variant) -> bool:
    return not isinstance(variant, str) or variant in ("", "absolute")


def windows_file(results: Path, row: pd.Series | dict, kind: str) -> Path:
    """The ``.npz`` of the measurement a figure row came from, under ``results``. The figures
    record the CSV they read (``measurement``, relative to where the workflow ran): re-anchored at
    ``results/measurements``; tables without it fall back on the run directory (the layout of
    ``workflow/rules/analyses.smk``)."""
    source = row.get("measurement") if hasattr(row, "get") else None
    if isinstance(source, str) and source:
        parts = Path(source).parts
        if "measurements" in parts:
            at = len(parts) - 1 - parts[::-1].index("measurements")
            return Path(results).joinpath(*parts[at:]).with_suffix(".npz")
        return Path(source).with_suffix(".npz")
    run = Path(str(row["run"]))
    factor = round(int(row["ctx"]) / int(row["train_ctx"]))
    return Path(results) / "measurements" / run.parent.name / run.name / f"{kind}_{row['corpus']}_x{factor}.npz"


def _models(table: pd.DataFrame) -> pd.DataFrame:
    return table.drop_duplicates("label").reset_index(drop=True)


def _pick(models: pd.DataFrame, test: Callable[[pd.Series], bool]) -> pd.Series | None:
    for _, row in models.iterrows():
        if test(row):
            return row
    return None


def _is_transformer(row) -> bool:
    return row["arch"] == "transformer" and _plain(row["variant"])


def _is_mosaic(row) -> bool:
    return row["arch"] == "mosaic" and _plain(row["variant"])


def _variant(name: str) -> Callable[[pd.Series], bool]:
    return lambda row: isinstance(row["variant"], str) and row["variant"].lower() == name


def _same_windows(metas: dict[str, dict], claim: str) -> None:
    """Paired statistics need the same windows: the same split (sha256), context and count."""
    keys = ("data_sha256", "ctx", "n_windows")
    seen = {name: tuple(meta.get(k) for k in keys) for name, meta in metas.items()}
    if len(set(seen.values())) > 1:
        detail = "; ".join(f"{name}: " + ", ".join(f"{k}={v}" for k, v in zip(keys, values))
                           for name, values in seen.items())
        raise ValueError(f"{claim}: the measurements were not taken on the same windows ({detail}); "
                         "re-run them with one analyses config")


def _fmt(value: float, low: float, high: float, digits: int = 3) -> str:
    def f(v: float) -> str:
        return "nan" if v is None or not math.isfinite(v) else f"{v:.{digits}g}"
    return f"{f(value)} [{f(low)}, {f(high)}]"


def _overall(parts: dict[str, str]) -> str:
    """Fails if a part that ran fails; else :func:`mosaic.harness.claims.combine`."""
    verdicts = list(parts.values())
    return FAILS if FAILS in verdicts else combine(verdicts)


def _enough(verdict: str, n_units: int) -> str:
    """``verdict``, or inconclusive when it rests on fewer than :data:`MIN_UNITS` units."""
    return verdict if n_units >= MIN_UNITS or verdict == NOT_RUN else INCONCLUSIVE


def _units_text(counts: np.ndarray) -> str:
    """How many windows and bootstrap units a statistic rests on."""
    text = f"{int(counts.sum())} windows" + ("" if len(counts) == counts.sum() else f" in {len(counts)} units")
    return text + (f" (< {MIN_UNITS} units: no verdict)" if len(counts) < MIN_UNITS else "")


def _quiet_ci(units, statistic, **kwargs) -> tuple[float, float, float]:
    """:func:`bootstrap_ci`, without numpy's warnings for resamples where the statistic is undefined
    (an all-NaN set of resamples gives a NaN interval, which decides as inconclusive)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return bootstrap_ci(units, statistic, **kwargs)


def _row_units(arrays: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per unit, the last-position row averaged over every head of every layer: (n_units, T), and
    the windows per unit (the mean over heads commutes with the mean over windows)."""
    units = np.asarray(arrays["unit_attention"], dtype=np.float64)
    return units.mean(axis=(1, 2)), np.asarray(arrays["unit_windows"], dtype=np.int64)


def unit_bootstrap(rows: np.ndarray, counts: np.ndarray, statistic: Callable[[np.ndarray], float]
                   ) -> tuple[float, float, float]:
    """``statistic`` of the window-averaged row and its bootstrap interval over units: each
    resample re-averages the rows of the drawn units, weighted by their windows."""
    def on_sample(index: np.ndarray) -> float:
        i = index.astype(np.int64)
        return statistic(pooled_mean(rows[i], counts[i]))
    return _quiet_ci(np.arange(len(counts), dtype=np.float64), on_sample)


# -- C6 ---------------------------------------------------------------------------------------------
def claim_c6(results: Path) -> ClaimResult:
    table_path = Path(results) / FIG10_TABLE
    if not table_path.is_file():
        return not_run("C6", C6_STATISTIC, C6_DECISION, [str(table_path)])
    models = _models(_read_csv(table_path).query("corpus == 'ood'"))
    picked = {"transformer": _pick(models, _is_transformer), "mosaic": _pick(models, _is_mosaic)}
    absent = [name for name, row in picked.items() if row is None]
    if absent:
        return not_run("C6", C6_STATISTIC, C6_DECISION, [f"{' and '.join(absent)} in {table_path}"])
    files = {name: windows_file(results, row, "position_loss") for name, row in picked.items()}
    missing = [str(f) for f in files.values() if not f.is_file()]
    if missing:
        return not_run("C6", C6_STATISTIC, C6_DECISION, missing)
    loaded = {name: read_window_arrays(f) for name, f in files.items()}
    _same_windows({name: meta for name, (_, meta) in loaded.items()}, "C6")
    losses = {name: WindowLosses(arrays["loss"], arrays.get("unk")) for name, (arrays, _) in loaded.items()}
    t, m = losses["transformer"], losses["mosaic"]
    if t.loss.shape != m.loss.shape or not np.array_equal(t.counted(), m.counted()):
        raise ValueError(f"C6: {files['transformer']} and {files['mosaic']} do not count the same targets")
    ctx = t.loss.shape[1]
    sources = [str(table_path)] + [str(f) for f in files.values()]
    if ctx <= AFTER_POSITION:
        return ClaimResult("C6", C6_STATISTIC, C6_DECISION, INCONCLUSIVE, units=f"{t.loss.shape[0]} OOD windows",
                           sources=sources, note=f"the context ({ctx} tokens) has no position after {AFTER_POSITION}")
    late_t = t.range_means(AFTER_POSITION + 1, ctx)
    late_m = m.range_means(AFTER_POSITION + 1, ctx)
    ok = np.isfinite(late_t) & np.isfinite(late_m)
    if ok.sum() == 0:
        return ClaimResult("C6", C6_STATISTIC, C6_DECISION, INCONCLUSIVE, units="0 OOD windows", sources=sources,
                           note=f"no counted target after position {AFTER_POSITION} in any window")
    diff = late_t[ok] - late_m[ok]
    value, low, high = _quiet_ci(diff, np.mean)
    verdict = _enough(decide(low, high, 0.0, "above"), len(diff))
    transformer_loss = float(late_t[ok].mean())
    late = (slice(None), slice(AFTER_POSITION, ctx))
    counted_all = np.isfinite(t.loss[late]).sum()
    unk = ("no unknown id in the vocabulary" if t.unk is None else
           f"<unk> targets left out: {1 - t.counted()[late].sum() / max(counted_all, 1):.1%} of the targets "
           f"after position {AFTER_POSITION}")
    unseen = _first_value(_read_csv(table_path).query("corpus == 'ood'"), "unseen_in_train_rate")
    note = (f"transformer {transformer_loss:.3f}, mosaic {float(late_m[ok].mean()):.3f} nats/token after position "
            f"{AFTER_POSITION}; transformer − mosaic = {_fmt(value, low, high)} nats "
            f"({value / transformer_loss:+.1%} of the transformer's loss); {unk}; OOD targets never seen in "
            f"training: {'missing' if unseen is None else f'{unseen:.1%}'}; ctx {ctx}")
    if len(diff) < MIN_UNITS:
        note += f"; only {len(diff)} windows (< {MIN_UNITS}): no verdict"
    if ok.sum() < len(ok):
        note += f"; {len(ok) - ok.sum()} window(s) without a counted target after position {AFTER_POSITION} dropped"
    return ClaimResult("C6", C6_STATISTIC, C6_DECISION, verdict, value=value, ci_low=low, ci_high=high,
                       units=f"{int(ok.sum())} OOD windows of {ctx} tokens (paired)", sources=sources, note=note)


def _first_value(table: pd.DataFrame, column: str) -> float | None:
    if column not in table:
        return None
    values = pd.to_numeric(table[column], errors="coerce").dropna()
    return float(values.iloc[0]) if len(values) else None


# -- C9 ---------------------------------------------------------------------------------------------
def _mosaic_flatness(row: np.ndarray) -> float:
    T = len(row)
    return binned_flatness(row[: T - recent_tokens(T)], N_BINS)


def claim_c9(results: Path) -> ClaimResult:
    data_path = Path(results) / FIG12_DATA
    if not data_path.is_file():
        return not_run("C9", C9_STATISTIC, C9_DECISION, [str(data_path)])
    models = _models(_read_csv(data_path))
    specs = {"transformer sink": (_is_transformer, sink_ratio, STRONG_SINK, "above"),
             "mosaic flat": (_is_mosaic, _mosaic_flatness, FLAT_LIMIT, "below")}
    parts, notes, sources, values, units = {}, [], [str(data_path)], {}, ""
    for name, (test, statistic, boundary, side) in specs.items():
        row = _pick(models, test)
        path = windows_file(results, row, "attention") if row is not None else None
        if path is None or not path.is_file():
            parts[name] = NOT_RUN
            notes.append(f"{name}: not run (missing {path or 'the model in ' + str(data_path)})")
            continue
        arrays, meta = read_window_arrays(path)
        rows, counts = _row_units(arrays)
        values[name] = unit_bootstrap(rows, counts, statistic)
        parts[name] = _enough(decide(values[name][1], values[name][2], boundary, side), len(counts))
        sources.append(str(path))
        notes.append(f"{name}: {_fmt(*values[name])} ({parts[name]}; {_units_text(counts)}, ctx {rows.shape[1]})")
        units = units or f"{_units_text(counts)} per model"
    value, low, high = values.get("transformer sink", (None, None, None))
    return ClaimResult("C9", C9_STATISTIC, C9_DECISION, _overall(parts), value=value, ci_low=low, ci_high=high,
                       units=units, sources=sources, note="; ".join(notes))


# -- C10 --------------------------------------------------------------------------------------------
def _inside_band(low: float, high: float) -> str:
    return _overall({"above": decide(low, high, FADE_LIMIT, "above"), "below": decide(low, high, FLAT_LIMIT, "below")})


def _outside_band(low: float, high: float) -> str:
    """RoPE's part: holds if the CI lies wholly outside [1/2, 2], fails if wholly inside."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return INCONCLUSIVE
    if high < FADE_LIMIT or low > FLAT_LIMIT:
        return HOLDS
    return FAILS if FADE_LIMIT < low and high < FLAT_LIMIT else INCONCLUSIVE


def claim_c10(results: Path) -> ClaimResult:
    data_path = Path(results) / FIG13_DATA
    if not data_path.is_file():
        return not_run("C10", C10_STATISTIC, C10_DECISION, [str(data_path)])
    table = _read_csv(data_path)
    if "panel" in table:
        table = table[table["panel"] == "attention"]
    models = _models(table)
    specs = {"mosaic flat": (_is_mosaic, _inside_band),
             "ALiBi fades": (_variant("alibi"), lambda lo, hi: decide(lo, hi, FADE_LIMIT, "below")),
             "RoPE does not extend": (_variant("rope"), _outside_band)}
    parts, notes, sources, value_ci, units = {}, [], [str(data_path)], (None, None, None), ""
    for name, (test, rule) in specs.items():
        row = _pick(models, test)
        path = windows_file(results, row, "attention") if row is not None else None
        if path is None or not path.is_file():
            parts[name] = NOT_RUN
            notes.append(f"{name}: not run (missing {path or 'the model in the run'})")
            continue
        arrays, meta = read_window_arrays(path)
        rows, counts = _row_units(arrays)
        train_ctx = int(meta.get("train_ctx", row["train_ctx"]))
        value, low, high = unit_bootstrap(rows, counts, lambda r, c=train_ctx: beyond_inside_ratio(r, c))
        parts[name] = _enough(rule(low, high), len(counts))
        sources.append(str(path))
        notes.append(f"{name}: R = {_fmt(value, low, high)} ({parts[name]}; {_units_text(counts)}, "
                     f"ctx {rows.shape[1]} = {rows.shape[1] / train_ctx:g}× {train_ctx})")
        if name == "mosaic flat":
            value_ci, units = (value, low, high), f"{_units_text(counts)} per model"
    verdict = _overall(parts)
    return ClaimResult("C10", C10_STATISTIC, C10_DECISION, verdict, value=value_ci[0], ci_low=value_ci[1],
                       ci_high=value_ci[2], units=units, sources=sources, note="; ".join(notes))


# -- C11 --------------------------------------------------------------------------------------------
def claim_c11(results: Path) -> ClaimResult:
    table_path = Path(results) / FIG15_TABLE
    if not table_path.is_file():
        return not_run("C11", C11_STATISTIC, C11_DECISION, [str(table_path)])
    heads = _read_csv(table_path)
    pairs = heads[["lambda_phi", "mean_distance"]].to_numpy(dtype=np.float64)
    pairs = pairs[np.isfinite(pairs).all(axis=1)]
    window = int(heads["window"].iloc[0]) if "window" in heads and len(heads) else None
    if len(pairs) == 0:
        return ClaimResult("C11", C11_STATISTIC, C11_DECISION, INCONCLUSIVE, units="0 heads", sources=[str(table_path)],
                           note="no head with a finite λ_φ and width")
    value, low, high = _quiet_ci(pairs, lambda d: spearman_rho(d[:, 0], d[:, 1]))
    verdict = _enough(decide(low, high, 0.0, "above"), len(pairs))
    _, p_value = spearman(pairs[:, 0], pairs[:, 1])
    note = (f"ρ = {_fmt(value, low, high)} over {len(pairs)} heads (p = {p_value:.3g}); W = {window}; "
            f"λ_φ from {pairs[:, 0].min():.3g} to {pairs[:, 0].max():.3g}, width from {pairs[:, 1].min():.3g} to "
            f"{pairs[:, 1].max():.3g} tokens")
    if len(pairs) < MIN_UNITS:
        note += f"; only {len(pairs)} heads (< {MIN_UNITS}): no verdict"
    return ClaimResult("C11", C11_STATISTIC, C11_DECISION, verdict, value=value, ci_low=low, ci_high=high,
                       units=f"{len(pairs)} heads", sources=[str(table_path)], note=note)


def claim_results(results: Path) -> list[ClaimResult]:
    """Rows C6, C9, C10, C11 from the measurements and figure tables under ``results``."""
    results = Path(results)
    return [claim_c6(results), claim_c9(results), claim_c10(results), claim_c11(results)]
