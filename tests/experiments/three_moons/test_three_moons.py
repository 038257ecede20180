"""Three moons (paper section 3): data, complex layers, decoding, the analytic solution, the CLI."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from mosaic.experiments.three_moons.cli import check_section, load_run, main
from mosaic.experiments.three_moons.data import ThreeMoonsData, common_period, observe, period_marks, select_triples
from mosaic.experiments.three_moons.evaluate import context_grid, forecast_errors
from mosaic.experiments.three_moons.figures import decoupling, decoupling_table
from mosaic.experiments.three_moons.model import ComplexLinear, ThreeMoonsModel, clipped_squared_error
from mosaic.harness.config import load_config
from mosaic.harness.train import WEIGHTS

OFFICIAL_TRAIN = {(0.5, 1, 2), (0.5, 1, 1.5), (0.5, 1, 3), (0.5, 1.5, 3), (1, 1.5, 3), (0.5, 1, 2.5),
                  (1, 1.5, 2), (0.5, 1.5, 2)}


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py: tiny ops, no threads


@pytest.fixture(scope="module")
def data() -> ThreeMoonsData:
    return ThreeMoonsData(*select_triples(), batch_size=4)


def windows(data, triple, n=16, length=400, seed=0):
    return data.windows(torch.tensor(triple), n, torch.Generator().manual_seed(seed), length)


def test_triples_and_common_periods():
    train, val = select_triples()
    assert val == (1.0, 2.0, 3.0) and common_period(val) == 6.0
    assert set(train) == OFFICIAL_TRAIN and len(train) == 8
    assert [common_period(t) for t in train] == [2, 3, 3, 3, 3, 5, 6, 6]  # ranked by common period
    assert common_period((0.5, 1.0, 2.5)) == 5.0 and common_period((1.5, 2.0, 3.5)) == 42.0
    marks = period_marks((0.5, 1.0, 2.5))
    assert marks["max"] == pytest.approx(800 / 18 * 2.5) and marks["lcm"] == pytest.approx(800 / 18 * 5)
    with pytest.raises(ValueError, match="val_triple"):
        select_triples(val_triple=(1.0, 2.0, 4.0))


def test_data_is_deterministic_and_on_the_unit_circles(data):
    a = data.get_batch("train", 3, torch.Generator().manual_seed(7))
    b = data.get_batch("train", 3, torch.Generator().manual_seed(7))
    c = data.get_batch("train", 3, torch.Generator().manual_seed(8))
    assert all(torch.equal(u, v) for u, v in zip(a, b)) and not torch.equal(a[0], c[0])
    x, y = a
    assert x.shape == y.shape == (4, 800, 6) and torch.equal(x[:, 1:], y[:, :-1])  # targets = next obs
    radii = x.view(4, 800, 3, 2).square().sum(-1)
    assert torch.allclose(radii, torch.ones_like(radii), atol=1e-5)
    # x_t = [sin, cos] of 2π τ / p + 0.3 at τ = (start + t) / ρ
    obs = observe(torch.tensor([[0.5, 1.0, 2.5]]), torch.tensor([10]), 3)
    angle = 2 * math.pi * (12 / (800 / 18)) / 2.5 + 0.3
    assert obs[0, 2, 4].item() == pytest.approx(math.sin(angle), abs=1e-6)
    assert obs[0, 2, 5].item() == pytest.approx(math.cos(angle), abs=1e-6)
    xv, _ = data.get_batch("val", 0, torch.Generator().manual_seed(0))  # the held-out triple: period 6
    shift = round(6 * 800 / 18 * 3)  # 3 common periods = 800 observations exactly
    assert shift == 800 and torch.allclose(observe(torch.tensor([[1.0, 2.0, 3.0]]), torch.tensor([0]), 1),
                                           observe(torch.tensor([[1.0, 2.0, 3.0]]), torch.tensor([shift]), 1),
                                           atol=1e-5)
    assert xv.shape == (4, 800, 6)


def test_complex_linear_is_complex_multiplication():
    torch.manual_seed(0)
    layer = ComplexLinear(6, 6)
    x = torch.randn(5, 7, 6)
    z = torch.complex(x[..., 0::2], x[..., 1::2])  # interleaved (re, im) -> 3 complex numbers
    expected = z @ layer.complex_weight().T
    y = layer(x)
    assert torch.allclose(torch.complex(y[..., 0::2], y[..., 1::2]), expected, atol=1e-6)
    block = layer.real_weight()[0:2, 2:4]  # the paper's [[a, c], [-c, a]] structure
    assert block[0, 0] == block[1, 1] and block[0, 1] == -block[1, 0]
    assert layer.real.abs().max() <= 1 / math.sqrt(6)
    with pytest.raises(ValueError, match="even"):
        ComplexLinear(5, 6)


def test_clipped_loss():
    pred = torch.tensor([[[0.1, 2.0, -3.0, 0.0, 0.0, 0.0]]])
    loss = clipped_squared_error(pred, torch.zeros_like(pred), clip=0.5)
    assert loss.item() == pytest.approx((0.01 + 0.25 + 0.25) / 6)


@pytest.mark.parametrize("heads", [1, 3])
def test_cached_decoding_equals_full_recompute(data, heads):
    """The same forecast, in float64 to 1e-10. In float32 the two orders of summation differ by
    rounding that 25 autoregressive steps through a sharp kernel (β = 50) amplify to ~3e-5,
    depending on the CPU's matmul kernels, so float32 is held to 1e-4."""
    torch.manual_seed(heads)
    model = ThreeMoonsModel(heads).eval()
    ctx = windows(data, (0.5, 1.0, 2.5), n=6, length=150)
    for dtype, atol in ((torch.float64, 1e-10), (torch.float32, 1e-4)):
        model, ctx = model.to(dtype), ctx.to(dtype)
        for L in (1, 2, 37, 150):
            cached = model.forecast(ctx[:, :L], 25)
            full = model.forecast_full_recompute(ctx[:, :L], 25)
            assert torch.allclose(cached, full, atol=atol), (dtype, L, (cached - full).abs().max())


