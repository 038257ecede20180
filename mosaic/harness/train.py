"""The one training loop every experiment uses (nanoGPT-style, device-agnostic, resumable).

An experiment supplies a model, a ``get_batch(split, step, generator)`` function and optionally a
``loss_fn``; :func:`train` does the rest:

* AdamW with weight decay on tensors of dim >= 2 only (matrices and embeddings, as the official
  Memory Mosaics code does; gains, biases and per-head scalars are not decayed);
* learning rate warm-up then cosine / linear decay to ``min_lr`` (or constant), gradient clipping;
* periodic evaluation on a fixed set of validation batches (same batches at every eval and for
  every model, so curves are comparable);
* ``metrics.jsonl`` (one JSON object per log/eval step), mirrored live to TensorBoard event files
  in ``tensorboard/`` and optionally to Weights & Biases (``TrainConfig.tracking``,
  :mod:`mosaic.harness.tracking`); progress with loss, rate and ETA, as a bar on a terminal and as
  a line every 30 s in a job's log (:mod:`mosaic.harness.progress`);
* atomic, sha256-verified checkpoints with the previous one kept as a fallback, and automatic
  resume: the batch drawn at step ``s`` depends only on ``(seed, s)``, so on one process a resumed
  run is bitwise identical to an uninterrupted one (:mod:`mosaic.harness.checkpoint`);
* SIGTERM/SIGINT checkpoint at the end of the current step, then raise
  :class:`~mosaic.harness.checkpoint.TrainingInterrupted`; so does the death of the Snakemake that
  started the job (:func:`~mosaic.harness.checkpoint.find_supervisors`); a NaN/inf loss raises
  :class:`NonFiniteLossError` and keeps the last good checkpoint; a second training of the same
  ``out_dir`` fails at once (:class:`~mosaic.harness.checkpoint.RunLockedError`) and changes
  nothing in it;
* nothing partial: a training that fails before its first checkpoint (out of memory in the first
  step, a full disk, a bad batch) removes every file it created, the lock file and the
  directories it made included; a failed write of the final files removes the final files, so
  the directory is left with its checkpoint, as if killed before the end (rerunning finishes it);
  a failed write (full disk) is one ``OSError`` naming the file (:mod:`mosaic.harness.io`);
* data parallel under ``torchrun`` with no change to the caller (:mod:`mosaic.harness.distributed`);
* ``config.json`` (TrainConfig, the caller's run config, provenance: git commit, package
  versions, seed), at the end ``model.safetensors`` with its SHA-256 in
  ``model.safetensors.sha256`` (:mod:`mosaic.harness.weights`; see :func:`load_trained`), the
  experiment's ``artifacts`` (e.g. its tokenizer's files) and, last, ``done.json``: a finished run
  directory is self-contained (``LanguageModel.from_pretrained(run_dir)`` rebuilds the model).

Step convention: ``step`` counts completed optimizer updates. Update ``s`` (0-based) uses the
learning rate :func:`lr_at` ``(s)``, so the schedule reaches ``min_lr`` at ``s = max_steps``.
"""
from __future__ import annotations

import contextlib
import glob
import json
import math
import shutil
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from mosaic.harness import distributed, tracking
from mosaic.harness.checkpoint import (
    CHECKPOINT,
    PREV_CHECKPOINT,
    CheckpointError,
    GracefulStop,
    RunLock,
    RunLockedError,
    TrainingInterrupted,
    discard_run,
    find_supervisors,
    identity_changes,
    identity_digest,
    load_checkpoint,
    load_latest,
    metrics_up_to,
    rng_state,
    run_identity,
    run_lock,
    save_checkpoint,
    set_rng_state,
)
from mosaic.harness.distributed import Dist
from mosaic.harness.io import atomic_open, atomic_path, write_json
from mosaic.harness.optim import AdamWNoBiasCorrection
from mosaic.harness.progress import Progress
from mosaic.harness.provenance import collect_provenance
from mosaic.harness.train_config import PRECISIONS, SCHEDULES, TrainConfig
from mosaic.harness.weights import LEGACY_WEIGHTS, WEIGHTS, WEIGHTS_SHA256, load_weights, save_weights

