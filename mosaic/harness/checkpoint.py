"""What makes a run killable and resumable: checkpoints, RNG state, the run lock, graceful stop.

A run directory holds

* ``checkpoint.pt`` — the latest checkpoint (model, optimizer, step, every RNG state, the
  run identity: :func:`run_identity`) with a sha256 of its content, written atomically;
* ``checkpoint.prev.pt`` — the checkpoint before it, kept so that a latest file damaged after
  the fact (truncated copy, bad disk) costs one checkpoint interval instead of the run;
* ``.lock`` — held with ``fcntl.flock`` by the training process (its pid inside), so a second
  training of the same directory fails at once; the kernel drops the lock when the process dies,
  however it dies, so a killed run never leaves a stale lock.

A training started by Snakemake also watches it (:func:`find_supervisors`): after a ``kill -9`` of
Snakemake alone it checkpoints and stops by itself, releasing the lock for the rerun.

Every load is ``torch.load(..., weights_only=True)``: a checkpoint is data, never code.
"""
from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
import random
import shutil
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mosaic.harness.distributed import Dist
from mosaic.harness.io import atomic_path

try:
    import fcntl
except ImportError:  # not POSIX: no lock (documented limitation)
    fcntl = None

CHECKPOINT, PREV_CHECKPOINT, LOCK = "checkpoint.pt", "checkpoint.prev.pt", ".lock"


class CheckpointError(ValueError):
    """No usable checkpoint: every checkpoint file of the run is damaged."""


class RunLockedError(ValueError):
    """Another live process is training into the same run directory."""


class TrainingInterrupted(KeyboardInterrupt):
    """SIGTERM/SIGINT stopped training after a final checkpoint; ``exit_code`` is 128 + signal
    (143 for SIGTERM, 130 for SIGINT). A KeyboardInterrupt, so generic ``except Exception``
    handlers do not swallow it and CLIs that handle Ctrl-C handle it."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.signum = signum
        self.exit_code = 128 + signum

    def __reduce__(self):  # picklable (multiprocessing sends exceptions between processes)
        return type(self), (str(self), self.signum)


# -- RNG state ----------------------------------------------------------------------------------
def rng_state() -> dict[str, Any]:
    """Every RNG a step may touch, as tensors and plain types (so ``weights_only`` loads it)."""
    version, mt, gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "python": [version, list(mt), gauss],
        "numpy": [np_name, torch.from_numpy(np_keys.astype(np.int64)), int(np_pos),
                  int(np_has_gauss), float(np_gauss)],
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    version, mt, gauss = state["python"]
    random.setstate((version, tuple(mt), gauss))
    name, keys, pos, has_gauss, gauss_np = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, gauss_np))
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


# -- checkpoint files ---------------------------------------------------------------------------
def digest(obj: Any, h: hashlib._Hash | None = None) -> str:
    """sha256 over a checkpoint payload: tensors by dtype, shape and bytes, in a fixed order."""
    h = h or hashlib.sha256()
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(obj, dict):
        for key in sorted(obj, key=repr):
            h.update(f"K{key!r}".encode())
            digest(obj[key], h)
    elif isinstance(obj, (list, tuple)):
        h.update(f"L{len(obj)}".encode())
        for item in obj:
            digest(item, h)
    else:
        h.update(f"V{obj!r}".encode())
    return h.hexdigest()


def save_checkpoint(path: Path, payload: dict[str, Any], keep_previous: bool = True) -> None:
    """Write ``payload`` (+ its sha256) atomically to ``path``; the file it replaces becomes
    ``checkpoint.prev.pt``. At every instant both names hold complete files: the old one is
    hard-linked to the prev name first (a copy where links are unsupported), then the new file
    is renamed over ``path``."""
    path = Path(path)
    payload = dict(payload, sha256=digest(payload))
    if keep_previous and path.is_file():
        prev = path.with_name(PREV_CHECKPOINT)
        with atomic_path(prev) as tmp:
            tmp.unlink()
            try:
                os.link(path, tmp)
            except OSError:
                shutil.copyfile(path, tmp)
    save_torch_file(path, payload)


def save_torch_file(path: Path, obj: Any) -> None:
    """``torch.save(obj)`` to ``path`` atomically. torch writes through a Python file object here:
    a failed write (a full disk) is then an ``OSError`` with its errno, which
    :func:`mosaic.harness.io.atomic_path` names after ``path`` (given a file name, torch's zip
    writer reports it as a RuntimeError without one); ``path`` keeps its previous content."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        torch.save(obj, fh)


