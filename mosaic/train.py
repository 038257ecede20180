"""The one training loop every experiment uses (nanoGPT-style, device-agnostic, resumable).

An experiment supplies a model, a ``get_batch(split, step, generator)`` function and optionally a
``loss_fn``; :func:`train` does the rest:

* AdamW with weight decay on tensors of dim >= 2 only (matrices and embeddings, as the official
  Memory Mosaics code does; gains, biases and per-head scalars are not decayed);
* learning rate warm-up then cosine / linear decay to ``min_lr`` (or constant), gradient clipping;
* periodic evaluation on a fixed set of validation batches (same batches at every eval and for
  every model, so curves are comparable);
* ``metrics.jsonl`` (one JSON object per log/eval step), tqdm progress;
* atomic checkpoints (model, optimizer, step, every RNG state, config, sha256) and automatic resume:
  the batch drawn at step ``s`` depends only on ``(seed, s)``, so a resumed run is bitwise
  identical to an uninterrupted one;
* at the end ``model.pt`` (weights only, for analyses; see :func:`load_trained`) and ``done.json``.

Step convention: ``step`` counts completed optimizer updates. Update ``s`` (0-based) uses the
learning rate :func:`lr_at` ``(s)``, so the schedule reaches ``min_lr`` at ``s = max_steps``.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn as nn
from tqdm.auto import tqdm

from .config import reject_unknown_keys
from .io import atomic_open, atomic_path, write_json

SCHEDULES = ("cosine", "linear", "constant")
PRECISIONS = ("fp32", "bf16")
BATCH_SEED_STRIDE = 1_000_003  # train batch at step s is drawn with seed * stride + s
EVAL_SEED = 0x5EED_0000  # val batch i is drawn with EVAL_SEED + i, whatever the run's seed
CHECKPOINT, WEIGHTS, METRICS, DONE, CONFIG = (
    "checkpoint.pt", "model.pt", "metrics.jsonl", "done.json", "config.json")

Batch = Sequence[torch.Tensor]
GetBatch = Callable[[str, int, torch.Generator], Batch]
LossFn = Callable[[nn.Module, Batch], torch.Tensor]


class NonFiniteLossError(ValueError):
    """The training loss or gradient norm became NaN/inf; the last good checkpoint is kept."""


@dataclass
class TrainConfig:
    max_steps: int
    lr: float = 1e-3
    min_lr: float = 1e-4
    warmup_steps: int = 0
    lr_schedule: str = "cosine"  # cosine | linear | constant
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.95)
    grad_clip: float = 1.0  # max global grad norm; 0 = off
    grad_accum: int = 1  # micro-batches per optimizer step (each a get_batch call)
    eval_interval: int = 100  # 0 = evaluate only at the end
    eval_batches: int = 10  # 0 = no validation
    checkpoint_interval: int = 500  # 0 = checkpoint only at the end
    log_interval: int = 10
    seed: int = 0
    device: str = "auto"  # cpu | cuda | cuda:N | auto
    threads: int | None = None  # torch.set_num_threads when given
    precision: str = "fp32"  # fp32 | bf16 (autocast; for GPU runs)
    progress: bool = True

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        """Build from a config section; unknown keys and bad values raise a ValueError naming them."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        reject_unknown_keys(values, fields, "TrainConfig")
        if "max_steps" not in values:
            raise ValueError("TrainConfig needs max_steps")
        cfg = cls(**{k: _coerce(k, fields[k].type, v) for k, v in values.items()})
        cfg.validate()
        return cfg

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        return d

    def validate(self) -> None:
        def need(ok: bool, key: str, rule: str) -> None:
            if not ok:
                raise ValueError(f"TrainConfig.{key} must be {rule}, got {getattr(self, key)!r}")

        need(self.max_steps >= 1, "max_steps", ">= 1")
        need(self.lr > 0, "lr", "> 0")
        need(0 <= self.min_lr <= self.lr, "min_lr", f"in [0, lr={self.lr}]")
        need(0 <= self.warmup_steps <= self.max_steps, "warmup_steps", "in [0, max_steps]")
        need(self.lr_schedule in SCHEDULES, "lr_schedule", f"one of {SCHEDULES}")
        need(self.weight_decay >= 0, "weight_decay", ">= 0")
        need(len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas), "betas", "two values in [0, 1)")
        need(self.grad_clip >= 0, "grad_clip", ">= 0 (0 = off)")
        need(self.grad_accum >= 1, "grad_accum", ">= 1")
        for key in ("eval_interval", "eval_batches", "checkpoint_interval", "seed"):
            need(getattr(self, key) >= 0, key, ">= 0")
        need(self.log_interval >= 1, "log_interval", ">= 1")
        need(self.threads is None or self.threads >= 1, "threads", "None or >= 1")
        need(self.precision in PRECISIONS, "precision", f"one of {PRECISIONS}")
        dev = self.device
        need(dev in ("auto", "cpu", "mps") or dev == "cuda" or dev.startswith("cuda:"), "device",
             "auto, cpu, cuda or cuda:N")


