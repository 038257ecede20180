"""The shared trainer (mosaic.harness.train), config loading (mosaic.harness.config) and plotting (mosaic.harness.plotting)."""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from mosaic.harness.config import add_config_args, config_from_args, load_config, runtime_from_args
from mosaic.harness.train import NonFiniteLossError, TrainConfig, load_trained, lr_at, make_optimizer, train
from tests.conftest import REPO, TINY_B, TINY_T, TinyLM
from tests.conftest import tiny_batch as get_batch

VOCAB, B, T = 11, TINY_B, TINY_T


def make_model(seed: int = 0) -> TinyLM:
    torch.manual_seed(seed)  # the caller seeds model init; the trainer seeds batches
    return TinyLM()


def cfg(**overrides) -> TrainConfig:
    base = dict(max_steps=10, lr=1e-2, min_lr=1e-3, warmup_steps=2, eval_interval=5, eval_batches=2,
                checkpoint_interval=5, log_interval=1, seed=3, device="cpu", threads=1, progress=False)
    return TrainConfig.from_dict({**base, **overrides})


def read_metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


# -- TrainConfig and schedule ---------------------------------------------------------------------
def test_schedule_warmup_then_cosine_to_min_lr():
    c = TrainConfig(max_steps=100, lr=1.0, min_lr=0.1, warmup_steps=10, lr_schedule="cosine")
    warm = [lr_at(s, c) for s in range(10)]
    assert warm == sorted(warm) and warm[0] == pytest.approx(0.1) and warm[-1] == pytest.approx(1.0)
    decay = [lr_at(s, c) for s in range(10, 101)]
    assert all(a >= b for a, b in zip(decay, decay[1:]))
    assert lr_at(10, c) == pytest.approx(1.0)
    assert lr_at(55, c) == pytest.approx(0.55)  # half-way: mean of lr and min_lr
    assert lr_at(100, c) == pytest.approx(0.1)
    lin = TrainConfig(max_steps=500, lr=1e-2, min_lr=5e-6, lr_schedule="linear")  # three moons
    assert lr_at(0, lin) == pytest.approx(1e-2) and lr_at(500, lin) == pytest.approx(5e-6)
    const = TrainConfig(max_steps=50, lr=0.3, lr_schedule="constant", warmup_steps=5)
    assert lr_at(4, const) == pytest.approx(0.3) and lr_at(49, const) == pytest.approx(0.3)


def test_train_config_rejects_unknown_and_bad_values():
    with pytest.raises(ValueError, match="max_stepz"):
        TrainConfig.from_dict({"max_steps": 5, "max_stepz": 6})
    with pytest.raises(ValueError, match="lr"):
        TrainConfig.from_dict({"max_steps": 5, "lr": 0})
    with pytest.raises(ValueError, match="max_steps"):
        TrainConfig.from_dict({"max_steps": 0})
    with pytest.raises(ValueError, match="lr_schedule"):
        TrainConfig.from_dict({"max_steps": 5, "lr_schedule": "step"})
    with pytest.raises(ValueError, match="eval_batches"):
        TrainConfig.from_dict({"max_steps": 5, "eval_batches": 2.5})
    # what YAML/JSON produce is accepted: "1e-3" (YAML 1.1 string), lists for betas
    c = TrainConfig.from_dict({"max_steps": 5, "lr": "1e-3", "min_lr": 0, "betas": [0.9, 0.999]})
    assert c.lr == 1e-3 and c.betas == (0.9, 0.999) and isinstance(c.min_lr, float)


@pytest.mark.parametrize("bad", [float("inf"), float("-inf"), float("nan")], ids=["inf", "-inf", "nan"])
def test_train_config_refuses_every_non_finite_float_by_name(bad):
    """``lr: .inf`` passed ``lr > 0`` and turned the weights to NaN two steps later; NaN passes no
    comparison, so every float field is checked for finiteness first, by name."""
    import dataclasses

    from mosaic.harness.train_config import FLOAT_KEYS

    float_fields = [f.name for f in dataclasses.fields(TrainConfig) if "float" in str(f.type)]
    assert sorted(float_fields) == sorted(FLOAT_KEYS)  # a new float field is checked too
    for key in float_fields:
        value = [0.9, bad] if key == "betas" else bad
        with pytest.raises(ValueError, match=rf"TrainConfig\.{key} must be finite, got"):
            TrainConfig.from_dict({"max_steps": 3, key: value})
        with pytest.raises(ValueError, match=rf"TrainConfig\.{key} must be finite"):  # YAML/JSON strings
            TrainConfig.from_dict({"max_steps": 3, key: [0.9, str(bad)] if key == "betas" else str(bad)})