def torch_load(path: Path, hint: str = "") -> Any:
    """``torch.load(path, weights_only=True)`` on CPU; a damaged file raises one CheckpointError
    line naming it (whatever torch raised: EOFError, a zip error, an unpickling error, ...)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        text = str(exc).strip()
        if not text:
            reason = type(exc).__name__
        elif text.startswith("Weights only load failed"):
            reason = "not a weights-only torch file"
        else:
            reason = text.splitlines()[0].split(". ")[0][:160]
        raise CheckpointError(f"{path} is corrupt (unreadable: {reason}){hint}") from None


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load and verify one checkpoint file; any damage raises a CheckpointError naming it."""
    payload = torch_load(path)
    expected = payload.pop("sha256", None) if isinstance(payload, dict) else None
    if expected is None or digest(payload) != expected:
        raise CheckpointError(f"{path} is corrupt (sha256 mismatch)")
    return payload


def load_latest(run_dir: Path) -> tuple[dict[str, Any] | None, bool]:
    """The newest usable checkpoint of ``run_dir`` (None if there is none) and whether it is
    ``checkpoint.pt`` itself. A damaged latest file gives one warning line and the previous
    checkpoint is used; if no file is usable, a CheckpointError lists why.

    ``checkpoint.prev.pt`` alone (no latest file) is not resumed: :func:`save_checkpoint` never
    leaves that state, so somebody deleted the latest file to restart the run."""
    latest, prev = run_dir / CHECKPOINT, run_dir / PREV_CHECKPOINT
    if not latest.is_file():
        return None, False
    problems = []
    for path in (latest, prev):
        if not path.is_file():
            continue
        try:
            payload = load_checkpoint(path)
        except CheckpointError as exc:
            problems.append(str(exc))
            continue
        if problems:
            print(f"warning: {problems[0]}; falling back to {path.name} (step {payload['step']})",
                  file=sys.stderr)
        return payload, path == latest
    if problems:
        raise CheckpointError("; ".join(problems) + f"; no usable checkpoint in {run_dir}, delete "
                              f"{CHECKPOINT} and {PREV_CHECKPOINT} to restart from scratch")
    return None, False


def metrics_up_to(path: Path, up_to_step: int) -> list[str]:
    """Lines of an existing metrics.jsonl with step <= ``up_to_step`` (drops a torn last line)."""
    if not path.is_file():
        return []
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            if json.loads(line)["step"] <= up_to_step:
                kept.append(line)
        except (json.JSONDecodeError, KeyError, TypeError):
            continue
    return kept


# -- run identity: which settings a run directory was trained with --------------------------------
# TrainConfig keys that do not change the trained weights or the logged losses: how often the run
# logs, evaluates and checkpoints, how many threads or which device run it, whether a bar is drawn,
# where metrics are mirrored, whether the step is compiled (the same math, up to float rounding).
# A run may resume with other values of these; any other change starts the run afresh.
NON_RESULT_KEYS = frozenset({"progress", "device", "threads", "eval_interval", "checkpoint_interval",
                             "log_interval", "tracking", "compile"})


def run_identity(train_config: dict[str, Any], run_config: dict[str, Any] | None,
                 model: torch.nn.Module, ignore: Sequence[str] = ()) -> dict[str, Any]:
    """Everything that determines a run's result, as plain JSON types: the trainer settings
    (less :data:`NON_RESULT_KEYS`), the experiment's run config (architecture, model config, data
    fingerprint, grid point, ...: whatever the caller passes) and the shape of every tensor of
    the model's state dict (a plug-in given no run config is still told apart by its shapes).
    The seed is a trainer setting. ``ignore``: dotted paths of run-config entries that do not
    determine the result (a data path as typed, beside the data's fingerprint; an evaluation
    section; cadence keys inside an experiment's own copy of its config): a run resumes whatever
    they hold. Two runs with equal identities train the same model."""
    identity = {
        "train": {k: v for k, v in train_config.items() if k not in NON_RESULT_KEYS},
        "run": _without(run_config or {}, ignore),
        "tensors": {name: list(t.shape) for name, t in model.state_dict().items()},
    }
    return json.loads(json.dumps(identity, sort_keys=True, default=str))  # plain types: weights_only loads it


