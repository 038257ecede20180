"""Plug-ins that subclass LanguageModel but break its forward contract (tests/test_bad_inputs.py):
``build_model`` must refuse them in one line at build time, not fail later inside the trainer."""
import torch.nn as nn

from mosaic.interface import LanguageModel


class NoTargetsLM(LanguageModel):
    """``forward(idx)`` without the ``targets`` argument the trainer passes."""

    def __init__(self, config):
        super().__init__(config)
        self.table = nn.Embedding(config.padded_vocab_size, config.vocab_size)

    def forward(self, idx):  # noqa: D102  (the wrong signature is the point)
        return self.table(idx), None


class LastPositionLM(LanguageModel):
    """Returns logits of the last position only, ``(B, vocab)`` instead of ``(B, T, vocab)``."""

    def __init__(self, config):
        super().__init__(config)
        self.table = nn.Embedding(config.padded_vocab_size, config.padded_vocab_size)

    def forward(self, idx, targets=None):
        logits, _ = self.logits_and_loss(self.table(idx), None)
        return logits[:, -1, :], None
