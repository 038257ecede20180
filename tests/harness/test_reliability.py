"""The trainer survives what happens to long jobs: SIGKILL, SIGTERM/SIGINT, damaged checkpoints,
a second job on the same directory, NaN losses, resuming into a run of another config, a full
disk, a failure before the first checkpoint, and the death of the Snakemake that started it.

Process-level tests run this file as a worker (``python tests/harness/test_reliability.py OUT
JSON``, behaviour switched by environment variables), kill it (or its parent), resume in the test
process and compare the final weights bitwise with an uninterrupted run. A full disk is a real
write error: the file-size limit (``RLIMIT_FSIZE``; Python ignores SIGXFSZ, so a write past it
fails with EFBIG inside torch's or safetensors' writer, as ENOSPC does on a full disk).
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import random
import re
import resource
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.nn as nn

import mosaic.harness.train as train_module
from mosaic.harness.checkpoint import SUPERVISOR_ENV, find_supervisors, is_snakemake, load_checkpoint
from mosaic.harness.config import run_cli
from mosaic.harness.train import CheckpointError, RunLockedError, TrainConfig, TrainingInterrupted, load_trained, train
from tests.conftest import REPO, TinyLM
from tests.conftest import tiny_batch as get_batch

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
    assert read_metrics(out)[-1]["step"] <= stopped and not (out / "model.safetensors").exists()

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
    data = (tmp_path / "model.safetensors").read_bytes()
    (tmp_path / "model.safetensors").write_bytes(data[:100])
    with pytest.raises(CheckpointError, match=r"model\.safetensors is corrupt \(sha256 .* does not match "
                                              r"model\.safetensors\.sha256: .*\); delete it and"):
        load_trained(make_model(), tmp_path)


# -- run identity: a rerun with other settings never returns the old model -----------------------
class Killed(Exception):
    """Raised by a loss function to stop a training as a kill would (no final checkpoint)."""


def fresh(tmp_path: Path, name: str, **overrides) -> TinyLM:
    """The model a fresh directory trains with these settings: what every rerun must return."""
    model = make_model()
    train(model, get_batch, tmp_path / name, cfg(**overrides))
    return model


def test_rerun_with_fewer_steps_after_deleting_the_outputs_retrains(tmp_path, capfd):
    """The issue's case: train 24 steps, delete done.json and model.safetensors (what Snakemake
    does before it reruns a job whose params changed), rerun with max_steps=8: the 8-step model,
    not the 24-step one resumed from its checkpoint."""
    out = tmp_path / "run"
    train(make_model(), get_batch, out, cfg(max_steps=24))
    (out / "done.json").unlink()
    (out / "model.safetensors").unlink()
    rerun = make_model()
    done = train(rerun, get_batch, out, cfg(max_steps=8))
    err = capfd.readouterr().err
    assert "resuming" not in err and "train.max_steps: 24 -> 8" in err
    assert done["step"] == 8 and json.loads((out / "config.json").read_text())["train"]["max_steps"] == 8
    assert_same_weights(rerun, fresh(tmp_path, "fresh", max_steps=8))
    assert_same_weights(load_trained(make_model(), out), rerun)



def kill_at_step_13(out) -> None:
    """Train ``cfg()`` into ``out`` and die (as if SIGKILLed) in step 13: the checkpoint holds step 12."""

    def stop_at_13(model, batch):
        if model.training and stop_at_13.calls == 13:
            raise Killed()
        stop_at_13.calls += model.training
        return model(*batch)[1]

    stop_at_13.calls = 0
    with pytest.raises(Killed):
        train(make_model(), get_batch, out, cfg(), loss_fn=stop_at_13)


def test_interrupted_run_rerun_with_another_lr_trains_that_lr(tmp_path, capfd):
    """A run killed half way (checkpoint at step 12) and rerun with another lr trains the new lr
    from step 0: its weights are bitwise those of a fresh run at that lr, never the old lr's."""
    out = tmp_path / "run"
    kill_at_step_13(out)
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 12
    rerun = make_model()
    train(rerun, get_batch, out, cfg(lr=2e-2))
    assert "train.lr: 0.01 -> 0.02" in capfd.readouterr().err
    assert_same_weights(rerun, fresh(tmp_path, "fresh", lr=2e-2))


