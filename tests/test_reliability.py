"""The trainer survives what happens to long jobs: SIGKILL, SIGTERM/SIGINT, damaged checkpoints,
a second job on the same directory, NaN losses, and resuming into a run of another config.

Process-level tests run this file as a worker (``python tests/test_reliability.py OUT JSON``,
behaviour switched by environment variables), kill it, resume in the test process and compare
the final weights bitwise with an uninterrupted run.
"""
from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from mosaic.checkpoint import load_checkpoint
from mosaic.config import run_cli
from mosaic.train import (CheckpointError, RunLockedError, TrainConfig, TrainingInterrupted, load_trained,
                          train)

from test_train import TinyLM, get_batch  # tests/ is on sys.path (also when run as a script)

REPO = Path(__file__).resolve().parents[1]
BASE = dict(max_steps=24, lr=1e-2, min_lr=1e-3, warmup_steps=2, eval_interval=8, eval_batches=2,
            checkpoint_interval=4, log_interval=3, seed=3, device="cpu", threads=1, progress=False)
TIMING = {"tokens_per_s", "elapsed_s"}  # the only metrics allowed to differ between equal runs


def make_model(seed: int = 0, **kwargs) -> TinyLM:
    torch.manual_seed(seed)
    return TinyLM(**kwargs)


def cfg(**overrides) -> TrainConfig:
    return TrainConfig.from_dict({**BASE, **overrides})


def read_metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def untimed_metrics(run_dir: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in TIMING} for r in read_metrics(run_dir)]


def assert_same_weights(a: nn.Module, b: nn.Module) -> None:
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(x, y), name


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[TinyLM, list[dict]]:
    """The uninterrupted run every interrupted one must reproduce bitwise: weights, metrics."""
    model, out = make_model(), tmp_path_factory.mktemp("reference")
    train(model, get_batch, out, cfg())
    return model, untimed_metrics(out)


