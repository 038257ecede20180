"""Feature extractors of a memory unit (paper eq. 7): keys look back, values look ahead.

For ``n_head`` units at once; channel ``h·d + i`` of a ``C → C`` projection belongs to unit h::

    k̄_T = W_φ x_T + λ_φ k̄_{T-1}        k_T = α_φ k̄_T / ‖k̄_T‖       (keys: a leaky average)
    v̄_T = W_ψ x_T + λ_ψ W_ψ x_{T+1}    v_T = α_ψ v̄_T / ‖v̄_T‖       (values: one step ahead)

Boundaries: ``k̄_{-1} = 0``; the last position has no ``x_T`` yet, so its look-ahead term is 0
(no query of the same sequence reads ``v_{T-1}``, see :mod:`mosaic.model.memories`).

Parametrisation, as the official code (facebookresearch/MemoryMosaics
nanoMosaics/mosaic_model.py, ``KeyFeatureExtractor`` and ``ValFeatureExtractor``): each per-unit
scalar is stored divided by ``SCALAR_LR = 10`` and multiplied back at use (under Adam, a 10×
learning rate); ``λ_φ = exp(-10|b|)`` with β = 10|b| spread over [0.5, 5] across units at init;
``α_φ = exp(min(10a, 5))^p`` (the clamp keeps the logits ``α_φ² cos`` inside fp16 range, as the
Library variant does; ``p = 2`` for persistent memories, whose slots carry no scale); ``α_ψ =
exp(10g)``. Where we depart: the official values mix ``(1-c) W_ψ x_{T+1} + c W_ψ x_T`` with
``c ~ U(0, 1)``; after normalisation that is our form with ``λ_ψ = (1-c)/c``, initialised
log-uniformly in [1/3, 3] (leaving out the extreme ratios U(0, 1) can draw).

Every function here is plain PyTorch, the reference of the fast paths in :mod:`mosaic.kernels`
(same signatures, same values; ``MOSAIC_KERNELS=reference`` runs only this code).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn

SCALAR_LR = 10.0  # per-unit scalars are stored / 10 and used * 10
KEY_SCALE_CLAMP = 5.0  # α_φ = exp(min(10·a, 5))
NORM_EPS = 1e-10


def split_heads(x: torch.Tensor, n_head: int) -> torch.Tensor:
    """(B, T, C) -> (B, H, T, d)."""
    B, T, C = x.shape
    return x.view(B, T, n_head, C // n_head).transpose(1, 2)


def merge_heads(y: torch.Tensor) -> torch.Tensor:
    """(B, H, T, d) -> (B, T, H·d)."""
    B, H, T, d = y.shape
    return y.transpose(1, 2).reshape(B, T, H * d)


def normalize(x: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """``α_h x / ‖x‖`` over the last dim of ``x`` (B, H, T, d), ``alpha`` (H,)."""
    return x * (alpha[:, None, None] / (torch.linalg.vector_norm(x, dim=-1, keepdim=True) + NORM_EPS))


def leaky_average(x: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    """``k̄_T = x_T + λ k̄_{T-1}`` along dim 2 of ``x`` (B, H, T, d), one λ per unit (H,): the
    weighted sum ``k̄_T = Σ_{t≤T} λ^(T-t) x_t`` with the decay matrix ``D[T, t] = λ^(T-t)``, as the
    official code computes it (nanoMosaics/mosaic_model.py, ``KeyFeatureExtractor.forward``)."""
    T = x.size(2)
    steps = torch.arange(T, device=x.device)
    distance = (steps[:, None] - steps[None, :]).to(x.dtype)  # T - t, (T, T)
    past = distance >= 0
    # the clamp keeps λ^(negative) out of the masked entries (and their gradients finite)
    decay = lam[:, None, None] ** distance.clamp(min=0) * past  # (H, T, T)
    return decay @ x  # (H, T, T) @ (B, H, T, d)


def key_features(u: torch.Tensor, lam: torch.Tensor, alpha: torch.Tensor, n_head: int) -> torch.Tensor:
    """Keys (B, H, T, d) of eq. 7 from the projection ``u = W_φ x`` (B, T, C); ``lam``, ``alpha``: (H,)."""
    return normalize(leaky_average(split_heads(u, n_head), lam), alpha)


def value_features(u: torch.Tensor, lam: torch.Tensor, alpha: torch.Tensor, n_head: int) -> torch.Tensor:
    """Values (B, H, T, d) of eq. 7 from the projection ``u = W_ψ x`` (B, T, C), look-ahead 0 after
    the last position; ``lam``, ``alpha``: (H,)."""
    uh = split_heads(u, n_head)  # W_ψ x_T
    ahead = torch.cat([uh[:, :, 1:], torch.zeros_like(uh[:, :, :1])], dim=2)  # W_ψ x_{T+1}
    return normalize(uh + lam[:, None, None] * ahead, alpha)


class KeyExtractor(nn.Module):
    """``k_T = α_φ · LeakyAvg_λφ(W_φ x)_T / ‖·‖`` for ``n_head`` units (eq. 7, keys).

    ``kernels``: the fast ops of :mod:`mosaic.kernels` (None: the plain functions above)."""

    def __init__(self, n_embd: int, n_head: int, scale_power: int = 1,
                 beta_range: tuple[float, float] = (0.5, 5.0), bias: bool = False, kernels=None):
        super().__init__()
        self.n_head, self.scale_power, self.kernels = n_head, scale_power, kernels
        self.W_phi = nn.Linear(n_embd, n_embd, bias=bias)
        self.leak = nn.Parameter(torch.linspace(*beta_range, n_head) / SCALAR_LR)  # β_h = 10·|b_h|
        self.log_scale = nn.Parameter(torch.full((n_head,), 0.1))  # α_φ = e at init

    def lam(self) -> torch.Tensor:
        """λ_φ per unit, (H,)."""
        return torch.exp(-SCALAR_LR * self.leak.abs())

    def alpha(self) -> torch.Tensor:
        """α_φ per unit, (H,)."""
        return torch.exp(torch.clamp(SCALAR_LR * self.log_scale, max=KEY_SCALE_CLAMP) * self.scale_power)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = self.W_phi(x)  # (B, T, C)
        if self.kernels is not None:  # a fast path of mosaic.kernels: same values
            return self.kernels.key_features(u, self.lam(), self.alpha(), self.n_head)
        return key_features(u, self.lam(), self.alpha(), self.n_head)  # (B, H, T, d)


class ValueExtractor(nn.Module):
    """``v_T = α_ψ · (W_ψ x_T + λ_ψ W_ψ x_{T+1}) / ‖·‖`` for ``n_head`` units (eq. 7, values)."""

    def __init__(self, n_embd: int, n_head: int, bias: bool = False, kernels=None):
        super().__init__()
        self.n_head, self.kernels = n_head, kernels
        self.W_psi = nn.Linear(n_embd, n_embd, bias=bias)
        ratio = torch.exp(torch.empty(n_head).uniform_(-math.log(3.0), math.log(3.0)))  # λ_ψ in [1/3, 3]
        self.mix = nn.Parameter(ratio / SCALAR_LR)
        self.log_scale = nn.Parameter(torch.full((n_head,), -0.05))  # α_ψ = e^-0.5 at init

    def lam(self) -> torch.Tensor:
        """λ_ψ per unit, (H,)."""
        return SCALAR_LR * self.mix

    def alpha(self) -> torch.Tensor:
        """α_ψ per unit, (H,)."""
        return torch.exp(SCALAR_LR * self.log_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = self.W_psi(x)  # (B, T, C)
        if self.kernels is not None:  # a fast path of mosaic.kernels: same values
            return self.kernels.value_features(u, self.lam(), self.alpha(), self.n_head)
        return value_features(u, self.lam(), self.alpha(), self.n_head)  # (B, H, T, d)