def _without(config: dict[str, Any], paths: Sequence[str]) -> dict[str, Any]:
    """A deep copy of ``config`` less the entries at the dotted ``paths`` (absent ones are fine)."""
    config = copy.deepcopy(config)
    for path in paths:
        *parents, last = path.split(".")
        node = config
        for key in parents:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(last, None)
    return config


def identity_digest(identity: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"model": {"d": 16}}`` -> ``{"model.d": 16}`` (an empty dict stays a value)."""
    out: dict[str, Any] = {}
    for key, value in d.items():
        if isinstance(value, dict) and value:
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def identity_changes(saved: dict[str, Any] | None, current: dict[str, Any], limit: int = 6) -> str | None:
    """None when ``saved`` equals ``current``; else one phrase naming what changed, e.g.
    ``"train.lr: 0.01 -> 0.02, train.max_steps: 600 -> 100"`` (settings first: a model-config key
    explains the tensor shapes it changes)."""
    if saved is None:
        return "no run identity recorded (written by an older version)"
    old, new = _flat(saved), _flat(current)
    differ = sorted(k for k in set(old) | set(new) if old.get(k, "<absent>") != new.get(k, "<absent>"))
    if not differ:
        return None
    shown = [k for k in differ if not k.startswith("tensors.")] or differ
    detail = ", ".join(f"{k}: {old.get(k, '<absent>')!r} -> {new.get(k, '<absent>')!r}" for k in shown[:limit])
    return detail + (f" (+{len(shown) - limit} more)" if len(shown) > limit else "")


def discard_run(run_dir: Path, patterns: Sequence[str]) -> list[str]:
    """Delete the files of an earlier run in ``run_dir`` matching ``patterns`` (globs relative to
    it; the lock file is never among them); returns the names removed. Called only by the process
    that holds the run lock."""
    removed = []
    for pattern in patterns:
        for path in sorted(run_dir.glob(pattern)):
            if path.name == LOCK:
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
            removed.append(path.name)
    return removed


# -- the run lock -------------------------------------------------------------------------------
class RunLock:
    """Exclusive ``flock`` on ``run_dir/.lock`` for as long as this object is held.

    The lock file is written in place, not atomically: the lock lives on its inode, which every
    contender must share; the pid inside is only there for the error message. A process that
    fails before its run has a checkpoint removes the lock file it created (:meth:`discard`, still
    holding it); a contender that opened the file just before is left holding a lock on an unlinked
    inode, so after locking, the inode is checked against the path and the lock taken again if they
    differ. A refused contender has only opened and read the file: it changes nothing."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / LOCK
        self.created = False  # whether this process created the lock file
        self._fh = None

    def _open(self) -> tuple[Any, bool]:
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)
                return os.fdopen(fd, "r+", encoding="utf-8"), True
            except FileExistsError:
                pass
            try:
                return open(self.path, "r+", encoding="utf-8"), False
            except FileNotFoundError:  # removed between the two calls by a process giving it up
                continue

    def _still_linked(self, fh: Any) -> bool:
        try:
            return os.fstat(fh.fileno()).st_ino == os.stat(self.path).st_ino
        except FileNotFoundError:
            return False

    def __enter__(self) -> RunLock:
        if fcntl is None:
            return self
        while True:
            fh, created = self._open()
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = fh.read().strip() or "unknown"
                fh.close()
                raise RunLockedError(f"{self.path.parent} is being trained by another process "
                                     f"(pid {holder}); wait for it or stop it first") from None
            except OSError as exc:  # e.g. a file system without locks
                fh.close()
                raise OSError(exc.errno, f"cannot lock it: {exc.strerror}", str(self.path)) from None
            if self._still_linked(fh):
                break
            fh.close()
        try:
            fh.seek(0)
            fh.truncate()
            fh.write(f"{os.getpid()}\n")
            fh.flush()
        except OSError as exc:  # a full disk
            fh.close()
            raise OSError(exc.errno, exc.strerror, str(self.path)) from None
        self._fh, self.created = fh, created
        return self

    def discard(self) -> None:
        """Remove the lock file if this process created it (while still holding the lock)."""
        if self._fh is not None and self.created:
            self.path.unlink(missing_ok=True)

    def __exit__(self, *exc: Any) -> None:
        if self._fh is not None:
            self._fh.close()  # closing the descriptor releases the flock
            self._fh = None