# -- the worker process -------------------------------------------------------------------------
def start_worker(out_dir: Path, delay: float = 0.0, nan_at: int | None = None, **overrides) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO), "STEP_DELAY": str(delay),
           "NAN_AT_STEP": "" if nan_at is None else str(nan_at)}
    return subprocess.Popen([sys.executable, __file__, str(out_dir), json.dumps(overrides)], env=env,
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_step(proc: subprocess.Popen, out_dir: Path, step: int, timeout: float = 120) -> None:
    """Block until the worker has logged ``step`` or a later one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"worker ended early: {proc.communicate()[1][-2000:]}"
        path = out_dir / "metrics.jsonl"
        lines = path.read_text().splitlines() if path.is_file() else []
        try:
            if lines and json.loads(lines[-1])["step"] >= step:
                return
        except json.JSONDecodeError:  # caught the worker mid-line
            pass
        time.sleep(0.02)
    proc.kill()
    raise AssertionError(f"worker did not reach step {step} in {timeout} s")


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def _worker_main(out_dir: str, overrides: str) -> int:
    delay, nan_at = float(os.environ["STEP_DELAY"]), os.environ["NAN_AT_STEP"]
    current = {"step": 0}

    def slow_batch(split, step, generator):
        if split == "train":
            current["step"] = step
            time.sleep(delay)  # leaves the test time to signal mid-run
        return get_batch(split, step, generator)

    def loss_fn(model, batch):
        loss = model(*batch)[1]
        return loss * float("nan") if nan_at and model.training and current["step"] >= int(nan_at) else loss

    try:
        train(make_model(), slow_batch, out_dir, cfg(**json.loads(overrides)), loss_fn=loss_fn)
    except TrainingInterrupted as exc:  # what the CLIs' run_cli does with it
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


# -- kill and resume ----------------------------------------------------------------------------
def test_sigkill_at_a_random_step_then_resume_is_bitwise_identical(tmp_path, reference):
    kill_after = random.Random(8).randrange(3, 20)  # any step: between or during checkpoints
    out = tmp_path / "run"
    proc = start_worker(out, delay=0.05)
    wait_for_step(proc, out, kill_after)
    # while it runs, a second training of the same directory is refused, naming the holder
    with pytest.raises(RunLockedError, match=rf"{re.escape(str(out))} .*pid {proc.pid}"):
        train(make_model(), get_batch, out, cfg())
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL and not (out / "done.json").exists()
    stopped_at = load_checkpoint(out / "checkpoint.pt")["step"]
    assert 0 < stopped_at < BASE["max_steps"]

    resumed = make_model(seed=123)  # another init: everything must come from the checkpoint
    train(resumed, get_batch, out, cfg())  # the dead worker's lock went with it
    assert_same_weights(reference[0], resumed)
    assert untimed_metrics(out) == reference[1]  # lines after the checkpoint dropped, none duplicated


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_checkpoints_at_end_of_step_and_exits_128_plus_signal(tmp_path, reference, signum):
    out = tmp_path / "run"
    proc = start_worker(out, delay=0.05, checkpoint_interval=0)  # no checkpoint but the signal's
    wait_for_step(proc, out, 5)
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum, stderr[-2000:]
    [line] = error_lines(stderr)
    stopped = int(re.search(rf"error: {signal.Signals(signum).name}: .* stopped at step (\d+)/24", line)[1])
    assert load_checkpoint(out / "checkpoint.pt")["step"] == stopped
    assert read_metrics(out)[-1]["step"] <= stopped and not (out / "model.pt").exists()

    resumed = make_model(seed=123)
    train(resumed, get_batch, out, cfg(checkpoint_interval=0))
    assert_same_weights(reference[0], resumed)
    assert untimed_metrics(out) == reference[1]  # the log window that the signal cut is continued


def test_nan_loss_in_a_process_exits_with_one_line_and_keeps_the_checkpoint(tmp_path):
    out = tmp_path / "run"
    proc = start_worker(out, nan_at=6)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode != 0
    [line] = error_lines(stderr)
    assert "non-finite training loss" in line and "step 7" in line and "checkpoint at step 4 kept" in line
    assert "Traceback" not in stderr
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 4  # loads and verifies
    assert not (out / "done.json").exists()


# -- damaged checkpoints ------------------------------------------------------------------------
def test_damaged_latest_checkpoint_falls_back_to_previous(tmp_path, reference, capfd):
    out = tmp_path / "run"
    train(make_model(), get_batch, out, cfg())
    assert load_checkpoint(out / "checkpoint.prev.pt")["step"] == 20  # the one before step 24
    (out / "done.json").unlink()
    data = (out / "checkpoint.pt").read_bytes()
    (out / "checkpoint.pt").write_bytes(data[: len(data) // 2])  # a truncated copy
    capfd.readouterr()

    resumed = make_model(seed=123)
    train(resumed, get_batch, out, cfg())
    warnings = [line for line in capfd.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "checkpoint.pt is corrupt" in warnings[0]
    assert "falling back to checkpoint.prev.pt (step 20)" in warnings[0]
    assert_same_weights(reference[0], resumed)
    # the damaged file was overwritten, not rotated into the fallback slot
    assert load_checkpoint(out / "checkpoint.prev.pt")["step"] == 20
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 24


def test_no_usable_checkpoint_is_one_clear_error(tmp_path):
    out = tmp_path / "run"
    train(make_model(), get_batch, out, cfg(max_steps=8))
    (out / "done.json").unlink()
    (out / "checkpoint.pt").write_bytes(b"")
    payload = torch.load(out / "checkpoint.prev.pt", weights_only=True)
    payload["step"] += 1  # a silent change: only the sha256 sees it
    torch.save(payload, out / "checkpoint.prev.pt")
    with pytest.raises(CheckpointError, match="checkpoint.pt is corrupt.*checkpoint.prev.pt is corrupt "
                                              r"\(sha256 mismatch\).*no usable checkpoint"):
        train(make_model(), get_batch, out, cfg(max_steps=8))


def test_truncated_final_weights_are_named_not_a_shape_mismatch(tmp_path):
    train(make_model(), get_batch, tmp_path, cfg(max_steps=4))
    data = (tmp_path / "model.pt").read_bytes()
    (tmp_path / "model.pt").write_bytes(data[:100])
    with pytest.raises(CheckpointError, match=r"model\.pt is corrupt \(unreadable: .*\); delete it and"):
        load_trained(make_model(), tmp_path)


# -- resuming into another config ---------------------------------------------------------------
def test_checkpoint_of_another_model_config_is_refused_by_key(tmp_path, capfd):
    out = tmp_path / "run"
    run = {"arch": "tiny", "model": {"d": 16, "dropout": 0.1}}
    train(make_model(), get_batch, out, cfg(max_steps=4), run_config=run)
    other = {"arch": "tiny", "model": {"d": 32, "dropout": 0.1}}
    with pytest.raises(CheckpointError, match=r"another model config \(model\.d: 16 -> 32\)"):
        train(make_model(d=32), get_batch, out, cfg(max_steps=8), run_config=other)
    with pytest.raises(CheckpointError, match=r"tensors\.emb\.weight: \[11, 16\] -> \[11, 32\]"):
        train(make_model(d=32), get_batch, out, cfg(max_steps=8))  # no run config: shapes still differ
    capfd.readouterr()
    train(make_model(), get_batch, out, cfg(max_steps=8, lr=2e-2), run_config=run)  # optimisation change
    assert "changed TrainConfig keys ['lr']" in capfd.readouterr().err
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 8


# -- determinism and provenance -----------------------------------------------------------------
def test_same_seed_gives_same_metrics_and_provenance_is_recorded(tmp_path):
    runs = [tmp_path / "a", tmp_path / "b"]
    for run in runs:
        train(make_model(), get_batch, run, cfg(max_steps=12, checkpoint_interval=0))
    a, b = (untimed_metrics(run) for run in runs)
    assert a == b and [r["step"] for r in a] == [0, 3, 6, 8, 9, 12]
    other = tmp_path / "seed4"
    train(make_model(), get_batch, other, cfg(max_steps=12, seed=4))  # another seed: another data order
    assert read_metrics(other)[-1]["train_loss"] != a[-1]["train_loss"]

    prov = json.loads((runs[0] / "config.json").read_text())["provenance"]
    assert prov["seed"] == 3 and prov["world_size"] == 1 and prov["resumed_from_step"] is None
    assert prov["git_commit"] is None or re.fullmatch(r"[0-9a-f]{40}", prov["git_commit"])
    assert prov["packages"]["torch"] == torch.__version__ and "numpy" in prov["packages"]
    assert {"python", "platform", "started_utc", "argv", "git_dirty"} <= set(prov)


if __name__ == "__main__":
    run_cli(_worker_main, *sys.argv[1:3])
