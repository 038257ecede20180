"""Optimizers the trainer offers besides ``torch.optim.AdamW`` (``TrainConfig.optimizer``,
selected in :func:`mosaic.harness.train.make_optimizer`).

:class:`AdamWNoBiasCorrection` is the AdamW of MLX, which the official three-moons code trains
with (facebookresearch/MemoryMosaics ThreeMoons/train_planets-3heads.py:47,
``optim.AdamW(learning_rate=scheduler, betas=(.9, .999), weight_decay=0)``). MLX's Adam omits
the bias correction of the moment estimates (ml-explore/mlx v0.9.0
python/mlx/optimizers/optimizers.py:416-430, ``Adam.apply_single``; later releases keep it off by
default, ``bias_correction=False``), and its AdamW decays the weights before the Adam step
(same file, lines 470-478, ``AdamW.apply_single``: ``parameter * (1 - lr * weight_decay)``).
One update of a parameter w with gradient g, learning rate α, weight decay λ::

    w ← w · (1 − α·λ)
    m ← β1·m + (1 − β1)·g          (m, v start at 0)
    v ← β2·v + (1 − β2)·g²
    w ← w − α · m / (√v + ε)

Without the correction factors 1/(1 − β1^t) and 1/√(1 − β2^t) the steps are *larger* than
Adam's while β2^t is not small: for a constant gradient the step is
α·(1 − β1^t)/√(1 − β2^t)·sign(g), i.e. 3.2·α at t = 1, 6.5·α at t = 10, 1.6·α at t = 500 with
the official betas (0.9, 0.999), against α with the correction; over a 500-step training that is a
larger effective learning rate throughout. Decoupled weight decay is the same as ``torch.optim.AdamW``'s.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

import torch


class AdamWNoBiasCorrection(torch.optim.Optimizer):
    """AdamW without bias correction, as MLX's ``optim.AdamW`` (see the module docstring).

    Parameter groups, ``lr`` changes between steps and ``state_dict`` work as for any torch
    optimizer, so the trainer's schedule and checkpoints need nothing special."""

    def __init__(self, params: Iterable, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0):
        if not lr >= 0:
            raise ValueError(f"invalid learning rate {lr}")
        if not (len(betas) == 2 and all(0.0 <= b < 1.0 for b in betas)):
            raise ValueError(f"betas must be two values in [0, 1), got {betas}")
        if not eps >= 0:
            raise ValueError(f"invalid eps {eps}")
        if not weight_decay >= 0:
            raise ValueError(f"invalid weight_decay {weight_decay}")
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, (beta1, beta2), eps, decay = group["lr"], group["betas"], group["eps"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("AdamWNoBiasCorrection does not support sparse gradients")
                state = self.state[p]
                if not state:
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                m, v = state["exp_avg"], state["exp_avg_sq"]
                if decay:
                    p.mul_(1 - lr * decay)
                m.lerp_(p.grad, 1 - beta1)  # m = β1·m + (1 − β1)·g
                v.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
                p.addcdiv_(m, v.sqrt().add_(eps), value=-lr)
        return loss