@contextlib.contextmanager
def run_lock(out_dir: Path, ddp: Dist, device: torch.device):
    """Hold ``out_dir/.lock`` (rank 0) for the whole training; every rank fails if it is taken.
    Yields the :class:`RunLock` (rank 0's; the others hold none)."""
    lock, error = RunLock(out_dir), None
    if ddp.is_main:
        try:
            lock.__enter__()
        except RunLockedError as exc:
            error = exc
    if not ddp.all_agree(error is None, device):
        raise error or RunLockedError(f"{out_dir} is being trained by another process (see rank 0)")
    try:
        yield lock
    finally:
        lock.__exit__()


# -- the supervisor: stop when the Snakemake that started the job is gone ------------------------
SUPERVISOR_ENV = "MOSAIC_SUPERVISOR"
SUPERVISOR_POLL_S = 0.5


def _proc_stat(pid: int) -> tuple[int, str] | None:
    """(parent pid, start time) of ``pid`` from ``/proc`` (Linux), None if it is gone or unknown.
    The start time tells a process from a later one that reused its pid."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # after "pid (comm) ": comm may hold spaces
    return int(fields[1]), fields[19]


def _proc_argv(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode("utf-8", "replace") for a in raw.split(b"\0") if a]


def is_snakemake(argv: Sequence[str]) -> bool:
    """Whether a command line is Snakemake's: ``snakemake ...``, ``python /path/bin/snakemake
    ...`` or ``python -m snakemake ...`` (a shell whose command merely mentions it is not)."""
    if any(Path(a).name == "snakemake" for a in argv[:2]):
        return True
    return any(argv[i] == "-m" and argv[i + 1] == "snakemake" for i in range(min(len(argv) - 1, 3)))


@dataclass(frozen=True)
class Supervisor:
    """A process the training must not outlive: when it is gone, the training stops as on a
    SIGTERM (checkpoint at the end of the step, exit 143)."""

    pid: int
    name: str
    started: str | None  # /proc start time; None: checked by os.getppid() (the direct parent)

    def alive(self) -> bool:
        if self.started is None:
            return os.getppid() == self.pid
        stat = _proc_stat(self.pid)
        return stat is not None and stat[1] == self.started


def find_supervisors(env: Mapping[str, str] | None = None) -> list[Supervisor]:
    """The processes a training watches, chosen by ``$MOSAIC_SUPERVISOR``:

    * ``auto`` (default): every Snakemake process among this process's ancestors (Linux; found
      through ``/proc``). Snakemake runs a job as ``bash -c "... python -m mosaic ..."``; after a
      ``kill -9`` of Snakemake alone the job's shell and the training live on, holding the run
      lock, until the training notices. Run by hand, under ``nohup``, ``tmux`` or Slurm (whose
      job step is its own Snakemake), nothing is watched and nothing changes;
    * ``parent``: the direct parent process, whatever it is (portable: ``os.getppid()`` changes
      when the parent dies);
    * a pid: that process (it must be running);
    * ``off``: nothing."""
    env = os.environ if env is None else env
    mode = env.get(SUPERVISOR_ENV, "auto").strip().lower() or "auto"
    if mode in ("off", "none", "0"):
        return []
    if mode == "parent":
        parent = os.getppid()
        return [] if parent <= 1 else [Supervisor(parent, f"the parent process (pid {parent})", None)]
    if mode.isdigit():
        stat = _proc_stat(int(mode))
        if stat is None:
            try:
                os.kill(int(mode), 0)
            except ProcessLookupError:
                raise ValueError(f"{SUPERVISOR_ENV}={mode}: no such process") from None
            except PermissionError:
                pass
            raise ValueError(f"{SUPERVISOR_ENV}={mode}: a pid can be watched on Linux only (use parent)")
        return [Supervisor(int(mode), f"process {mode}", stat[1])]
    if mode != "auto":
        raise ValueError(f"{SUPERVISOR_ENV} must be auto, parent, off or a pid, got {mode!r}")
    found, pid = [], os.getppid()
    for _ in range(64):  # the ancestors, up to init
        stat = _proc_stat(pid) if pid > 1 else None
        if stat is None:
            break
        if is_snakemake(_proc_argv(pid)):
            found.append(Supervisor(pid, f"Snakemake (pid {pid})", stat[1]))
        pid = stat[0]
    return found


# -- graceful stop on SIGTERM / SIGINT, or when the supervisor is gone --------------------------
class GracefulStop:
    """While entered, SIGTERM and SIGINT only set :attr:`signum`; the loop checkpoints at the
    end of the current step and raises :class:`TrainingInterrupted`. A second signal stops at
    once (nothing is lost that the atomic checkpoints had saved) — only the same signal again:
    after a Ctrl-C, torchrun sends its workers a SIGTERM that must not cancel their checkpoint.
    Outside the main thread (where Python cannot install handlers) signals keep their default
    effect.

    ``supervisors`` (:func:`find_supervisors`) are polled every ``poll_s`` seconds by a daemon
    thread; when one is gone the stop is requested as by a SIGTERM."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self, supervisors: Sequence[Supervisor] = (), poll_s: float = SUPERVISOR_POLL_S) -> None:
        self.signum: int | None = None  # the first signal received (SIGTERM when a supervisor went)
        self.reason: str | None = None  # what stopped the run, for the final message
        self._seen: set[int] = set()
        self._old: dict[int, Any] = {}
        self._supervisors, self._poll_s = tuple(supervisors), poll_s
        self._done = threading.Event()
        self._watcher: threading.Thread | None = None

    def request(self, signum: int, reason: str, announce: str) -> None:
        """Ask the loop to checkpoint after this step and stop, as on ``signum``; ``reason``
        starts the final message, ``announce`` is printed now. The first request wins."""
        if self.signum is not None:
            return
        self.signum, self.reason = signum, reason
        print(f"\n{announce}", file=sys.stderr, flush=True)

    def _handle(self, signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if signum in self._seen:
            raise TrainingInterrupted(f"stopped by a second {name} (no final checkpoint)", signum)
        self._seen.add(signum)
        self.request(signum, name, f"{name} received: checkpointing after this step (send again to stop at once)")

    def _watch(self) -> None:
        while not self._done.wait(self._poll_s):
            gone = next((s for s in self._supervisors if not s.alive()), None)
            if gone is not None:
                self.request(signal.SIGTERM, f"{gone.name} is gone",
                             f"{gone.name} is gone: checkpointing after this step, then stopping")
                return

    def interrupted(self, message: str) -> TrainingInterrupted:
        """The exception to raise once the final checkpoint is written (a rank the signal
        missed, under DDP, stops with the others as if it had had a SIGTERM)."""
        signum = self.signum or signal.SIGTERM
        return TrainingInterrupted(f"{self.reason or signal.Signals(signum).name}: {message}", signum)

    def __enter__(self) -> GracefulStop:
        try:
            self._old = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        except ValueError:  # not the main thread
            self._old = {}
        if self._supervisors:
            self._done.clear()
            self._watcher = threading.Thread(target=self._watch, name="mosaic-supervisor", daemon=True)
            self._watcher.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._done.set()
        if self._watcher is not None:
            self._watcher.join()
            self._watcher = None
        for s, handler in self._old.items():
            signal.signal(s, handler)
        self._old = {}