__all__ = [  # public API (the exceptions come from mosaic.harness.checkpoint, TrainConfig from mosaic.harness.train_config)
    "train", "TrainConfig", "evaluate", "lr_at", "make_optimizer", "resolve_device", "load_trained",
    "load_checkpoint", "NonFiniteLossError", "TrainingInterrupted", "CheckpointError", "RunLockedError",
    "SCHEDULES", "PRECISIONS", "CHECKPOINT", "WEIGHTS", "METRICS", "DONE", "CONFIG",
]
# WEIGHTS ("model.safetensors") is defined in mosaic.harness.weights, with the format it names.

BATCH_SEED_STRIDE = 1_000_003  # train batch at step s is drawn with seed * stride + s
EVAL_SEED = 0x5EED_0000  # val batch i is drawn with EVAL_SEED + i, whatever the run's seed
METRICS, DONE, CONFIG = "metrics.jsonl", "done.json", "config.json"
# What a training leaves in its run directory; all of it goes when the run starts afresh (with
# the caller's artifacts and run_files). ".*.tmp*" are the temporary files of atomic writes a
# killed process left behind; model.pt the final weights of runs written before model.safetensors.
RUN_FILES = (CHECKPOINT, PREV_CHECKPOINT, WEIGHTS, WEIGHTS_SHA256, LEGACY_WEIGHTS, METRICS, DONE, CONFIG,
             tracking.TENSORBOARD_DIR, tracking.WANDB_DIR, ".*.tmp*")
TEMPORARY_FILES = (".*.tmp*",)
# Artifact names that would overwrite what the trainer itself writes.
RESERVED_NAMES = frozenset(RUN_FILES[:-1]) | {".lock"}

Batch = Sequence[torch.Tensor]
GetBatch = Callable[[str, int, torch.Generator], Batch]
LossFn = Callable[[nn.Module, Batch], torch.Tensor]


class NonFiniteLossError(ValueError):
    """The training loss or gradient norm became NaN/inf; the last good checkpoint is kept."""


