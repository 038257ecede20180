"""Analyses of trained language models (Fig. 10, 12, 13, 15): per-position loss, averaged
attention, peak widths against λ_φ, and the CLI on tiny random models."""
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
from mosaic.experiments.analyses import (PositionStats, average_attention, lambda_width_table, peak_widths,
                             position_loss, spearman)
from mosaic.experiments.analyses.cli import main as cli_main
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


def test_cli_measurements_and_figures(tmp_path, token_dir):
    runs = {
        "mosaic": make_run(tmp_path / "mosaic_L1", "mosaic"),
        "abs": make_run(tmp_path / "transformer_L1", "transformer"),
        "rope": make_run(tmp_path / "rope", "transformer", pos_encoding="rope"),
    }
    common = ["--data", str(token_dir), "--windows", "5", "--batch-size", "2", "--device", "cpu"]
    csv = {}
    for name, run in runs.items():
        for corpus in ("ood", "val"):
            csv[name, "loss", corpus] = tmp_path / f"pl_{name}_{corpus}.csv"
            cli_main(["position-loss", "--run", str(run), "--corpus", corpus, *common,
                      "--out", str(csv[name, "loss", corpus])])
        csv[name, "att"] = tmp_path / f"att_{name}.csv"
        cli_main(["attention", "--run", str(run), *common, "--out", str(csv[name, "att"])])
    for name in ("mosaic", "rope"):
        csv[name, "long"] = tmp_path / f"att3_{name}.csv"
        cli_main(["attention", "--run", str(runs[name]), *common, "--context-factor", "3",
                  "--out", str(csv[name, "long"])])
        csv[name, "long_loss"] = tmp_path / f"pl3_{name}.csv"
        cli_main(["position-loss", "--run", str(runs[name]), *common, "--context-factor", "3",
                  "--out", str(csv[name, "long_loss"])])

    loss = pd.read_csv(csv["mosaic", "loss", "ood"])
    assert len(loss) == TINY["block_size"] and (loss["n"] == 5).all()
    assert loss["label"].iloc[0] == "mosaic" and loss["corpus"].iloc[0] == "ood"
    att = pd.read_csv(csv["mosaic", "att"])
    assert {"lambda_phi", "distance", "attention"} <= set(att.columns)
    assert att.groupby("head")["attention"].sum().to_numpy() == pytest.approx(1.0, abs=1e-5)
    long = pd.read_csv(csv["rope", "long"])
    assert long["ctx"].iloc[0] == 36 and long["train_ctx"].iloc[0] == 12
    assert long["label"].iloc[0] == "transformer (rope)"

    figs = tmp_path / "figs"
    cli_main(["fig10", "--ood", str(csv["mosaic", "loss", "ood"]), str(csv["abs", "loss", "ood"]),
              "--val", str(csv["mosaic", "loss", "val"]), str(csv["abs", "loss", "val"]), "--split-at", "4",
              "--out", str(figs / "fig10.png"), "--table", str(figs / "t10"), "--summary", str(figs / "s10")])
    summary = pd.read_csv(figs / "s10.csv")
    assert len(summary) == 4 and {"loss_pos_1_4", "loss_pos_5_12", "unk_rate", "known_loss_pos_5_12"} <= set(summary.columns)
    assert summary["unk_rate"].between(0.0, 0.1).all()  # id 36 is one of 37 uniform ids
    assert (figs / "fig10.pdf").is_file() and (figs / "s10.md").is_file()
    table = pd.read_csv(figs / "t10.csv")
    assert {"position", "mean_loss", "ci_low", "ci_high", "loss_pos_1_4"} <= set(table.columns)

    cli_main(["fig12", "--inputs", str(csv["abs", "att"]), str(csv["mosaic", "att"]), "--out", str(figs / "fig12.png")])
    cli_main(["fig13", "--attention", str(csv["mosaic", "long"]), str(csv["rope", "long"]),
              "--loss", str(csv["mosaic", "long_loss"]), str(csv["rope", "long_loss"]), "--out", str(figs / "fig13.png")])
    cli_main(["fig15", "--input", str(csv["mosaic", "att"]), "--window", "4", "--out", str(figs / "fig15.png"),
              "--table", str(figs / "t15")])
    heads = pd.read_csv(figs / "t15.csv")
    assert len(heads) == TINY["n_head"] and heads["lambda_phi"].is_monotonic_increasing
    for name in ("fig12", "fig13", "fig15"):
        assert (figs / f"{name}.png").stat().st_size > 0
    with pytest.raises(ValueError, match="lambda"):
        cli_main(["fig15", "--input", str(csv["abs", "att"]), "--window", "4", "--out", str(figs / "x.png"),
                  "--table", str(figs / "x")])
