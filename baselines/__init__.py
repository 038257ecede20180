"""Peer architectures, registered with :func:`mosaic.registry.register_model` on import:
``transformer`` (GPT-2; absolute, rotary or ALiBi positions), ``lstm``, ``gru`` and ``ssm``
(Mamba-style selective state space)."""
from . import recurrent, ssm, transformer
from .recurrent import GRU, LSTM, RecurrentConfig
from .ssm import SSM, SSMConfig
from .transformer import Transformer, TransformerConfig

__all__ = [
    "GRU",
    "LSTM",
    "RecurrentConfig",
    "SSM",
    "SSMConfig",
    "Transformer",
    "TransformerConfig",
    "recurrent",
    "ssm",
    "transformer",
]