# -- schedule and optimizer -------------------------------------------------------------------------
def lr_at(step: int, cfg: TrainConfig) -> float:
    """Learning rate of update ``step`` (0-based): linear warm-up to ``lr`` over ``warmup_steps``,
    then decay to ``min_lr``, reached exactly at ``step == max_steps``."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    if cfg.lr_schedule == "constant":
        return cfg.lr
    span = cfg.max_steps - cfg.warmup_steps
    progress = min(1.0, (step - cfg.warmup_steps) / span) if span > 0 else 1.0
    if cfg.lr_schedule == "cosine":
        return cfg.min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (cfg.lr - cfg.min_lr)
    return cfg.lr + progress * (cfg.min_lr - cfg.lr)  # linear


def make_optimizer(model: nn.Module, cfg: TrainConfig, device: torch.device) -> torch.optim.Optimizer:
    """AdamW; weight decay on parameters with ``dim >= 2`` only (fused kernels on CUDA).
    A parameter marked ``_no_weight_decay = True`` (Mamba's convention, e.g. the SSM's ``A_log``)
    is never decayed. ``cfg.optimizer = "adamw_no_bias_correction"``: MLX's AdamW, without bias
    correction (:class:`mosaic.harness.optim.AdamWNoBiasCorrection`), same groups."""
    params = [p for p in model.parameters() if p.requires_grad]
    decayed = [p.dim() >= 2 and not getattr(p, "_no_weight_decay", False) for p in params]
    groups = [
        {"params": [p for p, d in zip(params, decayed) if d], "weight_decay": cfg.weight_decay},
        {"params": [p for p, d in zip(params, decayed) if not d], "weight_decay": 0.0},
    ]
    groups = [g for g in groups if g["params"]]
    if cfg.optimizer == "adamw_no_bias_correction":

        return AdamWNoBiasCorrection(groups, lr=cfg.lr, betas=tuple(cfg.betas))
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=tuple(cfg.betas), fused=device.type == "cuda")


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available (use cpu or auto)")
    return device


# -- trained weights -----------------------------------------------------------------------------
def load_trained(model: nn.Module, run_dir: str | Path, weights: str = WEIGHTS) -> nn.Module:
    """Load ``run_dir/<weights>`` (default: the final ``model.safetensors``, checked against its
    ``.sha256``) into ``model`` (same architecture/config). A run directory written before
    ``model.safetensors`` existed holds ``model.pt``, loaded instead (``torch.load`` with
    ``weights_only=True``). A damaged file raises one CheckpointError line."""
    run_dir = Path(run_dir)
    path = run_dir / weights
    if weights == WEIGHTS and not path.is_file() and (run_dir / LEGACY_WEIGHTS).is_file():
        path = run_dir / LEGACY_WEIGHTS
    if not path.is_file():
        hint = " (training has not finished: only a checkpoint exists)" if (run_dir / CHECKPOINT).is_file() else ""
        raise FileNotFoundError(f"no trained weights at {path}{hint}")
    return load_weights(model, path, hint=f"; delete it and {run_dir / DONE} to train again")


# -- evaluation, metrics ------------------------------------------------------------------------
def _default_loss(model: nn.Module, batch: Batch) -> torch.Tensor:
    return model(*batch)[1]


def _to_device(batch: Batch, device: torch.device) -> tuple[torch.Tensor, ...]:
    if isinstance(batch, torch.Tensor) or not all(isinstance(t, torch.Tensor) for t in batch):
        raise TypeError(f"get_batch must return a tuple of tensors, got {type(batch).__name__}")
    return tuple(t.to(device, non_blocking=True) for t in batch)


@torch.no_grad()
def evaluate(model, get_batch: GetBatch, loss_fn: LossFn, cfg: TrainConfig, device, autocast,
             ddp: Dist | None = None) -> float:
    """Mean loss over ``eval_batches`` fixed validation batches (``EVAL_SEED + i``). Under DDP
    rank ``r`` evaluates batches ``r, r + world, ...`` and the sum is all-reduced, so every rank
    returns the same value, equal to the single-process one up to summation order."""
    ddp = ddp or Dist()
    was_training = model.training
    model.eval()
    total = 0.0
    for i in range(ddp.rank, cfg.eval_batches, ddp.world_size):
        gen = torch.Generator().manual_seed(EVAL_SEED + i)
        with autocast():
            total += float(loss_fn(model, _to_device(get_batch("val", i, gen), device)))
    model.train(was_training)
    return ddp.sum([total], device)[0] / cfg.eval_batches


def _clean(value: Any) -> Any:
    """JSON has no NaN/inf: write them as null."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _check_artifacts(artifacts: Mapping[str, str | Path | bytes]) -> dict[str, str | Path | bytes]:
    """Refuse (one line) artifact names that are not plain file names or that the trainer writes
    itself, and source files that do not exist, before anything is written."""
    checked: dict[str, str | Path | bytes] = {}
    for name, source in artifacts.items():
        if (not isinstance(name, str) or not name or name != Path(name).name or name.startswith(".")
                or glob.has_magic(name)):
            raise ValueError(f"artifact name {name!r} must be a plain file name (no directory, no leading "
                             "dot, no wildcard)")
        if name in RESERVED_NAMES:
            raise ValueError(f"artifact name {name!r} is a file the trainer writes itself")
        if not isinstance(source, (bytes, str, Path)):
            raise TypeError(f"artifact {name!r}: expected a file path or bytes, got {type(source).__name__}")
        if not isinstance(source, bytes) and not Path(source).is_file():
            raise FileNotFoundError(f"artifact {name!r}: no such file {source}")
        checked[name] = source
    return checked


