"""Peer architectures, built by name through :data:`mosaic.registry.BUILTINS`:
``transformer`` (GPT-2; absolute, rotary or ALiBi positions), ``lstm``, ``gru`` and ``ssm``
(Mamba-style selective state space)."""
from mosaic.baselines import recurrent, ssm, transformer
from mosaic.baselines.recurrent import GRU, LSTM, RecurrentConfig
from mosaic.baselines.ssm import SSM, SSMConfig
from mosaic.baselines.transformer import Transformer, TransformerConfig

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
