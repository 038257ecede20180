"""Fault injection through the real CLIs (benchmarks/fault_injection.py), a couple of trials in CI:
story-LM training killed at a random step by SIGKILL, and killed then rerun with another lr
(retrained, equal to a fresh run of that lr); the comparison itself detects one changed weight
or loss. The full catalogue (23 fault kinds) and the Snakemake cases run with the benchmark; the
Snakemake cases are also the slow test here."""
from __future__ import annotations

import importlib.util
import json
import random
import shutil
import sys

import pytest

from tests.conftest import REPO

STEPS, CHECKPOINT_INTERVAL = 30, 3


@pytest.fixture(scope="module")
def fi():
    spec = importlib.util.spec_from_file_location("fault_injection", REPO / "benchmarks" / "fault_injection.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def trials(fi, tmp_path_factory):
    """Two trials (SIGKILL; SIGKILL then another lr) and the work directory holding the references."""
    workdir = tmp_path_factory.mktemp("fault_injection")
    return fi.run_trials(["sigkill", "lr_changed"], 1, seed=0, workdir=workdir, steps=STEPS,
                         checkpoint_interval=CHECKPOINT_INTERVAL, echo=False), workdir


def test_killed_training_resumes_bitwise_identically(trials):
    results, _ = trials
    sigkill = results[0]
    assert sigkill.kind == "sigkill" and sigkill.identical, sigkill.line()
    # the restart continues from a checkpoint taken before the kill, never from a later one
    killed_after = int(sigkill.detail.split("last logged ")[1].split(",")[0])
    assert 0 < sigkill.resumed_from <= killed_after and sigkill.resumed_from % CHECKPOINT_INTERVAL == 0


def test_a_setting_changed_between_kill_and_rerun_retrains(trials):
    results, workdir = trials
    changed = results[1]
    assert changed.kind == "lr_changed" and changed.identical, changed.line()  # equal to the fresh lr run
    assert changed.resumed_from == 0, changed.line()
    assert (workdir / "reference_lr").is_dir()


def test_comparison_detects_one_changed_weight_and_loss(fi, trials):
    from safetensors.torch import load_file, save_file

    _, workdir = trials
    ref, copy = workdir / "reference", workdir / "perturbed"
    shutil.copytree(ref, copy)
    assert fi.compare_runs(ref, copy) == []
    weights = load_file(str(copy / "model.safetensors"))
    name = next(iter(weights))
    weights[name].view(-1)[0] += 1e-6
    save_file(weights, str(copy / "model.safetensors"))
    lines = (copy / "metrics.jsonl").read_text().splitlines()
    record = json.loads(lines[-1])
    record["elapsed_s"] += 1.0  # wall-clock fields may differ ...
    lines[-1] = json.dumps(record)
    (copy / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    diffs = fi.compare_runs(ref, copy)
    assert diffs == [f"model.safetensors.{name}"], diffs
    record["train_loss"] += 1e-9  # ... losses may not
    lines[-1] = json.dumps(record)
    (copy / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    assert any(d.startswith("metrics.jsonl") for d in fi.compare_runs(ref, copy))
    (copy / ".checkpoint.pt.x1.tmp.pt").write_bytes(b"")  # a leftover of a killed write is a difference too
    assert "stray temporary file .checkpoint.pt.x1.tmp.pt" in fi.compare_runs(ref, copy)


def test_last_step_skips_a_torn_line_and_one_error_line_is_strict(fi, tmp_path):
    metrics = tmp_path / "metrics.jsonl"
    assert fi.last_step(metrics) is None
    metrics.write_text('{"step": 0, "val_loss": 7.0}\n{"step": 1, "train_loss": 6.9}\n{"step": 2, "tra')
    assert fi.last_step(metrics) == 1
    assert fi.one_error_line("resuming x from step 3\nerror: x: No space left on device (OSError)\n") == \
        "error: x: No space left on device (OSError)"
    assert fi.one_error_line("Traceback (most recent call last):\n  ...\nerror: x") is None
    assert fi.one_error_line("error: a\nerror: b\n") is None and fi.one_error_line("all fine\n") is None


@pytest.mark.slow
@pytest.mark.workflow
def test_snakemake_kills_then_rerun_resume_identically(fi, tmp_path):
    lines = fi.snakemake_check(tmp_path, random.Random(1), STEPS, CHECKPOINT_INTERVAL)
    assert len(lines) == 3, lines
    for line in lines:
        assert ": identical" in line and "resumed from step" in line, line
    assert "the orphaned job stopped by itself" in lines[2]