def _write_artifacts(out_dir: Path, artifacts: Mapping[str, str | Path | bytes]) -> None:
    for name, source in artifacts.items():
        with atomic_path(out_dir / name) as tmp:
            if isinstance(source, bytes):
                tmp.write_bytes(source)
            else:
                shutil.copyfile(source, tmp)


# -- the loop -------------------------------------------------------------------------------------
def train(
    model: nn.Module,
    get_batch: GetBatch,
    out_dir: str | Path,
    cfg: TrainConfig,
    loss_fn: LossFn | None = None,
    run_config: dict[str, Any] | None = None,
    on_eval: Callable[[int, float, nn.Module], None] | None = None,
    run_files: Sequence[str] = (),
    artifacts: Mapping[str, str | Path | bytes] | None = None,
    identity_ignore: Sequence[str] = (),
) -> dict[str, Any]:
    """Train ``model`` for ``cfg.max_steps`` updates, resuming from ``out_dir/checkpoint.pt``.

    ``get_batch(split, step, generator)`` returns a tuple of CPU tensors (``split`` is ``"train"``
    or ``"val"``; draw all randomness from ``generator``); under torchrun it is the global batch,
    sliced per rank. ``loss_fn(model, batch)`` returns a scalar loss (default
    ``model(*batch)[1]``). ``on_eval(step, val_loss, model)``, if given, is called (on rank 0)
    after every validation (step 0 included), e.g. to keep the best weights; it must leave the
    model's weights and the RNGs alone; it may log texts or scalars through
    :func:`mosaic.harness.tracking.active_tracker` (e.g. sampled continuations). Returns the
    final metrics (``done.json``).

    ``artifacts`` (``{file name: source path or bytes}``) are files the model needs besides its
    weights and config, e.g. a tokenizer's vocabulary: they are copied into ``out_dir``
    atomically when training ends, before ``done.json``, so a finished run directory is
    self-contained. The sources are checked before training starts (a missing one fails at
    once); the names are part of the run's files (deleted when it starts afresh).

    **Run identity.** ``run_config`` is everything of the experiment that determines the result
    (architecture, model config, a fingerprint of the data, ...); with ``cfg`` (less its cadence
    keys) and the model's tensor shapes it is the run's identity
    (:func:`mosaic.harness.checkpoint.run_identity`), recorded in every checkpoint and in
    ``config.json``. A checkpoint is resumed only by a run of the same identity. Otherwise, once
    this process holds the run lock, the earlier run's files (:data:`RUN_FILES` and the
    experiment's own ``run_files`` globs, e.g. best checkpoints) are deleted and training starts
    afresh, with one line saying what changed: a rerun after a config change never returns the
    old model. Nothing in ``out_dir`` is touched before the lock is held. ``identity_ignore``:
    dotted paths of ``run_config`` entries recorded for the reader but not part of the identity
    (a data path as typed, when the data's fingerprint is there too).
    """
    if isinstance(cfg, dict):
        cfg = TrainConfig.from_dict(cfg)
    cfg.validate()
    tracking.check_tracking(cfg.tracking)  # a missing package fails before anything is written
    artifacts = _check_artifacts(artifacts or {})
    supervisors = find_supervisors()  # (a bad $MOSAIC_SUPERVISOR too)
    out_dir = Path(out_dir)
    created_dirs = _make_dirs(out_dir)
    ddp, device_name = distributed.setup(cfg.device)
    state = _RunState()
    run_files = tuple(run_files)
    try:
        device = resolve_device(device_name)
        with run_lock(out_dir, ddp, device) as lock, GracefulStop(supervisors) as stop:
            try:
                return _train(model, get_batch, out_dir, cfg, loss_fn or _default_loss, run_config, on_eval,
                              run_files, artifacts, ddp, device, stop, state, tuple(identity_ignore))
            except BaseException:
                if ddp.is_main and not state.keep:
                    _remove_created_files(out_dir, lock, run_files + tuple(glob.escape(a) for a in artifacts)
                                          if state.owns_run_files else None)
                raise
    except BaseException:
        if ddp.is_main:
            _remove_empty_dirs(created_dirs)
        raise
    finally:
        ddp.close()