def _coerce(key: str, annotation: Any, value: Any) -> Any:
    """Accept what YAML/JSON produce: ints for floats, ``"1e-3"`` strings (YAML 1.1 reads an
    exponent without a dot as a string), lists for ``betas``; refuse anything else by name."""
    ann = str(annotation)
    try:
        if ann == "float":
            if isinstance(value, bool):
                raise TypeError
            return float(value)
        if ann.startswith("int") and not (value is None and "None" in ann):
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise TypeError
            if isinstance(value, str):
                value = float(value)
                if not value.is_integer():
                    raise TypeError
            return int(value)
        if ann == "bool":
            if not isinstance(value, bool):
                raise TypeError
            return value
        if ann == "str":
            if not isinstance(value, str):
                raise TypeError
            return value
        if ann.startswith("tuple"):
            return tuple(float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"TrainConfig.{key}: expected {ann}, got {value!r}") from None
    return value


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


def make_optimizer(model: nn.Module, cfg: TrainConfig, device: torch.device) -> torch.optim.AdamW:
    """AdamW; weight decay on parameters with ``dim >= 2`` only (fused kernels on CUDA).
    A parameter marked ``_no_weight_decay = True`` (Mamba's convention, e.g. the SSM's ``A_log``)
    is never decayed."""
    params = [p for p in model.parameters() if p.requires_grad]
    decayed = [p.dim() >= 2 and not getattr(p, "_no_weight_decay", False) for p in params]
    groups = [
        {"params": [p for p, d in zip(params, decayed) if d], "weight_decay": cfg.weight_decay},
        {"params": [p for p, d in zip(params, decayed) if not d], "weight_decay": 0.0},
    ]
    groups = [g for g in groups if g["params"]]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=tuple(cfg.betas), fused=device.type == "cuda")


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available (use cpu or auto)")
    return device


