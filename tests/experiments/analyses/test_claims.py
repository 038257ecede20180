"""Scorecard rows C6, C9, C10, C11 (mosaic.experiments.analyses.claims) on fabricated measurement
files: each claim holds, fails, is inconclusive or is not run as its decision rule says."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mosaic.experiments.analyses import claims
from mosaic.experiments.analyses.window_arrays import read_window_arrays, write_window_arrays
from mosaic.harness.claims import FAILS, HOLDS, INCONCLUSIVE, NOT_RUN

SHA = "ab" * 32


def _meta(label: str, arch: str, variant: str, ctx: int, train_ctx: int, n_windows: int, kind: str) -> dict:
    return {"kind": kind, "label": label, "arch": arch, "variant": variant, "ctx": ctx, "train_ctx": train_ctx,
            "n_windows": n_windows, "data_sha256": SHA}


def _model_row(results: Path, group_run: str, kind: str, corpus: str, factor: int, label: str, arch: str,
               variant: str, ctx: int, train_ctx: int) -> dict:
    csv = Path("results") / "measurements" / group_run / f"{kind}_{corpus}_x{factor}.csv"  # as the workflow writes it
    return {"run": f"results/runs/{group_run}", "label": label, "arch": arch, "variant": variant, "corpus": corpus,
            "ctx": ctx, "train_ctx": train_ctx, "measurement": str(csv)}


def write_losses(results: Path, models: dict[str, np.ndarray], unk: np.ndarray | None = None) -> None:
    """Fig. 10's table and per-window OOD losses: ``models`` maps arch -> (n_windows, T) losses."""
    rows = []
    for arch, loss in models.items():
        n, T = loss.shape
        row = _model_row(results, f"stories/{arch}_L2", "position_loss", "ood", 1, arch, arch, "", T, T)
        arrays = {"loss": loss.astype(np.float32)} if unk is None else {"loss": loss.astype(np.float32), "unk": unk}
        write_window_arrays(results / Path(row["measurement"]).relative_to("results").with_suffix(".npz"), arrays,
                            _meta(arch, arch, "", T, T, n, "position_loss"))
        rows += [{**row, "position": p + 1, "unseen_in_train_rate": 0.125} for p in range(T)]
    path = results / claims.FIG10_TABLE
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(path, index=False)


def write_attention(results: Path, table: Path, models: dict[tuple[str, str, str], np.ndarray], train_ctx: int,
                    panel: bool = False) -> None:
    """A figure's data table and per-unit attention: ``models`` maps (label, arch, variant) ->
    (n_units, T) last-position rows (one window per unit, one layer, two identical heads)."""
    rows = []
    for (label, arch, variant), units in models.items():
        n, T = units.shape
        factor = T // train_ctx
        row = _model_row(results, f"analyses/{label}", "attention", "val", factor, label, arch, variant, T, train_ctx)
        arrays = {"unit_attention": np.repeat(units[:, None, None, :], 2, axis=2).astype(np.float32),
                  "unit_windows": np.ones(n, dtype=np.int64)}
        write_window_arrays(results / Path(row["measurement"]).relative_to("results").with_suffix(".npz"), arrays,
                            _meta(label, arch, variant, T, train_ctx, n, "attention"))
        rows.append({**row, "layer": 0, "head": 0, "position": 1, "attention": float(units[:, 0].mean()),
                     **({"panel": "attention"} if panel else {})})
    if panel:  # Fig. 13's data also holds the loss panel: those rows must be ignored
        rows.append({**rows[0], "panel": "position_loss", "label": "decoy", "arch": "mosaic", "variant": ""})
    path = results / table
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(path, index=False)


def rows(n: int, T: int, shape, noise: float = 0.02, seed: int = 0) -> np.ndarray:
    """``n`` noisy copies of the attention row ``shape(T)`` (normalised to sum 1)."""
    base = np.asarray(shape(T), dtype=np.float64)
    rng = np.random.default_rng(seed)
    out = base[None, :] * (1 + noise * rng.standard_normal((n, T)))
    out = np.clip(out, 0, None)
    return out / out.sum(axis=1, keepdims=True)


