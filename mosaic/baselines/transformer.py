"""GPT-2 style decoder-only transformer (nanoGPT's layout), the paper's main peer.

Memory Mosaics (Zhang et al., ICLR 2025) compare against "a transformer of the same size": GPT-2
blocks (pre-LN, causal multi-head self-attention, 4d GELU MLP), token embedding tied to the output
layer, GPT-2 initialisation (std 0.02, residual output projections std 0.02/sqrt(2 n_layer)).

Positions, chosen by ``pos_encoding``:

* ``"absolute"``: learned table ``wpe`` with ``block_size`` rows (GPT-2). The model cannot run on
  longer sequences and says so (:meth:`LanguageModel.check_context`).
* ``"rope"``: rotary embeddings on queries and keys (Su et al. 2021), computed for the actual
  length, so the model runs on any length.
* ``"alibi"``: per-head linear distance penalties added to the attention scores (Press et al.
  2022), any length.

With n_layer 12, n_embd 768, n_head 12, block_size 1024, vocab 50257 (no padding), bias and
absolute positions this is GPT-2 small: 124,439,808 parameters.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from mosaic.interface import LanguageModel, LMConfig

POS_ENCODINGS = ("absolute", "rope", "alibi")


@dataclass
class TransformerConfig(LMConfig):
    bias: bool = True  # biases in Linear layers and LayerNorms (GPT-2: True)
    pos_encoding: str = "absolute"  # one of POS_ENCODINGS
    rope_base: float = 10000.0  # rotary frequency base (only for pos_encoding="rope")

    def validate(self) -> None:
        super().validate()
        if self.pos_encoding not in POS_ENCODINGS:
            raise ValueError(
                f"TransformerConfig.pos_encoding must be one of {list(POS_ENCODINGS)}, "
                f"got {self.pos_encoding!r}"
            )
        if self.n_embd % self.n_head != 0:
            raise ValueError(
                f"TransformerConfig.n_embd={self.n_embd} must be divisible by n_head={self.n_head}"
            )
        if self.pos_encoding == "rope" and (self.n_embd // self.n_head) % 2 != 0:
            raise ValueError(
                f"TransformerConfig: rope needs an even head size, got n_embd/n_head="
                f"{self.n_embd // self.n_head}"
            )


# -- position encodings ---------------------------------------------------------------------------
def rope_cos_sin(T: int, head_dim: int, base: float, device: torch.device, start: int = 0):
    """Rotary angles for positions start..start+T-1: ``cos, sin`` of shape (T, head_dim/2),
    float32. Computed per call (cheap) so the model runs at any length and keeps no buffers."""
    inv_freq = base ** (-torch.arange(0, head_dim, 2, device=device, dtype=torch.float32) / head_dim)
    positions = torch.arange(start, start + T, device=device, dtype=torch.float32)
    angles = positions[:, None] * inv_freq[None, :]
    return angles.cos(), angles.sin()  # (T, hd/2) each


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate the pairs (x[i], x[i + hd/2]) of ``x`` (B, H, T, hd) by the position's angles."""
    x1, x2 = x.float().chunk(2, dim=-1)  # (B, H, T, hd/2) each
    out = torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)
    return out.to(x.dtype)


def alibi_slopes(n_head: int) -> list[float]:
    """Press et al. (2022): geometric slopes 2^(-8/n), 2^(-16/n), ... for n a power of two;
    otherwise the slopes of the closest smaller power of two, then every other slope of the
    next power of two (their reference implementation's rule)."""

    def power_of_two(n: int) -> list[float]:
        start = 2.0 ** (-8.0 / n)
        return [start ** (i + 1) for i in range(n)]

    if math.log2(n_head).is_integer():
        return power_of_two(n_head)
    closest = 2 ** math.floor(math.log2(n_head))
    return power_of_two(closest) + power_of_two(2 * closest)[0::2][: n_head - closest]


def alibi_bias(n_head: int, T: int, device: torch.device, n_keys: int | None = None) -> torch.Tensor:
    """Additive attention bias (H, T, n_keys) for the last T of ``n_keys`` positions (default
    n_keys = T): -slope_h * (i - j) for key j <= query i, -inf above the diagonal (so it also
    carries the causal mask)."""
    n_keys = T if n_keys is None else n_keys
    slopes = torch.tensor(alibi_slopes(n_head), device=device, dtype=torch.float32)
    queries = torch.arange(n_keys - T, n_keys, device=device)
    distance = (queries[:, None] - torch.arange(n_keys, device=device)[None, :]).float()  # i - j
    bias = -slopes[:, None, None] * distance  # (H, T, T)
    return bias.masked_fill(distance < 0, float("-inf"))