# -- RNG state, checkpoints ---------------------------------------------------------------------
def _rng_state() -> dict[str, Any]:
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


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    version, mt, gauss = state["python"]
    random.setstate((version, tuple(mt), gauss))
    name, keys, pos, has_gauss, gauss_np = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, gauss_np))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _digest(obj: Any, h: "hashlib._Hash | None" = None) -> str:
    """sha256 over a checkpoint payload: tensors by dtype, shape and bytes, in a fixed order."""
    h = h or hashlib.sha256()
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(obj, dict):
        for key in sorted(obj, key=repr):
            h.update(f"K{key!r}".encode())
            _digest(obj[key], h)
    elif isinstance(obj, (list, tuple)):
        h.update(f"L{len(obj)}".encode())
        for item in obj:
            _digest(item, h)
    else:
        h.update(f"V{obj!r}".encode())
    return h.hexdigest()


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    payload = dict(payload, sha256=_digest(payload))
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load and verify a checkpoint written by :func:`save_checkpoint` (``weights_only=True``)."""
    payload = torch.load(path, map_location="cpu", weights_only=True)
    expected = payload.pop("sha256", None)
    if expected is None or _digest(payload) != expected:
        raise ValueError(f"checkpoint {path} is corrupt (sha256 mismatch); delete it to restart")
    return payload


def load_trained(model: nn.Module, run_dir: str | Path, weights: str = WEIGHTS) -> nn.Module:
    """Load ``run_dir/<weights>`` (default: the final ``model.pt``) into ``model`` (same
    architecture/config)."""
    run_dir = Path(run_dir)
    path = run_dir / weights
    if not path.is_file():
        hint = " (training has not finished: only a checkpoint exists)" if (run_dir / CHECKPOINT).is_file() else ""
        raise FileNotFoundError(f"no trained weights at {path}{hint}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model


# -- evaluation, metrics ------------------------------------------------------------------------
def _default_loss(model: nn.Module, batch: Batch) -> torch.Tensor:
    return model(*batch)[1]


def _to_device(batch: Batch, device: torch.device) -> tuple[torch.Tensor, ...]:
    if isinstance(batch, torch.Tensor) or not all(isinstance(t, torch.Tensor) for t in batch):
        raise TypeError(f"get_batch must return a tuple of tensors, got {type(batch).__name__}")
    return tuple(t.to(device, non_blocking=True) for t in batch)


@torch.no_grad()
def evaluate(model, get_batch: GetBatch, loss_fn: LossFn, cfg: TrainConfig, device, autocast) -> float:
    """Mean loss over ``eval_batches`` fixed validation batches (``EVAL_SEED + i``)."""
    was_training = model.training
    model.eval()
    total = 0.0
    for i in range(cfg.eval_batches):
        gen = torch.Generator().manual_seed(EVAL_SEED + i)
        with autocast():
            total += float(loss_fn(model, _to_device(get_batch("val", i, gen), device)))
    model.train(was_training)
    return total / cfg.eval_batches


def _warn_config_change(old: dict[str, Any], cfg: TrainConfig, path: Path) -> None:
    """Resuming with other optimisation settings is allowed (e.g. more steps) but said aloud."""
    ignored = {"max_steps", "progress", "device", "threads", "eval_interval", "checkpoint_interval",
               "log_interval"}
    new = cfg.to_dict()
    changed = sorted(k for k in new if k not in ignored and old.get(k) != new[k])
    if changed:
        print(f"warning: resuming {path} with changed TrainConfig keys {changed}", file=sys.stderr)


def _clean(value: Any) -> Any:
    """JSON has no NaN/inf: write them as null."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _read_metrics(path: Path, up_to_step: int) -> list[str]:
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