def test_weight_decay_only_on_matrices():
    model = TinyLM()
    opt = make_optimizer(model, cfg(weight_decay=0.1), torch.device("cpu"))
    decayed = {id(p) for g in opt.param_groups if g["weight_decay"] > 0 for p in g["params"]}
    assert decayed == {id(model.emb.weight), id(model.head.weight)}
    assert sum(len(g["params"]) for g in opt.param_groups) == 3  # + head.bias, not decayed
    model.emb.weight._no_weight_decay = True  # Mamba's marker (the SSM's A_log) is honoured
    opt = make_optimizer(model, cfg(weight_decay=0.1), torch.device("cpu"))
    decayed = {id(p) for g in opt.param_groups if g["weight_decay"] > 0 for p in g["params"]}
    assert decayed == {id(model.head.weight)}


# -- training, metrics, resume --------------------------------------------------------------------
def test_loss_falls_and_metrics_parse(tmp_path):
    model = make_model()
    done = train(model, get_batch, tmp_path, cfg(max_steps=60, eval_interval=20, checkpoint_interval=0))
    records = read_metrics(tmp_path)
    assert [r["step"] for r in records] == list(range(61))  # step 0 = eval of the untrained model
    evals = [r["val_loss"] for r in records if "val_loss" in r]
    assert len(evals) == 4 and evals[-1] < 0.5 * evals[0]
    assert records[-1]["tokens"] == 60 * B * T and records[-1]["lr"] > 0
    assert all(r["tokens_per_s"] > 0 and r["elapsed_s"] >= 0 for r in records[1:])
    assert done["step"] == 60 and done["val_loss"] == pytest.approx(evals[-1])
    assert json.loads((tmp_path / "done.json").read_text()) == done
    assert json.loads((tmp_path / "config.json").read_text())["train"]["max_steps"] == 60
    # final weights load into a fresh model; a finished run returns at once
    fresh = load_trained(make_model(seed=99), tmp_path)
    assert torch.equal(fresh.head.weight, model.cpu().head.weight)
    assert train(make_model(), get_batch, tmp_path, cfg(max_steps=60)) == done


class Killed(Exception):
    pass


def test_resume_is_bitwise_identical(tmp_path):
    ref = make_model()
    train(ref, get_batch, tmp_path / "ref", cfg())

    def dies_at_step_7(split, step, generator):
        if split == "train" and step == 7:
            raise Killed  # a job killed between checkpoints (checkpoint at step 5)
        return get_batch(split, step, generator)

    with pytest.raises(Killed):
        train(make_model(), dies_at_step_7, tmp_path / "resumed", cfg())
    ckpt = torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=True)
    assert ckpt["step"] == 5 and not (tmp_path / "resumed" / "model.safetensors").exists()
    resumed = make_model(seed=123)  # different init: everything must come from the checkpoint
    train(resumed, get_batch, tmp_path / "resumed", cfg())
    for (name, a), (_, b) in zip(ref.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), name
    steps = [r["step"] for r in read_metrics(tmp_path / "resumed")]
    assert steps == list(range(11))  # lines after the checkpoint were dropped, none duplicated
    assert read_metrics(tmp_path / "resumed")[-1]["train_loss"] == read_metrics(tmp_path / "ref")[-1]["train_loss"]


def test_a_finished_run_of_other_settings_is_trained_afresh(tmp_path, capfd):
    """max_steps is part of the run identity (the schedule depends on it): asking a finished
    5-step run for 10 steps trains 10 steps from scratch, as a fresh directory would."""
    ref = make_model()
    train(ref, get_batch, tmp_path / "ref", cfg())
    part = make_model()
    train(part, get_batch, tmp_path / "part", cfg(max_steps=5))
    again = make_model()
    train(again, get_batch, tmp_path / "part", cfg())
    assert torch.equal(ref.head.weight, again.head.weight)
    assert "train.max_steps: 5 -> 10" in capfd.readouterr().err
    assert json.loads((tmp_path / "part" / "done.json").read_text())["step"] == 10
    assert [r["step"] for r in read_metrics(tmp_path / "part")] == [r["step"] for r in read_metrics(tmp_path / "ref")]


