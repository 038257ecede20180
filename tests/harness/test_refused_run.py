"""A refused training touches nothing: while a training runs (a real ``python -m mosaic ... train``
process), a second training of the same directory, with other settings, is refused with one
``error:`` line and leaves the directory byte for byte as it was (names, sizes, modification
times, contents); the first run then ends with exit 0 and a directory that loads.

The live run is frozen with SIGSTOP while the second one runs, so that "as it was" is well defined
(a running training appends to its files); SIGCONT lets it finish. Three moons used to discard a
"stale" run directory (another config) before taking the lock, deleting the live run's files.
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO

CONFIGS = ("--config", str(REPO / "config" / "config.yaml"), "--config", str(REPO / "config" / "smoke.yaml"))
TINY_DATA = {"source": "embedded", "n_train_stories": 40, "n_val_stories": 10, "seed": 3}


def cli_env() -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": path,
            "MOSAIC_SUPERVISOR": "off"}


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under ``root``: kind, size, modification time and (files) the SHA-256 of its bytes."""
    out = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
        out[str(path.relative_to(root))] = (path.is_dir(), info.st_size, info.st_mtime_ns, digest)
    return out


def process_state(pid: int) -> str:
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2]


def freeze_after_first_checkpoint(proc: subprocess.Popen, run: Path, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not (run / "checkpoint.pt").is_file():
        assert proc.poll() is None, f"the live run ended early: {log.read_text()[-2000:]}"
        assert time.monotonic() < deadline, "no checkpoint in time"
        time.sleep(0.005)
    proc.send_signal(signal.SIGSTOP)
    while Path(f"/proc/{proc.pid}").exists() and process_state(proc.pid) != "T":
        time.sleep(0.005)
    assert proc.poll() is None, f"the live run ended before it could be frozen: {log.read_text()[-2000:]}"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    from mosaic.experiments.stories.tokens import prepare_story_data

    out = tmp_path_factory.mktemp("refused_run") / "data"
    prepare_story_data(TINY_DATA, out)
    return out


def train_command(experiment: str, run: Path, data: Path, lr: float) -> list[str]:
    if experiment == "three_moons":
        section = {"train": {"max_steps": 40, "checkpoint_interval": 4, "log_interval": 1, "lr": lr}}
        args = ["three-moons", "train", "--heads", "1", *CONFIGS, "--config-json", json.dumps(section)]
    else:
        args = ["stories", "train", *CONFIGS, "--arch", "mosaic", "--set", "n_layer=1", "--data", str(data),
                "--no-progress", "--set-train", "max_steps=150", "--set-train", "checkpoint_interval=4",
                "--set-train", f"lr={lr}"]
    return [sys.executable, "-m", "mosaic", *args, "--out", str(run), "--device", "cpu", "--threads", "1"]


def load_finished(experiment: str, run: Path) -> None:
    """What the next steps do with a run directory: rebuild the model and load its weights."""
    if experiment == "three_moons":
        from mosaic.experiments.three_moons.cli import load_run

        load_run(str(run))
    else:
        from mosaic.harness.runs import load_run_model

        load_run_model(run)


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="reads process states from /proc (Linux)")
@pytest.mark.parametrize("experiment", ["three_moons", "stories"])
def test_a_refused_training_touches_nothing_and_the_live_run_finishes(tmp_path, data_dir, experiment):
    run, log = tmp_path / "results" / "runs" / "live", tmp_path / "live.log"
    with open(log, "w") as fh:
        live = subprocess.Popen(train_command(experiment, run, data_dir, lr=0.003), cwd=tmp_path, env=cli_env(),
                                stdout=fh, stderr=subprocess.STDOUT)
    try:
        freeze_after_first_checkpoint(live, run, log)
        before = snapshot(tmp_path / "results")
        # other settings: the refused run would start afresh if it got the lock
        second = subprocess.run(train_command(experiment, run, data_dir, lr=0.002), cwd=tmp_path, env=cli_env(),
                                capture_output=True, text=True, timeout=120)
        after = snapshot(tmp_path / "results")
    finally:
        live.send_signal(signal.SIGCONT)
    assert second.returncode == 2, second.stderr[-2000:]
    lines = [line for line in second.stderr.splitlines() if line.strip()]
    assert lines == [f"error: {run} is being trained by another process (pid {live.pid}); wait for it or stop it "
                     "first"], second.stderr[-2000:]
    assert after == before, sorted(set(after.items()) ^ set(before.items()))
    assert live.wait(timeout=300) == 0, log.read_text()[-3000:]
    assert (run / "done.json").is_file()
    load_finished(experiment, run)
    assert json.loads((run / "config.json").read_text())["train"]["lr"] == 0.003  # the live run's settings