# -- the loop -------------------------------------------------------------------------------------
def train(
    model: nn.Module,
    get_batch: GetBatch,
    out_dir: str | Path,
    cfg: TrainConfig,
    loss_fn: LossFn | None = None,
    run_config: dict[str, Any] | None = None,
    on_eval: Callable[[int, float, nn.Module], None] | None = None,
) -> dict[str, Any]:
    """Train ``model`` for ``cfg.max_steps`` updates, resuming from ``out_dir/checkpoint.pt``.

    ``get_batch(split, step, generator)`` returns a tuple of CPU tensors (``split`` is ``"train"``
    or ``"val"``; draw all randomness from ``generator``). ``loss_fn(model, batch)`` returns a
    scalar loss (default ``model(*batch)[1]``). ``run_config`` (the experiment's full config) is
    snapshotted with ``cfg`` in ``out_dir/config.json``. ``on_eval(step, val_loss, model)``, if
    given, is called after every validation (step 0 included), e.g. to keep the best weights; it
    must leave the model's weights and the RNGs alone. Returns the final metrics (``done.json``).
    """
    if isinstance(cfg, dict):
        cfg = TrainConfig.from_dict(cfg)
    cfg.validate()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    loss_fn = loss_fn or _default_loss
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.device)
    model.to(device)
    optimizer = make_optimizer(model, cfg, device)
    num_params = sum(p.numel() for p in model.parameters())

    step, tokens, elapsed, ckpt_step = 0, 0, 0.0, None
    ckpt_path = out_dir / CHECKPOINT
    if ckpt_path.is_file():
        ckpt = load_checkpoint(ckpt_path)
        if ckpt["step"] >= cfg.max_steps and (out_dir / DONE).is_file():
            return json.loads((out_dir / DONE).read_text(encoding="utf-8"))  # already trained
        _warn_config_change(ckpt["train_config"], cfg, ckpt_path)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        _set_rng_state(ckpt["rng"])
        step, tokens, elapsed = ckpt["step"], ckpt["tokens"], ckpt["elapsed_s"]
        ckpt_step = step
        del ckpt
        print(f"resuming {out_dir} from step {step}", file=sys.stderr)
    write_json(out_dir / CONFIG, {"train": cfg.to_dict(), "run": run_config, "num_params": num_params})
    metrics_path = out_dir / METRICS
    kept_lines = _read_metrics(metrics_path, step if ckpt_step is not None else -1)
    with atomic_open(metrics_path, "w", encoding="utf-8") as fh:  # drop lines after the checkpoint
        fh.writelines(line + "\n" for line in kept_lines)
    last: dict[str, Any] = {}  # latest value of every metric, for done.json
    for line in kept_lines:
        last.update({k: v for k, v in json.loads(line).items() if v is not None})

    def autocast():
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16")

    def checkpoint() -> None:
        nonlocal ckpt_step
        ckpt_step = step
        save_checkpoint(ckpt_path, {
            "model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
            "tokens": tokens, "elapsed_s": elapsed, "rng": _rng_state(), "train_config": cfg.to_dict(),
        })

    def eval_due(s: int) -> bool:
        return cfg.eval_batches > 0 and (s == cfg.max_steps or (cfg.eval_interval > 0 and s % cfg.eval_interval == 0))

    (out_dir / DONE).unlink(missing_ok=True)  # stale if this run is being extended
    progress = tqdm(total=cfg.max_steps, initial=step, desc=out_dir.name, dynamic_ncols=True,
                    disable=not (cfg.progress and sys.stderr.isatty()))
    with progress, open(metrics_path, "a", encoding="utf-8") as metrics_file:
        def log(record: dict[str, Any]) -> None:
            last.update(record)
            metrics_file.write(json.dumps({k: _clean(v) for k, v in record.items()}) + "\n")
            metrics_file.flush()

        model.train()
        if step == 0 and cfg.eval_batches > 0:  # the untrained model's loss starts every curve
            log({"step": 0, "tokens": 0, "val_loss": evaluate(model, get_batch, loss_fn, cfg, device, autocast),
                 "lr": lr_at(0, cfg), "elapsed_s": elapsed})
            if on_eval is not None:
                on_eval(0, last["val_loss"], model)
        loss_sum, loss_count, window_tokens, window_start = 0.0, 0, 0, time.perf_counter()
        session_start, elapsed_at_start = time.perf_counter(), elapsed
        while step < cfg.max_steps:
            lr = lr_at(step, cfg)
            for group in optimizer.param_groups:
                group["lr"] = lr
            generator = torch.Generator().manual_seed(cfg.seed * BATCH_SEED_STRIDE + step)
            step_loss = 0.0
            for _ in range(cfg.grad_accum):
                batch = get_batch("train", step, generator)
                tokens += batch[0].numel()
                window_tokens += batch[0].numel()
                with autocast():
                    loss = loss_fn(model, _to_device(batch, device)) / cfg.grad_accum
                loss.backward()
                step_loss += float(loss.detach())
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
            progress.update(1)
            progress.set_postfix(loss=f"{step_loss:.4f}", refresh=False)
            is_eval = eval_due(step)
            if step % cfg.log_interval == 0 or is_eval or step == cfg.max_steps:
                now = time.perf_counter()
                record = {"step": step, "tokens": tokens, "train_loss": loss_sum / max(loss_count, 1),
                          "lr": lr, "tokens_per_s": window_tokens / max(now - window_start, 1e-9),
                          "elapsed_s": elapsed}
                if is_eval:
                    record["val_loss"] = evaluate(model, get_batch, loss_fn, cfg, device, autocast)
                log(record)
                if is_eval and on_eval is not None:
                    on_eval(step, record["val_loss"], model)
                loss_sum, loss_count, window_tokens, window_start = 0.0, 0, 0, time.perf_counter()
            if step == cfg.max_steps or (cfg.checkpoint_interval and step % cfg.checkpoint_interval == 0):
                checkpoint()
    if ckpt_step != step:
        checkpoint()  # a resumed run that had no steps left still gets its final files
    with atomic_path(out_dir / WEIGHTS) as tmp:
        torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, tmp)
    done = {"step": step, "tokens": tokens, "elapsed_s": elapsed, "num_params": num_params,
            "train_loss": last.get("train_loss"), "val_loss": last.get("val_loss")}
    if done["val_loss"] is None and cfg.eval_batches > 0:
        done["val_loss"] = evaluate(model, get_batch, loss_fn, cfg, device, autocast)
    done = {k: _clean(v) for k, v in done.items()}
    write_json(out_dir / DONE, done)
    return done