def flat_with_recent(T: int) -> np.ndarray:
    row = np.ones(T)
    row[-4:] = 20.0  # the recent peak
    return row


def sink(T: int, height: float = 100.0) -> np.ndarray:
    row = np.ones(T)
    row[0] = height
    return row


def fading(T: int, scale: float) -> np.ndarray:
    return np.exp(-(T - 1 - np.arange(T)) / scale)


# -- C6 ---------------------------------------------------------------------------------------------
def c6_losses(n: int = 30, T: int = 80, gap: float = 0.3, seed: int = 0):
    rng = np.random.default_rng(seed)
    transformer = 5.0 + 0.5 * rng.standard_normal((n, T))
    mosaic = transformer - gap * (np.arange(T) >= claims.AFTER_POSITION)[None, :] + 0.05 * rng.standard_normal((n, T))
    return transformer, mosaic


@pytest.mark.parametrize("gap, verdict", [(0.3, HOLDS), (-0.3, FAILS)])
def test_c6_holds_or_fails_with_the_sign_of_the_gap_after_position_50(tmp_path, gap, verdict):
    transformer, mosaic = c6_losses(gap=gap)
    write_losses(tmp_path, {"transformer": transformer, "mosaic": mosaic})
    row = claims.claim_c6(tmp_path)
    assert row.verdict == verdict
    assert row.value == pytest.approx(gap, abs=0.03)
    assert row.ci_low < row.value < row.ci_high
    assert row.units.startswith("30 OOD windows")
    assert "12.5%" in row.note and len(row.sources) == 3  # unseen-in-train share; table + two .npz


def test_c6_is_inconclusive_when_windows_disagree_and_leaves_unknown_targets_out(tmp_path):
    n, T = 40, 80
    transformer, mosaic = c6_losses(n, T, gap=0.0)
    mosaic[:, claims.AFTER_POSITION:] += np.where(np.arange(n) % 2, 0.4, -0.4)[:, None]  # paired mean 0
    unk = np.zeros((n, T), dtype=bool)
    unk[:, -10:] = True
    mosaic[:, -10:] = 0.0  # the mosaic is far better on <unk> targets: they must not count
    write_losses(tmp_path, {"transformer": transformer, "mosaic": mosaic}, unk=unk)
    row = claims.claim_c6(tmp_path)
    assert row.verdict == INCONCLUSIVE and row.ci_low < 0 < row.ci_high
    assert "<unk> targets left out" in row.note
    # the same files without the <unk> mask: the mosaic's <unk> targets would make the claim hold
    write_losses(tmp_path, {"transformer": transformer, "mosaic": mosaic})
    assert claims.claim_c6(tmp_path).verdict == HOLDS


def test_c6_needs_ten_windows_and_positions_after_50(tmp_path):
    transformer, mosaic = c6_losses(n=6)
    write_losses(tmp_path, {"transformer": transformer, "mosaic": mosaic})
    row = claims.claim_c6(tmp_path)
    assert row.verdict == INCONCLUSIVE and "only 6 windows" in row.note and row.ci_low > 0
    transformer, mosaic = c6_losses(T=40)
    write_losses(tmp_path / "short", {"transformer": transformer, "mosaic": mosaic})
    assert claims.claim_c6(tmp_path / "short").verdict == INCONCLUSIVE


def test_c6_not_run_and_unpaired_windows(tmp_path):
    row = claims.claim_c6(tmp_path)
    assert row.verdict == NOT_RUN and "fig10_ood_position_loss.csv" in row.note
    transformer, mosaic = c6_losses()
    write_losses(tmp_path, {"transformer": transformer})
    assert claims.claim_c6(tmp_path).verdict == NOT_RUN
    write_losses(tmp_path, {"transformer": transformer, "mosaic": mosaic})
    npz = tmp_path / "measurements/stories/mosaic_L2/position_loss_ood_x1.npz"
    arrays, meta = read_window_arrays(npz)
    write_window_arrays(npz, arrays, {**meta, "data_sha256": "cd" * 32})  # other windows
    with pytest.raises(ValueError, match="same windows"):
        claims.claim_c6(tmp_path)
    npz.unlink()
    assert claims.claim_c6(tmp_path).verdict == NOT_RUN


