"""Persistent memory layer (paper section 5, Fig. 8): replaces the transformer's feed-forward
network with ``n_head`` associative memory units whose (key, value) pairs are learned
parameters that do not depend on the context (Sukhbaatar et al., 2019, "all-attention").

For unit h (eq. 7 keys, then softmax retrieval over ``N`` slots)::

    q_T = α_φ² · k̄_T / ‖k̄_T‖,   k̄_T = W_φ x_T + λ_φ k̄_{T-1}
    y_T = α_o · Σ_n softmax_n(q_T · K_n) V_n

``K``, ``V`` (H, N, d) are raw, un-normalised slots (std 1/√d at init) and take weight decay.
The scale is squared (``scale_power = 2``) because the slots carry no scale of their own.
Outputs of the units are concatenated and combined by a C → C layer.

Parameter count per layer: ``2·C²`` (key projection, combination) ``+ 2·N·C`` (slots); with
``N = 3.5·C`` a mosaic block (``3·C²`` contextual + ``9·C²`` persistent) matches a GPT-2 block
(``12·C²``): the official choice, 2688 slots per unit at C = 768.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn

from mosaic.model.features import SCALAR_LR, KeyExtractor
from mosaic.kernels.slot_attention import slot_attention


class PersistentMemory(nn.Module):
    """``n_head`` persistent memory units + combination (dropout on the layer output)."""

    def __init__(
        self,
        n_embd: int,
        n_head: int,
        n_slots: int,
        *,
        beta_range: tuple[float, float] = (0.5, 5.0),
        dropout: float = 0.0,
        bias: bool = False,
    ):
        super().__init__()
        d = n_embd // n_head
        self.n_head = n_head
        self.dropout = dropout
        self.key = KeyExtractor(n_embd, n_head, scale_power=2, beta_range=beta_range, bias=bias)
        self.slot_keys = nn.Parameter(torch.randn(n_head, n_slots, d) / math.sqrt(d))  # K (H, N, d)
        self.slot_values = nn.Parameter(torch.randn(n_head, n_slots, d) / math.sqrt(d))  # V (H, N, d)
        self.out_log_scale = nn.Parameter(torch.full((n_head,), -0.05))  # α_o = exp(10·o)
        self.W_o = nn.Linear(n_embd, n_embd, bias=bias)
        self.out_dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.read(self.key(x, heads_major=True))  # (B, T, C)

    def scaled_values(self) -> torch.Tensor:
        """``α_o · V`` (H, N, d). α_o scales the output, a linear function of V: scaling the slots
        instead of the (B, H, T, d) output is the same function at a fraction of the cost."""
        return torch.exp(SCALAR_LR * self.out_log_scale)[:, None, None] * self.slot_values

    def read(self, q: torch.Tensor, values: torch.Tensor | None = None) -> torch.Tensor:
        """Retrieval and combination for queries ``q`` (B, H, T, d): the layer's output (B, T, C).
        ``values``: :meth:`scaled_values` if already computed (incremental decoding)."""
        B, H, T, d = q.shape
        # The slots are the same for every sequence: fold the batch into the query axis so one
        # (H, B·T, d) x (H, N, d) attention runs, instead of B copies of the slots (whose
        # gradients would then have to be summed over the batch). Keys stored heads-major make
        # this a view.
        q = q.transpose(0, 1).reshape(H, B * T, d)  # (H, B·T, d)
        values = self.scaled_values() if values is None else values
        p = self.dropout if self.training else 0.0
        y = slot_attention(q, self.slot_keys, values, dropout_p=p)  # (B·T, C)
        y = y.view(B, T, H * d)  # heads concatenated
        return self.out_dropout(self.W_o(y))  # (B, T, C)

    # -- incremental decoding (eval mode) ------------------------------------------------------
    def prefill(self, x: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """Output for every position of ``x`` (B, T, C) and the cache: ``k̄_{T-1}`` (B, H, 1, d),
        and ``α_o · V`` and the keys' λ, α, computed once per generated sequence instead of once
        per token."""
        kbar = self.key.leaky(self.key.W_phi(x))  # (B, H, T, d)
        values = self.scaled_values()
        cache = {"kbar": kbar[:, :, -1:], "values": values, "constants": self.key.decode_constants()}
        return self.read(self.key.finish(kbar), values), cache

    def step(self, x: torch.Tensor, cache: dict) -> tuple[torch.Tensor, dict]:
        """Output (B, 1, C) for the new position's input ``x`` (B, 1, C) and the updated cache."""
        q, kbar = self.key.step(self.key.W_phi(x), cache["kbar"], cache["constants"])  # (B, H, 1, d) each
        return self.read(q, cache["values"]), {**cache, "kbar": kbar}
