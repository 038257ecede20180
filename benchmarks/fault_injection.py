"""Fault-injection benchmark: kill training at a random step, resume it, demand bitwise identity.

    python benchmarks/fault_injection.py [--trials 10] [--seed 0] [--workdir DIR] [--skip-snakemake]

What it measures is what users run, through the real command lines:

1. **Trials.** Story data is prepared once (``python -m mosaic stories prepare``, smoke scale) and one
   uninterrupted ``python -m mosaic stories train`` run (a one-block mosaic, smoke sizes, a checkpoint
   every ``--checkpoint-interval`` steps) is the reference. Each trial starts the same command,
   waits until ``metrics.jsonl`` reports a random step, sends SIGKILL (even trials) or SIGTERM
   (odd trials), restarts the same command and compares the result with the reference: every
   tensor of ``model.pt`` and of the optimizer state in ``checkpoint.pt`` with ``torch.equal``,
   every ``metrics.jsonl`` record and ``done.json`` except wall-clock fields. The last line is
   ``identical: k/N``.
2. **Snakemake.** In a temporary copy of the repository, one smoke-scale training target
   (``stories/mosaic_L1``) is built uninterrupted; it is then built again and the whole Snakemake
   process group is killed once the job has written a checkpoint, and ``snakemake
   --rerun-incomplete`` finishes it. The report says whether the rerun resumed from the surviving
   checkpoint (the trainer logs ``resuming ... from step s``) or restarted, what the kill left
   behind, and whether the final weights and metrics equal the uninterrupted build.

Everything runs on CPU with one thread; the work directory is a temporary one, removed at the end
unless ``--workdir`` is given. The exit status is 0 only when every check was identical.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
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
SIGNALS = (signal.SIGKILL, signal.SIGTERM)  # trial i sends SIGNALS[i % 2]
POLL_S = 0.002
# Not copied into the temporary workflow: VCS data, outputs and caches (as tests/test_workflow.py).
NOT_COPIED = shutil.ignore_patterns(".git", "results", ".snakemake", "__pycache__", ".pytest_cache",
                                    "*.egg-info", ".ci", ".helper")


def _env() -> dict[str, str]:
    """Offline, and the repository's package first on the path (as the Snakefile arranges)."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=path)


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


def compare_runs(ref_dir: Path, run_dir: Path) -> list[str]:
    """Everything in which ``run_dir`` differs from ``ref_dir``; empty when they are identical."""
    if not (run_dir / "model.pt").is_file():
        return ["no model.pt"]
    diffs = _tensor_differences(torch.load(ref_dir / "model.pt", weights_only=True),
                                torch.load(run_dir / "model.pt", weights_only=True), "model.pt")
    ref_opt, got_opt = (torch.load(d / "checkpoint.pt", weights_only=True).get("optimizer", {})
                        for d in (ref_dir, run_dir))
    diffs += _tensor_differences(ref_opt, got_opt, "optimizer")
    ref_m, got_m = _records(ref_dir), _records(run_dir)
    if ref_m != got_m:
        bad = next((r.get("step") for r, g in zip(ref_m, got_m) if r != g), "count")
        diffs.append(f"metrics.jsonl ({len(got_m)} vs {len(ref_m)} records; first differing step {bad})")
    ref_d, got_d = (json.loads((d / "done.json").read_text()) for d in (ref_dir, run_dir))
    diffs += [f"done.json.{k}" for k in ref_d if k not in WALL_CLOCK_KEYS and ref_d[k] != got_d.get(k)]
    return diffs


def stray_files(run_dir: Path) -> list[str]:
    """Temporary files of interrupted atomic writes (``.<name>.<random>.tmp<suffix>``)."""
    return sorted(p.name for p in run_dir.glob(".*.tmp*"))


# -- the trials --------------------------------------------------------------------------------------
@dataclass
class Trial:
    index: int
    signal: str
    target_step: int  # the signal is sent once metrics.jsonl reports this step
    killed_after: int | None  # last step logged before the process died
    exit_code: int | None  # of the killed process (negative: died of the signal)
    resumed_from: int  # step the restarted run resumed from (0: started afresh)
    differences: list[str] = field(default_factory=list)
    stray: list[str] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return not self.differences

    def line(self) -> str:
        verdict = "identical" if self.identical else "DIFFERENT: " + ", ".join(self.differences[:4])
        extra = f" (stray temp files: {self.stray})" if self.stray else ""
        return (f"trial {self.index}: {self.signal} at step {self.target_step} (last logged "
                f"{self.killed_after}, exit {self.exit_code}), resumed from step {self.resumed_from}: "
                f"{verdict}{extra}")


