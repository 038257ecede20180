"""Feature extractors of a memory unit (paper eq. 7).

Keys, for one unit with parameters ``W_φ, λ_φ, α_φ``::

    k̄_T = W_φ x_T + λ_φ k̄_{T-1}          (leaky average over the past)
    k_T  = α_φ · k̄_T / ‖k̄_T‖               (normalised, then scaled)

Values, with ``W_ψ, λ_ψ, α_ψ``::

    v̄_T = W_ψ x_T + λ_ψ W_ψ x_{T+1}        (a two-tap mix that looks one step ahead)
    v_T  = α_ψ · v̄_T / ‖v̄_T‖

``n_head`` units are computed together: one ``C → C`` projection whose output channel
``h·d + i`` belongs to unit h (d = C / n_head), and one λ, α per unit.

Parametrisation (from the official code, ``../shared/notes/memory-mosaics-official.md``):
every per-unit scalar is stored divided by ``SCALAR_LR = 10`` and multiplied back at use, which
under Adam is a 10× learning rate on those scalars.

* ``λ_φ = exp(-β)``, ``β = 10·|b|``, b initialised so that β is spread over [0.5, 5] across units
  (λ_φ from 0.61 down to 0.0067): units start with different memory lengths.
* ``α_φ = exp(min(10·a, 5))^p``, a initialised to 0.1 (α_φ = e). The clamp keeps the
  attention logits ``α_φ² cos(k_T, k_t) ≤ e^10``, inside fp16 range (the Library variant's choice).
  ``p = 2`` for persistent memories, whose slot keys are not normalised.
* ``λ_ψ = 10·c``. The official code mixes ``(1-c')·W_ψ x_{T+1} + c'·W_ψ x_T`` with ``c' ~ U(0,1)``;
  after normalisation that is our form with ``λ_ψ = (1-c')/c'``. We initialise λ_ψ log-uniformly
  in [1/3, 3] (c' in [0.25, 0.75]), leaving out the extreme ratios U(0,1) can draw.
* ``α_ψ = exp(10·g)``, g initialised to -0.05 (α_ψ = e^-0.5 ≈ 0.61).

Boundaries: position 0 has no past, so ``k̄_0 = W_φ x_0``. The last position T-1 of a sequence
has no ``x_T`` yet: its look-ahead term is taken as 0, so ``v̄_{T-1} = W_ψ x_{T-1}`` (or 0 when
``lookahead_only``). Under the diagonal-excluded mask no query of the same sequence reads
``v_{T-1}``, so this only matters for incremental decoding, which completes ``v_{T-1}`` with
``W_ψ x_T`` once ``x_T`` arrives (:meth:`ValueExtractor.from_projection` with ``u_next``).
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from mosaic.kernels.autograd import (
    NORM_EPS, key_value_features, leaky_normalize, lookahead_normalize, scaled_normalize, uses_feature_kernel,
)
from mosaic.model.leaky_average import leaky_average

SCALAR_LR = 10.0  # per-unit scalars are stored / 10 and used * 10 (official parametrisation)
KEY_SCALE_CLAMP = 5.0  # α_φ = exp(min(10·a, 5)): logits ≤ e^10 stay inside fp16 range

LinearFactory = Callable[..., nn.Module]


def split_heads(x: torch.Tensor, n_head: int) -> torch.Tensor:
    """(B, T, C) -> (B, H, T, d)."""
    B, T, C = x.shape
    return x.view(B, T, n_head, C // n_head).transpose(1, 2)


def merge_heads(y: torch.Tensor) -> torch.Tensor:
    """(B, H, T, d) -> (B, T, C)."""
    B, H, T, d = y.shape
    return y.transpose(1, 2).reshape(B, T, H * d)


def normalize(x: torch.Tensor, scale: torch.Tensor | None = None) -> torch.Tensor:
    """``scale · x / ‖x‖`` over the last dim; ``scale`` (H,) per unit of ``x`` (B, H, T, d).
    Plain tensor ops: the reference of the fused path (``mosaic.kernels.autograd``)."""
    factor = 1.0 / (x.norm(dim=-1, keepdim=True) + NORM_EPS)
    if scale is not None:
        factor = factor * scale[:, None, None]
    return x * factor


def _normalize_and_scale(x: torch.Tensor, norm: bool, alpha: torch.Tensor | None,
                         heads_major: bool = False) -> torch.Tensor:
    if norm:  # fused forward and backward (mosaic.kernels.autograd); same values as normalize()
        return scaled_normalize(x, _ones_if_none(alpha, x.shape[1], x), heads_major)
    return x if alpha is None else x * alpha[:, None, None]


# -- incremental decoding: one position at a time ------------------------------------------------
# At one position per sequence every op costs its fixed overhead (tens of µs with two threads)
# more than its work: the per-unit scalars are computed once per generated sequence, shaped for
# broadcasting, and the normalisation is four plain ops instead of the fused Function.
def _decode_constants(lam: torch.Tensor | None, alpha: torch.Tensor | None) -> dict:
    """λ and α (H,) of an extractor as (H, 1, 1), or None where the extractor has none."""
    return {"lam": None if lam is None else lam[:, None, None],
            "alpha": None if alpha is None else alpha[:, None, None]}


def _finish_one_position(x: torch.Tensor, norm: bool, alpha: torch.Tensor | None) -> torch.Tensor:
    """``α x / (‖x‖ + ε)`` (or ``α x`` without normalisation) for ``x`` (B, H, 1, d) and ``alpha``
    (H, 1, 1) or None: the values of :func:`_normalize_and_scale`."""
    if norm:
        n = torch.linalg.vector_norm(x, dim=-1, keepdim=True) + NORM_EPS
        return x / n if alpha is None else x * (alpha / n)
    return x if alpha is None else x * alpha


def _ones_if_none(alpha: torch.Tensor | None, n_head: int, like: torch.Tensor) -> torch.Tensor:
    return like.new_ones(n_head) if alpha is None else alpha


class KeyExtractor(nn.Module):
    """``k_T = α_φ · LeakyAvg_λφ(W_φ x)_T / ‖·‖`` for ``n_head`` units (eq. 7, keys).

    ``leaky=False`` gives ``k̄_T = W_φ x_T``; ``normalize=False`` skips the normalisation and
    ``learned_scale=False`` the scale α_φ (the three-moons model of section 3 uses neither).
    """

    def __init__(
        self,
        n_embd: int,
        n_head: int,
        *,
        leaky: bool = True,
        normalize: bool = True,
        learned_scale: bool = True,
        scale_power: int = 1,
        beta_range: tuple[float, float] = (0.5, 5.0),
        bias: bool = False,
        linear: LinearFactory = nn.Linear,
    ):
        super().__init__()
        if n_embd % n_head:
            raise ValueError(f"n_embd={n_embd} must be divisible by n_head={n_head}")
        self.n_head = n_head
        self.normalize = normalize
        self.scale_power = scale_power
        self.W_phi = linear(n_embd, n_embd, bias=bias)
        # β_h = 10·|b_h| spread over beta_range: units start with different memory lengths
        self.leak = nn.Parameter(torch.linspace(*beta_range, n_head) / SCALAR_LR) if leaky else None
        self.log_scale = nn.Parameter(torch.full((n_head,), 0.1)) if learned_scale else None

    def lam(self) -> torch.Tensor | None:
        """λ_φ per unit, (H,)."""
        return None if self.leak is None else torch.exp(-SCALAR_LR * self.leak.abs())

    def alpha(self) -> torch.Tensor | None:
        """α_φ per unit, (H,)."""
        if self.log_scale is None:
            return None
        return torch.exp(torch.clamp(SCALAR_LR * self.log_scale, max=KEY_SCALE_CLAMP) * self.scale_power)

    def leaky(self, u: torch.Tensor) -> torch.Tensor:
        """``k̄`` (B, H, T, d) from the projection ``u = W_φ x`` (B, T, C), before normalisation."""
        k = split_heads(u, self.n_head)  # (B, H, T, d)
        if self.leak is not None:
            k = leaky_average(k, self.lam())  # k̄_T = W_φ x_T + λ_φ k̄_{T-1}
        return k

    def finish(self, kbar: torch.Tensor, heads_major: bool = False) -> torch.Tensor:
        """``k = α_φ · k̄ / ‖k̄‖`` for ``kbar`` (B, H, T, d); ``heads_major``: stored as
        (H, B, T, d) (see ``mosaic.kernels.autograd.scaled_normalize``)."""
        return _normalize_and_scale(kbar, self.normalize, self.alpha(), heads_major)

    def kernel_params(self, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        """``(λ_φ, α_φ)`` where the CPU kernel computes the keys of the projection ``u`` (B, T, C)
        (leaky average and normalisation in one pass, mosaic/csrc/features.c), else None."""
        if self.leak is None or not self.normalize or not uses_feature_kernel(u, self.n_head):
            return None
        return self.lam(), _ones_if_none(self.alpha(), self.n_head, u)

    def forward(self, x: torch.Tensor, heads_major: bool = False) -> torch.Tensor:
        u = self.W_phi(x)  # (B, T, C)
        params = self.kernel_params(u)
        if params is not None:
            return leaky_normalize(u, *params, self.n_head, heads_major)
        return self.finish(self.leaky(u), heads_major)  # (B, H, T, d)

    def decode_constants(self) -> dict:
        """λ_φ and α_φ (H, 1, 1) for incremental decoding: fixed while a sequence is generated,
        so a decoding cache computes them once instead of at every token."""
        return _decode_constants(self.lam(), self.alpha())

    def step(self, u: torch.Tensor, state: torch.Tensor | None,
             constants: dict | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """One position of incremental decoding: ``u = W_φ x_T`` (B, 1, C) and ``state = k̄_{T-1}``
        (B, H, 1, d), or None at T = 0; ``constants`` from :meth:`decode_constants`. Returns
        ``(k_T, k̄_T)``, each (B, H, 1, d)."""
        c = self.decode_constants() if constants is None else constants
        kbar = split_heads(u, self.n_head)
        if c["lam"] is not None and state is not None:
            kbar = kbar + c["lam"] * state
        return _finish_one_position(kbar, self.normalize, c["alpha"]), kbar


class ValueExtractor(nn.Module):
    """``v_T = α_ψ · (W_ψ x_T + λ_ψ W_ψ x_{T+1}) / ‖·‖`` for ``n_head`` units (eq. 7, values).

    ``lookahead_only=True`` gives ``v_T = W_ψ x_{T+1}`` (the three-moons model, section 3).
    """

    def __init__(
        self,
        n_embd: int,
        n_head: int,
        *,
        lookahead_only: bool = False,
        normalize: bool = True,
        learned_scale: bool = True,
        bias: bool = False,
        linear: LinearFactory = nn.Linear,
    ):
        super().__init__()
        self.n_head = n_head
        self.normalize = normalize
        self.W_psi = linear(n_embd, n_embd, bias=bias)
        if lookahead_only:
            self.mix = None
        else:  # λ_ψ log-uniform in [1/3, 3] (see module docstring)
            init = torch.exp(torch.empty(n_head).uniform_(-math.log(3.0), math.log(3.0)))
            self.mix = nn.Parameter(init / SCALAR_LR)
        self.log_scale = nn.Parameter(torch.full((n_head,), -0.05)) if learned_scale else None

    def lam(self) -> torch.Tensor | None:
        """λ_ψ per unit, (H,)."""
        return None if self.mix is None else SCALAR_LR * self.mix

    def alpha(self) -> torch.Tensor | None:
        return None if self.log_scale is None else torch.exp(SCALAR_LR * self.log_scale)

    def kernel_params(self, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        """``(λ_ψ, α_ψ)`` where the CPU kernel computes the values of the projection ``u``
        (B, T, C) with look-ahead 0 after the end, else None."""
        if self.mix is None or not self.normalize or not uses_feature_kernel(u, self.n_head):
            return None
        return self.lam(), _ones_if_none(self.alpha(), self.n_head, u)

    def forward(self, x: torch.Tensor, x_next: torch.Tensor | None = None) -> torch.Tensor:
        """Values for every position of ``x`` (B, T, C).

        ``x_next`` (B, 1, C) is the input that follows the last position, when it is known
        (incremental decoding); otherwise the last look-ahead is 0 (see module docstring).
        """
        return self.from_projection(self.W_psi(x), None if x_next is None else self.W_psi(x_next))

    def decode_constants(self) -> dict:
        """λ_ψ and α_ψ (H, 1, 1), as :meth:`KeyExtractor.decode_constants`."""
        return _decode_constants(self.lam(), self.alpha())

    def step(self, u_last: torch.Tensor, u_next: torch.Tensor, constants: dict | None = None) -> torch.Tensor:
        """One position of incremental decoding: the value (B, H, 1, d) of position T-1 from
        ``u_last = W_ψ x_{T-1}`` and its look-ahead ``u_next = W_ψ x_T``, each (B, 1, C);
        ``constants`` from :meth:`decode_constants`."""
        c = self.decode_constants() if constants is None else constants
        ahead = split_heads(u_next, self.n_head)
        v = ahead if c["lam"] is None else split_heads(u_last, self.n_head) + c["lam"] * ahead
        return _finish_one_position(v, self.normalize, c["alpha"])

    def from_projection(self, u: torch.Tensor, u_next: torch.Tensor | None = None) -> torch.Tensor:
        """Values (B, H, T, d) from the projections ``u = W_ψ x`` (B, T, C) and ``u_next = W_ψ x_T``
        (B, 1, C) of the input after the last position, or None (look-ahead 0)."""
        if self.mix is not None and self.normalize:  # fused (mosaic.kernels.autograd), same values
            alpha = _ones_if_none(self.alpha(), self.n_head, u)
            return lookahead_normalize(u, u_next, self.lam(), alpha, self.n_head)
        uh = split_heads(u, self.n_head)  # (B, H, T, d): W_ψ x_t
        if u_next is None:  # W_ψ x_{t+1}, zero after the end
            ahead = F.pad(uh[:, :, 1:], (0, 0, 0, 1))
        else:
            ahead = torch.cat([uh[:, :, 1:], split_heads(u_next, self.n_head)], dim=2)
        if self.mix is None:
            v = ahead
        else:
            v = uh + self.lam()[:, None, None] * ahead
        return _normalize_and_scale(v, self.normalize, self.alpha())


def fused_projection(key: KeyExtractor, value: ValueExtractor) -> tuple[torch.Tensor, torch.Tensor | None] | None:
    """``W_φ`` and ``W_ψ`` stacked, (2C, C), and their biases, where both are plain ``nn.Linear``
    (the three-moons model passes structured layers instead); else None."""
    if type(key.W_phi) is not nn.Linear or type(value.W_psi) is not nn.Linear:
        return None
    weight = torch.cat([key.W_phi.weight, value.W_psi.weight])
    bias = None if key.W_phi.bias is None else torch.cat([key.W_phi.bias, value.W_psi.bias])
    return weight, bias


def fused_keys_values(key: KeyExtractor, value: ValueExtractor,
                      x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Keys and values (B, H, T, d) of every position of ``x`` (B, T, C) with ``W_φ`` and ``W_ψ``
    as one C → 2C matmul and both feature chains in the CPU kernel (one gradient tensor for the
    fused projection), where that applies: plain ``nn.Linear`` projections and both extractors
    on the kernel path. Else None (the caller runs ``key(x)`` and ``value(x)``)."""
    key_params, value_params = key.kernel_params(x), value.kernel_params(x)
    projection = None if key_params is None or value_params is None else fused_projection(key, value)
    if projection is None:
        return None
    u = F.linear(x, *projection)  # (B, T, 2C) = [W_φ x, W_ψ x]
    return key_value_features(u, *key_params, *value_params, key.n_head)