def _mad(model, win, L, horizon=25):
    pred = model.forecast(win[:, :L], horizon)
    return (pred - win[:, L:L + horizon]).abs().mean().item(), (pred[:, 0] - win[:, L]).abs().mean().item()


def test_analytic_solution_one_head(data):
    """W_φ = W_ψ = W_z = I: the memory finds the past state equal to the present one, which exists
    only once the context holds a common period (222 observations for (0.5, 1, 2.5)).
    Measured: MAD ≈ 0.006 (25 steps) and 0.003 (one step) at L = 230, ≈ 0.7 below the lcm."""
    model = ThreeMoonsModel(1).set_identity().eval()
    win = windows(data, (0.5, 1.0, 2.5), length=300)
    mad, first = _mad(model, win, 230)
    assert mad < 0.02 and first < 0.02
    assert _mad(model, win, 200)[0] > 0.3  # one period of the slowest moon is not enough


def test_analytic_solution_three_heads(data):
    """One moon per unit (W_φ = 6·I sharpens the kernel; W_ψ = W_z = I): accurate once the context
    holds the slowest period (111 observations), before the common period (222).
    Measured: MAD ≈ 0.014 (25 steps) and 0.003 (one step) at L = 120; ≈ 0.18 at L = 60."""
    model = ThreeMoonsModel(3).set_identity().eval()
    with torch.no_grad():
        model.memory.key.W_phi.real.mul_(6.0)
    win = windows(data, (0.5, 1.0, 2.5), length=300)
    mad, first = _mad(model, win, 120)
    assert mad < 0.03 and first < 0.01
    assert _mad(model, win, 60)[0] > 0.1


def test_forecast_errors_are_aligned(data):
    model = ThreeMoonsModel(1).set_identity().eval()
    win = windows(data, (1.0, 2.0, 3.0), n=5, length=320)
    df = forecast_errors(model, win, [3, 280], horizon=4, batch_size=2)
    pred = model.forecast(win[:, :280], 4)
    assert df["mad"].iloc[1] == pytest.approx((pred - win[:, 280:284]).abs().mean().item(), rel=1e-5)
    assert df["mad_first"].iloc[1] == pytest.approx((pred[:, 0] - win[:, 280]).abs().mean().item(), rel=1e-5)
    with pytest.raises(ValueError, match="horizon"):
        forecast_errors(model, win, [318], horizon=4)
    assert context_grid({"context_min": 1, "context_max": 11, "context_step": 5}) == [1, 6, 11]