# -- C9 ---------------------------------------------------------------------------------------------
T9 = 128
TRANSFORMER = ("transformer (absolute)", "transformer", "absolute")
MOSAIC = ("mosaic", "mosaic", "")


def test_c9_holds_with_a_sink_and_a_flat_mosaic(tmp_path):
    write_attention(tmp_path, claims.FIG12_DATA, {TRANSFORMER: rows(20, T9, sink), MOSAIC: rows(20, T9, flat_with_recent)},
                    T9)
    row = claims.claim_c9(tmp_path)
    assert row.verdict == HOLDS, row.note
    assert row.value == pytest.approx(100, rel=0.1) and row.ci_low > claims.STRONG_SINK
    assert "mosaic flat: 1 [1, 1.01] (holds" in row.note and len(row.sources) == 3


def test_c9_fails_without_a_sink_and_is_inconclusive_near_the_boundary(tmp_path):
    write_attention(tmp_path, claims.FIG12_DATA, {TRANSFORMER: rows(20, T9, np.ones), MOSAIC: rows(20, T9, flat_with_recent)},
                    T9)
    assert claims.claim_c9(tmp_path).verdict == FAILS
    near = np.concatenate([rows(10, T9, lambda T: sink(T, 4.0)), rows(10, T9, lambda T: sink(T, 25.0))])
    write_attention(tmp_path, claims.FIG12_DATA, {TRANSFORMER: near, MOSAIC: rows(20, T9, flat_with_recent)}, T9)
    row = claims.claim_c9(tmp_path)
    assert row.verdict == INCONCLUSIVE and row.ci_low < claims.STRONG_SINK < row.ci_high


def test_c9_mosaic_part_fails_when_it_fades(tmp_path):
    write_attention(tmp_path, claims.FIG12_DATA,
                    {TRANSFORMER: rows(20, T9, sink), MOSAIC: rows(20, T9, lambda T: fading(T, 20.0))}, T9)
    row = claims.claim_c9(tmp_path)
    assert row.verdict == FAILS and "mosaic flat" in row.note and "(fails" in row.note


def test_c9_not_run(tmp_path):
    assert claims.claim_c9(tmp_path).verdict == NOT_RUN
    write_attention(tmp_path, claims.FIG12_DATA, {MOSAIC: rows(20, T9, flat_with_recent)}, T9)
    row = claims.claim_c9(tmp_path)
    assert row.verdict == NOT_RUN and "transformer sink: not run" in row.note


# -- C10 --------------------------------------------------------------------------------------------
TRAIN, LONG = 64, 192
ROPE = ("transformer (rope)", "transformer", "rope")
ALIBI = ("transformer (alibi)", "transformer", "alibi")


def spiky_beyond(T: int) -> np.ndarray:
    row = np.ones(T)
    row[: T - TRAIN] = 4.0  # RoPE at unseen distances: far keys get more weight than inside
    return row


def test_c10_holds_for_flat_mosaic_fading_alibi_and_broken_rope(tmp_path):
    write_attention(tmp_path, claims.FIG13_DATA, {MOSAIC: rows(20, LONG, flat_with_recent),
                                                  ALIBI: rows(20, LONG, lambda T: fading(T, 10.0)),
                                                  ROPE: rows(20, LONG, spiky_beyond)}, TRAIN, panel=True)
    row = claims.claim_c10(tmp_path)
    assert row.verdict == HOLDS, row.note
    assert row.value == pytest.approx(1.0, abs=0.05)
    assert "ALiBi fades: R = " in row.note and len(row.sources) == 4


def test_c10_fails_when_the_mosaic_fades_or_rope_extends(tmp_path):
    write_attention(tmp_path, claims.FIG13_DATA, {MOSAIC: rows(20, LONG, lambda T: fading(T, 10.0)),
                                                  ALIBI: rows(20, LONG, lambda T: fading(T, 10.0)),
                                                  ROPE: rows(20, LONG, spiky_beyond)}, TRAIN, panel=True)
    assert claims.claim_c10(tmp_path).verdict == FAILS
    write_attention(tmp_path, claims.FIG13_DATA, {MOSAIC: rows(20, LONG, flat_with_recent),
                                                  ALIBI: rows(20, LONG, lambda T: fading(T, 10.0)),
                                                  ROPE: rows(20, LONG, flat_with_recent)}, TRAIN, panel=True)
    row = claims.claim_c10(tmp_path)
    assert row.verdict == FAILS and "RoPE does not extend" in row.note


