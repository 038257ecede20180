"""Fault-injection benchmark: break training in every way we know, demand one line or an identical resume.

    python benchmarks/fault_injection.py [--kinds sigkill,lr_changed] [--rounds 1] [--seed 0]
                                         [--workdir DIR] [--skip-snakemake] [--list]

Everything goes through the real command lines, as users run them. Story data is prepared once
(``python -m mosaic stories prepare``, smoke scale) and uninterrupted ``python -m mosaic stories
train`` runs (one mosaic block, smoke sizes, a checkpoint every ``--checkpoint-interval`` steps)
are the references: the default settings, and, for the trials that change a setting, a fresh run
of the new setting. Each trial (one per fault kind, ``--rounds`` times) breaks a run of the same
command -- a signal at a random step, damaged files, a full disk, a second training, a dead parent,
a setting changed between kill and rerun, ... (``--list`` prints them all) -- checks the faulty
command's own output where the contract promises one (exactly one ``error:`` line, no traceback,
the exit status), then runs the command again and compares the result with its reference: every
tensor of ``model.safetensors`` and of the optimizer state in ``checkpoint.pt`` (``torch.equal``),
every ``metrics.jsonl`` record and ``done.json`` except wall-clock fields, and no temporary file
left. A trial that changed a setting must retrain (never resume) and equal the fresh run of the new
setting. Each trial prints one line ending in ``identical`` or ``DIFFERENT: ...``; the summary is
``identical: k/N``.

Then, unless ``--skip-snakemake``, in a temporary copy of the repository: one smoke-scale training
target (``stories/mosaic_L1``) is built uninterrupted; it is built again and (1) the whole
Snakemake process group is killed with SIGKILL, (2) with SIGTERM, each followed by ``snakemake
--rerun-incomplete`` (and ``--unlock`` when a SIGKILL left Snakemake's lock), and (3) Snakemake
alone is killed with SIGKILL: its job (a shell and the training) lives on, notices that Snakemake
is gone, checkpoints and stops, so ``--unlock`` and the same command resume it. Each must end
identical to the uninterrupted build.

Everything runs on CPU with one thread; the work directory is a temporary one, removed at the end
unless ``--workdir`` is given. The exit status is 0 only when every check was identical.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from mosaic.harness.io import write_text  # noqa: E402

CONFIGS = ("config/config.yaml", "config/smoke.yaml")  # model and data sizes come from here
ARCH, DEPTH = "mosaic", 1
WALL_CLOCK_KEYS = {"elapsed_s", "tokens_per_s"}  # the only fields allowed to differ between runs
RESUMING = re.compile(r"resuming .* from step (\d+)")
POLL_S = 0.002
OTHER_LR = 0.002  # the setting-change trials train with this lr instead of the config's
MEMORY_LIMIT = 8 << 30  # address space of the out-of-memory trial: the bad batch must fail, not swap
# Not copied into the temporary workflow: VCS data, outputs and caches (as tests/conftest.py).
NOT_COPIED = shutil.ignore_patterns(".git", "results", ".snakemake", "__pycache__", ".pytest_cache",
                                    "*.egg-info", ".ci", ".helper")
FAKE_SNAKEMAKE = """import subprocess, sys, time
subprocess.Popen(["bash", "-c", sys.argv[1]])  # as Snakemake runs a job: its shell runs the command
time.sleep(3600)
"""


def _env(**extra: str) -> dict[str, str]:
    """Offline, and the repository's package first on the path (as the Snakefile arranges)."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=path, **extra)


