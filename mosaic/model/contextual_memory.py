"""Contextual memory layer (paper eq. 3 and 8, Fig. 8): ``n_head`` associative memory units
that remember (key, value) pairs of the current context and retrieve by kernel smoothing.

For unit h and position T (eq. 8, Gaussian kernel on normalised keys = softmax of dot products)::

    y_T = Σ_{t<T} softmax_t(k_T · k_t) v_t          (y_0 = 0: the memory is empty)

The key of the current position is also the query (no separate ``W_q``), and the diagonal t = T is
masked out: ``v_t`` holds ``x_{t+1}``, so attending to t = T would read the token being predicted.
The inverse temperature β of the kernel is carried by the keys' scale α_φ (``β = α_φ²``), hence
``attn_scale = 1`` and no 1/√d. There is no positional encoding: order enters only through the
leaky average of the keys and the look-ahead of the values (eq. 7, ``mosaic.model.features``).

The units' outputs are concatenated and combined by ``W_z`` (eq. 3).

The same class, configured without leaky average, normalisation or learned scales and with a
fixed β, is the model of the three-moons experiment (section 3); there W_φ, W_ψ, W_z are
complex-structured layers passed through ``linear``.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from mosaic.model.features import (
    KeyExtractor, LinearFactory, ValueExtractor, fused_keys_values, fused_projection, merge_heads,
)


def kernel_smoothing_merged(
    k: torch.Tensor, v: torch.Tensor, scale: float = 1.0, dropout_p: float = 0.0
) -> torch.Tensor:
    """Eq. 8 for all positions, ``y_T = Σ_{t<T} softmax_t(scale · k_T·k_t) v_t`` with ``y_0 = 0``,
    for keys and values (B, H, T, d); the units' outputs concatenated, (B, T, H·d): the input of
    the combination ``W_z`` (eq. 3).

    The diagonal-excluded mask is a causal mask on shifted sequences: the query at position T+1
    reads keys 0..T, so queries ``k[1:]`` against keys ``k[:-1]`` with ``is_causal=True`` is
    exactly eq. 8. That lets the fused SDPA kernel skip the masked half of the score matrix and
    build no mask. Its output is copied once, straight into place behind the zero row of
    position 0 (the empty memory). On CPU without dropout, :class:`_ShiftedSmoothingCPU` also
    assembles the gradients of the overlapping slices itself."""
    B, H, T, d = v.shape
    if T > 1 and dropout_p == 0.0 and k.device.type == "cpu" and torch.is_grad_enabled() \
            and (k.requires_grad or v.requires_grad):
        return _ShiftedSmoothingCPU.apply(k, v, scale)
    if T == 1:
        return v.new_zeros(B, T, H * d)
    y = F.scaled_dot_product_attention(
        k[:, :, 1:], k[:, :, :-1], v[:, :, :-1], is_causal=True, dropout_p=dropout_p, scale=scale
    )  # (B, H, T-1, d)
    return _behind_empty_row(y)


def _behind_empty_row(y: torch.Tensor) -> torch.Tensor:
    """The outputs ``y`` (B, H, T-1, d) of positions 1..T-1, units concatenated, behind the zero
    row of position 0: (B, T, H·d), one copy."""
    B, H, Tm1, d = y.shape
    out = y.new_empty(B, Tm1 + 1, H * d)
    out[:, 0].zero_()
    out[:, 1:].view(B, Tm1, H, d).copy_(y.transpose(1, 2))
    return out


class _ShiftedSmoothingCPU(torch.autograd.Function):
    """:func:`kernel_smoothing_merged` through PyTorch's CPU flash-attention kernel called directly.
    Autograd would give each of the slices ``k[1:]``, ``k[:-1]``, ``v[:-1]`` a zero-filled
    gradient of the full size and add the two of ``k``; here ``∂L/∂k`` is assembled in one pass
    (``∂k_0`` from the keys, ``∂k_{T-1}`` from the queries, their sum in between) and ``∂L/∂v``
    in one copy. Same kernel, same values (``tests/test_fused_features.py``)."""

    @staticmethod
    def forward(ctx, k, v, scale):
        q, kk, vv = k[:, :, 1:], k[:, :, :-1], v[:, :, :-1]
        y, lse = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(q, kk, vv, 0.0, True, scale=scale)
        ctx.save_for_backward(k, v, y, lse)
        ctx.scale = scale
        return _behind_empty_row(y)

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        k, v, y, lse = ctx.saved_tensors
        B, H, T, d = v.shape
        grad_y = g[:, 1:].view(B, T - 1, H, d).transpose(1, 2)  # (B, H, T-1, d)
        gq, gk, gv = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward(
            grad_y, k[:, :, 1:], k[:, :, :-1], v[:, :, :-1], y, lse, 0.0, True, scale=ctx.scale)
        grad_k = torch.empty_like(k)
        grad_k[:, :, 0] = gk[:, :, 0]  # k_0 is only ever a key
        torch.add(gq[:, :, :-1], gk[:, :, 1:], out=grad_k[:, :, 1:-1])
        grad_k[:, :, -1] = gq[:, :, -1]  # k_{T-1} is only ever a query
        grad_v = torch.empty_like(v)
        grad_v[:, :, :-1] = gv
        grad_v[:, :, -1].zero_()  # v_{T-1} is read by no query of the sequence
        return grad_k, grad_v, None


def kernel_smoothing(
    k: torch.Tensor, v: torch.Tensor, scale: float = 1.0, dropout_p: float = 0.0
) -> torch.Tensor:
    """Eq. 8 per unit, (B, H, T, d): :func:`kernel_smoothing_merged` seen unit by unit (a view)."""
    B, H, T, d = v.shape
    return kernel_smoothing_merged(k, v, scale, dropout_p).view(B, T, H, d).transpose(1, 2)


def kernel_smoothing_weights(k: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """The softmax weights of eq. 8, (B, H, T, T); row 0 is all zeros (empty memory)."""
    T = k.size(2)
    scores = scale * (k @ k.transpose(-2, -1)).float()  # (B, H, T, T)
    allowed = torch.ones(T, T, dtype=torch.bool, device=k.device).tril(diagonal=-1)
    w = torch.softmax(scores.masked_fill(~allowed, float("-inf")), dim=-1)
    return torch.nan_to_num(w, nan=0.0)  # row 0: softmax over nothing -> 0


class ContextualMemory(nn.Module):
    """``n_head`` contextual memory units + combination ``W_z`` (eq. 3, 7, 8).

    Dropout (paper Table 3): on the kernel-smoothing weights and on the units' outputs before
    the combination ``W_z``.

    Incremental decoding (:meth:`prefill`, :meth:`step`) keeps, per sequence, the leaky-average
    state ``k̄_{T-1}``, the keys ``k_0..k_{T-1}``, the completed values ``v_0..v_{T-2}`` and
    ``W_ψ x_{T-1}`` (plus both extractors' λ, α and ``[W_φ; W_ψ]`` stacked, computed once): when
    ``x_T`` arrives, ``v_{T-1}`` is completed with its look-ahead ``W_ψ x_T`` (eq. 7) before
    position T reads keys and values ``0..T-1`` (eq. 8).
    """

    def __init__(
        self,
        n_embd: int,
        n_head: int,
        *,
        leaky_keys: bool = True,
        normalize: bool = True,
        learned_scales: bool = True,
        attn_scale: float = 1.0,
        value_lookahead_only: bool = False,
        beta_range: tuple[float, float] = (0.5, 5.0),
        dropout: float = 0.0,
        bias: bool = False,
        linear: LinearFactory = nn.Linear,
    ):
        super().__init__()
        self.n_head = n_head
        self.attn_scale = attn_scale
        self.dropout = dropout
        self.key = KeyExtractor(
            n_embd, n_head, leaky=leaky_keys, normalize=normalize, learned_scale=learned_scales,
            beta_range=beta_range, bias=bias, linear=linear,
        )
        self.value = ValueExtractor(
            n_embd, n_head, lookahead_only=value_lookahead_only, normalize=normalize,
            learned_scale=learned_scales, bias=bias, linear=linear,
        )
        self.W_z = linear(n_embd, n_embd, bias=bias)
        self.unit_dropout = nn.Dropout(dropout)

    def keys(self, x: torch.Tensor) -> torch.Tensor:
        return self.key(x)  # (B, H, T, d)

    def values(self, x: torch.Tensor, x_next: torch.Tensor | None = None) -> torch.Tensor:
        return self.value(x, x_next)  # (B, H, T, d)

    def combine(self, y: torch.Tensor) -> torch.Tensor:
        return self.W_z(self.unit_dropout(merge_heads(y)))  # (B, T, C)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kv = fused_keys_values(self.key, self.value, x)  # one W_φ/W_ψ matmul, CPU kernels
        k, v = kv if kv is not None else (self.keys(x), self.values(x))
        return self.combine_merged(k, v)  # (B, T, C)

    def combine_merged(self, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """``W_z`` of the units' eq. 8 outputs for keys and values (B, H, T, d): what
        ``combine(kernel_smoothing(k, v))`` computes, with one copy less."""
        p = self.dropout if self.training else 0.0
        y = kernel_smoothing_merged(k, v, scale=self.attn_scale, dropout_p=p)  # (B, T, C)
        return self.W_z(self.unit_dropout(y))

    @torch.no_grad()
    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """Kernel-smoothing weights (B, H, T, T) of eq. 8."""
        return kernel_smoothing_weights(self.keys(x), self.attn_scale)

    # -- incremental decoding (eval mode) ------------------------------------------------------
    def prefill(self, x: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """Output for every position of ``x`` (B, T, C), as :meth:`forward`, and the cache."""
        u_key, u_value = self.key.W_phi(x), self.value.W_psi(x)  # (B, T, C) each
        kbar = self.key.leaky(u_key)  # (B, H, T, d)
        k = self.key.finish(kbar)
        v = self.value.from_projection(u_value)  # v_{T-1} has look-ahead 0: not cached
        cache = {"kbar": kbar[:, :, -1:], "keys": k, "values": v[:, :, :-1], "u_last": u_value[:, -1:],
                 "constants": (self.key.decode_constants(), self.value.decode_constants()),
                 "projection": fused_projection(self.key, self.value), "stores": (None, None)}
        return self.combine_merged(k, v), cache

    def step(self, x: torch.Tensor, cache: dict) -> tuple[torch.Tensor, dict]:
        """Output (B, 1, C) at the new position T for its input ``x`` (B, 1, C)."""
        if cache["projection"] is not None:  # W_φ, W_ψ stacked once per sequence: one matmul
            u_key, u_value = F.linear(x, *cache["projection"]).chunk(2, dim=-1)  # (B, 1, C) each
        else:
            u_key, u_value = self.key.W_phi(x), self.value.W_psi(x)
        key_constants, value_constants = cache["constants"]  # λ, α of both extractors
        k, kbar = self.key.step(u_key, cache["kbar"], key_constants)  # (B, H, 1, d) each
        # eq. 7's look-ahead: W_ψ x_T completes the value of position T-1
        v_last = self.value.step(cache["u_last"], u_value, value_constants)  # (B, H, 1, d)
        key_store, value_store = cache["stores"]
        values, value_store = appended(cache["values"], value_store, v_last)  # v_0..v_{T-1}
        keys = cache["keys"]  # k_0..k_{T-1}: position T reads strictly earlier positions
        y = F.scaled_dot_product_attention(k, keys, values, scale=self.attn_scale)  # (B, H, 1, d)
        keys, key_store = appended(keys, key_store, k)
        cache = {**cache, "kbar": kbar, "keys": keys, "values": values, "u_last": u_value,
                 "stores": (key_store, value_store)}
        return self.combine(y), cache


def appended(seq: torch.Tensor, store: tuple | None, x: torch.Tensor) -> tuple[torch.Tensor, tuple]:
    """``seq`` (B, H, T, d) followed by ``x`` (B, H, 1, d), as a view of a buffer with room to grow,
    and the store ``(buffer, fill)`` to pass to the next call. Written in place while ``seq`` is
    the buffer's filled prefix, so a position costs O(1) amortised instead of the O(T) copy of a
    ``torch.cat`` (which also made every step allocate, and page-fault, a fresh cache). ``fill``
    is shared by every cache made from the buffer: when a cache that is not the latest is
    extended (two continuations of one prompt), its prefix is copied to a new buffer instead of
    overwriting the other continuation's positions."""
    B, H, T, d = seq.shape
    buffer, fill = store if store is not None else (None, None)
    if buffer is None or fill[0] != T or T == buffer.size(2) or seq.data_ptr() != buffer.data_ptr():
        buffer = seq.new_empty(B, H, T + max(T, 64), d)  # capacity doubles
        buffer[:, :, :T] = seq
        fill = [T]
    buffer[:, :, T] = x[:, :, 0]
    fill[0] = T + 1
    return buffer[:, :, : T + 1], (buffer, fill)
