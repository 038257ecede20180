"""The Memory Mosaic language model (paper section 5, Fig. 8).

A GPT-2-shaped stack in which every block is::

    x = x + ContextualMemory(LN(x))     # eq. 3, 7, 8: associative memories over the context
    x = x + PersistentMemory(LN(x))     # learned key/value slots, in place of the FFN

with the token embedding tied to the output head and **no positional encoding anywhere**.
Sizes match GPT2-small per block when ``n_slots = 3.5·n_embd`` (``mosaic.model.persistent_memory``).

Where we follow the official code (``../shared/notes/memory-mosaics-official.md``): the
×10 scalar parametrisation, λ_φ init, key-scale clamp, un-normalised slots, pre-LN blocks, no
biases, GPT-2 init (std 0.02, residual outputs 0.02/√(2L)) of the nanoMosaics variant.
Where we differ: (1) the leaky average is a linear-time chunked scan rather than a dense T×T
decay matrix (same values); (2) λ_ψ multiplies the look-ahead term (the issue's form of eq. 7)
rather than being a convex mix weight — identical up to normalisation; (3) the Library variant's
embedding std 1 and 1/√C logit scaling are not used (the nanoMosaics init is simpler and trains
at our learning rates); (4) ``pmem_count`` (averaging several slot tables) is fixed to 1.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn

from mosaic.model.contextual_memory import ContextualMemory
from mosaic.interface import LanguageModel, LMConfig
from mosaic.model.persistent_memory import PersistentMemory
from mosaic.registry import register_model


@dataclass
class MemoryMosaicConfig(LMConfig):
    n_slots: int | None = None  # persistent slots per unit; None = round(3.5·n_embd) (parity)
    bias: bool = False
    beta_min: float = 0.5  # λ_φ = exp(-β), β spread over [beta_min, beta_max] across units at init
    beta_max: float = 5.0

    @property
    def slots(self) -> int:
        return self.n_slots if self.n_slots is not None else round(3.5 * self.n_embd)

    def validate(self) -> None:
        super().validate()
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd={self.n_embd} must be divisible by n_head={self.n_head}")
        if self.n_slots is not None and self.n_slots < 1:
            raise ValueError(f"n_slots must be >= 1, got {self.n_slots}")
        if not 0 < self.beta_min <= self.beta_max:
            raise ValueError(f"need 0 < beta_min <= beta_max, got {self.beta_min}, {self.beta_max}")


class MosaicBlock(nn.Module):
    def __init__(self, cfg: MemoryMosaicConfig):
        super().__init__()
        betas = (cfg.beta_min, cfg.beta_max)
        self.ln_1 = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.contextual = ContextualMemory(
            cfg.n_embd, cfg.n_head, beta_range=betas, dropout=cfg.dropout, bias=cfg.bias
        )
        self.ln_2 = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.persistent = PersistentMemory(
            cfg.n_embd, cfg.n_head, cfg.slots, beta_range=betas, dropout=cfg.dropout, bias=cfg.bias
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.contextual(self.ln_1(x))
        return x + self.persistent(self.ln_2(x))

    def prefill(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple]:
        """:meth:`forward` on ``x`` (B, T, C), plus both memories' decoding caches."""
        y, contextual = self.contextual.prefill(self.ln_1(x))
        x = x + y
        y, persistent = self.persistent.prefill(self.ln_2(x))
        return x + y, (contextual, persistent)

    def step(self, x: torch.Tensor, cache: tuple) -> tuple[torch.Tensor, tuple]:
        """The block at one new position, ``x`` (B, 1, C), given the cache of the earlier ones."""
        contextual, persistent = cache
        y, contextual = self.contextual.step(self.ln_1(x), contextual)
        x = x + y
        y, persistent = self.persistent.step(self.ln_2(x), persistent)
        return x + y, (contextual, persistent)


@register_model("mosaic")
class MemoryMosaic(LanguageModel):
    config_class = MemoryMosaicConfig
    supports_longer_context = True  # no positional encoding: any context length runs

    def __init__(self, config: MemoryMosaicConfig):
        super().__init__(config)
        V = config.padded_vocab_size
        self.wte = nn.Embedding(V, config.n_embd)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(MosaicBlock(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.lm_head = nn.Linear(config.n_embd, V, bias=False)
        self.lm_head.weight = self.wte.weight  # tied
        self.apply(self._init_weights)
        residual_std = 0.02 / math.sqrt(2 * config.n_layer)
        for block in self.blocks:
            nn.init.normal_(block.contextual.W_z.weight, std=residual_std)
            nn.init.normal_(block.persistent.W_o.weight, std=residual_std)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        x = self.drop(self.wte(idx))  # (B, T, C)
        for block in self.blocks:
            x = block(x)
        logits = self.lm_head(self.ln_f(x))  # (B, T, V_padded)
        return self.logits_and_loss(logits, targets)

    # -- incremental decoding: the cache protocol of mosaic.interface ---------------------------
    def _last_logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits_and_loss(self.lm_head(self.ln_f(x[:, -1])), None)[0]  # (B, V)

    @torch.no_grad()
    def prefill(self, idx: torch.Tensor) -> tuple[torch.Tensor, list]:
        """Logits (B, V) after the prompt ``idx`` (B, T) and the cache: per layer, the leaky
        states k̄ of both key extractors, the contextual keys and values (``ContextualMemory``)."""
        x = self.drop(self.wte(idx))  # (B, T, C)
        cache = []
        for block in self.blocks:
            x, layer = block.prefill(x)
            cache.append(layer)
        return self._last_logits(x), cache

    @torch.no_grad()
    def decode_step(self, idx_next: torch.Tensor, cache: list) -> tuple[torch.Tensor, list]:
        """Logits (B, V) after one more token ``idx_next`` (B, 1); O(T) work instead of O(T²)."""
        x = self.drop(self.wte(idx_next))  # (B, 1, C)
        new_cache = []
        for block, layer in zip(self.blocks, cache):
            x, layer = block.step(x, layer)
            new_cache.append(layer)
        return self._last_logits(x), new_cache

    @torch.no_grad()
    def attention_maps(self, idx: torch.Tensor) -> torch.Tensor:
        """Contextual-memory weights of eq. 8, (n_layer, n_head, T, T), averaged over the batch.
        Row T holds the weights of position T over positions t < T (row 0 is zero)."""
        x = self.wte(idx)
        maps = []
        for block in self.blocks:
            maps.append(block.contextual.attention(block.ln_1(x)).mean(dim=0))
            x = block(x)
        return torch.stack(maps)

    def leaky_lambdas(self) -> torch.Tensor:
        """Learned λ_φ of the contextual memories, (n_layer, n_head)."""
        return torch.stack([b.contextual.key.lam() for b in self.blocks]).detach()
