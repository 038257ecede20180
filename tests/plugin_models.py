"""Architectures that join the registry only by dotted path (used by tests/test_interface.py)."""
from dataclasses import dataclass

import torch.nn as nn

from mosaic.interface import LanguageModel, LMConfig


@dataclass
class BigramConfig(LMConfig):
    smoothing: float = 0.0


class BigramLM(LanguageModel):
    """The smallest model that speaks the interface: next-token logits from the current token."""

    config_class = BigramConfig

    def __init__(self, config: BigramConfig):
        super().__init__(config)
        self.table = nn.Embedding(config.padded_vocab_size, config.padded_vocab_size)
        nn.init.zeros_(self.table.weight)  # start from uniform predictions

    def forward(self, idx, targets=None):
        return self.logits_and_loss(self.table(idx), targets)


class NotAModel:
    """Does not subclass LanguageModel: the registry must refuse it."""
