"""Recurrent language models: LSTM (Hochreiter & Schmidhuber 1997) and GRU (Cho et al. 2014).

The classic recurrent peers in the Memory Mosaics comparisons (e.g. the in-context language
learning benchmark of Akyürek et al. 2024, whose LSTM stacks recurrent layers with no MLP):

    token embedding -> dropout -> n_layer LSTM/GRU layers of width n_embd (dropout between
    layers) -> LayerNorm -> output layer tied to the embedding.

They keep no positions and run on any length; ``n_head`` and ``block_size`` are accepted (the
common config keys) and ignored. Both names share one class, parametrised by ``cell``.
"""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn as nn

from mosaic.interface import LanguageModel, LMConfig

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU}


@dataclass
class RecurrentConfig(LMConfig):
    """The common keys only; ``n_embd`` is both the embedding and the hidden width."""


class RecurrentLM(LanguageModel):
    config_class = RecurrentConfig
    cell: ClassVar[str] = "lstm"  # key of CELLS; set by the registered subclasses below

    def __init__(self, config: RecurrentConfig):
        super().__init__(config)
        C = config.n_embd
        self.wte = nn.Embedding(config.padded_vocab_size, C)
        self.drop = nn.Dropout(config.dropout)
        # torch applies `dropout` to the outputs of every layer but the last (and warns if
        # there is only one layer), hence the guard.
        self.rnn = CELLS[self.cell](
            input_size=C,
            hidden_size=C,
            num_layers=config.n_layer,
            batch_first=True,
            dropout=config.dropout if config.n_layer > 1 else 0.0,
        )
        self.ln_f = nn.LayerNorm(C)
        self.lm_head = nn.Linear(C, config.padded_vocab_size, bias=False)
        self.wte.weight = self.lm_head.weight  # weight tying
        # GPT-2's embedding init; the recurrent weights keep torch's uniform(+-1/sqrt(C)) init.
        nn.init.normal_(self.wte.weight, mean=0.0, std=0.02)

    def _recur(self, idx: torch.Tensor, state=None):
        """Top layer's hidden states (B, T, C) for ``idx`` (B, T) and the final recurrent state
        (``(h, c)`` for an LSTM, ``h`` for a GRU), starting from ``state`` (None: zeros)."""
        x = self.drop(self.wte(idx))  # (B, T, C)
        # CPU autocast would cast the recurrence to bfloat16, for which oneDNN lacks an LSTM/GRU
        # kernel on some CPUs: keep it in the parameters' dtype there (a no-op without autocast).
        with torch.autocast(device_type="cpu", enabled=False) if x.device.type == "cpu" else nullcontext():
            return self.rnn(x, state)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        h, _ = self._recur(idx)  # (B, T, C): top layer's hidden state at every step
        logits = self.lm_head(self.ln_f(h))  # (B, T, padded_vocab)
        return self.logits_and_loss(logits, targets)

    # -- incremental decoding: the cache protocol of mosaic.interface; the cache is the state --
    @torch.no_grad()
    def prefill(self, idx: torch.Tensor):
        h, state = self._recur(idx)
        return self.logits_and_loss(self.lm_head(self.ln_f(h[:, -1])), None)[0], state

    @torch.no_grad()
    def decode_step(self, idx_next: torch.Tensor, state):
        h, state = self._recur(idx_next, state)  # (B, 1, C)
        return self.logits_and_loss(self.lm_head(self.ln_f(h[:, -1])), None)[0], state


class LSTM(RecurrentLM):
    cell = "lstm"


class GRU(RecurrentLM):
    cell = "gru"