# -- blocks ---------------------------------------------------------------------------------------
class CausalSelfAttention(nn.Module):
    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        self.dropout = config.dropout
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.c_proj.is_residual_projection = True  # GPT-2 scaled init
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(self, x, rope=None, attn_bias=None, return_probs: bool = False, kv=None):
        """``x`` (B, T, C); ``rope`` = (cos, sin) or None; ``attn_bias`` (H, T, T_keys) additive
        float mask (ALiBi, includes the causal mask) or None for plain causal attention.
        ``kv``: None, or this layer's KV cache, a dict updated in place: keys and values of the
        earlier positions (``"k"``, ``"v"``, (B, H, T_past, hd)) are read, the new ones appended,
        and ``x`` holds the T positions after them. Returns (y, probs) where probs (B, H, T, T)
        only when ``return_probs``."""
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)  # (B, T, C) each
        hd = C // self.n_head
        q = q.view(B, T, self.n_head, hd).transpose(1, 2)  # (B, H, T, hd)
        k = k.view(B, T, self.n_head, hd).transpose(1, 2)  # (B, H, T, hd)
        v = v.view(B, T, self.n_head, hd).transpose(1, 2)  # (B, H, T, hd)
        if rope is not None:
            q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        n_past = 0
        if kv is not None:
            if "k" in kv:  # the queries follow the cached positions
                n_past = kv["k"].size(2)
                k, v = torch.cat([kv["k"], k], dim=2), torch.cat([kv["v"], v], dim=2)
            kv["k"], kv["v"] = k, v

        probs = None
        if return_probs:
            # Explicit softmax (for analysis only): the fused kernel does not expose probabilities.
            scores = (q @ k.transpose(-2, -1)) / math.sqrt(hd)  # (B, H, T, n_past + T)
            if attn_bias is not None:
                scores = scores + attn_bias.to(scores.dtype)
            else:
                causal = torch.ones(T, n_past + T, dtype=torch.bool, device=x.device).tril(n_past)
                scores = scores.masked_fill(~causal, float("-inf"))
            probs = F.softmax(scores.float(), dim=-1).to(q.dtype)  # (B, H, T, T)
            y = probs @ v  # (B, H, T, hd)
        else:
            dropout_p = self.dropout if self.training else 0.0
            if attn_bias is None and n_past == 0:
                y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True)
            elif attn_bias is None and T == 1:  # one new query reads every cached key
                y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p)
            elif attn_bias is None:  # several new queries: causal, offset by the cached keys
                mask = torch.ones(T, n_past + T, dtype=torch.bool, device=x.device).tril(n_past)
                y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)
            else:
                y = F.scaled_dot_product_attention(
                    q, k, v, attn_mask=attn_bias.to(q.dtype), dropout_p=dropout_p
                )  # (B, H, T, hd)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # (B, T, C)
        return self.resid_dropout(self.c_proj(y)), probs


class MLP(nn.Module):
    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.c_proj.is_residual_projection = True  # GPT-2 scaled init
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):  # (B, T, C) -> (B, T, C)
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    """Pre-LN block: x + attn(LN(x)), then x + mlp(LN(x))."""

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x, rope=None, attn_bias=None, return_probs: bool = False, kv=None):
        a, probs = self.attn(self.ln_1(x), rope, attn_bias, return_probs, kv)
        x = x + a  # (B, T, C)
        x = x + self.mlp(self.ln_2(x))  # (B, T, C)
        return x, probs


