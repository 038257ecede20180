"""Memory Mosaics (Zhang et al., ICLR 2025): networks of associative memories, and the harness that
compares them with transformers, RNNs and SSMs on the paper's experiments.

    from mosaic import MemoryMosaic, MemoryMosaicConfig, build_model
    model = MemoryMosaic(MemoryMosaicConfig(vocab_size=50257, n_layer=12, n_head=12, n_embd=768))
    model = build_model("transformer", n_layer=2)   # any architecture of the registry

Packages: :mod:`mosaic.model` (the paper's model, plain PyTorch), :mod:`mosaic.kernels` (its fast
paths, one switch), :mod:`mosaic.baselines`, :mod:`mosaic.harness` (trainer, checkpoints, config,
runs, plotting), :mod:`mosaic.experiments` (three moons, stories, analyses, RegBench, induction, the
claims scorecard); the command line is ``mosaic`` / ``python -m mosaic`` (:mod:`mosaic.cli`).
"""
from mosaic.harness import hub as _hub  # noqa: F401  (registers how LanguageModel saves, loads and shares)
from mosaic.interface import IGNORE_INDEX, LanguageModel, LMConfig
from mosaic.model import MemoryMosaic, MemoryMosaicConfig
from mosaic.registry import available_models, build_model, register_model, resolve_model

__all__ = [
    "IGNORE_INDEX",
    "LMConfig",
    "LanguageModel",
    "MemoryMosaic",
    "MemoryMosaicConfig",
    "available_models",
    "build_model",
    "register_model",
    "resolve_model",
]
