"""Memory Mosaics: networks of associative memories (Zhang et al., ICLR 2025), and the harness
that compares them with transformers, RNNs and SSMs."""
from mosaic.interface import IGNORE_INDEX, LanguageModel, LMConfig
from mosaic.registry import available_models, build_model, register_model, resolve_model

__all__ = [
    "IGNORE_INDEX",
    "LMConfig",
    "LanguageModel",
    "available_models",
    "build_model",
    "register_model",
    "resolve_model",
]
