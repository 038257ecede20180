"""The Memory Mosaic language model (paper section 5, Fig. 8): a GPT-2-shaped stack of blocks::

    x = x + ContextualMemory(LN(x))     # eq. 3, 7, 8: associative memories over the context
    x = x + PersistentMemory(LN(x))     # learned key/value slots, in place of the FFN

with the token embedding tied to the output head and **no positional encoding anywhere**.

As the official code (facebookresearch/MemoryMosaics nanoMosaics/mosaic_model.py, ``Block``,
``MemoryMosaic``): pre-LN blocks, no biases (its train.py sets ``bias=False``), GPT-2 init (std 0.02,
residual outputs 0.02/√(2L)), 3.5·C slots per unit. Where we depart: the Library variant's
embedding std 1 and 1/√C logit scaling are not used (the nanoMosaics init trains at our learning
rates); ``pmem_count`` (averaging several slot tables) is fixed to 1.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn

from mosaic import kernels
from mosaic.interface import LanguageModel, LMConfig
from mosaic.model import decoding
from mosaic.model.memories import ContextualMemory, PersistentMemory


@dataclass
class MemoryMosaicConfig(LMConfig):
    n_slots: int | None = None  # persistent slots per unit; None = round(3.5·n_embd) (parity)
    bias: bool = False
    beta_min: float = 0.5  # λ_φ = exp(-β), β spread over [beta_min, beta_max] across units at init
    beta_max: float = 5.0
    kernels: str | None = None  # reference | auto; None = $MOSAIC_KERNELS or auto (mosaic.kernels)

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
        kernels.check_mode(self.kernels)


class MosaicBlock(nn.Module):
    def __init__(self, cfg: MemoryMosaicConfig):
        super().__init__()
        fast = kernels.select(cfg.kernels)  # None: the plain PyTorch of mosaic.model only
        options = dict(beta_range=(cfg.beta_min, cfg.beta_max), dropout=cfg.dropout, bias=cfg.bias, kernels=fast)
        self.ln_1 = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.contextual = ContextualMemory(cfg.n_embd, cfg.n_head, **options)
        self.ln_2 = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.persistent = PersistentMemory(cfg.n_embd, cfg.n_head, cfg.slots, **options)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.contextual(self.ln_1(x))  # (B, T, C)
        return x + self.persistent(self.ln_2(x))


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

    # -- incremental decoding: the cache protocol of mosaic.interface (mosaic.model.decoding) ---
    @torch.no_grad()
    def prefill(self, idx: torch.Tensor) -> tuple[torch.Tensor, list]:
        """Logits (B, V) after the prompt ``idx`` (B, T) and the decoding cache."""
        return decoding.prefill(self, idx)

    @torch.no_grad()
    def decode_step(self, idx_next: torch.Tensor, cache: list) -> tuple[torch.Tensor, list]:
        """Logits (B, V) after one more token ``idx_next`` (B, 1): O(T) work instead of O(T²)."""
        return decoding.decode_step(self, idx_next, cache)

    # -- transparency ------------------------------------------------------------------------------
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