def test_run_config_or_model_change_retrains_and_cadence_change_resumes(tmp_path, capfd, reference):
    out = tmp_path / "run"
    run = {"arch": "tiny", "model": {"d": 16, "dropout": 0.1}, "data_fingerprint": "a"}
    train(make_model(), get_batch, out, cfg(max_steps=4), run_config=run)
    capfd.readouterr()
    big = make_model(d=32)
    train(big, get_batch, out, cfg(max_steps=4), run_config={**run, "model": {"d": 32, "dropout": 0.1}})
    assert "run.model.d: 16 -> 32" in capfd.readouterr().err
    assert_same_weights(load_trained(make_model(d=32), out), big)
    train(make_model(), get_batch, out, cfg(max_steps=4), run_config={**run, "data_fingerprint": "b"})
    assert "run.data_fingerprint: 'a' -> 'b'" in capfd.readouterr().err  # the data changed
    plain = tmp_path / "plain"  # a caller that gives no run config: the tensor shapes still tell
    train(make_model(), get_batch, plain, cfg(max_steps=4))
    train(make_model(d=32), get_batch, plain, cfg(max_steps=4))
    assert "tensors.emb.weight: [11, 16] -> [11, 32]" in capfd.readouterr().err

    # how often a run logs, evaluates and checkpoints does not change its result (threads and
    # device may also differ on resume, up to float round-off):
    # a run interrupted at step 12 resumes under other cadence settings and ends bitwise equal
    out = tmp_path / "cadence"
    kill_at_step_13(out)
    capfd.readouterr()
    resumed = make_model()
    train(resumed, get_batch, out, cfg(log_interval=1, checkpoint_interval=2, eval_interval=6, progress=True))
    assert "resuming" in capfd.readouterr().err
    assert_same_weights(resumed, reference[0])


def test_stale_temporary_files_are_cleaned_on_resume(tmp_path):
    """A kill -9 inside a checkpoint write leaves a full-size temporary file; the next run that
    holds the lock removes it."""
    out = tmp_path / "run"
    train(make_model(), get_batch, out, cfg(max_steps=4))
    leftover = out / ".checkpoint.pt.abc123.tmp.pt"
    leftover.write_bytes((out / "checkpoint.pt").read_bytes())
    (out / "done.json").unlink()
    train(make_model(), get_batch, out, cfg(max_steps=4))
    assert not leftover.exists()


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



# -- a full disk: one OSError naming the file, the previous checkpoint intact ---------------------
@contextlib.contextmanager
def file_size_limit():
    """Yields ``set_limit(bytes)``: writes past that offset fail with EFBIG (as on a full disk)
    until the block ends."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    assert signal.getsignal(signal.SIGXFSZ) == signal.SIG_IGN  # Python's default: EFBIG, no signal
    try:
        yield lambda limit: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def temporary_files(run_dir: Path) -> list[str]:
    return sorted(p.name for p in run_dir.glob(".*.tmp*"))


def test_disk_full_at_a_checkpoint_names_it_and_keeps_the_previous_one(tmp_path, reference):
    out = tmp_path / "run"
    with file_size_limit() as set_limit:
        def fills_the_disk_after_step_4(split, step, generator):
            if split == "train" and step == 5:
                set_limit(8192)  # the checkpoint of step 8 (about 20 kB) no longer fits
            return get_batch(split, step, generator)

        with pytest.raises(OSError) as failure:
            train(make_model(), fills_the_disk_after_step_4, out, cfg())
    assert failure.value.errno == errno.EFBIG and failure.value.filename == str(out / "checkpoint.pt")
    assert (out / "checkpoint.pt").stat().st_size > 8192  # the limit did bite the checkpoint write
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 4  # verified: intact
    assert load_checkpoint(out / "checkpoint.prev.pt")["step"] == 4
    assert temporary_files(out) == [] and not (out / "done.json").exists()
    resumed = make_model(seed=123)
    train(resumed, get_batch, out, cfg())
    assert_same_weights(reference[0], resumed)
    assert untimed_metrics(out) == reference[1]


def test_disk_full_at_the_final_weights_leaves_no_half_set_of_final_files(tmp_path, reference, monkeypatch, capfd):
    out = tmp_path / "run"
    real_save = train_module.save_weights
    with file_size_limit() as set_limit:
        def save_on_a_full_disk(model, path):
            set_limit(512)  # model.safetensors of TinyLM is about 1.6 kB
            return real_save(model, path)

        monkeypatch.setattr(train_module, "save_weights", save_on_a_full_disk)
        with pytest.raises(OSError) as failure:
            train(make_model(), get_batch, out, cfg())
    assert failure.value.errno == errno.EFBIG and failure.value.filename == str(out / "model.safetensors")
    left = {p.name for p in out.iterdir()}
    assert not left & {"model.safetensors", "model.safetensors.sha256", "done.json"} and temporary_files(out) == []
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 24
    monkeypatch.undo()
    capfd.readouterr()
    finished = make_model(seed=123)
    train(finished, get_batch, out, cfg())  # no step trained again: the final checkpoint writes them
    assert "resuming" in capfd.readouterr().err and "from step 24" in (out / "config.json").read_text().replace(
        '"resumed_from_step": 24', "from step 24")
    assert_same_weights(reference[0], load_trained(make_model(), out))
    assert_same_weights(reference[0], finished)


# -- nothing partial: a run that fails before its first checkpoint removes what it created ---------
class OutOfMemory(RuntimeError):
    """What torch's allocator raises, in a test that cannot afford a real one."""


