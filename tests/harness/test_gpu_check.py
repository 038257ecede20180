"""benchmarks/gpu_check.sh on a machine without a GPU: --dry-run prints every command of the GPU
check and checks that each parses (test collection, argparse, Snakemake's DAG, torchrun); a
command that does not parse fails it; bad usage is one error line."""
from __future__ import annotations

import os
import re
import subprocess

import pytest
import torch

from tests.conftest import REPO

SCRIPT = REPO / "benchmarks" / "gpu_check.sh"


def gpu_check(*args: str, env: dict | None = None, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}, timeout=timeout)


def test_dry_run_prints_every_command_and_checks_it_parses(tmp_path):
    proc = gpu_check("--dry-run", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    log = (tmp_path / "out" / "gpu_check.log").read_text()
    assert log == proc.stdout  # the printout is the file
    commands = dict(re.findall(r"^== (\w+): (.*)$", log, flags=re.M))
    assert list(commands) == ["tests", "bench", "dag", "torchrun"]
    assert commands["tests"].startswith("MOSAIC_TEST_DEVICE=cuda ") and " -m pytest " in commands["tests"]
    bench = commands["bench"]
    assert "benchmarks/bench_models.py --preset gpu --device cuda --precision bf16" in bench
    assert "--models mosaic transformer --only throughput generation" in bench
    assert "-m snakemake --cores all --configfile config/smoke.yaml --config device=cuda" in commands["dag"]
    assert "-m torch.distributed.run --standalone --nproc_per_node 1 " in commands["torchrun"]
    assert re.search(r"collected", log) and "This was a dry-run" in log  # the checks ran, not just printed
    summary = log[log.index("== summary"):]
    for step in ("tests", "bench", "dag", "torchrun"):
        assert re.search(rf"^{step}: pass \(\d+ s\)$", summary, flags=re.M), summary
    for step in ("tests", "bench", "dag", "torchrun"):
        assert (tmp_path / "out" / f"{step}.log").is_file()


def test_a_command_that_does_not_parse_fails_the_dry_run(tmp_path):
    proc = gpu_check("--dry-run", "--steps", "bench", str(tmp_path), env={"GPU_CHECK_PRESET": "no_such_preset"})
    assert proc.returncode == 1
    assert re.search(r"^bench: FAIL \(exit 2\)", proc.stdout, flags=re.M), proc.stdout
    assert "invalid choice: 'no_such_preset'" in (tmp_path / "bench.log").read_text()


@pytest.mark.parametrize("args, message", [
    ((), "error: give the output directory for the printout"),
    (("--steps", "bench,gpu", "OUT"), "error: unknown step 'gpu'"),
    (("--fast", "OUT"), "error: unknown option --fast"),
])
def test_bad_usage_is_one_error_line(tmp_path, args, message):
    proc = gpu_check(*[str(tmp_path / a) if a == "OUT" else a for a in args])
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2 and len(errors) == 1 and errors[0].startswith(message), proc.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without a GPU")
def test_without_a_gpu_the_real_run_refuses_at_once(tmp_path):
    proc = gpu_check(str(tmp_path))
    assert proc.returncode == 2
    assert "error: no CUDA device visible to torch; on a machine without a GPU use --dry-run" in proc.stdout
    assert not (tmp_path / "tests.log").exists()  # nothing started
