"""Associative memories (paper eq. 3 and 8, Fig. 8): contextual memory and persistent memory.

A memory unit retrieves by kernel smoothing over stored (key, value) pairs (eq. 8; a Gaussian
kernel on normalised keys is a softmax of dot products)::

    y_T = Σ_t softmax_t(k_T · k_t) v_t

* **Contextual memory**: the pairs are those of the current context, t < T. The key of the current
  position is also the query (no ``W_q``) and the diagonal t = T is excluded: ``v_t`` holds
  ``x_{t+1}``, so reading t = T would read the token being predicted. ``y_0 = 0`` (empty memory).
  The inverse temperature is carried by the keys' scale α_φ (β = α_φ²): no 1/√d. There is no
  positional encoding: order enters only through the leaky average and the look-ahead (eq. 7).
* **Persistent memory**: the pairs are ``N`` learned slots per unit, the same for every context
  (in place of the transformer's feed-forward network; Sukhbaatar et al. 2019's "all-attention").
  Slots are raw (std 1/√d at init, weight-decayed), so the query scale is squared (α_φ²).

Units' outputs are concatenated and combined by ``W_z`` (eq. 3; ``W_o`` for the persistent
memory). Dropout (paper Table 3) acts on the retrieval weights, and on the units' outputs before
``W_z`` (contextual) or on the layer's output (persistent).
Parameter count per block: ``3C²`` contextual + ``2C² + 2NC`` persistent; ``N = 3.5·C`` slots per
unit match a GPT-2 block's ``12C²`` (the official choice: 2688 slots at C = 768).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from mosaic.model.features import SCALAR_LR, KeyExtractor, ValueExtractor, merge_heads


def kernel_smoothing_weights(k: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """The weights of eq. 8, (B, H, T, T): row T holds ``softmax_t(scale · k_T·k_t)`` over t < T;
    row 0 is all zeros (empty memory). ``k``: keys (B, H, T, d)."""
    B, H, T, d = k.shape
    scores = scale * k[:, :, 1:] @ k.transpose(-2, -1)  # (B, H, T-1, T): queries 1..T-1
    earlier = torch.ones(T - 1, T, dtype=torch.bool, device=k.device).tril()  # query T reads t ≤ T-1
    weights = torch.softmax(scores.masked_fill(~earlier, float("-inf")), dim=-1)
    return torch.cat([weights.new_zeros(B, H, 1, T), weights], dim=2)


def kernel_smoothing(k: torch.Tensor, v: torch.Tensor, scale: float = 1.0, dropout_p: float = 0.0) -> torch.Tensor:
    """Eq. 8 for every position: ``y_T = Σ_{t<T} softmax_t(scale · k_T·k_t) v_t``, ``y_0 = 0``, for
    keys and values (B, H, T, d); the units' outputs concatenated, (B, T, H·d)."""
    weights = kernel_smoothing_weights(k, scale)  # (B, H, T, T)
    if dropout_p:
        weights = F.dropout(weights, dropout_p)
    return merge_heads(weights @ v)


def slot_attention(q: torch.Tensor, K: torch.Tensor, V: torch.Tensor, dropout_p: float = 0.0) -> torch.Tensor:
    """Retrieval from a slot table: ``y = Σ_n softmax_n(q · K_n) V_n`` per unit for queries
    ``q`` (B, H, T, d) and slots ``K``, ``V`` (H, N, d); units concatenated, (B, T, H·d)."""
    weights = torch.softmax(q @ K.transpose(-2, -1), dim=-1)  # (B, H, T, N)
    if dropout_p:
        weights = F.dropout(weights, dropout_p)
    return merge_heads(weights @ V)


class ContextualMemory(nn.Module):
    """``n_head`` contextual memory units and their combination ``W_z`` (eq. 3, 7, 8)."""

    def __init__(self, n_embd: int, n_head: int, beta_range: tuple[float, float] = (0.5, 5.0),
                 dropout: float = 0.0, bias: bool = False, kernels=None):
        super().__init__()
        self.n_head, self.dropout, self.kernels = n_head, dropout, kernels
        self.key = KeyExtractor(n_embd, n_head, beta_range=beta_range, bias=bias, kernels=kernels)
        self.value = ValueExtractor(n_embd, n_head, bias=bias, kernels=kernels)
        self.W_z = nn.Linear(n_embd, n_embd, bias=bias)
        self.unit_dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, v = self.key(x), self.value(x)  # (B, H, T, d) each, eq. 7
        p = self.dropout if self.training else 0.0
        if self.kernels is not None:  # a fast path of mosaic.kernels: same values
            y = self.kernels.kernel_smoothing(k, v, 1.0, p)
        else:
            y = kernel_smoothing(k, v, 1.0, p)  # (B, T, C), eq. 8
        return self.W_z(self.unit_dropout(y))  # eq. 3

    @torch.no_grad()
    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """The weights of eq. 8 for ``x`` (B, T, C): (B, H, T, T)."""
        return kernel_smoothing_weights(self.key(x))


class PersistentMemory(nn.Module):
    """``n_head`` persistent memory units of ``n_slots`` learned (key, value) pairs each, and their
    combination ``W_o``. The output scale α_o multiplies the slot values, which is the same
    function as scaling the output (it is linear in V)."""

    def __init__(self, n_embd: int, n_head: int, n_slots: int, beta_range: tuple[float, float] = (0.5, 5.0),
                 dropout: float = 0.0, bias: bool = False, kernels=None):
        super().__init__()
        d = n_embd // n_head
        self.n_head, self.dropout, self.kernels = n_head, dropout, kernels
        self.key = KeyExtractor(n_embd, n_head, scale_power=2, beta_range=beta_range, bias=bias, kernels=kernels)
        self.slot_keys = nn.Parameter(torch.randn(n_head, n_slots, d) / math.sqrt(d))  # K (H, N, d)
        self.slot_values = nn.Parameter(torch.randn(n_head, n_slots, d) / math.sqrt(d))  # V (H, N, d)
        self.out_log_scale = nn.Parameter(torch.full((n_head,), -0.05))  # α_o = exp(10·o)
        self.W_o = nn.Linear(n_embd, n_embd, bias=bias)
        self.out_dropout = nn.Dropout(dropout)

    def scaled_values(self) -> torch.Tensor:
        """``α_o · V``, (H, N, d)."""
        return torch.exp(SCALAR_LR * self.out_log_scale)[:, None, None] * self.slot_values

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = self.key(x)  # (B, H, T, d): eq. 7 keys, scale α_φ²
        p = self.dropout if self.training else 0.0
        if self.kernels is not None:  # a fast path of mosaic.kernels: same values
            y = self.kernels.slot_attention(q, self.slot_keys, self.scaled_values(), p)
        else:
            y = slot_attention(q, self.slot_keys, self.scaled_values(), p)  # (B, T, C)
        return self.out_dropout(self.W_o(y))