def runs_out_of_memory_at(at_step: int):
    def get(split, step, generator):
        if split == "train" and step == at_step:
            raise OutOfMemory("DefaultCPUAllocator: can't allocate memory: you tried to allocate 10**12 bytes")
        return get_batch(split, step, generator)
    return get


def test_a_failure_before_the_first_checkpoint_leaves_nothing_behind(tmp_path):
    results = tmp_path / "results"
    out = results / "runs" / "x"
    with pytest.raises(OutOfMemory):  # the first step: config.json, metrics.jsonl, .lock, ... written
        train(make_model(), runs_out_of_memory_at(0), out, cfg())
    assert not results.exists()  # the directories it created went too

    out.mkdir(parents=True)  # a directory of the user's: keeps exactly what it held
    (out / "notes.txt").write_text("mine")
    with pytest.raises(OutOfMemory):
        train(make_model(), runs_out_of_memory_at(3), out, cfg(checkpoint_interval=4))
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]

    with pytest.raises(OutOfMemory):  # after a checkpoint the run is kept, to be resumed
        train(make_model(), runs_out_of_memory_at(6), out, cfg(checkpoint_interval=4))
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 4
    assert {"config.json", "metrics.jsonl", ".lock", "notes.txt"} <= {p.name for p in out.iterdir()}


def test_a_rerun_after_a_settings_change_that_fails_at_once_leaves_no_stale_files(tmp_path):
    """The old run's files are removed when the new one starts afresh; if the new one then fails
    before its first checkpoint, none of its own files stay either (and the old checkpoint cannot
    be mistaken for the new run's)."""
    out = tmp_path / "run"
    train(make_model(), get_batch, out, cfg(max_steps=8))
    with pytest.raises(OutOfMemory):
        train(make_model(), runs_out_of_memory_at(1), out, cfg(max_steps=8, lr=2e-2))
    assert [p.name for p in out.iterdir()] == [".lock"]  # the lock file is the old run's


# -- the supervisor: a training whose Snakemake was SIGKILLed stops by itself ---------------------
FAKE_PARENT = """import json, subprocess, sys, time
with open(sys.argv[2], "w") as log:
    subprocess.Popen(json.loads(sys.argv[1]), stdout=log, stderr=subprocess.STDOUT)
time.sleep(600)
"""


