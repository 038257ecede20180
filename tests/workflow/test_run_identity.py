"""Run identity through the command lines and through Snakemake: a rerun after a settings change
never returns the old model.

A run directory resumes its checkpoint only under the settings it was trained with
(mosaic.harness.checkpoint.run_identity); any other rerun starts afresh. Here the rule is checked
where users meet it: ``python -m mosaic stories train`` on a tiny prepared data directory (the
issue's two cases: fewer steps after the final outputs were deleted, another lr after an
interruption), and Snakemake rerunning a job whose params changed (it deletes the job's outputs,
not its checkpoint). Every rerun must be bitwise the model a fresh directory trains with the new
setting. The recovery after ``kill -9`` of Snakemake alone (the job stops by itself, ``--unlock``,
rerun, resumed and identical) is the slow test at the end.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.conftest import NOT_COPIED, REPO, snakemake

pytestmark = pytest.mark.workflow

CONFIGS = ("--config", str(REPO / "config" / "config.yaml"), "--config", str(REPO / "config" / "smoke.yaml"))
TINY_DATA = {"source": "embedded", "n_train_stories": 40, "n_val_stories": 10, "seed": 3}
TM_RUN = "results/runs/three_moons/one_head"


def cli_env() -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": path}


def mosaic(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "mosaic", *args], cwd=cwd, env=cli_env(), capture_output=True,
                          text=True, timeout=300)
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def weights(run: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(run / "model.safetensors"))


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def assert_same_model(a: Path, b: Path) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for name in wa:
        assert torch.equal(wa[name], wb[name]), f"{name} differs between {a} and {b}"


# -- the command line ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    from mosaic.experiments.stories.tokens import prepare_story_data

    out = tmp_path_factory.mktemp("run_identity") / "data"
    prepare_story_data(TINY_DATA, out)
    return out


def stories_train(data: Path, out: Path, *train_settings: str) -> list[str]:
    args = ["stories", "train", *CONFIGS, "--arch", "mosaic", "--set", "n_layer=1", "--data", str(data),
            "--out", str(out), "--device", "cpu", "--threads", "1", "--no-progress"]
    for setting in train_settings:
        args += ["--set-train", setting]
    return args


def test_cli_rerun_with_fewer_steps_after_deleting_the_outputs_trains_the_fewer_steps(tmp_path, data_dir):
    """Train 24 steps, delete done.json and model.safetensors (what Snakemake does before it reruns
    a job), rerun with max_steps=8: the 8-step model, not the 24-step checkpoint resumed."""
    run, fresh = tmp_path / "run", tmp_path / "fresh"
    mosaic(*stories_train(data_dir, run, "max_steps=24", "checkpoint_interval=6"), cwd=tmp_path)
    (run / "done.json").unlink()
    (run / "model.safetensors").unlink()
    rerun = mosaic(*stories_train(data_dir, run, "max_steps=8", "checkpoint_interval=6"), cwd=tmp_path)
    assert "train.max_steps: 24 -> 8" in rerun.stderr and "resuming" not in rerun.stderr, rerun.stderr[-2000:]
    assert json.loads((run / "done.json").read_text())["step"] == 8
    assert json.loads((run / "config.json").read_text())["train"]["max_steps"] == 8
    mosaic(*stories_train(data_dir, fresh, "max_steps=8", "checkpoint_interval=6"), cwd=tmp_path)
    assert_same_model(run, fresh)


def test_cli_rerun_with_another_lr_after_an_interruption_trains_that_lr(tmp_path, data_dir):
    run, fresh = tmp_path / "run", tmp_path / "fresh"
    settings = ("max_steps=60", "checkpoint_interval=3")
    with open(tmp_path / "first.log", "w") as log:
        first = subprocess.Popen([sys.executable, "-m", "mosaic", *stories_train(data_dir, run, *settings, "lr=0.003")],
                                 cwd=tmp_path, env=cli_env(), stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while not (run / "checkpoint.pt").is_file():
        assert first.poll() is None and time.monotonic() < deadline, (tmp_path / "first.log").read_text()[-2000:]
        time.sleep(0.01)
    first.send_signal(signal.SIGTERM)  # checkpoint at the end of the step, exit 143
    assert first.wait(timeout=120) == 143, (tmp_path / "first.log").read_text()[-2000:]
    rerun = mosaic(*stories_train(data_dir, run, *settings, "lr=0.002"), cwd=tmp_path)
    assert "train.lr: 0.003 -> 0.002" in rerun.stderr and "resuming" not in rerun.stderr, rerun.stderr[-2000:]
    mosaic(*stories_train(data_dir, fresh, *settings, "lr=0.002"), cwd=tmp_path)
    assert_same_model(run, fresh)
    assert json.loads((run / "config.json").read_text())["train"]["lr"] == 0.002


def test_cli_rerun_with_another_cadence_or_data_path_spelling_resumes(tmp_path, data_dir):
    """What does not change the result does not restart a run: another checkpoint interval (a
    ``--set-train`` override), the data directory named by a relative path from elsewhere. The
    resumed run ends bitwise equal to an uninterrupted one."""
    run, fresh = tmp_path / "run", tmp_path / "fresh"
    mosaic(*stories_train(data_dir, run, "max_steps=12", "checkpoint_interval=6"), cwd=tmp_path)
    (run / "done.json").unlink()
    (run / "model.safetensors").unlink()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    relative = Path(os.path.relpath(data_dir, elsewhere))
    rerun = mosaic(*stories_train(relative, run.resolve(), "max_steps=12", "checkpoint_interval=4"), cwd=elsewhere)
    assert "starting afresh" not in rerun.stderr, rerun.stderr[-2000:]
    mosaic(*stories_train(data_dir, fresh, "max_steps=12", "checkpoint_interval=6"), cwd=tmp_path)
    assert_same_model(run, fresh)


def test_three_moons_run_trained_by_hand_resumes_under_the_narrowed_section(tmp_path):
    """Trained by hand with the whole config (evaluation keys, threads, cadence), then given only
    the training keys with another log cadence (what Snakemake passes): resumed, not retrained."""
    import yaml

    section = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["three_moons"]
    smoke = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())["three_moons"]
    for key, value in smoke.items():
        section[key] = {**section[key], **value} if isinstance(value, dict) else value
    section["train"].update(max_steps=6, checkpoint_interval=3, eval_interval=3)
    run = tmp_path / "run"
    args = ("three-moons", "train", "--heads", "1", "--out", str(run), "--device", "cpu", "--threads", "1")
    mosaic(*args, "--config-json", json.dumps(section), cwd=tmp_path)
    first = weights(run)
    (run / "done.json").unlink()
    (run / "model.safetensors").unlink()
    narrowed = {k: v for k, v in section.items() if k not in ("eval", "threads")}
    narrowed["train"] = {**section["train"], "log_interval": 1}
    rerun = mosaic(*args, "--config-json", json.dumps(narrowed), cwd=tmp_path)
    assert "starting afresh" not in rerun.stderr, rerun.stderr[-2000:]
    assert all(torch.equal(first[k], v) for k, v in weights(run).items())


# -- Snakemake -------------------------------------------------------------------------------------
@pytest.fixture()
def workflow_copy(tmp_path) -> Path:
    work = tmp_path / "repo"
    shutil.copytree(REPO, work, ignore=NOT_COPIED, symlinks=True)
    return work


def fresh_three_moons(work: Path, run_dir: Path, out: Path) -> None:
    """Train the section and thread count ``run_dir`` recorded, into a fresh directory ``out``."""
    config = json.loads((run_dir / "config.json").read_text())
    mosaic("three-moons", "train", "--heads", str(config["run"]["heads"]), "--config-json",
           json.dumps(config["run"]["section"]), "--out", str(out), "--device", "cpu",
           "--threads", str(config["train"]["threads"]), cwd=work)


def test_snakemake_reruns_a_job_whose_trainer_setting_changed_and_trains_it_afresh(workflow_copy):
    """A setting changed between two builds (an overlay config file: Snakemake's ``--config KEY=VALUE``
    reads nested values as strings, which the schema refuses): Snakemake reruns the job ("params
    changed"), and the run directory's model is the new setting's, not the old checkpoint's."""
    work = workflow_copy
    target = f"{TM_RUN}/done.json"
    first = snakemake(target, "--cores", "1", "--configfile", "config/smoke.yaml", cwd=work, timeout=300)
    assert first.returncode == 0, first.stderr[-3000:]
    old_lr = json.loads((work / TM_RUN / "config.json").read_text())["train"]["lr"]
    (work / "change.yaml").write_text("three_moons:\n  train: {lr: 0.004}\n")
    second = snakemake(target, "--cores", "1", "--configfile", "config/smoke.yaml", "change.yaml", cwd=work,
                       timeout=300)
    assert second.returncode == 0, second.stderr[-3000:]
    output = second.stdout + second.stderr
    assert "three_moons_train" in output and "Params have changed" in output, output[-3000:]
    log = (work / "results/logs/three_moons/train_one_head.log").read_text()
    assert f"train.lr: {old_lr!r} -> 0.004" in log and "resuming" not in log, log[-2000:]
    config = json.loads((work / TM_RUN / "config.json").read_text())
    assert config["train"]["lr"] == 0.004 and config["run"]["section"]["train"]["lr"] == 0.004
    fresh_three_moons(work, work / TM_RUN, work / "fresh")
    assert_same_model(work / TM_RUN, work / "fresh")


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="the job finds its Snakemake through /proc (Linux)")
def test_after_kill_9_of_snakemake_alone_unlock_and_rerun_resume_identically(workflow_copy):
    """kill -9 of the Snakemake process only (its job's shell and training live on): the training
    sees Snakemake gone, checkpoints and stops (releasing its run lock); ``snakemake --unlock``
    then the same command resumes from that checkpoint and ends bitwise identical."""
    from mosaic.harness.checkpoint import RunLock, RunLockedError, load_checkpoint

    work = workflow_copy
    (work / "long.yaml").write_text("three_moons:\n  train: {max_steps: 60, checkpoint_interval: 5}\n")
    command = [sys.executable, "-m", "snakemake", f"{TM_RUN}/done.json", "--cores", "1",
               "--configfile", "config/smoke.yaml", "long.yaml"]
    run, job_log = work / TM_RUN, work / "results/logs/three_moons/train_one_head.log"
    with open(work / "killed.log", "w") as log:
        snake = subprocess.Popen(command, cwd=work, env=cli_env(), stdout=log, stderr=subprocess.STDOUT,
                                 start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while not (run / "checkpoint.pt").is_file():
            assert snake.poll() is None and time.monotonic() < deadline, (work / "killed.log").read_text()[-2000:]
            time.sleep(0.02)
        snake.kill()  # SIGKILL to Snakemake alone, not its process group
        snake.wait()
        deadline = time.monotonic() + 60
        while group_alive(snake.pid):  # the orphaned job (its shell, the training) ends by itself
            assert time.monotonic() < deadline, job_log.read_text()[-2000:]
            time.sleep(0.1)
    finally:
        if group_alive(snake.pid):  # the test failed above: leave nothing running
            os.killpg(snake.pid, signal.SIGKILL)
    try:
        with RunLock(run):  # and it released the run lock
            pass
    except RunLockedError as exc:
        pytest.fail(str(exc))
    text = job_log.read_text()
    assert f"error: Snakemake (pid {snake.pid}) is gone: training of {TM_RUN} stopped at step" in text, text[-2000:]
    stopped = load_checkpoint(run / "checkpoint.pt")["step"]
    assert 0 < stopped < 60 and not (run / "done.json").exists()

    locked = subprocess.run(command, cwd=work, env=cli_env(), capture_output=True, text=True, timeout=300)
    assert locked.returncode != 0 and "unlock" in (locked.stdout + locked.stderr).lower()  # Snakemake's own lock
    assert snakemake(*command[3:], "--unlock", cwd=work).returncode == 0
    rerun = subprocess.run(command, cwd=work, env=cli_env(), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert f"resuming {TM_RUN} from step {stopped}" in job_log.read_text()
    fresh_three_moons(work, run, work / "fresh")
    assert_same_model(run, work / "fresh")