class _RunState:
    """What a failing training may remove. ``keep``: the directory holds a run that can be resumed
    (this process resumed it or wrote a checkpoint): leave it. ``owns_run_files``: this process
    started the run afresh (after removing an earlier run's files), so every run file in the
    directory is its own."""

    def __init__(self) -> None:
        self.keep = False
        self.owns_run_files = False


def _make_dirs(out_dir: Path) -> list[Path]:
    """``mkdir -p out_dir``; returns the directories it created, deepest first."""
    missing, path = [], out_dir
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    out_dir.mkdir(parents=True, exist_ok=True)
    return missing


def _remove_created_files(out_dir: Path, lock: RunLock, extra_patterns: tuple[str, ...] | None) -> None:
    """After a failure before the first checkpoint: remove the run's files (if this process
    owns them: ``extra_patterns`` not None) and the lock file (if this process created it)."""
    with contextlib.suppress(OSError):  # best effort: the failure being reported matters more
        if extra_patterns is not None:
            discard_run(out_dir, RUN_FILES + extra_patterns)
        lock.discard()


def _remove_empty_dirs(dirs: Sequence[Path]) -> None:
    for path in dirs:  # deepest first; a directory that holds anything stays
        with contextlib.suppress(OSError):
            path.rmdir()


def _train(model, get_batch, out_dir: Path, cfg: TrainConfig, loss_fn: LossFn, run_config, on_eval,
           run_files: tuple[str, ...], artifacts: dict[str, str | Path | bytes], ddp: Dist, device: torch.device,
           stop: GracefulStop, state: _RunState, identity_ignore: tuple[str, ...]) -> dict[str, Any]:
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    model.to(device)
    optimizer = make_optimizer(model, cfg, device)
    num_params = sum(p.numel() for p in model.parameters())
    identity = run_identity(cfg.to_dict(), run_config, model, identity_ignore)
    final_files = (DONE, WEIGHTS, WEIGHTS_SHA256, *artifacts)

    step, tokens, elapsed, ckpt_step = 0, 0, 0.0, None
    loss_sum, loss_count = 0.0, 0  # train losses since the last log line (continued on resume)
    ckpt_path = out_dir / CHECKPOINT
    ckpt, keep_previous = load_latest(out_dir)  # a corrupt latest file must not become "prev"
    changed = None if ckpt is None else identity_changes(ckpt.get("identity"), identity)
    if changed is not None:
        ckpt, keep_previous = None, False
    if ckpt is None:  # a fresh run: whatever an earlier run left here is stale
        if ddp.is_main:
            removed = discard_run(out_dir, RUN_FILES + run_files + tuple(glob.escape(a) for a in artifacts))
            state.owns_run_files = True
            if changed is not None:
                print(f"{out_dir}: the checkpoint was trained with other settings ({changed}); "
                      f"starting afresh (removed {len(removed)} files of the old run)", file=sys.stderr)
    else:
        state.keep = True
        if ddp.is_main:
            discard_run(out_dir, TEMPORARY_FILES)  # left by a process killed while writing
        if ckpt["step"] >= cfg.max_steps and all((out_dir / f).is_file() for f in final_files):
            return json.loads((out_dir / DONE).read_text(encoding="utf-8"))  # already trained
        # (a final file missing, e.g. model.safetensors of a run written with model.pt: the
        # final checkpoint is loaded below and the final files are written again)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        set_rng_state(ckpt["rng"])
        step, tokens, elapsed = ckpt["step"], ckpt["tokens"], ckpt["elapsed_s"]
        loss_sum, loss_count = ckpt.get("loss_window", (0.0, 0))
        ckpt_step = step
        del ckpt
        if ddp.is_main:
            print(f"resuming {out_dir} from step {step}", file=sys.stderr)
    ddp.barrier()
    ddp.seed_rank(cfg.seed * BATCH_SEED_STRIDE + step)  # rank 0's dropout stream is the checkpointed one
    wrapped = ddp.wrap(model, device)  # what the loss sees in training; ``model`` stays unwrapped
    if cfg.compile:  # compiles the training forward (and its backward); state dicts stay ``model``'s
        wrapped = torch.compile(wrapped)
    metrics_path = out_dir / METRICS
    kept_lines = metrics_up_to(metrics_path, step if ckpt_step is not None else -1)
    if ddp.is_main:
        provenance = {**collect_provenance(cfg.seed), "resumed_from_step": ckpt_step,
                      "world_size": ddp.world_size}
        write_json(out_dir / CONFIG, {"train": cfg.to_dict(), "run": run_config, "num_params": num_params,
                                      "identity": identity_digest(identity), "provenance": provenance})
        with atomic_open(metrics_path, "w", encoding="utf-8") as fh:  # drop lines after the checkpoint
            fh.writelines(line + "\n" for line in kept_lines)
        (out_dir / DONE).unlink(missing_ok=True)  # stale if this run is being extended
    ddp.barrier()
    kept_records = [json.loads(line) for line in kept_lines]
    last: dict[str, Any] = {}  # latest value of every metric, for done.json
    for record in kept_records:
        last.update({k: v for k, v in record.items() if v is not None})

    def autocast():
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16")

    def checkpoint() -> None:
        nonlocal ckpt_step, keep_previous
        ckpt_step = step
        if ddp.is_main:
            save_checkpoint(ckpt_path, {
                "model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                "tokens": tokens, "elapsed_s": elapsed, "rng": rng_state(), "train_config": cfg.to_dict(),
                "loss_window": [loss_sum, loss_count], "identity": identity, "world_size": ddp.world_size,
            }, keep_previous=keep_previous)
        keep_previous = state.keep = True
        ddp.barrier()

    def validate(s: int) -> float:
        val_loss = evaluate(model, get_batch, loss_fn, cfg, device, autocast, ddp)
        if on_eval is not None and ddp.is_main:
            on_eval(s, val_loss, model)
        return val_loss

    def eval_due(s: int) -> bool:
        return cfg.eval_batches > 0 and (s == cfg.max_steps or (cfg.eval_interval > 0 and s % cfg.eval_interval == 0))

    progress = Progress(cfg.max_steps, f"train {out_dir.name}", unit="steps", initial=step,
                        enabled=cfg.progress and ddp.is_main)
    tracker = tracking.Tracker()  # logs nothing: ranks other than 0
    if ddp.is_main:
        tracker = tracking.open_tracker(
            cfg.tracking, out_dir, resume_step=ckpt_step, history=kept_records,
            identity_digest=identity_digest(identity),
            config={"train": cfg.to_dict(), "run": run_config, "num_params": num_params})
    metrics_file = open(metrics_path, "a", encoding="utf-8") if ddp.is_main else contextlib.nullcontext()
    with tracking.activate(tracker), progress, metrics_file:
        def log(record: dict[str, Any]) -> None:
            last.update(record)
            if ddp.is_main:
                try:
                    metrics_file.write(json.dumps({k: _clean(v) for k, v in record.items()}) + "\n")
                    metrics_file.flush()
                except OSError as exc:  # a full disk: name the file (Python does not)
                    raise OSError(exc.errno, exc.strerror, str(metrics_path)) from None
                tracker.log_metrics(record)

        model.train()
        if step == 0 and cfg.eval_batches > 0:  # the untrained model's loss starts every curve
            log({"step": 0, "tokens": 0, "val_loss": validate(0), "lr": lr_at(0, cfg), "elapsed_s": elapsed})
        window_tokens, window_start = 0, time.perf_counter()
        session_start, elapsed_at_start = time.perf_counter(), elapsed
        while step < cfg.max_steps:
            lr = lr_at(step, cfg)
            for group in optimizer.param_groups:
                group["lr"] = lr
            generator = torch.Generator().manual_seed(cfg.seed * BATCH_SEED_STRIDE + step)
            step_loss = 0.0
            for micro in range(cfg.grad_accum):
                batch = get_batch("train", step, generator)  # the global batch: same on every rank
                tokens += batch[0].numel()
                window_tokens += batch[0].numel()
                with ddp.no_sync(wrapped, skip=micro < cfg.grad_accum - 1), autocast():
                    loss = loss_fn(wrapped, _to_device(ddp.shard(batch), device)) / cfg.grad_accum
                    loss.backward()
                step_loss += float(loss.detach())
            # one all-reduce: the mean loss over ranks, and whether any rank was asked to stop
            step_loss, stops = ddp.sum([step_loss / ddp.world_size, float(stop.signum is not None)], device)
            grad_norm = None
            if cfg.grad_clip > 0:
                grad_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip))
            if not math.isfinite(step_loss) or (grad_norm is not None and not math.isfinite(grad_norm)):
                what = "loss" if not math.isfinite(step_loss) else "gradient norm"
                kept = f"checkpoint at step {ckpt_step} kept" if ckpt_step is not None else "no checkpoint yet"
                raise NonFiniteLossError(
                    f"non-finite training {what} ({step_loss if what == 'loss' else grad_norm}) at step "
                    f"{step + 1} in {out_dir}; {kept}. Try a lower lr or a longer warm-up.")
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            loss_sum, loss_count = loss_sum + step_loss, loss_count + 1
            elapsed = elapsed_at_start + time.perf_counter() - session_start
            progress.update(1, loss=step_loss)
            is_eval = eval_due(step)
            if step % cfg.log_interval == 0 or is_eval or step == cfg.max_steps:
                now = time.perf_counter()
                record = {"step": step, "tokens": tokens, "train_loss": loss_sum / max(loss_count, 1),
                          "lr": lr, "tokens_per_s": window_tokens / max(now - window_start, 1e-9),
                          "elapsed_s": elapsed}
                if grad_norm is not None:
                    record["grad_norm"] = grad_norm  # before clipping, of this step's update
                if is_eval:
                    record["val_loss"] = validate(step)
                    progress.update(0, val_loss=record["val_loss"])
                log(record)
                loss_sum, loss_count, window_tokens, window_start = 0.0, 0, 0, time.perf_counter()
            if step == cfg.max_steps or (cfg.checkpoint_interval and step % cfg.checkpoint_interval == 0):
                checkpoint()
            if stops and step < cfg.max_steps:
                if ckpt_step != step:
                    checkpoint()
                raise stop.interrupted(f"training of {out_dir} stopped at step {step}/{cfg.max_steps}, "
                                       "checkpoint saved; run the same command again to resume")
    if ckpt_step != step:
        checkpoint()  # a resumed run that had no steps left still gets its final files
    done = {"step": step, "tokens": tokens, "elapsed_s": elapsed, "num_params": num_params,
            "train_loss": last.get("train_loss"), "val_loss": last.get("val_loss")}
    if done["val_loss"] is None and cfg.eval_batches > 0:
        done["val_loss"] = evaluate(model, get_batch, loss_fn, cfg, device, autocast, ddp)
    done = {k: _clean(v) for k, v in done.items()}
    if ddp.is_main:  # done.json last: its presence says every other final file is complete
        try:
            save_weights(model, out_dir / WEIGHTS)
            _write_artifacts(out_dir, artifacts)
            (out_dir / LEGACY_WEIGHTS).unlink(missing_ok=True)  # superseded by model.safetensors
            write_json(out_dir / DONE, done)
        except BaseException:  # (a full disk) no half set of final files: the checkpoint finishes them
            with contextlib.suppress(OSError):
                discard_run(out_dir, (DONE, WEIGHTS, WEIGHTS_SHA256, *(glob.escape(a) for a in artifacts)))
            raise
    ddp.barrier()
    return done