@pytest.mark.parametrize("parent_name, mode, stops", [
    ("snakemake", "auto", True),  # started by Snakemake (recognised by its command line)
    ("parent.py", "parent", True),  # told to watch its direct parent (here the bash of the job)
    ("parent.py", "auto", False),  # run by hand, e.g. under nohup: a dead parent changes nothing
], ids=["snakemake_killed", "parent_mode", "other_parent_ignored"])
def test_training_stops_with_a_checkpoint_when_its_snakemake_is_killed(tmp_path, reference, parent_name, mode, stops):
    out, log, rc = tmp_path / "run", tmp_path / "job.log", tmp_path / "job.rc"
    parent = tmp_path / "bin" / parent_name
    parent.parent.mkdir()
    parent.write_text(FAKE_PARENT)
    worker = [sys.executable, __file__, str(out), "{}"]
    if parent_name == "snakemake":  # as Snakemake runs a job: its shell runs the command
        worker = ["bash", "-c", f"set -euo pipefail; {shlex.join(worker)}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO), "STEP_DELAY": "0.1", "NAN_AT_STEP": "",
           SUPERVISOR_ENV: mode, "WORKER_RC": str(rc)}
    proc = subprocess.Popen([sys.executable, str(parent), json.dumps(worker), str(log)], env=env, cwd=REPO)
    try:
        deadline = time.monotonic() + 120
        while not (out / "checkpoint.pt").is_file():  # step 4
            assert time.monotonic() < deadline and not rc.exists(), log.read_text() if log.exists() else "no log"
            time.sleep(0.02)
    finally:
        proc.kill()  # SIGKILL: the parent alone, as `kill -9 <snakemake pid>`
        proc.wait()
    deadline = time.monotonic() + 120
    while not (rc.is_file() and rc.read_text().strip()):
        assert time.monotonic() < deadline, f"the orphaned job did not end: {log.read_text()[-2000:]}"
        time.sleep(0.05)
    stderr = log.read_text()
    if not stops:
        assert rc.read_text().strip() == "0" and (out / "done.json").is_file(), stderr[-2000:]
        return
    assert rc.read_text().strip() == "143", stderr[-2000:]
    [line] = error_lines(stderr)
    gone = rf"Snakemake \(pid {proc.pid}\)" if mode == "auto" else r"the parent process \(pid \d+\)"
    stopped = int(re.fullmatch(rf"error: {gone} is gone: training of .* stopped at step (\d+)/24, checkpoint saved; "
                               r"run the same command again to resume", line)[1])
    assert load_checkpoint(out / "checkpoint.pt")["step"] == stopped < 24 and not (out / "done.json").exists()
    resumed = make_model(seed=123)
    train(resumed, get_batch, out, cfg())  # the lock was released: the rerun resumes
    assert_same_weights(reference[0], resumed)
    assert untimed_metrics(out) == reference[1]


def test_which_processes_a_training_watches():
    assert is_snakemake(["/usr/bin/python3", "-m", "snakemake", "--cores", "1"])
    assert is_snakemake(["/opt/venv/bin/snakemake", "all"]) and is_snakemake(["python", "/venv/bin/snakemake"])
    assert not is_snakemake(["/usr/bin/bash", "-c", "set -euo pipefail; snakemake --cores 1"])
    assert not is_snakemake(["python", "-m", "mosaic", "stories", "train", "--out", "snakemake/runs/x"])
    assert find_supervisors({SUPERVISOR_ENV: "off"}) == []
    assert find_supervisors({}) == [] or "snakemake" in " ".join(sys.argv)  # none among pytest's ancestors
    [parent] = find_supervisors({SUPERVISOR_ENV: "parent"})
    assert parent.pid == os.getppid() and parent.alive()
    [me] = find_supervisors({SUPERVISOR_ENV: str(os.getpid())})
    assert me.alive()
    with pytest.raises(ValueError, match="MOSAIC_SUPERVISOR must be auto, parent, off or a pid, got 'sometimes'"):
        find_supervisors({SUPERVISOR_ENV: "sometimes"})
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with pytest.raises(ValueError, match=rf"MOSAIC_SUPERVISOR={dead.pid}: no such process"):
        find_supervisors({SUPERVISOR_ENV: str(dead.pid)})


if __name__ == "__main__":
    try:
        run_cli(_worker_main, *sys.argv[1:3])
    except SystemExit as exit_status:  # an orphan's status reaches nobody: write it down
        if os.environ.get("WORKER_RC"):
            Path(os.environ["WORKER_RC"]).write_text(f"{exit_status.code}\n")
        raise
