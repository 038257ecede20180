"""Analyses of trained language models (Fig. 10, 12, 13, 15): per-position loss, averaged
attention, per-window units, shape statistics, peak widths against λ_φ, and the CLI on tiny
random models."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from mosaic import IGNORE_INDEX, build_model
from mosaic.experiments.analyses import (
    PositionStats,
    average_attention,
    lambda_width_table,
    peak_widths,
    position_loss,
    spearman,
)
from mosaic.experiments.analyses.attention import (
    beyond_inside_ratio,
    binned_flatness,
    pooled_mean,
    recent_tokens,
    sink_ratio,
    spearman_rho,
    unit_attention,
    unit_size,
)
from mosaic.experiments.analyses.cli import main as cli_main
from mosaic.experiments.analyses.window_arrays import read_window_arrays, windows_path, write_window_arrays
from mosaic.interface import LanguageModel, LMConfig

os.environ.setdefault("HF_HUB_OFFLINE", "1")
from tests.conftest import REPO as ROOT

TINY = dict(vocab_size=37, n_layer=1, n_head=2, n_embd=16, block_size=12, pad_vocab_multiple=8)


class UniformModel(LanguageModel):
    """Logits all equal: the loss is log V at every position."""

    def forward(self, idx, targets=None):
        return torch.zeros(*idx.shape, self.config.vocab_size), None


class WideningModel(LanguageModel):
    """Uniform over the first min(p, V) tokens at position p (1-based): with target 0 the loss
    at position p is exactly log(min(p, V))."""

    def forward(self, idx, targets=None):
        B, T = idx.shape
        V = self.config.vocab_size
        support = torch.arange(V)[None, :] < torch.arange(1, T + 1)[:, None]  # (T, V)
        logits = torch.where(support, 0.0, -1e4).expand(B, T, V)
        return logits, None


def windows(n: int, T: int, V: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(V, (n, T + 1), generator=torch.Generator().manual_seed(seed))


def as_batches(w: torch.Tensor, sizes: list[int]):
    start = 0
    for b in sizes:
        yield w[start:start + b, :-1], w[start:start + b, 1:]
        start += b


# -- per-position loss ---------------------------------------------------------------------------
def test_uniform_model_loss_is_log_vocab_everywhere():
    V, T = 23, 9
    model = UniformModel(LMConfig(vocab_size=V, block_size=T))
    stats = position_loss(model, as_batches(windows(10, T, V), [4, 4, 2]))
    assert stats.T == T and (stats.count == 10).all()
    np.testing.assert_allclose(stats.mean, math.log(V), rtol=1e-6)
    np.testing.assert_allclose(stats.std, 0.0, atol=1e-5)
    frame = stats.to_frame()
    assert list(frame["position"]) == list(range(1, T + 1))
    np.testing.assert_allclose(frame["ci_high"] - frame["ci_low"], 0.0, atol=1e-5)


def test_position_dependent_loss_and_ignored_targets():
    V, T = 7, 12
    model = WideningModel(LMConfig(vocab_size=V, block_size=T))
    idx = torch.randint(V, (6, T), generator=torch.Generator().manual_seed(1))
    targets = torch.zeros(6, T, dtype=torch.long)
    targets[0, 3] = IGNORE_INDEX  # excluded: position 4 has one token fewer
    stats = position_loss(model, [(idx[:4], targets[:4]), (idx[4:], targets[4:])])
    expected = np.log(np.minimum(np.arange(1, T + 1), V))
    np.testing.assert_allclose(stats.mean, expected, atol=1e-5)
    assert stats.count[3] == 5 and stats.count[2] == 6
    assert stats.range_mean(1, 3) == pytest.approx(expected[:3].mean(), abs=1e-5)


def test_unknown_targets_are_kept_and_also_reported_without():
    V, T, unk = 7, 10, 6
    model = WideningModel(LMConfig(vocab_size=V, block_size=T))
    idx = torch.zeros(4, T, dtype=torch.long)
    targets = torch.zeros(4, T, dtype=torch.long)
    targets[:2, 8:] = unk  # positions 9, 10 (support = all 7 tokens): loss log 7 like target 0
    stats = position_loss(model, [(idx, targets)], unk_id=unk)
    assert (stats.count == 4).all()  # unknown targets are kept
    assert list(stats.known.count) == [4] * 8 + [2, 2]
    np.testing.assert_allclose(stats.known.mean, stats.mean, atol=1e-5)
    frame = stats.to_frame()
    assert {"n_known", "mean_loss_known", "ci_known"} <= set(frame.columns)


def test_streamed_moments_match_numpy():
    rng = np.random.default_rng(0)
    values = rng.normal(2.0, 0.5, size=(50, 6))
    stats = PositionStats(6)
    for chunk in np.array_split(values, 7):
        stats.update(torch.from_numpy(chunk))
    np.testing.assert_allclose(stats.mean, values.mean(0))
    np.testing.assert_allclose(stats.std, values.std(0, ddof=1))
    np.testing.assert_allclose(stats.ci95, 1.959964 * values.std(0, ddof=1) / np.sqrt(50), rtol=1e-5)


def test_streamed_position_loss_equals_one_batch():
    torch.manual_seed(0)
    model = build_model("transformer", **TINY).eval()
    w = windows(9, TINY["block_size"], TINY["vocab_size"], seed=3)
    streamed = position_loss(model, as_batches(w, [2, 3, 4]))
    whole = position_loss(model, as_batches(w, [9]))
    np.testing.assert_allclose(streamed.mean, whole.mean, rtol=1e-5)
    np.testing.assert_allclose(streamed.std, whole.std, rtol=1e-4, atol=1e-6)


def test_kept_windows_are_the_per_token_losses_behind_the_streamed_means():
    V, T, unk = 7, 10, 6
    model = WideningModel(LMConfig(vocab_size=V, block_size=T))
    idx = torch.zeros(5, T, dtype=torch.long)
    targets = torch.zeros(5, T, dtype=torch.long)
    targets[0, 2] = IGNORE_INDEX
    targets[1:3, 7:] = unk
    stats = position_loss(model, [(idx[:2], targets[:2]), (idx[2:], targets[2:])], unk_id=unk, keep_windows=True)
    w = stats.windows
    assert w.loss.shape == (5, T) and w.loss.dtype == np.float32 and w.unk.sum() == 6
    assert np.isnan(w.loss[0, 2]) and np.isfinite(w.loss).sum() == 5 * T - 1
    np.testing.assert_allclose(np.nanmean(w.loss, axis=0), stats.mean, rtol=1e-6)
    expected = np.log(np.minimum(np.arange(1, T + 1), V))
    # positions 8..10 of windows 1, 2 are <unk>: left out of the known range means only
    np.testing.assert_allclose(w.range_means(8, 10, known_only=False), [expected[7:].mean()] * 5, rtol=1e-6)
    np.testing.assert_allclose(w.range_means(8, 10, known_only=True)[[0, 3, 4]], expected[7:].mean(), rtol=1e-6)
    assert np.isnan(w.range_means(8, 99)[1])  # only <unk> targets there; last is cut to T
    assert w.range_means(1, 3)[0] == pytest.approx(expected[:2].mean())  # the ignored target is out
    assert position_loss(model, [(idx, targets)]).windows is None  # kept only when asked


def test_window_arrays_round_trip_and_refuse_other_files(tmp_path):
    path = write_window_arrays(tmp_path / "m.npz", {"loss": np.arange(6.0).reshape(2, 3)}, {"ctx": 3, "label": "x"})
    arrays, meta = read_window_arrays(path)
    np.testing.assert_array_equal(arrays["loss"], np.arange(6.0).reshape(2, 3))
    assert meta["ctx"] == 3 and meta["format"].startswith("mosaic-analyses-windows")
    assert windows_path("a/b/attention_val_x1.csv") == Path("a/b/attention_val_x1.npz")
    np.savez(tmp_path / "other.npz", loss=np.zeros(2))
    with pytest.raises(ValueError, match="format"):
        read_window_arrays(tmp_path / "other.npz")
    with pytest.raises(FileNotFoundError):
        read_window_arrays(tmp_path / "missing.npz")
    with pytest.raises(ValueError, match=".npz"):
        write_window_arrays(tmp_path / "m.csv", {}, {})


# -- attention -----------------------------------------------------------------------------------
@pytest.mark.parametrize("arch, diagonal", [("mosaic", -1), ("transformer", 0)])
def test_average_attention_rows_are_distributions_over_allowed_keys(arch, diagonal):
    torch.manual_seed(0)
    model = build_model(arch, **TINY).eval()
    T = TINY["block_size"]
    w = windows(6, T, TINY["vocab_size"])
    full, n = average_attention(model, (w[i:i + 2, :-1] for i in range(0, 6, 2)), last_only=False)
    assert n == 6 and full.shape == (1, 2, T, T)
    allowed = torch.ones(T, T, dtype=torch.bool).tril(diagonal=diagonal)
    assert full.masked_select(~allowed).abs().max() == 0  # nothing leaks past the mask
    sums = full.sum(-1)  # (1, 2, T)
    first = 1 if diagonal == -1 else 0  # the mosaic's position 0 has an empty memory (zero row)
    torch.testing.assert_close(sums[..., first:], torch.ones_like(sums[..., first:]), rtol=0, atol=1e-5)
    if first:
        assert sums[..., 0].abs().max() == 0
    last, _ = average_attention(model, (w[i:i + 2, :-1] for i in range(0, 6, 2)))
    torch.testing.assert_close(last, full[..., -1, :])


@pytest.mark.parametrize("arch", ["mosaic", "transformer"])
def test_streamed_attention_equals_batch_average_of_all_windows(arch):
    torch.manual_seed(1)
    model = build_model(arch, **TINY).eval()
    w = windows(10, TINY["block_size"], TINY["vocab_size"], seed=5)[:, :-1]
    streamed, n = average_attention(model, [w[:1], w[1:4], w[4:10]], last_only=False)  # uneven batches
    at_once = model.attention_maps(w).double()
    assert n == 10
    torch.testing.assert_close(streamed, at_once, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("arch", ["mosaic", "transformer"])
def test_unit_attention_keeps_run_means_whose_pooled_mean_is_the_average(arch):
    torch.manual_seed(2)
    model = build_model(arch, **TINY).eval()
    w = windows(10, TINY["block_size"], TINY["vocab_size"], seed=7)[:, :-1]
    batches = [w[:3], w[3:7], w[7:]]  # batch edges cut across the units
    units, counts = unit_attention(model, batches, 10, max_units=4)
    assert unit_size(10, 4) == 3 and list(counts) == [3, 3, 3, 1]
    assert units.shape == (4, 1, 2, TINY["block_size"])
    for u, start in enumerate(range(0, 10, 3)):
        expected = model.attention_maps(w[start:start + 3])[..., -1, :].double().numpy()
        np.testing.assert_allclose(units[u], expected, rtol=1e-5, atol=1e-7)
    mean, n = average_attention(model, batches)
    np.testing.assert_allclose(pooled_mean(units, counts), mean.numpy(), rtol=1e-5, atol=1e-7)
    one_each, counts = unit_attention(model, batches, 10)  # 10 <= MAX_UNITS: one window per unit
    assert len(one_each) == 10 and (counts == 1).all()
    with pytest.raises(ValueError, match="told of 9 windows"):
        unit_attention(model, batches, 9)


def test_shape_statistics_of_synthetic_rows():
    T = 64
    flat = np.full(T, 1.0 / T)
    assert sink_ratio(flat) == pytest.approx(1.0) and binned_flatness(flat) == pytest.approx(1.0)
    sunk = flat.copy()
    sunk[0] = 30.0 / T
    assert sink_ratio(sunk) == pytest.approx(30.0)
    ramp = np.linspace(1.0, 3.0, T)  # the last bin's mean over the first's
    assert binned_flatness(ramp) == pytest.approx(ramp[-8:].mean() / ramp[:8].mean())
    assert recent_tokens(512) == 32 and recent_tokens(8) == 1
    long = np.ones(3 * T)
    long[: 2 * T] = 0.25  # beyond the trained context a quarter of the weight inside it
    long[-4:] = 50.0  # the recent peak (recent_tokens(64) = 4 keys) is left out of "inside"
    assert beyond_inside_ratio(long, T) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="train_ctx"):
        beyond_inside_ratio(long, 3 * T)


def test_fast_spearman_matches_scipy_with_ties():
    rng = np.random.default_rng(0)
    for _ in range(50):
        n = int(rng.integers(3, 15))
        x, y = rng.integers(0, 4, n).astype(float), rng.normal(size=n).round(1)
        a, b = spearman(x, y)[0], spearman_rho(x, y)
        assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, abs=1e-12)


# -- peak width vs λ_φ ---------------------------------------------------------------------------
def test_peak_widths_of_synthetic_rows():
    T = 40
    rows = np.zeros((3, T))
    for i, k in enumerate([2, 5, 10]):  # uniform over look-back distances 1..k
        rows[i, T - 1 - k:T - 1] = 1.0 / k
    w = peak_widths(rows, window=16)
    np.testing.assert_allclose(w["mean_distance"], [(1 + k) / 2 for k in (2, 5, 10)])
    np.testing.assert_allclose(w["half_mass_distance"], [1, 3, 5])  # first d with cum. mass >= 1/2
    np.testing.assert_allclose(w["recent_mass"], 1.0)
    # a window shorter than the peak truncates it: uniform over 1..10 seen through W=4 -> mean 2.5
    assert peak_widths(rows[2], window=4)["mean_distance"] == pytest.approx(2.5)
    # geometric decay a_d ∝ r^d (d >= 1), a long window: mean distance 1 / (1 - r)
    r, row = 0.8, np.zeros(2000)
    d = np.arange(1, 2000)
    row[1999 - d] = r ** d
    assert peak_widths(row, window=1998)["mean_distance"] == pytest.approx(1 / (1 - r), rel=1e-6)


def test_lambda_width_table_orders_heads_and_reports_spearman():
    T, widths = 30, [6, 1, 3, 9]  # heads 0..3; the λ below is increasing in the width
    lambdas = torch.tensor([[0.7, 0.1, 0.4, 0.9]])
    rows = torch.zeros(1, 4, T, dtype=torch.float64)
    for h, k in enumerate(widths):
        rows[0, h, T - 1 - k:T - 1] = 1.0 / k
    heads, corr = lambda_width_table(rows, lambdas, window=12)
    assert list(heads["head"]) == [1, 2, 0, 3]  # sorted by λ_φ
    assert list(heads["lambda_rank"]) == [1, 2, 3, 4]
    np.testing.assert_allclose(heads["mean_distance"], [(1 + k) / 2 for k in (1, 3, 6, 9)])
    assert corr.loc[0, "spearman_rho_mean_distance"] == pytest.approx(1.0)
    assert corr.loc[0, "slope_mean_distance_per_lambda"] > 0
    reverse = lambda_width_table(rows, 1 - lambdas, window=12)[1]
    assert reverse.loc[0, "spearman_rho_mean_distance"] == pytest.approx(-1.0)
    assert math.isnan(spearman([1, 2], [3, 4])[0])  # too few heads: no correlation claimed


# -- CLI on tiny random runs ---------------------------------------------------------------------
def make_run(path: Path, arch: str, **overrides) -> Path:
    torch.manual_seed(0)
    cfg = {**TINY, **overrides}
    model = build_model(arch, **cfg)
    path.mkdir(parents=True)
    torch.save(model.state_dict(), path / "model.pt")
    (path / "config.json").write_text(json.dumps({"run": {"arch": arch, "model": cfg}, "train": {}}))
    return path


@pytest.fixture
def token_dir(tmp_path):
    from mosaic.experiments.stories.tokens import write_token_file

    data = tmp_path / "data"
    data.mkdir()
    ids = np.random.default_rng(0).integers(0, TINY["vocab_size"], size=600)
    entry = write_token_file(data / "val.bin", ids, TINY["vocab_size"])
    meta = {"corpus": "random tokens", "tokenizer": {"vocab_size": TINY["vocab_size"], "unk_id": 36},
            "splits": {"val": entry}}
    (data / "meta.json").write_text(json.dumps(meta))
    return data


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "mosaic", "analyses", *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=120)


def test_absolute_positions_beyond_trained_context_is_a_one_line_error(tmp_path, token_dir):
    run = make_run(tmp_path / "abs", "transformer", pos_encoding="absolute")
    out = tmp_path / "att.csv"
    result = run_cli("attention", "--run", str(run), "--data", str(token_dir), "--context-factor", "3",
                     "--windows", "2", "--out", str(out), "--device", "cpu")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "block_size=12" in lines[0]
    assert not out.exists()  # no partial output
    with pytest.raises(ValueError, match="absolute positions"):
        cli_main(["position-loss", "--run", str(run), "--data", str(token_dir), "--context", "13",
                  "--windows", "2", "--out", str(tmp_path / "pl.csv"), "--device", "cpu"])


def test_cli_measurements_write_table_and_units_and_report_progress(tmp_path, token_dir, monkeypatch, capsys):
    monkeypatch.setenv("MOSAIC_PROGRESS_INTERVAL", "0")  # a log line per batch, as in a job's log
    run = make_run(tmp_path / "mosaic_L1", "mosaic")
    common = ["--run", str(run), "--data", str(token_dir), "--windows", "5", "--batch-size", "2", "--device", "cpu"]
    cli_main(["position-loss", *common, "--corpus", "ood", "--out", str(tmp_path / "pl.csv")])
    cli_main(["attention", *common, "--out", str(tmp_path / "att.csv")])
    err = capsys.readouterr().err
    assert "[progress] loss mosaic_L1: 2/5 windows" in err and "[progress] attention mosaic_L1: 5/5 windows" in err

    loss = pd.read_csv(tmp_path / "pl.csv")
    assert len(loss) == TINY["block_size"] and (loss["n"] == 5).all()
    assert loss["label"].iloc[0] == "mosaic" and loss["corpus"].iloc[0] == "ood" and loss["unk_id"].iloc[0] == 36
    assert len(loss["data_sha256"].iloc[0]) == 64 and np.isnan(loss["unseen_in_train_rate"].iloc[0])
    arrays, meta = read_window_arrays(tmp_path / "pl.npz")
    assert arrays["loss"].shape == (5, TINY["block_size"]) and arrays["unk"].shape == (5, TINY["block_size"])
    np.testing.assert_allclose(np.nanmean(arrays["loss"], axis=0), loss["mean_loss"], rtol=1e-5)
    assert meta["kind"] == "position_loss" and meta["n_windows"] == 5 and meta["data_sha256"] == loss["data_sha256"].iloc[0]

    att = pd.read_csv(tmp_path / "att.csv")
    assert {"lambda_phi", "distance", "attention"} <= set(att.columns)
    assert att.groupby("head")["attention"].sum().to_numpy() == pytest.approx(1.0, abs=1e-5)
    arrays, meta = read_window_arrays(tmp_path / "att.npz")
    assert arrays["unit_attention"].shape == (5, 1, TINY["n_head"], TINY["block_size"])
    np.testing.assert_allclose(pooled_mean(arrays["unit_attention"], arrays["unit_windows"]).reshape(-1),
                               att.sort_values(["layer", "head", "position"])["attention"], rtol=1e-5, atol=1e-7)
    assert arrays["lambda_phi"].shape == (1, TINY["n_head"]) and meta["kind"] == "attention"

    with pytest.raises(ValueError, match=r"\.csv"):
        cli_main(["attention", *common, "--out", str(tmp_path / "att.npz")])


def test_cli_records_the_unseen_in_train_share_of_the_data(tmp_path, token_dir):
    meta = json.loads((token_dir / "meta.json").read_text())
    meta["splits"]["val"]["unseen_in_train_rate"] = 0.25
    (token_dir / "meta.json").write_text(json.dumps(meta))
    run = make_run(tmp_path / "transformer_L1", "transformer")
    cli_main(["position-loss", "--run", str(run), "--data", str(token_dir), "--windows", "2", "--device", "cpu",
              "--out", str(tmp_path / "pl.csv")])
    assert pd.read_csv(tmp_path / "pl.csv")["unseen_in_train_rate"].iloc[0] == 0.25


@pytest.mark.slow
def test_cli_measurements_figures_and_claims_end_to_end(tmp_path, token_dir):
    """The workflow's layout (results/measurements, figures, tables) from the CLI to the scorecard."""
    from mosaic.experiments.analyses.claims import claim_results

    results = tmp_path / "results"
    runs = {
        "mosaic": make_run(results / "runs/stories/mosaic_L1", "mosaic"),
        "abs": make_run(results / "runs/stories/transformer_L1", "transformer"),
        "rope": make_run(results / "runs/analyses/rope", "transformer", pos_encoding="rope"),
    }
    common = ["--data", str(token_dir), "--windows", "5", "--batch-size", "2", "--device", "cpu"]
    csv = {}

    def measure(name, kind, corpus, factor=1):
        run = runs[name]
        path = results / "measurements" / run.parent.name / run.name / f"{kind}_{corpus}_x{factor}.csv"
        cli_main([kind.replace("_", "-"), "--run", str(run), "--corpus", corpus, "--context-factor", str(factor),
                  *common, "--out", str(path)])
        csv[name, kind, corpus, factor] = str(path)

    for name in ("mosaic", "abs"):
        for corpus in ("ood", "val"):
            measure(name, "position_loss", corpus)
        measure(name, "attention", "val")
    for name in ("mosaic", "rope"):
        measure(name, "attention", "val", 3)
        measure(name, "position_loss", "val", 3)
    long = pd.read_csv(csv["rope", "attention", "val", 3])
    assert long["ctx"].iloc[0] == 36 and long["train_ctx"].iloc[0] == 12
    assert long["label"].iloc[0] == "transformer (rope)"

    figs, tables = results / "figures", results / "tables"
    cli_main(["fig10", "--ood", csv["mosaic", "position_loss", "ood", 1], csv["abs", "position_loss", "ood", 1],
              "--val", csv["mosaic", "position_loss", "val", 1], csv["abs", "position_loss", "val", 1],
              "--split-at", "4", "--out", str(figs / "fig10_ood_position_loss.png"),
              "--table", str(tables / "fig10_ood_position_loss"), "--summary", str(tables / "fig10_ood_summary")])
    summary = pd.read_csv(tables / "fig10_ood_summary.csv")
    assert len(summary) == 4 and {"loss_pos_1_4", "loss_pos_5_12", "unk_rate", "known_loss_pos_5_12"} <= set(summary.columns)
    assert summary["unk_rate"].between(0.0, 0.1).all()  # id 36 is one of 37 uniform ids
    assert (summary["unseen_in_train_rate"] == "missing").all()
    assert (figs / "fig10_ood_position_loss.pdf").is_file() and (tables / "fig10_ood_summary.md").is_file()
    table = pd.read_csv(tables / "fig10_ood_position_loss.csv")
    assert {"position", "mean_loss", "ci_low", "ci_high", "loss_pos_1_4", "measurement"} <= set(table.columns)

    cli_main(["fig12", "--inputs", csv["mosaic", "attention", "val", 1], csv["abs", "attention", "val", 1],
              "--out", str(figs / "fig12_attention_last_position.png")])
    cli_main(["fig13", "--attention", csv["mosaic", "attention", "val", 3], csv["rope", "attention", "val", 3],
              "--loss", csv["mosaic", "position_loss", "val", 3], csv["rope", "position_loss", "val", 3],
              "--out", str(figs / "fig13_attention_long_context.png")])
    cli_main(["fig15", "--input", csv["mosaic", "attention", "val", 1], "--window", "4",
              "--out", str(figs / "fig15_attention_vs_lambda.png"), "--table", str(tables / "fig15_lambda_width")])
    heads = pd.read_csv(tables / "fig15_lambda_width.csv")
    assert len(heads) == TINY["n_head"] and heads["lambda_phi"].is_monotonic_increasing
    with pytest.raises(ValueError, match="lambda"):
        cli_main(["fig15", "--input", csv["abs", "attention", "val", 1], "--window", "4",
                  "--out", str(figs / "x.png"), "--table", str(tables / "x")])

    rows = {r.id: r for r in claim_results(results)}
    assert [rows[c].verdict for c in ("C6", "C9", "C11")] == ["inconclusive"] * 3  # 5 windows, 2 heads
    assert rows["C6"].value is None and "has no position after 50" in rows["C6"].note  # ctx 12
    assert rows["C9"].value is not None and len(rows["C9"].sources) == 3
    assert rows["C10"].verdict == "not run" and "ALiBi fades: not run" in rows["C10"].note