def test_nan_loss_stops_with_step_and_keeps_checkpoint(tmp_path):
    def nan_after_6(model, batch):
        loss = model(*batch)[1]
        return loss * float("nan") if model.training and nan_after_6.calls >= 6 else loss

    def counting_batch(split, step, generator):
        if split == "train":
            nan_after_6.calls = step
        return get_batch(split, step, generator)

    nan_after_6.calls = 0
    with pytest.raises(NonFiniteLossError, match="step 7"):
        train(make_model(), counting_batch, tmp_path, cfg(), loss_fn=nan_after_6)
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True)["step"] == 5
    assert not (tmp_path / "done.json").exists()


def test_corrupt_checkpoint_is_reported(tmp_path):
    train(make_model(), get_batch, tmp_path, cfg(max_steps=5))
    payload = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    payload["model"]["head.bias"] += 1.0
    torch.save(payload, tmp_path / "checkpoint.pt")
    (tmp_path / "done.json").unlink()
    with pytest.raises(ValueError, match="corrupt"):
        train(make_model(), get_batch, tmp_path, cfg())


# -- config loading and CLI plumbing ---------------------------------------------------------------
def test_load_config_merges_and_reports_errors(tmp_path):
    (tmp_path / "a.yaml").write_text("scale: default\nexp:\n  train: {max_steps: 100, lr: 0.1}\n  name: a\n")
    (tmp_path / "b.yaml").write_text("scale: smoke\nexp:\n  train: {max_steps: 2}\n")
    merged = load_config(tmp_path / "a.yaml", tmp_path / "b.yaml")
    assert merged == {"scale": "smoke", "exp": {"train": {"max_steps": 2, "lr": 0.1}, "name": "a"}}
    (tmp_path / "bad.yaml").write_text("a: 1\nb: [1, 2\nc: 3\n")
    with pytest.raises(ValueError, match=r"bad\.yaml:\d+:\d+: malformed YAML"):
        load_config(tmp_path / "bad.yaml")
    with pytest.raises(FileNotFoundError, match="missing.yaml"):
        load_config(tmp_path / "missing.yaml")

    parser = add_config_args(argparse.ArgumentParser())
    args = parser.parse_args(["--config", str(tmp_path / "a.yaml"), "--config", str(tmp_path / "b.yaml"),
                              "--config-json", '{"name": "j"}', "--threads", "3"])
    assert config_from_args(args, "exp") == {"train": {"max_steps": 2, "lr": 0.1}, "name": "j"}
    assert runtime_from_args(args) == {"device": "auto", "threads": 3}
    with pytest.raises(ValueError, match="no section 'other'"):
        config_from_args(args, "other")
    only_json = parser.parse_args(["--config-json", '{"x": 1}'])
    assert config_from_args(only_json, "anything") == {"x": 1}