def train_command(data: Path, out: Path, steps: int, checkpoint_interval: int) -> list[str]:
    """The story-LM training CLI at smoke sizes, logging every step (the kill trigger)."""
    cmd = [sys.executable, "-m", "mosaic", "stories", "train"]
    for cfg in CONFIGS:
        cmd += ["--config", str(REPO / cfg)]
    cmd += ["--arch", ARCH, "--set", f"n_layer={DEPTH}", "--data", str(data), "--out", str(out),
            "--device", "cpu", "--threads", "1", "--no-progress"]
    for key, value in (("max_steps", steps), ("checkpoint_interval", checkpoint_interval), ("log_interval", 1)):
        cmd += ["--set-train", f"{key}={value}"]
    return cmd


def _run(cmd: list[str], log: Path, cwd: Path = REPO) -> None:
    with open(log, "w", encoding="utf-8") as fh:
        proc = subprocess.run(cmd, cwd=cwd, env=_env(), stdout=fh, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        tail = "\n".join(log.read_text(encoding="utf-8").splitlines()[-15:])
        raise RuntimeError(f"{' '.join(cmd[:4])} ... failed (exit {proc.returncode}):\n{tail}")


def run_and_signal(cmd: list[str], metrics: Path, at_step: int, sig: signal.Signals, log: Path,
                   cwd: Path = REPO, new_session: bool = False, ready: Path | None = None) -> int | None:
    """Start ``cmd``; once ``metrics`` reports ``at_step`` (and ``ready`` exists, if given) send
    ``sig`` (to the whole process group when ``new_session``). Returns the exit code, or None if the
    process finished before the signal could be sent."""
    with open(log, "w", encoding="utf-8") as fh:
        proc = subprocess.Popen(cmd, cwd=cwd, env=_env(), stdout=fh, stderr=subprocess.STDOUT,
                                start_new_session=new_session)
        while proc.poll() is None:
            step = last_step(metrics)
            if step is not None and step >= at_step and (ready is None or ready.exists()):
                if not new_session:
                    proc.send_signal(sig)
                    return proc.wait()
                os.killpg(proc.pid, sig)
                code = proc.wait()
                _wait_for_group(proc.pid)  # the job's own processes may outlive Snakemake
                return code
            time.sleep(POLL_S)
    return None


def _wait_for_group(pgid: int, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise RuntimeError(f"process group {pgid} still running {timeout_s:.0f} s after the signal")


def resumed_from(log: Path) -> int:
    match = RESUMING.search(log.read_text(encoding="utf-8"))
    return int(match.group(1)) if match else 0


def prepare(workdir: Path, steps: int, checkpoint_interval: int) -> tuple[Path, Path]:
    """Prepare the story data and train the uninterrupted reference; returns (data, reference)."""
    data, ref = workdir / "data", workdir / "reference"
    cmd = [sys.executable, "-m", "mosaic", "stories", "prepare", "--out", str(data)]
    for cfg in CONFIGS:
        cmd += ["--config", str(REPO / cfg)]
    _run(cmd, workdir / "data.log")
    _run(train_command(data, ref, steps, checkpoint_interval), workdir / "reference.log")
    return data, ref


def run_trial(index: int, rng: random.Random, workdir: Path, data: Path, ref: Path, steps: int,
              checkpoint_interval: int) -> Trial:
    """One kill-and-resume trial (in ``workdir/trial<index>``), compared with ``ref``."""
    out = workdir / f"trial{index}"
    shutil.rmtree(out, ignore_errors=True)
    cmd = train_command(data, out, steps, checkpoint_interval)
    sig = SIGNALS[index % len(SIGNALS)]
    # leave a margin before the last step so the signal lands while training on a loaded machine
    target = rng.randint(1, max(1, steps - max(3, steps // 5)))
    code = run_and_signal(cmd, out / "metrics.jsonl", target, sig, out.with_suffix(".killed.log"))
    killed_after = last_step(out / "metrics.jsonl")
    if code is None:
        return Trial(index, sig.name, target, killed_after, 0, 0, ["finished before the signal"])
    log = out.with_suffix(".resume.log")
    try:
        _run(cmd, log)
    except RuntimeError as exc:
        return Trial(index, sig.name, target, killed_after, code, 0, [f"resume failed: {exc}"])
    return Trial(index, sig.name, target, killed_after, code, resumed_from(log),
                 compare_runs(ref, out), stray_files(out))


def run_trials(n: int, seed: int, workdir: Path, steps: int, checkpoint_interval: int,
               echo: bool = True) -> list[Trial]:
    """The reference run then ``n`` trials; prints one line per trial when ``echo``."""
    rng = random.Random(seed)
    data, ref = prepare(workdir, steps, checkpoint_interval)
    trials = []
    for i in range(n):
        trials.append(run_trial(i, rng, workdir, data, ref, steps, checkpoint_interval))
        if echo:
            print(trials[-1].line(), flush=True)
    return trials


# -- the Snakemake check ------------------------------------------------------------------------------
def _snakemake(target: str, *extra: str) -> list[str]:
    # --configfile takes several values: it goes last, after the target and the flags
    return [sys.executable, "-m", "snakemake", target, "--cores", "1", *extra,
            "--configfile", *CONFIGS[1:], "fault_injection.yaml"]


def snakemake_check(workdir: Path, rng: random.Random, steps: int, checkpoint_interval: int,
                    signals: tuple[signal.Signals, ...] = SIGNALS) -> list[str]:
    """Build one training target, then per signal: kill Snakemake's process group mid-training,
    rerun with ``--rerun-incomplete`` and compare. Returns one report line per signal."""
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
    for sig in signals:
        shutil.rmtree(run_dir)  # Snakemake sees the outputs missing and trains the target again
        at = rng.randint(checkpoint_interval, max(checkpoint_interval, steps - max(3, steps // 5)))
        killed_log = workdir / f"snakemake_{sig.name}.log"
        code = run_and_signal(_snakemake(target), run_dir / "metrics.jsonl", at, sig, killed_log,
                              cwd=work, new_session=True, ready=run_dir / "checkpoint.pt")
        if code is None:
            lines.append(f"snakemake {sig.name}: the build finished before the signal")
            continue
        left = sorted(p.name for p in run_dir.iterdir()) if run_dir.is_dir() else ["(run directory gone)"]
        locked = any((work / ".snakemake" / "locks").glob("*"))
        notes = [f"snakemake exit {code}", f"left {left}"]
        rerun_log = workdir / f"snakemake_{sig.name}_rerun.log"
        try:
            _run(_snakemake(target, "--rerun-incomplete"), rerun_log, cwd=work)
        except RuntimeError as exc:
            if not locked or "lock" not in str(exc).lower():
                lines.append(f"snakemake {sig.name}: rerun-incomplete FAILED: {exc}")
                continue
            shutil.copy(rerun_log, rerun_log.with_suffix(".locked.log"))
            notes.append("stale lock: --rerun-incomplete refused, ran --unlock first")
            _run(_snakemake(target, "--unlock"), workdir / "unlock.log", cwd=work)
            _run(_snakemake(target, "--rerun-incomplete"), rerun_log, cwd=work)
        start = resumed_from(job_log)
        notes.append(f"resumed from step {start}" if start else "restarted from step 0")
        diffs = compare_runs(ref, run_dir)
        verdict = "identical" if not diffs else "DIFFERENT: " + ", ".join(diffs[:4])
        lines.append(f"snakemake rerun-incomplete after {sig.name} at step {at}: {verdict} ({'; '.join(notes)})")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10, help="kill-and-resume trials (default 10)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill steps (default 0)")
    parser.add_argument("--workdir", default=None, help="keep everything here (default: a temp dir, removed)")
    parser.add_argument("--steps", type=int, default=90, help="training steps of every run (default 90)")
    parser.add_argument("--checkpoint-interval", type=int, default=3, help="steps between checkpoints (default 3)")
    parser.add_argument("--skip-snakemake", action="store_true", help="only the kill-and-resume trials")
    args = parser.parse_args(argv)
    if args.trials < 0 or args.steps < 4 or not 1 <= args.checkpoint_interval < args.steps:
        parser.error("need --trials >= 0, --steps >= 4 and 1 <= --checkpoint-interval < --steps")
    start = time.monotonic()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="fault_injection_"))
    workdir.mkdir(parents=True, exist_ok=True)
    ok = True
    try:
        trials = run_trials(args.trials, args.seed, workdir, args.steps, args.checkpoint_interval)
        ok = all(t.identical for t in trials)
        print(f"identical: {sum(t.identical for t in trials)}/{len(trials)}", flush=True)
        if not args.skip_snakemake:
            lines = snakemake_check(workdir, random.Random(args.seed + 1), args.steps, args.checkpoint_interval)
            print("\n".join(lines), flush=True)
            ok = ok and all(": identical" in line for line in lines)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"fault injection: {time.monotonic() - start:.0f} s", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
