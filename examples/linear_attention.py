"""A complete plug-in architecture: a causal linear-attention transformer (Katharopoulos et al.,
"Transformers are RNNs", ICML 2020), joined to the harness through config only.

Name it in any experiment's architecture list, e.g. in an overlay config::

    stories:  {architectures: [mosaic, transformer, "examples.linear_attention:LinearAttentionLM"]}
    regbench: {architectures: [mosaic, transformer, lstm, ssm, "examples.linear_attention:LinearAttentionLM"]}

and it is trained and drawn in Figs. 9, 10, 11, Tables 1, 4, 5 and the runtime table next to the
built-in models. Jobs run from the repository root, which is on ``PYTHONPATH`` (the Snakefile's
directory is added in workflow/rules/common.smk), so ``examples`` imports like any package.

The model. Softmax attention ``y_t = Σ_{s≤t} exp(q_t·k_s) v_s / Σ_{s≤t} exp(q_t·k_s)`` is replaced by
a kernel ``φ(q)·φ(k)`` with the feature map ``φ(x) = elu(x) + 1`` (positive, so the weights stay a
distribution)::

    y_t = φ(q_t)ᵀ S_t / φ(q_t)ᵀ z_t,     S_t = Σ_{s≤t} φ(k_s) v_sᵀ  (D x D),   z_t = Σ_{s≤t} φ(k_s)

so a layer is an RNN with a D x D state per head: linear time in T, and constant cost per
generated token (the cache protocol below). No positional encoding: like the Memory Mosaic, it
runs on contexts longer than it was trained on. Blocks are GPT-2's (pre-LayerNorm, attention then
a 4x GELU MLP, residuals, tied output layer).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from mosaic.interface import LanguageModel, LMConfig


@dataclass
class LinearAttentionConfig(LMConfig):
    bias: bool = False  # biases in the linear layers and LayerNorms (GPT-2: True)
    chunk_size: int = 64  # positions per block of the chunked scan (speed only; results identical)


def feature_map(x: torch.Tensor) -> torch.Tensor:
    """φ(x) = elu(x) + 1 > 0 (Katharopoulos et al. 2020, eq. 7)."""
    return F.elu(x) + 1.0


def causal_linear_attention(q, k, v, chunk_size: int, state=None):
    """``y_t = φq_tᵀ S_t / φq_tᵀ z_t`` for all t, chunk by chunk: within a chunk the masked
    quadratic form, across chunks the running state (S, z). q, k are φ-mapped already.

    q, k, v: (B, H, T, D); state: (S (B, H, D, D), z (B, H, D)) before position 0, or None.
    Returns y (B, H, T, D) in v's dtype and the float32 state after the last position.

    Runs in float32 even under bf16 autocast: S and z are sums over the whole sequence, which
    bf16's 8-bit mantissa would round away after a few hundred positions."""
    with torch.autocast(device_type=q.device.type, enabled=False):
        y, state = _scan(q.float(), k.float(), v.float(), chunk_size, state)
    return y.to(v.dtype), state


def _scan(q, k, v, chunk_size, state):
    B, H, T, D = q.shape
    S = q.new_zeros(B, H, D, D) if state is None else state[0]
    z = q.new_zeros(B, H, D) if state is None else state[1]
    out = []
    for start in range(0, T, chunk_size):
        qc, kc, vc = (t[:, :, start:start + chunk_size] for t in (q, k, v))  # (B, H, C, D)
        C = qc.size(2)
        mask = torch.ones(C, C, dtype=torch.bool, device=q.device).tril()
        scores = (qc @ kc.transpose(-2, -1)).masked_fill(~mask, 0.0)  # (B, H, C, C), s <= t
        num = scores @ vc + qc @ S  # (B, H, C, D)
        den = scores.sum(-1) + (qc * z.unsqueeze(2)).sum(-1)  # (B, H, C)
        out.append(num / den.unsqueeze(-1))
        S = S + kc.transpose(-2, -1) @ vc
        z = z + kc.sum(2)
    return torch.cat(out, dim=2), (S, z)


class LinearSelfAttention(nn.Module):
    def __init__(self, config: LinearAttentionConfig):
        super().__init__()
        assert config.n_embd % config.n_head == 0, "n_embd must be a multiple of n_head"
        self.n_head, self.chunk_size = config.n_head, config.chunk_size
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.drop = nn.Dropout(config.dropout)

    def _heads(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        return feature_map(q), feature_map(k), v  # (B, H, T, D) each

    def forward(self, x, state=None):
        B, T, C = x.shape
        q, k, v = self._heads(x)
        y, state = causal_linear_attention(q, k, v, self.chunk_size, state)
        y = y.transpose(1, 2).reshape(B, T, C)
        return self.drop(self.proj(y)), state

    def weights(self, x):
        """The attention distribution each position puts on earlier ones: (B, H, T, T)."""
        q, k, _ = self._heads(x)
        scores = (q @ k.transpose(-2, -1)).tril()
        return scores / scores.sum(-1, keepdim=True)


class Block(nn.Module):
    def __init__(self, config: LinearAttentionConfig):
        super().__init__()
        C = config.n_embd
        self.ln_1 = nn.LayerNorm(C, bias=config.bias)
        self.attn = LinearSelfAttention(config)
        self.ln_2 = nn.LayerNorm(C, bias=config.bias)
        self.mlp = nn.Sequential(nn.Linear(C, 4 * C, bias=config.bias), nn.GELU(),
                                 nn.Linear(4 * C, C, bias=config.bias), nn.Dropout(config.dropout))

    def forward(self, x, state=None):
        a, state = self.attn(self.ln_1(x), state)
        x = x + a
        return x + self.mlp(self.ln_2(x)), state


class LinearAttentionLM(LanguageModel):
    config_class = LinearAttentionConfig
    supports_longer_context = True  # no positions

    def __init__(self, config: LinearAttentionConfig):
        super().__init__(config)
        self.wte = nn.Embedding(config.padded_vocab_size, config.n_embd)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.lm_head = nn.Linear(config.n_embd, config.padded_vocab_size, bias=False)
        self.wte.weight = self.lm_head.weight  # weight tying
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # GPT-2: residual projections scaled by depth
            if name.endswith("proj.weight") or name.endswith("mlp.2.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def _run(self, idx, states=None):
        x = self.drop(self.wte(idx))  # (B, T, C)
        new_states = []
        for i, block in enumerate(self.blocks):
            x, state = block(x, None if states is None else states[i])
            new_states.append(state)
        return self.lm_head(self.ln_f(x)), new_states  # (B, T, padded vocab)

    def forward(self, idx, targets=None):
        logits, _ = self._run(idx)
        return self.logits_and_loss(logits, targets)

    @torch.no_grad()
    def attention_maps(self, idx):
        """(n_layer, n_head, T, T): each layer's attention distribution, averaged over the batch."""
        maps, x = [], self.wte(idx)
        for block in self.blocks:
            maps.append(block.attn.weights(block.ln_1(x)).mean(0))
            x, _ = block(x)
        return torch.stack(maps)

    # -- cache protocol: the state (S, z) of every layer is the whole cache ---------------------
    def prefill(self, idx):
        logits, states = self._run(idx)
        return self.logits_and_loss(logits[:, -1], None)[0], states

    def decode_step(self, idx_next, cache):
        logits, states = self._run(idx_next, cache)
        return self.logits_and_loss(logits[:, -1], None)[0], states