def test_run_cli_turns_errors_into_one_line(tmp_path):
    code = ("from mosaic.harness.config import run_cli\n"
            "def main():\n    raise ValueError('bad key max_stepz in exp.train')\n"
            "run_cli(main)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: bad key max_stepz in exp.train"


@pytest.mark.parametrize("raised, line", [
    ("RuntimeError('[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can\\'t allocate memory: "
     "you tried to allocate 19712000000000 bytes. Error code 12 (Cannot allocate memory)')",
     "error: out of memory: tried to allocate 17.9 TiB (DefaultCPUAllocator); use a smaller batch_size, "
     "block_size or model"),
    ("MemoryError('Unable to allocate 48.4 GiB for an array with shape (100000000, 65) and data type int64')",
     "error: out of memory: Unable to allocate 48.4 GiB for an array with shape (100000000, 65) and data type "
     "int64; use a smaller batch_size, block_size or model"),
    ("type('OutOfMemoryError', (RuntimeError,), {})('CUDA out of memory. Tried to allocate 2.00 GiB.\\nmore')",
     "error: out of memory: CUDA out of memory. Tried to allocate 2.00 GiB. more; use a smaller batch_size, "
     "block_size or model"),
], ids=["cpu_allocator", "numpy", "cuda"])
def test_run_cli_reports_out_of_memory_in_one_line(raised, line):
    code = f"from mosaic.harness.config import run_cli\ndef main():\n    raise {raised}\nrun_cli(main)\n"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert (proc.returncode, proc.stderr.strip()) == (2, line)


def test_run_cli_keeps_the_traceback_of_other_runtime_errors(capsys):
    from mosaic.harness.config import run_cli

    def bug():
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied (4x16 and 32x11)")

    with pytest.raises(RuntimeError, match="shapes cannot be multiplied"):
        run_cli(bug)


# -- plotting -------------------------------------------------------------------------------------
def test_save_figure_writes_png_pdf_csv(tmp_path):
    from mosaic.harness.plotting import arch_color, new_figure, save_figure, set_style

    set_style()
    df = pd.DataFrame({"step": [0, 1, 2] * 2, "loss": [3.0, 2.0, 1.5, 3.1, 2.5, 2.0],
                       "arch": ["mosaic"] * 3 + ["transformer"] * 3})
    fig, axes = new_figure(ncols=2)
    for arch, d in df.groupby("arch"):
        axes[0].plot(d["step"], d["loss"], color=arch_color(arch), label=arch)
    out = save_figure(fig, tmp_path / "figures" / "fig99_test.png", df)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "figures" / "fig99_test.pdf").read_bytes()[:4] == b"%PDF"
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "figures" / "fig99_test.csv"), df)
    assert arch_color("mosaic") != arch_color("transformer")
    assert arch_color("MyNewNet") == arch_color("mynewnet")  # stable fallback colour
    assert not list(tmp_path.rglob(".*tmp*"))


# -- compile: true ---------------------------------------------------------------------------------
def test_compile_option_compiles_what_the_loss_sees_and_saves_the_plain_model(tmp_path, monkeypatch, capfd):
    """``compile: true`` hands the module the loss is computed on to torch.compile (here a recorder
    that returns it unchanged, so the run equals the plain one) and keeps checkpoints and final
    weights those of the uncompiled model (no ``_orig_mod.`` keys); the setting is not part of the
    run identity, so a run resumes with or without it."""
    compiled = []

    def fake_compile(module, **kwargs):
        compiled.append(module)
        return module

    monkeypatch.setattr(torch, "compile", fake_compile)
    plain, with_compile = tmp_path / "plain", tmp_path / "compiled"
    train(make_model(), get_batch, plain, cfg(max_steps=4))
    assert compiled == []
    model = make_model()
    train(model, get_batch, with_compile, cfg(max_steps=4, compile=True))
    assert len(compiled) == 1 and compiled[0] is model
    a, b = load_trained(make_model(), plain), load_trained(make_model(), with_compile)
    assert all(torch.equal(a.state_dict()[k], v) for k, v in b.state_dict().items())
    (with_compile / "done.json").unlink()
    (with_compile / "model.safetensors").unlink()
    capfd.readouterr()
    train(make_model(), get_batch, with_compile, cfg(max_steps=4))  # without compile: resumed
    assert "starting afresh" not in capfd.readouterr().err
    assert len([r for r in read_metrics(with_compile) if r.get("step") == 1 and "train_loss" in r]) == 1


@pytest.mark.slow
def test_compile_option_trains_like_the_eager_model(tmp_path):
    """The real torch.compile (inductor; minutes on a CPU): the same losses up to float rounding.
    Without dropout: compiled dropout draws its masks from inductor's own generator."""

    def model():
        torch.manual_seed(0)
        return TinyLM(dropout=0.0)

    train(model(), get_batch, tmp_path / "eager", cfg(max_steps=3))
    train(model(), get_batch, tmp_path / "compiled", cfg(max_steps=3, compile=True))
    eager = [r["train_loss"] for r in read_metrics(tmp_path / "eager") if "train_loss" in r]
    compiled = [r["train_loss"] for r in read_metrics(tmp_path / "compiled") if "train_loss" in r]
    assert compiled == pytest.approx(eager, rel=1e-4, abs=1e-5)