# -- model ----------------------------------------------------------------------------------------
class Transformer(LanguageModel):
    config_class = TransformerConfig

    def __init__(self, config: TransformerConfig):
        super().__init__(config)
        C = config.n_embd
        self.wte = nn.Embedding(config.padded_vocab_size, C)
        if config.pos_encoding == "absolute":
            self.wpe = nn.Embedding(config.block_size, C)
            self.wpe.is_position_embedding = True  # dropped by num_params(non_embedding=True)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList([Block(config) for _ in range(config.n_layer)])
        self.ln_f = nn.LayerNorm(C, bias=config.bias)
        self.lm_head = nn.Linear(C, config.padded_vocab_size, bias=False)
        self.wte.weight = self.lm_head.weight  # weight tying (GPT-2)
        self.apply(self._init_weights)

    @property
    def supports_longer_context(self) -> bool:  # type: ignore[override]
        """Learned absolute positions stop at block_size; rope and alibi run at any length.
        (An instance property: ask a built model, not the class.)"""
        return self.config.pos_encoding != "absolute"

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            std = 0.02
            if getattr(module, "is_residual_projection", False):
                std = 0.02 / math.sqrt(2 * self.config.n_layer)  # two residual adds per block
            nn.init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def _run(self, idx: torch.Tensor, return_probs: bool = False, kv: list | None = None, start: int = 0):
        """Final hidden states (B, T, C) and, if asked, each layer's attention probabilities.
        With ``kv`` (one dict per layer, see :meth:`CausalSelfAttention.forward`) ``idx`` holds
        positions ``start..start+T-1`` after the ``start`` cached ones."""
        B, T = idx.size()
        self.check_context(start + T)
        cfg = self.config
        x = self.wte(idx)  # (B, T, C)
        rope = attn_bias = None
        if cfg.pos_encoding == "absolute":
            x = x + self.wpe(torch.arange(start, start + T, device=idx.device))  # (B, T, C)
        elif cfg.pos_encoding == "rope":
            rope = rope_cos_sin(T, cfg.n_embd // cfg.n_head, cfg.rope_base, idx.device, start)
        else:
            attn_bias = alibi_bias(cfg.n_head, T, idx.device, start + T)  # (H, T, start+T)
        x = self.drop(x)
        maps = []
        for i, block in enumerate(self.blocks):
            x, probs = block(x, rope, attn_bias, return_probs, None if kv is None else kv[i])
            if return_probs:
                maps.append(probs.float().mean(dim=0))  # (H, T, T), averaged over the batch
        return self.ln_f(x), maps

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        x, _ = self._run(idx)  # (B, T, C)
        logits = self.lm_head(x)  # (B, T, padded_vocab)
        return self.logits_and_loss(logits, targets)

    @torch.no_grad()
    def attention_maps(self, idx: torch.Tensor) -> torch.Tensor:
        """Batch-averaged attention probabilities (n_layer, n_head, T, T), in eval mode."""
        was_training = self.training
        self.eval()
        try:
            _, maps = self._run(idx, return_probs=True)
        finally:
            self.train(was_training)
        return torch.stack(maps)  # (n_layer, n_head, T, T)

    # -- incremental decoding: the cache protocol of mosaic.interface ---------------------------
    def _window_slides(self, T: int) -> bool:
        """Absolute positions past block_size: recompute crops to the last block_size tokens, so
        every position moves and no cached key stays valid."""
        return not self.supports_longer_context and T > self.config.block_size

    def _recompute_last(self, idx: torch.Tensor) -> torch.Tensor:
        logits, _ = self(idx[:, -self.config.block_size :])
        return logits[:, -1]

    @torch.no_grad()
    def prefill(self, idx: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """Logits (B, V) after ``idx`` (B, T); the cache holds the tokens and, per layer, the keys
        (rotated, for RoPE) and values of every position. Once an absolute-position window slides
        (T > block_size) the KV cache is dropped and each step recomputes the window."""
        cache = {"idx": idx, "kv": None}
        if self._window_slides(idx.size(1)):
            return self._recompute_last(idx), cache
        cache["kv"] = [{} for _ in self.blocks]
        x, _ = self._run(idx, kv=cache["kv"])  # (B, T, C)
        return self.logits_and_loss(self.lm_head(x[:, -1]), None)[0], cache

    @torch.no_grad()
    def decode_step(self, idx_next: torch.Tensor, cache: dict) -> tuple[torch.Tensor, dict]:
        """Logits (B, V) after one more token ``idx_next`` (B, 1)."""
        start = cache["idx"].size(1)
        cache["idx"] = torch.cat([cache["idx"], idx_next], dim=1)
        if cache["kv"] is None or self._window_slides(start + 1):
            cache["kv"] = None
            return self._recompute_last(cache["idx"]), cache
        x, _ = self._run(idx_next, kv=cache["kv"], start=start)  # (B, 1, C)
        return self.logits_and_loss(self.lm_head(x[:, -1]), None)[0], cache
