"""The one interface every language model in this project speaks, ours, the baselines' or a user's.

A model is an ``nn.Module`` subclass of :class:`LanguageModel` with

* ``config_class``: a dataclass deriving from :class:`LMConfig` (the common nanoGPT keys plus the
  model's own), and ``__init__(self, config)``;
* ``forward(idx, targets=None) -> (logits, loss)``: ``idx`` and ``targets`` are ``(B, T)`` int64,
  logits ``(B, T, vocab)``; ``loss`` is the mean cross-entropy over targets that are not
  :data:`IGNORE_INDEX`, or ``None`` without targets;
* ``generate(idx, max_new_tokens, temperature=1.0, top_k=None, generator=None, use_cache=True)``:
  sampling, provided here;
* ``num_params()``: provided here;
* ``attention_maps(idx) -> (n_layer, n_head, T, T)`` for attention-like models (batch-averaged
  attention probabilities); others raise ``NotImplementedError``.

The harness never asks a model for its name: everything it needs goes through this interface.

**Optional cache protocol** (incremental decoding). A model that overrides both

* ``prefill(idx) -> (logits, cache)``: ``idx`` (B, T) int64 with T >= 1; ``logits`` (B, vocab) are
  those of the last position (what ``forward(idx)[0][:, -1]`` gives, after the model's own
  context cropping); ``cache`` is any object the model keeps for itself;
* ``decode_step(idx_next, cache) -> (logits, cache)``: ``idx_next`` (B, 1) the token that follows;
  ``logits`` (B, vocab) those of that new last position; the returned cache replaces the old one
  (a model may update it in place and return it),

is decoded incrementally by :meth:`LanguageModel.generate`: one ``prefill`` of the prompt, then
one ``decode_step`` per new token, with the same tokens and logits as recomputing ``forward``
on the whole sequence every step. Both are called in eval mode under ``torch.no_grad()``. A model
that does not override them (e.g. a user plug-in) is decoded by full recompute, unchanged.
:meth:`LanguageModel.supports_cache` says which.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn as nn
import torch.nn.functional as F

IGNORE_INDEX = -100  # targets with this value take no part in the loss (PyTorch's default)


def class_path(cls: type) -> str:
    """``package.module:ClassName``, the plug-in path of ``cls``."""
    return f"{cls.__module__}:{cls.__qualname__}"


# How models are saved, loaded and shared is the harness's business (run directories, safetensors
# with checksums, the Hugging Face Hub: mosaic.harness.hub, which registers itself here when
# imported; ``import mosaic`` imports it). The interface itself imports nothing of the project.
_PERSISTENCE: Any = None


def set_persistence(backend: Any) -> None:
    """Register the module that implements save_pretrained / push_to_hub / from_pretrained."""
    global _PERSISTENCE
    _PERSISTENCE = backend


def _persistence() -> Any:
    if _PERSISTENCE is None:
        raise RuntimeError("no model persistence registered: import mosaic (or mosaic.harness.hub) first")
    return _PERSISTENCE


def reject_unknown_keys(values: Mapping[str, Any], accepted, where: str) -> None:
    """One error naming every key of ``values`` that is not in ``accepted`` (names or a dataclass)."""
    if dataclasses.is_dataclass(accepted):
        accepted = [f.name for f in dataclasses.fields(accepted)]
    unknown = sorted(set(values) - set(accepted))
    if unknown:
        raise ValueError(f"unknown {where} key(s) {unknown}; accepted: {sorted(accepted)}")


@dataclass
class LMConfig:
    """Keys every model accepts (nanoGPT's names). Models that do not use one ignore it."""

    vocab_size: int = 50257
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    block_size: int = 1024  # the training context; models without positions may run longer
    dropout: float = 0.0
    # Output layer rows are padded to a multiple of this (64 makes matmuls faster; 1 = no padding).
    # Padded logits are never targets and are masked to -inf so sampling never picks them.
    pad_vocab_multiple: int = 64

    @property
    def padded_vocab_size(self) -> int:
        m = self.pad_vocab_multiple
        return ((self.vocab_size + m - 1) // m) * m

    def validate(self) -> None:
        for key in ("vocab_size", "n_layer", "n_embd", "block_size", "pad_vocab_multiple"):
            if getattr(self, key) < 1:
                raise ValueError(f"{type(self).__name__}.{key} must be >= 1, got {getattr(self, key)}")
        if self.n_head < 1:
            raise ValueError(f"{type(self).__name__}.n_head must be >= 1, got {self.n_head}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"{type(self).__name__}.dropout must be in [0, 1), got {self.dropout}")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> LMConfig:
        reject_unknown_keys(values, cls, f"{cls.__name__} config")
        cfg = cls(**values)
        cfg.validate()
        return cfg


class LanguageModel(nn.Module):
    """Base class giving every model the shared parts of the interface."""

    config_class: ClassVar[type[LMConfig]] = LMConfig
    #: whether the model can run on sequences longer than ``config.block_size``
    supports_longer_context: ClassVar[bool] = True

    def __init__(self, config: LMConfig):
        super().__init__()
        self.config = config

    @classmethod
    def from_config(cls, **values: Any) -> LanguageModel:
        return cls(cls.config_class.from_dict(values))

    # -- shared helpers -------------------------------------------------------------------------
    def logits_and_loss(self, logits: torch.Tensor, targets: torch.Tensor | None):
        """Mask padded vocabulary rows and compute the mean cross-entropy over kept targets."""
        V = self.config.vocab_size
        if logits.size(-1) > V:
            logits = logits[..., :V]
        if targets is None:
            return logits, None
        loss = F.cross_entropy(
            logits.reshape(-1, V).float(), targets.reshape(-1), ignore_index=IGNORE_INDEX
        )
        return logits, loss

    def check_context(self, T: int) -> None:
        if not self.supports_longer_context and T > self.config.block_size:
            raise ValueError(
                f"{type(self).__name__} supports at most block_size={self.config.block_size} "
                f"tokens (it has learned absolute positions), got a sequence of {T}"
            )

    def num_params(self, non_embedding: bool = False) -> int:
        """Parameter count (shared tensors counted once). ``non_embedding`` drops input
        embeddings (token and learned position tables) as nanoGPT does; a tied head is kept."""
        seen: set[int] = set()
        total = 0
        for _name, p in self.named_parameters():
            if id(p) in seen:
                continue
            seen.add(id(p))
            total += p.numel()
        if non_embedding:
            for m in self.modules():
                if isinstance(m, nn.Embedding) and getattr(m, "is_position_embedding", False):
                    total -= m.weight.numel()
        return total

    def attention_maps(self, idx: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no attention maps")

    # -- sharing: run directories and the Hugging Face Hub (implemented by mosaic.harness.hub) -----
    def save_pretrained(self, save_directory, **kwargs: Any):
        """Write ``config.json`` (the architecture's registry name and this config),
        ``model.safetensors``, its ``.sha256`` and a model card into ``save_directory``: a
        directory :meth:`from_pretrained` reads. ``push_to_hub=True, repo_id="user/name"`` also
        uploads it (huggingface_hub's ``ModelHubMixin.save_pretrained``)."""
        return _persistence().save_pretrained(self, save_directory, **kwargs)

    def push_to_hub(self, repo_id: str, **kwargs: Any) -> str:
        """Upload what :meth:`save_pretrained` writes to the Hub repository ``repo_id`` (created if
        needed; ``private``, ``token``, ``branch``, ``create_pr``, ... as ``ModelHubMixin.push_to_hub``)."""
        return _persistence().push_to_hub(self, repo_id, **kwargs)

    @classmethod
    def from_pretrained(cls, source, *, device: str | torch.device = "cpu", **hub_kwargs: Any) -> LanguageModel:
        """The model of a run directory of this project, of a :meth:`save_pretrained` directory or
        of a Hub repository id (``user/name``; ``revision``, ``token``, ``cache_dir``,
        ``local_files_only``, ... as ``ModelHubMixin.from_pretrained``), in eval mode on ``device``.
        The weights are checked against their SHA-256 and loaded from safetensors (never
        unpickled). ``LanguageModel.from_pretrained`` builds whatever architecture the directory
        names if the registry may build it from a file (a plug-in path must be trusted first:
        ``mosaic.registry.trust_plugins``); ``MyModel.from_pretrained`` requires a ``MyModel``."""
        return _persistence().from_pretrained(cls, source, device=device, **hub_kwargs)

    # -- the optional cache protocol (see the module docstring) ---------------------------------
    def prefill(self, idx: torch.Tensor) -> tuple[torch.Tensor, Any]:
        """Logits (B, vocab) of the last position of ``idx`` (B, T) and the decoding cache."""
        raise NotImplementedError(f"{type(self).__name__} does not implement incremental decoding")

    def decode_step(self, idx_next: torch.Tensor, cache: Any) -> tuple[torch.Tensor, Any]:
        """Logits (B, vocab) after the token ``idx_next`` (B, 1) and the updated cache."""
        raise NotImplementedError(f"{type(self).__name__} does not implement incremental decoding")

    def supports_cache(self) -> bool:
        """Whether this model overrides both methods of the cache protocol."""
        cls = type(self)
        return cls.prefill is not LanguageModel.prefill and cls.decode_step is not LanguageModel.decode_step

    @torch.no_grad()
    def generate(
        self,
        idx: torch.Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        generator: torch.Generator | None = None,
        use_cache: bool = True,
    ) -> torch.Tensor:
        """Sample ``max_new_tokens`` tokens after ``idx`` (B, T); ``temperature=0`` is greedy.

        With ``use_cache`` and a model that implements the cache protocol, the prompt is run once
        and each new token costs one :meth:`decode_step`; otherwise the whole sequence is
        recomputed every step (models with a fixed context see only the last ``block_size``
        tokens). Both give the same tokens for the same ``generator`` state.
        """
        was_training = self.training
        self.eval()
        try:
            if use_cache and self.supports_cache() and max_new_tokens > 0:
                logits, cache = self.prefill(idx)
                for i in range(max_new_tokens):
                    idx_next = sample_next(logits, temperature, top_k, generator)
                    idx = torch.cat([idx, idx_next], dim=1)
                    if i + 1 < max_new_tokens:  # the last token's logits are never used
                        logits, cache = self.decode_step(idx_next, cache)
                return idx
            for _ in range(max_new_tokens):
                ctx = idx
                if not self.supports_longer_context and idx.size(1) > self.config.block_size:
                    ctx = idx[:, -self.config.block_size :]
                logits, _ = self(ctx)
                idx_next = sample_next(logits[:, -1, :], temperature, top_k, generator)
                idx = torch.cat([idx, idx_next], dim=1)
        finally:
            self.train(was_training)
        return idx


def sample_next(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Pick the next token from last-position logits ``(B, V)``; returns ``(B, 1)``."""
    if temperature <= 0:
        return logits.argmax(dim=-1, keepdim=True)
    logits = logits.float() / temperature
    if top_k is not None:
        v, _ = torch.topk(logits, min(top_k, logits.size(-1)))
        logits = logits.masked_fill(logits < v[:, [-1]], float("-inf"))
    probs = F.softmax(logits, dim=-1)
    return torch.multinomial(probs, num_samples=1, generator=generator)


REQUIRED_METHODS = ("forward", "generate", "num_params", "attention_maps")


def check_interface(model: Any, source: str) -> None:
    """Raise a clear TypeError if ``model`` does not speak the interface."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"{source} built a {type(model).__name__}, which is not a torch.nn.Module")
    missing = [m for m in REQUIRED_METHODS if not callable(getattr(model, m, None))]
    if missing:
        raise TypeError(
            f"{source} does not implement the model interface: missing {missing} "
            "(subclass mosaic.interface.LanguageModel to get generate/num_params/attention_maps)"
        )
    if not hasattr(model, "config"):
        raise TypeError(f"{source} has no `config` attribute (its LMConfig dataclass)")