# -- reading and comparing runs --------------------------------------------------------------------
def last_step(metrics: Path) -> int | None:
    """Step of the last complete line of a ``metrics.jsonl`` (None if there is none yet)."""
    try:
        lines = metrics.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return None
    for line in reversed(lines):
        try:
            return int(json.loads(line)["step"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            continue  # a line torn by the kill
    return None


def _records(run_dir: Path) -> list[dict[str, Any]]:
    lines = (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return [{k: v for k, v in json.loads(line).items() if k not in WALL_CLOCK_KEYS} for line in lines if line]


def _tensor_differences(ref: dict[str, Any], got: dict[str, Any], what: str) -> list[str]:
    """Names of the entries of two (nested) state dicts that are not bitwise equal."""
    if set(ref) != set(got):
        return [f"{what}: keys differ ({sorted(set(ref) ^ set(got), key=str)[:5]})"]
    out = []
    for key in ref:
        a, b = ref[key], got[key]
        if isinstance(a, dict) and isinstance(b, dict):
            out += _tensor_differences(a, b, f"{what}.{key}")
        elif isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
            if a.dtype != b.dtype or a.shape != b.shape or not torch.equal(a, b):
                out.append(f"{what}.{key}")
        elif a != b:
            out.append(f"{what}.{key}")
    return out


def load_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(run_dir / "model.safetensors"))


def compare_runs(ref_dir: Path, run_dir: Path) -> list[str]:
    """Everything in which ``run_dir`` differs from ``ref_dir``; empty when they are identical."""
    missing = [f for f in ("model.safetensors", "done.json", "checkpoint.pt") if not (run_dir / f).is_file()]
    if missing:
        return [f"no {', '.join(missing)}"]
    diffs = _tensor_differences(load_weights(ref_dir), load_weights(run_dir), "model.safetensors")
    ref_opt, got_opt = (torch.load(d / "checkpoint.pt", weights_only=True).get("optimizer", {})
                        for d in (ref_dir, run_dir))
    diffs += _tensor_differences(ref_opt, got_opt, "optimizer")
    ref_m, got_m = _records(ref_dir), _records(run_dir)
    if ref_m != got_m:
        bad = next((r.get("step") for r, g in zip(ref_m, got_m) if r != g), "count")
        diffs.append(f"metrics.jsonl ({len(got_m)} vs {len(ref_m)} records; first differing step {bad})")
    ref_d, got_d = (json.loads((d / "done.json").read_text()) for d in (ref_dir, run_dir))
    diffs += [f"done.json.{k}" for k in ref_d if k not in WALL_CLOCK_KEYS and ref_d[k] != got_d.get(k)]
    diffs += [f"stray temporary file {name}" for name in stray_files(run_dir)]
    return diffs


def stray_files(run_dir: Path) -> list[str]:
    """Temporary files of interrupted atomic writes (``.<name>.<random>.tmp<suffix>``)."""
    return sorted(p.name for p in run_dir.glob(".*.tmp*"))


def one_error_line(output: str) -> str | None:
    """The contract's failure output: the last line is the only ``error:`` line, no traceback."""
    lines = [line for line in output.splitlines() if line.strip()]
    if "Traceback" in output or not lines or not lines[-1].startswith("error: "):
        return None
    return lines[-1] if sum(line.startswith("error:") for line in lines) == 1 else None


def snapshot(root: Path) -> dict[str, tuple]:
    """Names, sizes, modification times and bytes of everything under ``root``."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns, p.read_bytes() if p.is_file() else b"")
            for p in sorted(root.rglob("*"))}


# -- running the command -------------------------------------------------------------------------------
def train_command(data: Path, out: Path, steps: int, checkpoint_interval: int, *extra: str,
                  lr: float | None = None) -> list[str]:
    """The story-LM training CLI at smoke sizes, logging every step (the kill trigger)."""
    cmd = [sys.executable, "-m", "mosaic", "stories", "train"]
    for cfg in CONFIGS:
        cmd += ["--config", str(REPO / cfg)]
    cmd += ["--arch", ARCH, "--set", f"n_layer={DEPTH}", "--data", str(data), "--out", str(out),
            "--device", "cpu", "--threads", "1", "--no-progress"]
    settings = [("max_steps", steps), ("checkpoint_interval", checkpoint_interval), ("log_interval", 1)]
    if lr is not None:
        settings.append(("lr", lr))
    for key, value in settings:
        cmd += ["--set-train", f"{key}={value}"]
    return cmd + list(extra)


@dataclass
class Finished:
    code: int
    output: str


def run(cmd: list[str], log: Path, cwd: Path = REPO, limits: dict[int, int] | None = None) -> Finished:
    """Run ``cmd`` to its end (stdout and stderr to ``log``), under resource ``limits``."""
    def apply_limits() -> None:
        for kind, value in (limits or {}).items():
            resource.setrlimit(kind, (value, resource.getrlimit(kind)[1]))

    with open(log, "w", encoding="utf-8") as fh:
        proc = subprocess.run(cmd, cwd=cwd, env=_env(), stdout=fh, stderr=subprocess.STDOUT,
                              preexec_fn=apply_limits if limits else None)
    return Finished(proc.returncode, log.read_text(encoding="utf-8"))


def _run(cmd: list[str], log: Path, cwd: Path = REPO) -> Finished:
    """Run ``cmd``; a failure is an error of the benchmark itself (its output's tail in the message)."""
    done = run(cmd, log, cwd)
    if done.code != 0:
        tail = "\n".join(done.output.splitlines()[-15:])
        raise RuntimeError(f"{' '.join(cmd[:5])} ... failed (exit {done.code}):\n{tail}")
    return done


def start(cmd: list[str], log: Path, cwd: Path = REPO, new_session: bool = False) -> subprocess.Popen:
    with open(log, "w", encoding="utf-8") as fh:
        return subprocess.Popen(cmd, cwd=cwd, env=_env(), stdout=fh, stderr=subprocess.STDOUT,
                                start_new_session=new_session)


def wait_for_step(proc: subprocess.Popen, metrics: Path, at_step: int, ready: Path | None = None) -> bool:
    """Wait until ``metrics`` reports ``at_step`` (and ``ready`` exists); False if ``proc`` ended first."""
    while proc.poll() is None:
        step = last_step(metrics)
        if step is not None and step >= at_step and (ready is None or ready.exists()):
            return True
        time.sleep(POLL_S)
    return False


def run_and_signal(cmd: list[str], metrics: Path, at_step: int, sig: signal.Signals, log: Path,
                   cwd: Path = REPO, new_session: bool = False, ready: Path | None = None,
                   second_after_s: float | None = None) -> int | None:
    """Start ``cmd``; once ``metrics`` reports ``at_step`` (and ``ready`` exists, if given) send
    ``sig`` (to the whole process group when ``new_session``; again after ``second_after_s``).
    Returns the exit code, or None if the process finished before the signal could be sent."""
    proc = start(cmd, log, cwd, new_session)
    if not wait_for_step(proc, metrics, at_step, ready):
        return None
    if new_session:
        os.killpg(proc.pid, sig)
        code = proc.wait()
        _wait_for_group(proc.pid)  # the job's own processes may outlive Snakemake
        return code
    proc.send_signal(sig)
    if second_after_s is not None:
        time.sleep(second_after_s)
        if proc.poll() is None:
            proc.send_signal(sig)
    return proc.wait()


def _wait_for_group(pgid: int, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise RuntimeError(f"process group {pgid} still running {timeout_s:.0f} s after the signal")


def resumed_from(output: str) -> int:
    match = RESUMING.search(output)
    return int(match.group(1)) if match else 0


# -- the trials -----------------------------------------------------------------------------------------
@dataclass
class Trial:
    index: int
    kind: str
    detail: str = ""  # what was done and where it landed
    resumed_from: int | None = None  # step the final run resumed from (0: trained afresh)
    differences: list[str] = field(default_factory=list)  # from the reference, and broken promises

    @property
    def identical(self) -> bool:
        return not self.differences

    def line(self) -> str:
        verdict = "identical" if self.identical else "DIFFERENT: " + "; ".join(self.differences[:4])
        start = "" if self.resumed_from is None else (
            f", resumed from step {self.resumed_from}" if self.resumed_from else ", trained afresh")
        return f"trial {self.index} {self.kind}: {self.detail}{start}: {verdict}"


@dataclass
class Bench:
    """What every trial needs: the data, the settings, the references (trained on first use)."""

    workdir: Path
    data: Path
    steps: int
    checkpoint_interval: int
    rng: random.Random
    _references: dict[str, Path] = field(default_factory=dict)

    def command(self, out: Path, *extra: str, **settings: Any) -> list[str]:
        steps = settings.pop("steps", self.steps)
        interval = settings.pop("checkpoint_interval", self.checkpoint_interval)
        return train_command(self.data, out, steps, interval, *extra, **settings)

    def reference(self, name: str = "reference", **settings: Any) -> Path:
        """The uninterrupted run of these settings (trained once)."""
        if name not in self._references:
            out = self.workdir / name
            _run(self.command(out, **settings), self.workdir / f"{name}.log")
            self._references[name] = out
        return self._references[name]

    def random_step(self, low: int = 1) -> int:
        # a margin before the last step so that the fault lands while training, on a loaded machine
        return self.rng.randint(low, max(low, self.steps - max(3, self.steps // 5)))


FaultKind = Callable[[Bench, Trial, Path], None]
KINDS: dict[str, tuple[str, FaultKind]] = {}


def fault(name: str, description: str):
    def register(fn: FaultKind) -> FaultKind:
        KINDS[name] = (description, fn)
        return fn
    return register


def expect_one_line(trial: Trial, exit_code: int | None, output: str, expected_code: int | None = None,
                    contains: str = "") -> str | None:
    """Record a broken promise if the faulty command did not end in exactly one error line
    (containing ``contains``) with exit status ``expected_code``."""
    line = one_error_line(output)
    if line is None:
        trial.differences.append(f"not one error line: {output.strip().splitlines()[-3:]}")
    elif contains and contains not in line:
        trial.differences.append(f"error line lacks {contains!r}: {line}")
    if expected_code is not None and exit_code != expected_code:
        trial.differences.append(f"exit {exit_code}, expected {expected_code}")
    return line


def finish_and_compare(bench: Bench, trial: Trial, out: Path, reference: Path, **settings: Any) -> None:
    """The same command again (with ``settings``), then the comparison with ``reference``."""
    done = run(bench.command(out, **settings), out.with_suffix(".rerun.log"))
    if done.code != 0:
        trial.differences.append(f"rerun failed (exit {done.code}): {done.output.strip().splitlines()[-1:]}")
        return
    trial.resumed_from = resumed_from(done.output)
    trial.differences += compare_runs(reference, out)


def kill_at_random_step(bench: Bench, trial: Trial, out: Path, sig: signal.Signals = signal.SIGKILL,
                        low: int = 1, **settings: Any) -> int | None:
    at = bench.random_step(low)
    code = run_and_signal(bench.command(out, **settings), out / "metrics.jsonl", at, sig, out.with_suffix(".log"))
    trial.detail = f"{sig.name} at step {at} (last logged {last_step(out / 'metrics.jsonl')}, exit {code})"
    if code is None:
        trial.differences.append("the run finished before the signal")
    return code


@fault("sigkill", "SIGKILL at a random step, then the same command")
def _sigkill(bench: Bench, trial: Trial, out: Path) -> None:
    if kill_at_random_step(bench, trial, out) is not None:
        finish_and_compare(bench, trial, out, bench.reference())


def _graceful_stop(bench: Bench, trial: Trial, out: Path, sig: signal.Signals) -> None:
    """``sig`` at a random step: a checkpoint at the end of the step, exit 128 + ``sig``, one line
    ``<SIG>: training of ...``; the rerun resumes identical."""
    code = kill_at_random_step(bench, trial, out, sig)
    if code is not None:
        expect_one_line(trial, code, out.with_suffix(".log").read_text(), 128 + sig, f"{sig.name}: training of")
        finish_and_compare(bench, trial, out, bench.reference())


@fault("sigterm", "SIGTERM at a random step: checkpoint at the end of the step, exit 143, one line")
def _sigterm(bench: Bench, trial: Trial, out: Path) -> None:
    _graceful_stop(bench, trial, out, signal.SIGTERM)


@fault("sigint", "SIGINT (Ctrl-C) at a random step: checkpoint, exit 130, one line")
def _sigint(bench: Bench, trial: Trial, out: Path) -> None:
    _graceful_stop(bench, trial, out, signal.SIGINT)


@fault("double_sigterm", "SIGTERM twice: stop at once without a final checkpoint, resume from the last one")
def _double_sigterm(bench: Bench, trial: Trial, out: Path) -> None:
    at = bench.random_step(bench.checkpoint_interval)
    code = run_and_signal(bench.command(out), out / "metrics.jsonl", at, signal.SIGTERM, out.with_suffix(".log"),
                          second_after_s=0.02)
    if code is None:
        trial.detail = f"SIGTERM twice at step {at}"
        trial.differences.append("the run finished before the signal")
        return
    line = expect_one_line(trial, code, out.with_suffix(".log").read_text(), 143) or ""
    how = "at once" if "second SIGTERM" in line else "after a final checkpoint (the second came after it)"
    trial.detail = f"SIGTERM twice at step {at}: stopped {how} (exit {code})"
    finish_and_compare(bench, trial, out, bench.reference())


@fault("sigkill_before_first_checkpoint", "SIGKILL before the first checkpoint: the rerun starts afresh")
def _sigkill_early(bench: Bench, trial: Trial, out: Path) -> None:
    code = run_and_signal(bench.command(out), out / "metrics.jsonl", 1, signal.SIGKILL, out.with_suffix(".log"))
    trial.detail = f"SIGKILL at step 1 (exit {code}, checkpoint written: {(out / 'checkpoint.pt').exists()})"
    if (out / "checkpoint.pt").exists():
        trial.differences.append("a checkpoint existed already: the kill came too late")
    finish_and_compare(bench, trial, out, bench.reference())


@fault("sigkill_in_checkpoint_write", "SIGKILL inside a checkpoint write: the temporary file is cleaned on resume")
def _sigkill_in_write(bench: Bench, trial: Trial, out: Path) -> None:
    at = bench.random_step()
    proc = start(bench.command(out, checkpoint_interval=1), out.with_suffix(".log"))  # (cadence: same run)
    caught = None
    if wait_for_step(proc, out / "metrics.jsonl", at):
        while proc.poll() is None and caught is None:  # busy: a checkpoint write takes milliseconds
            caught = next((n for n in os.listdir(out) if n.startswith(".checkpoint.pt.") and ".tmp" in n), None)
        proc.kill()
    proc.wait()
    left = stray_files(out)
    trial.detail = f"SIGKILL while {caught or 'no temporary file'} was being written after step {at} (left {left})"
    if not left:
        trial.differences.append("the kill missed every checkpoint write")
    finish_and_compare(bench, trial, out, bench.reference())


@fault("kill_twice", "SIGKILL, rerun, SIGKILL again later, rerun")
def _kill_twice(bench: Bench, trial: Trial, out: Path) -> None:
    first, second = sorted(bench.rng.sample(range(1, bench.steps - max(3, bench.steps // 5)), 2))
    cmd = bench.command(out)
    codes = [run_and_signal(cmd, out / "metrics.jsonl", at, signal.SIGKILL, out.with_suffix(f".{i}.log"))
             for i, at in enumerate((first, second))]
    trial.detail = f"SIGKILL at steps {first} and {second} (exits {codes})"
    if None in codes:
        trial.differences.append("a run finished before its signal")
    finish_and_compare(bench, trial, out, bench.reference())


def _killed_after_checkpoints(bench: Bench, trial: Trial, out: Path) -> bool:
    """SIGKILL once at least two checkpoints exist (so checkpoint.prev.pt is an older one)."""
    at = bench.random_step(2 * bench.checkpoint_interval + 1)
    code = run_and_signal(bench.command(out), out / "metrics.jsonl", at, signal.SIGKILL, out.with_suffix(".log"),
                          ready=out / "checkpoint.prev.pt")
    trial.detail = f"SIGKILL at step {at} (exit {code})"
    if code is None:
        trial.differences.append("the run finished before the signal")
    return code is not None


@fault("truncated_checkpoint", "checkpoint.pt truncated after a kill: one warning, the previous checkpoint is used")
def _truncated_checkpoint(bench: Bench, trial: Trial, out: Path) -> None:
    if _killed_after_checkpoints(bench, trial, out):
        data = (out / "checkpoint.pt").read_bytes()
        (out / "checkpoint.pt").write_bytes(data[: len(data) // 2])
        trial.detail += ", checkpoint.pt cut to half"
        finish_and_compare(bench, trial, out, bench.reference())


@fault("bitflip_checkpoint", "one flipped byte in checkpoint.pt: its sha256 refuses it, the previous one is used")
def _bitflip_checkpoint(bench: Bench, trial: Trial, out: Path) -> None:
    if _killed_after_checkpoints(bench, trial, out):
        data = bytearray((out / "checkpoint.pt").read_bytes())
        data[len(data) * 2 // 3] ^= 0x10
        (out / "checkpoint.pt").write_bytes(bytes(data))
        trial.detail += ", one byte of checkpoint.pt flipped"
        finish_and_compare(bench, trial, out, bench.reference())


@fault("both_checkpoints_damaged", "both checkpoints damaged: one error line; deleting them restarts the run")
def _both_damaged(bench: Bench, trial: Trial, out: Path) -> None:
    if not _killed_after_checkpoints(bench, trial, out):
        return
    for name in ("checkpoint.pt", "checkpoint.prev.pt"):
        (out / name).write_bytes((out / name).read_bytes()[:100])
    done = run(bench.command(out), out.with_suffix(".damaged.log"))
    expect_one_line(trial, done.code, done.output, 2, "no usable checkpoint")
    trial.detail += f", both checkpoints cut (then: exit {done.code}, one line), deleted"
    for name in ("checkpoint.pt", "checkpoint.prev.pt"):
        (out / name).unlink()
    finish_and_compare(bench, trial, out, bench.reference())


@fault("latest_checkpoint_deleted", "checkpoint.pt deleted (the previous one left): the run starts afresh")
def _latest_deleted(bench: Bench, trial: Trial, out: Path) -> None:
    if _killed_after_checkpoints(bench, trial, out):
        (out / "checkpoint.pt").unlink()
        trial.detail += ", checkpoint.pt deleted"
        finish_and_compare(bench, trial, out, bench.reference())


@fault("torn_metrics_line", "a torn last line in metrics.jsonl: dropped on resume, nothing duplicated")
def _torn_metrics(bench: Bench, trial: Trial, out: Path) -> None:
    if kill_at_random_step(bench, trial, out, low=bench.checkpoint_interval) is not None:
        with open(out / "metrics.jsonl", "a", encoding="utf-8") as fh:
            fh.write('{"step": 10000, "train_lo')
        trial.detail += ", torn line appended"
        finish_and_compare(bench, trial, out, bench.reference())


@fault("stale_temporary_file", "a temporary file of an earlier killed write: removed on resume")
def _stale_temporary(bench: Bench, trial: Trial, out: Path) -> None:
    if kill_at_random_step(bench, trial, out, low=bench.checkpoint_interval) is not None:
        shutil.copyfile(out / "checkpoint.pt", out / ".checkpoint.pt.k1ll3d.tmp.pt")
        trial.detail += ", .checkpoint.pt.k1ll3d.tmp.pt planted"
        finish_and_compare(bench, trial, out, bench.reference())


@fault("second_training_refused", "a second training of a live run's directory, other settings: one line, "
       "the directory untouched, the live run ends identical")
def _second_training(bench: Bench, trial: Trial, out: Path) -> None:
    live = start(bench.command(out), out.with_suffix(".log"))
    at = bench.random_step(bench.checkpoint_interval)
    if not wait_for_step(live, out / "metrics.jsonl", at, ready=out / "checkpoint.pt"):
        trial.differences.append("the live run finished before the second one started")
        return
    live.send_signal(signal.SIGSTOP)  # frozen: its directory must not change while the second one runs
    time.sleep(0.2)
    try:
        before = snapshot(out)
        done = run(bench.command(out, lr=OTHER_LR), out.with_suffix(".second.log"))
        after = snapshot(out)
    finally:
        live.send_signal(signal.SIGCONT)
    expect_one_line(trial, done.code, done.output, 2, "is being trained by another process")
    if after != before:
        trial.differences.append(f"the refused run changed {sorted(set(after) ^ set(before)) or 'file contents'}")
    code = live.wait()
    trial.detail = f"second training at step {at} while the first was frozen (exit {done.code}); first: exit {code}"
    if code != 0:
        trial.differences.append(f"the live run failed (exit {code})")
    else:
        trial.differences += compare_runs(bench.reference(), out)


def _checkpoint_size(bench: Bench) -> int:
    return (bench.reference() / "checkpoint.pt").stat().st_size


@fault("disk_full_at_a_checkpoint", "the disk fills before a checkpoint of a resumed run: one line naming it, "
       "the previous checkpoint intact")
def _disk_full_later(bench: Bench, trial: Trial, out: Path) -> None:
    if kill_at_random_step(bench, trial, out, low=bench.checkpoint_interval) is None:
        return
    from mosaic.harness.checkpoint import load_checkpoint

    before = load_checkpoint(out / "checkpoint.pt")["step"]
    limit = _checkpoint_size(bench) // 2  # files may grow to half a checkpoint: the next one fails
    done = run(bench.command(out), out.with_suffix(".full.log"), limits={resource.RLIMIT_FSIZE: limit})
    expect_one_line(trial, done.code, done.output, 2, f"{out / 'checkpoint.pt'}: File too large")
    after = load_checkpoint(out / "checkpoint.pt")["step"]
    trial.detail += f", rerun on a full disk (file-size limit): exit {done.code}, checkpoint still step {after}"
    if after != before or stray_files(out):
        trial.differences.append(f"checkpoint step {before} -> {after}, stray {stray_files(out)}")
    finish_and_compare(bench, trial, out, bench.reference())


@fault("disk_full_at_the_first_checkpoint", "the disk is full at the first checkpoint: one line, nothing left")
def _disk_full_first(bench: Bench, trial: Trial, out: Path) -> None:
    done = run(bench.command(out), out.with_suffix(".full.log"), limits={resource.RLIMIT_FSIZE: _checkpoint_size(bench) // 2})
    expect_one_line(trial, done.code, done.output, 2, "checkpoint.pt: File too large")
    trial.detail = f"first run on a full disk: exit {done.code}, run directory left: {out.exists()}"
    if out.exists():
        trial.differences.append(f"left behind: {sorted(p.name for p in out.iterdir())}")
    finish_and_compare(bench, trial, out, bench.reference())


@fault("final_weights_write_fails", "writing model.safetensors fails (a directory in its place): one line, no "
       "final files, the rerun writes them from the final checkpoint")
def _final_weights_fail(bench: Bench, trial: Trial, out: Path) -> None:
    _run(bench.command(out), out.with_suffix(".log"))
    for name in ("done.json", "model.safetensors", "model.safetensors.sha256"):
        (out / name).unlink()
    (out / "model.safetensors").mkdir()  # os.replace onto a directory fails: a write refused at the end
    done = run(bench.command(out), out.with_suffix(".blocked.log"))
    expect_one_line(trial, done.code, done.output, 2, f"{out / 'model.safetensors'}")
    left = sorted(n for n in ("done.json", "model.safetensors.sha256") if (out / n).exists())
    trial.detail = f"final weights blocked: exit {done.code}, final files left {left}"
    if left or stray_files(out):
        trial.differences.append(f"half a set of final files: {left} {stray_files(out)}")
    shutil.rmtree(out / "model.safetensors", ignore_errors=True)
    finish_and_compare(bench, trial, out, bench.reference())


@fault("bitflip_final_weights", "one flipped byte in model.safetensors: loading refuses it in one line; "
       "deleting it and done.json rewrites it from the final checkpoint")
def _bitflip_weights(bench: Bench, trial: Trial, out: Path) -> None:
    _run(bench.command(out), out.with_suffix(".log"))
    data = bytearray((out / "model.safetensors").read_bytes())
    data[len(data) // 2] ^= 0x01
    (out / "model.safetensors").write_bytes(bytes(data))
    load = [sys.executable, "-c", "import sys; from mosaic.harness.config import run_cli; "
            "from mosaic.harness.runs import load_run_model; run_cli(load_run_model, sys.argv[1])", str(out)]
    done = run(load, out.with_suffix(".load.log"))
    expect_one_line(trial, done.code, done.output, 2, "model.safetensors is corrupt (sha256")
    trial.detail = f"a byte of model.safetensors flipped: loading exit {done.code}"
    for name in ("done.json", "model.safetensors"):
        (out / name).unlink()
    finish_and_compare(bench, trial, out, bench.reference())


@fault("out_of_memory_first_step", "a batch too large for memory: one line, nothing left; the right batch then")
def _out_of_memory(bench: Bench, trial: Trial, out: Path) -> None:
    done = run(bench.command(out, "--config-json", '{"batch_size": 100000000}'), out.with_suffix(".oom.log"),
               limits={resource.RLIMIT_AS: MEMORY_LIMIT})
    expect_one_line(trial, done.code, done.output, 2, "out of memory")
    trial.detail = f"batch_size 10**8: exit {done.code}, run directory left: {out.exists()}"
    if out.exists():
        trial.differences.append(f"left behind: {sorted(p.name for p in out.iterdir())}")
    finish_and_compare(bench, trial, out, bench.reference())


@fault("lr_changed", "SIGKILL, then rerun with another lr: retrained, equal to a fresh run of that lr")
def _lr_changed(bench: Bench, trial: Trial, out: Path) -> None:
    if kill_at_random_step(bench, trial, out, low=bench.checkpoint_interval) is not None:
        trial.detail += f", rerun with lr={OTHER_LR}"
        finish_and_compare(bench, trial, out, bench.reference("reference_lr", lr=OTHER_LR), lr=OTHER_LR)
        if trial.resumed_from:
            trial.differences.append("resumed a checkpoint of other settings")


@fault("max_steps_changed", "a finished run, its final outputs deleted (as Snakemake does), rerun with fewer "
       "steps: retrained, equal to a fresh run of that length")
def _steps_changed(bench: Bench, trial: Trial, out: Path) -> None:
    _run(bench.command(out), out.with_suffix(".log"))
    for name in ("done.json", "model.safetensors"):
        (out / name).unlink()
    fewer = bench.steps // 2
    trial.detail = f"finished {bench.steps}-step run rerun with max_steps={fewer}"
    finish_and_compare(bench, trial, out, bench.reference("reference_steps", steps=fewer), steps=fewer)
    if trial.resumed_from:
        trial.differences.append("resumed a checkpoint of other settings")


@fault("cadence_changed", "SIGKILL, then rerun with another checkpoint interval: resumed, identical")
def _cadence_changed(bench: Bench, trial: Trial, out: Path) -> None:
    if kill_at_random_step(bench, trial, out, low=bench.checkpoint_interval) is not None:
        other = bench.checkpoint_interval + 2
        trial.detail += f", rerun with checkpoint_interval={other}"
        finish_and_compare(bench, trial, out, bench.reference(), checkpoint_interval=other)
        if not trial.resumed_from:
            trial.differences.append("retrained although only the cadence changed")


@fault("parent_snakemake_killed", "the Snakemake that started the job is SIGKILLed: the job checkpoints and stops "
       "by itself (exit 143, one line), releasing the run lock")
def _parent_killed(bench: Bench, trial: Trial, out: Path) -> None:
    fake = bench.workdir / "bin" / "snakemake"  # recognised as Snakemake by its name, as the real one
    fake.parent.mkdir(exist_ok=True)
    fake.write_text(FAKE_SNAKEMAKE)
    log, rc = out.with_suffix(".log"), out.with_suffix(".rc")
    job = f"{shlex.join(bench.command(out))} > {shlex.quote(str(log))} 2>&1; echo $? > {shlex.quote(str(rc))}"
    parent = subprocess.Popen([sys.executable, str(fake), job], env=_env(), cwd=REPO)
    at = bench.random_step(bench.checkpoint_interval)
    deadline = time.monotonic() + 300
    while (last_step(out / "metrics.jsonl") or 0) < at and not rc.exists() and time.monotonic() < deadline:
        time.sleep(POLL_S)
    parent.kill()
    parent.wait()
    while not (rc.exists() and rc.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.05)
    code = int(rc.read_text()) if rc.exists() else None
    trial.detail = f"parent SIGKILLed at step {at}: the job ended with exit {code}"
    expect_one_line(trial, code, log.read_text(), 143, f"Snakemake (pid {parent.pid}) is gone")
    finish_and_compare(bench, trial, out, bench.reference())


def run_trials(kinds: list[str], rounds: int, seed: int, workdir: Path, steps: int, checkpoint_interval: int,
               echo: bool = True) -> list[Trial]:
    """Prepare the data, then ``rounds`` trials of each of ``kinds`` (one line each when ``echo``)."""
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise ValueError(f"unknown fault kinds {unknown}; known: {sorted(KINDS)}")
    data = workdir / "data"
    cmd = [sys.executable, "-m", "mosaic", "stories", "prepare", "--out", str(data)]
    for cfg in CONFIGS:
        cmd += ["--config", str(REPO / cfg)]
    _run(cmd, workdir / "data.log")
    bench = Bench(workdir, data, steps, checkpoint_interval, random.Random(seed))
    trials = []
    for _round in range(rounds):
        for kind in kinds:
            trial = Trial(len(trials), kind)
            out = workdir / f"trial{trial.index}_{kind}"
            shutil.rmtree(out, ignore_errors=True)
            KINDS[kind][1](bench, trial, out)
            trials.append(trial)
            if echo:
                print(trial.line(), flush=True)
    return trials


# -- the Snakemake check ------------------------------------------------------------------------------
def _snakemake(target: str, *extra: str) -> list[str]:
    # --configfile takes several values: it goes last, after the target and the flags
    return [sys.executable, "-m", "snakemake", target, "--cores", "1", *extra,
            "--configfile", *CONFIGS[1:], "fault_injection.yaml"]


def _unlock_if_locked(work: Path, target: str, failure: Finished, log: Path, notes: list[str]) -> bool:
    if "lock" not in failure.output.lower():
        return False
    notes.append("Snakemake's lock left: --unlock first")
    _run(_snakemake(target, "--unlock"), log, cwd=work)
    return True


def snakemake_check(workdir: Path, rng: random.Random, steps: int, checkpoint_interval: int) -> list[str]:
    """Build one training target, then: kill Snakemake's process group (SIGKILL, SIGTERM) and
    rerun with ``--rerun-incomplete``; kill Snakemake alone (SIGKILL) and rerun after ``--unlock``.
    Returns one report line per case."""
    work = workdir / "workflow"
    shutil.copytree(REPO, work, ignore=NOT_COPIED, symlinks=True)
    overlay = {"stories": {"train": {"max_steps": steps, "checkpoint_interval": checkpoint_interval,
                                     "log_interval": 1}}}
    write_text(work / "fault_injection.yaml", json.dumps(overlay))  # JSON is YAML
    run_rel = f"results/runs/stories/{ARCH}_L{DEPTH}"
    run_dir, target, ref = work / run_rel, f"{run_rel}/done.json", workdir / "snakemake_reference"
    job_log = work / f"results/logs/stories/train_{ARCH}_L{DEPTH}.log"
    _run(_snakemake(target), workdir / "snakemake_reference.log", cwd=work)
    shutil.copytree(run_dir, ref)
    lines = []
    for case in ("group SIGKILL", "group SIGTERM", "Snakemake alone SIGKILL"):
        shutil.rmtree(run_dir)  # Snakemake sees the outputs missing and trains the target again
        at = rng.randint(checkpoint_interval, max(checkpoint_interval, steps - max(3, steps // 5)))
        killed_log = workdir / f"snakemake_{case.replace(' ', '_')}.log"
        notes: list[str] = []
        if case.startswith("group"):
            sig = signal.SIGKILL if case.endswith("SIGKILL") else signal.SIGTERM
            code = run_and_signal(_snakemake(target), run_dir / "metrics.jsonl", at, sig, killed_log, cwd=work,
                                  new_session=True, ready=run_dir / "checkpoint.pt")
            rerun_flags: tuple[str, ...] = ("--rerun-incomplete",)
        else:
            snake = start(_snakemake(target), killed_log, cwd=work, new_session=True)
            if not wait_for_step(snake, run_dir / "metrics.jsonl", at, ready=run_dir / "checkpoint.pt"):
                code = None
            else:
                snake.kill()  # Snakemake only: its job's shell and training are not signalled
                code = snake.wait()
                try:
                    _wait_for_group(snake.pid, timeout_s=60)
                    notes.append("the orphaned job stopped by itself")
                except RuntimeError:
                    notes.append("the orphaned job was STILL RUNNING after 60 s")
                    os.killpg(snake.pid, signal.SIGKILL)
            rerun_flags = ()
        if code is None:
            lines.append(f"snakemake {case}: the build finished before the signal")
            continue
        left = sorted(p.name for p in run_dir.iterdir()) if run_dir.is_dir() else ["(run directory gone)"]
        notes[:0] = [f"snakemake exit {code}", f"left {left}"]
        rerun_log = workdir / f"snakemake_{case.replace(' ', '_')}_rerun.log"
        done = run(_snakemake(target, *rerun_flags), rerun_log, cwd=work)
        if done.code != 0 and _unlock_if_locked(work, target, done, workdir / "unlock.log", notes):
            done = run(_snakemake(target, *rerun_flags), rerun_log, cwd=work)
        if done.code != 0:
            lines.append(f"snakemake {case} at step {at}: rerun FAILED: {done.output.strip().splitlines()[-3:]}")
            continue
        start_step = resumed_from(job_log.read_text(encoding="utf-8"))
        notes.append(f"resumed from step {start_step}" if start_step else "restarted from step 0")
        diffs = compare_runs(ref, run_dir)
        verdict = "identical" if not diffs and "STILL RUNNING" not in " ".join(notes) else \
            "DIFFERENT: " + ", ".join(diffs[:4] or notes[-2:])
        lines.append(f"snakemake {case} at step {at}, rerun: {verdict} ({'; '.join(notes)})")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", default=",".join(KINDS), help="comma-separated fault kinds (default: all; --list)")
    parser.add_argument("--rounds", type=int, default=1, help="trials of each kind (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault steps (default 0)")
    parser.add_argument("--workdir", default=None, help="keep everything here (default: a temp dir, removed)")
    parser.add_argument("--steps", type=int, default=90, help="training steps of every run (default 90)")
    parser.add_argument("--checkpoint-interval", type=int, default=3, help="steps between checkpoints (default 3)")
    parser.add_argument("--skip-snakemake", action="store_true", help="only the trials")
    parser.add_argument("--list", action="store_true", help="list the fault kinds and exit")
    args = parser.parse_args(argv)
    if args.list:
        for name, (description, _) in KINDS.items():
            print(f"{name}: {description}")
        return 0
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    if args.rounds < 0 or args.steps < 12 or not 1 <= args.checkpoint_interval < args.steps // 3:
        parser.error("need --rounds >= 0, --steps >= 12 and 1 <= --checkpoint-interval < steps / 3")
    if set(kinds) - set(KINDS):
        parser.error(f"unknown fault kinds {sorted(set(kinds) - set(KINDS))} (see --list)")
    start_time = time.monotonic()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="fault_injection_"))
    workdir.mkdir(parents=True, exist_ok=True)
    ok = True
    try:
        trials = run_trials(kinds, args.rounds, args.seed, workdir, args.steps, args.checkpoint_interval)
        ok = all(t.identical for t in trials)
        print(f"identical: {sum(t.identical for t in trials)}/{len(trials)} "
              f"({len({t.kind for t in trials})} fault kinds)", flush=True)
        if not args.skip_snakemake:
            lines = snakemake_check(workdir, random.Random(args.seed + 1), args.steps, args.checkpoint_interval)
            print("\n".join(lines), flush=True)
            ok = ok and all(": identical" in line for line in lines)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"fault injection: {time.monotonic() - start_time:.0f} s", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