def test_c10_inconclusive_and_not_run(tmp_path):
    edge = np.concatenate([rows(10, LONG, spiky_beyond), rows(10, LONG, flat_with_recent)])  # R 1 or 4
    write_attention(tmp_path, claims.FIG13_DATA, {MOSAIC: edge, ALIBI: rows(20, LONG, lambda T: fading(T, 10.0)),
                                                  ROPE: rows(20, LONG, spiky_beyond)}, TRAIN, panel=True)
    row = claims.claim_c10(tmp_path)
    assert row.verdict == INCONCLUSIVE and row.ci_low < claims.FLAT_LIMIT < row.ci_high
    # no RoPE model in the run: that part is not run, so is the claim
    write_attention(tmp_path, claims.FIG13_DATA, {MOSAIC: rows(20, LONG, flat_with_recent),
                                                  ALIBI: rows(20, LONG, lambda T: fading(T, 10.0))}, TRAIN, panel=True)
    row = claims.claim_c10(tmp_path)
    assert row.verdict == NOT_RUN and "RoPE does not extend: not run" in row.note
    assert claims.claim_c10(tmp_path / "empty").verdict == NOT_RUN


# -- C11 --------------------------------------------------------------------------------------------
def write_heads(results: Path, lam: np.ndarray, width: np.ndarray) -> None:
    path = results / claims.FIG15_TABLE
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"model": "mosaic", "layer": 0, "head": np.arange(len(lam)), "lambda_phi": lam,
                  "mean_distance": width, "window": 32}).to_csv(path, index=False)


@pytest.mark.parametrize("sign, verdict", [(1, HOLDS), (-1, FAILS)])
def test_c11_sign_of_the_rank_correlation(tmp_path, sign, verdict):
    rng = np.random.default_rng(0)
    lam = np.sort(rng.uniform(0.01, 0.9, 16))
    write_heads(tmp_path, lam, 3 + sign * 10 * lam + 0.3 * rng.standard_normal(16))
    row = claims.claim_c11(tmp_path)
    assert row.verdict == verdict and row.units == "16 heads"
    assert abs(row.value) > 0.8


def test_c11_inconclusive_without_dependence_or_with_few_heads_and_not_run(tmp_path):
    rng = np.random.default_rng(1)
    write_heads(tmp_path, rng.uniform(0, 1, 16), rng.uniform(0, 10, 16))
    row = claims.claim_c11(tmp_path)
    assert row.verdict == INCONCLUSIVE and row.ci_low < 0 < row.ci_high
    write_heads(tmp_path, np.array([0.1, 0.2, 0.3, 0.4]), np.array([1.0, 2.0, 3.0, 4.0]))  # perfect, but 4 heads
    row = claims.claim_c11(tmp_path)
    assert row.verdict == INCONCLUSIVE and "only 4 heads" in row.note
    assert claims.claim_c11(tmp_path / "empty").verdict == NOT_RUN


def test_claim_results_gives_the_four_rows_in_order(tmp_path):
    result = claims.claim_results(tmp_path)
    assert [r.id for r in result] == ["C6", "C9", "C10", "C11"]
    assert all(r.verdict == NOT_RUN for r in result)


def test_windows_file_is_anchored_at_the_results_directory(tmp_path):
    row = {"measurement": "results/measurements/stories/mosaic_L1/attention_val_x1.csv"}
    assert claims.windows_file(tmp_path / "r", row, "attention") == \
        tmp_path / "r/measurements/stories/mosaic_L1/attention_val_x1.npz"
    legacy = {"run": "results/runs/analyses/fig13_rope", "ctx": 192, "train_ctx": 64, "corpus": "val"}
    assert claims.windows_file(tmp_path, legacy, "attention") == \
        tmp_path / "measurements/analyses/fig13_rope/attention_val_x3.npz"
