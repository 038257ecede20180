"""The trainer's settings (:class:`TrainConfig`), read from a config file's ``train`` section.

Every experiment's ``train`` section maps onto these fields; unknown keys and bad values are
refused by name (one ``ValueError``), non-finite floats included (YAML's ``.inf``/``.nan``, JSON's
``Infinity``: an ``lr`` of inf passes ``lr > 0`` and turns the weights to NaN two steps later), and
what YAML/JSON produce (``"1e-3"`` strings, lists for ``betas``) is accepted. Re-exported by :mod:`mosaic.harness.train`.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from mosaic.harness.config import reject_unknown_keys
from mosaic.harness.tracking import DEFAULT_TRACKING, TRACKERS

SCHEDULES = ("cosine", "linear", "constant")
PRECISIONS = ("fp32", "bf16")
OPTIMIZERS = ("adamw", "adamw_no_bias_correction")  # the latter: MLX's AdamW (mosaic.harness.optim)
FLOAT_KEYS = ("lr", "min_lr", "weight_decay", "betas", "grad_clip")  # each must be finite


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
    # torch.compile the training forward/backward (for GPUs: minutes to compile on a CPU); dropout
    # masks then come from inductor's generator, so a compiled run is not bitwise an eager one
    compile: bool = False
    optimizer: str = "adamw"  # adamw | adamw_no_bias_correction (MLX's AdamW, the official three-moons code)
    progress: bool = True
    # where metrics.jsonl is mirrored live (mosaic.harness.tracking): tensorboard, wandb; [] = off
    tracking: list[str] = field(default_factory=lambda: list(DEFAULT_TRACKING))

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
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
        d["tracking"] = list(self.tracking)
        return d

    def validate(self) -> None:
        def need(ok: bool, key: str, rule: str) -> None:
            if not ok:
                raise ValueError(f"TrainConfig.{key} must be {rule}, got {getattr(self, key)!r}")

        # first: every comparison below is False for NaN and True for the wrong infinity
        for key in FLOAT_KEYS:
            value = getattr(self, key)
            need(all(math.isfinite(v) for v in (value if isinstance(value, (list, tuple)) else [value])),
                 key, "finite")
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
        need(isinstance(self.tracking, (list, tuple)) and all(t in TRACKERS for t in self.tracking)
             and len(set(self.tracking)) == len(self.tracking), "tracking",
             f"a list of distinct trackers from {list(TRACKERS)}")
        need(self.optimizer in OPTIMIZERS, "optimizer", f"one of {OPTIMIZERS}")
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
        if ann.startswith("list"):
            if isinstance(value, str) or not all(isinstance(v, str) for v in value):
                raise TypeError
            return list(value)
    except (TypeError, ValueError):
        raise ValueError(f"TrainConfig.{key}: expected {ann}, got {value!r}") from None
    return value
