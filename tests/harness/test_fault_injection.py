"""Fault injection through the real CLIs (benchmarks/fault_injection.py): story-LM training killed
at a random step by SIGKILL or SIGTERM and started again ends bitwise identical to an
uninterrupted run; a Snakemake build killed mid-job recovers with ``--rerun-incomplete``."""
from __future__ import annotations

import importlib.util
import json
import random
import shutil
import sys
from pathlib import Path

import pytest
import torch

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
    """Two trials (one SIGKILL, one SIGTERM) and the work directory holding the reference run."""
    workdir = tmp_path_factory.mktemp("fault_injection")
    return fi.run_trials(2, seed=0, workdir=workdir, steps=STEPS,
                         checkpoint_interval=CHECKPOINT_INTERVAL, echo=False), workdir


def test_killed_training_resumes_bitwise_identically(trials):
    results, _ = trials
    assert [t.signal for t in results] == ["SIGKILL", "SIGTERM"]
    for t in results:
        assert t.exit_code not in (None, 0), t.line()  # the signal landed before the end
        assert t.killed_after is not None and t.killed_after < STEPS, t.line()
        # the restart continues from a checkpoint taken before the kill (or from the step
        # interrupted by SIGTERM, when the trainer checkpoints on it), never from a later one
        assert t.resumed_from <= t.killed_after, t.line()
        assert t.resumed_from % CHECKPOINT_INTERVAL == 0 or t.resumed_from == t.killed_after, t.line()
        assert t.identical, t.line()


def test_comparison_detects_one_changed_weight_and_loss(fi, trials):
    _, workdir = trials
    ref, copy = workdir / "reference", workdir / "perturbed"
    shutil.copytree(ref, copy)
    assert fi.compare_runs(ref, copy) == []
    weights = torch.load(copy / "model.pt", weights_only=True)
    name = next(iter(weights))
    weights[name].view(-1)[0] += 1e-6
    torch.save(weights, copy / "model.pt")
    lines = (copy / "metrics.jsonl").read_text().splitlines()
    record = json.loads(lines[-1])
    record["elapsed_s"] += 1.0  # wall-clock fields may differ ...
    lines[-1] = json.dumps(record)
    (copy / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    diffs = fi.compare_runs(ref, copy)  # (a tied weight is reported under each of its names)
    assert f"model.pt.{name}" in diffs and all(d.startswith("model.pt.") for d in diffs), diffs
    record["train_loss"] += 1e-9  # ... losses may not
    lines[-1] = json.dumps(record)
    (copy / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    assert any(d.startswith("metrics.jsonl") for d in fi.compare_runs(ref, copy))


def test_last_step_skips_a_torn_line(fi, tmp_path):
    metrics = tmp_path / "metrics.jsonl"
    assert fi.last_step(metrics) is None
    metrics.write_text('{"step": 0, "val_loss": 7.0}\n{"step": 1, "train_loss": 6.9}\n{"step": 2, "tra')
    assert fi.last_step(metrics) == 1


@pytest.mark.slow
def test_snakemake_rerun_incomplete_resumes_identically(fi, tmp_path):
    lines = fi.snakemake_check(tmp_path, random.Random(1), STEPS, CHECKPOINT_INTERVAL)
    assert len(lines) == 2, lines
    for line in lines:
        assert ": identical" in line and "resumed from step" in line, line