def test_decoupling_scores():
    perm = np.array([[0, 2j, 0], [0, 0, 1], [-1, 0, 0]])
    assert decoupling(perm) == (1.0, [1, 2, 0])
    assert decoupling(np.ones((3, 3)))[0] == pytest.approx(1 / 3)
    table = decoupling_table({"m": {"W_phi": perm, "W_psi": perm, "W_z": perm.T}})
    assert table["consistent"].all() and (table["decoupling"] == 1).all()
    table = decoupling_table({"m": {"W_phi": perm, "W_psi": perm, "W_z": perm}})
    assert not table["consistent"].any()


def test_config_files_validate():
    for overlay in ([], ["config/smoke.yaml"], ["config/paper.yaml"]):
        check_section(load_config("config/config.yaml", *overlay)["three_moons"])
    with pytest.raises(ValueError, match="three_moons.eval.horizon"):
        bad = load_config("config/config.yaml")["three_moons"]
        bad["eval"]["horizon"] = 0
        check_section(bad)


def test_cli_end_to_end(tmp_path, capsys):
    """Train (a few steps), evaluate, plot, tabulate: the Snakemake rules' commands, in-process."""
    cfg = ["--config", "config/config.yaml", "--config", "config/smoke.yaml", "--threads", "1",
           "--config-json", json.dumps({"train": {"max_steps": 3, "batch_size": 2, "eval_batches": 1},
                                        "eval": {"context_step": 300, "windows": 3}})]
    runs = {h: tmp_path / f"h{h}" for h in (1, 3)}
    for h, run in runs.items():
        main(["train", "--heads", str(h), "--out", str(run), *cfg])
        assert (run / WEIGHTS).is_file()
        main(["evaluate", "--run", str(run), "--out", str(run / "eval.csv"), *cfg])
    curves = pd.read_csv(runs[3] / "eval.csv")
    assert list(curves["context"].unique()) == [1, 301, 601] and set(curves["split"]) == {"train", "val"}
    per_window = pd.read_csv(runs[3] / "eval_windows.csv.gz")  # the bootstrap's units: 3 windows
    assert len(per_window) == 2 * 3 * 3 and set(per_window["window"]) == {0, 1, 2}
    means = per_window.groupby(["split", "context"])["mad"].mean()
    assert np.allclose(means.to_numpy(), curves.sort_values(["split", "context"])["mad"], atol=1e-5)
    main(["figure", "--eval", str(runs[3] / "eval.csv"), "--out", str(tmp_path / "fig05.png"), *cfg])
    main(["transitions", "--eval", str(runs[1] / "eval.csv"), "--eval", str(runs[3] / "eval.csv"),
          "--out", str(tmp_path / "trans.csv"), *cfg])
    main(["weights", "--run", str(runs[3]), "--contrast-run", str(runs[1]), "--out", str(tmp_path / "fig06.png"),
          "--table", str(tmp_path / "dec.csv"), *cfg])
    for name in ("fig05.png", "fig05.pdf", "fig05.csv", "trans.csv", "trans.md", "fig06.png", "dec.md"):
        assert (tmp_path / name).is_file(), name
    trans = pd.read_csv(tmp_path / "trans.csv")
    assert len(trans) == 4 and list(trans["claim"]) == ["C1", "C1", "C2", "C2"]
    # a context grid of step 300 cannot tell a period from the lcm: never a verdict
    assert (trans["verdict"] == "inconclusive").all() and trans["reason"].str.contains("too coarse").all()
    # a changed config retrains from scratch instead of resuming the old checkpoint
    cfg[-1] = cfg[-1].replace('"max_steps": 3', '"max_steps": 4')
    main(["train", "--heads", "1", "--out", str(runs[1]), *cfg])
    assert "trained with other settings" in capsys.readouterr().err and load_run(str(runs[1]))[1]["section"]["train"]["max_steps"] == 4
    assert json.loads((runs[1] / "done.json").read_text())["step"] == 4
    assert json.loads((runs[1] / "metrics.jsonl").read_text().splitlines()[0])["step"] == 0
    with pytest.raises(ValueError, match="3-head model"):  # Fig. 6 needs the 3-head run
        main(["weights", "--run", str(runs[1]), "--out", str(tmp_path / "x.png"), "--table", str(tmp_path / "x"), *cfg])
