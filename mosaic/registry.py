"""One open registry of architectures: built-ins, plug-ins by dotted path, and entry points.

``build_model(name, **config)`` resolves ``name`` in this order:

1. a built-in name (:data:`BUILTINS`: ``mosaic``, ``transformer``, ``lstm``, ``gru``, ``ssm``) or a
   name a user registered in code with :func:`register_model`;
2. a dotted path ``package.module:ClassName`` naming a :class:`~mosaic.interface.LanguageModel`
   subclass (only modules the user names are imported);
3. an entry point in the group ``mosaic.models`` of an installed distribution.

Nothing else in the harness may special-case an architecture by name.

**Run directories are data.** A name the user gives (config, command line, code) is imported as
asked. A name read from a file, e.g. the ``arch`` of a run's ``config.json``, is built only when
:func:`loadable_from_run` allows it: a registered name, an installed entry point, or a plug-in
path the user trusted with :func:`trust_plugins` (the CLIs do it for ``--allow-plugin`` and for
the architectures their config section lists). Loading a run never imports a module it names.
"""
from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

import torch

from mosaic.interface import LanguageModel, check_interface

ENTRY_POINT_GROUP = "mosaic.models"
# name -> "module:Class", imported on first use: the registry imports no architecture itself (the
# model and the baselines import nothing from here either, so no import cycle exists).
BUILTINS = {
    "mosaic": "mosaic.model.network:MemoryMosaic",
    "transformer": "mosaic.baselines.transformer:Transformer",
    "lstm": "mosaic.baselines.recurrent:LSTM",
    "gru": "mosaic.baselines.recurrent:GRU",
    "ssm": "mosaic.baselines.ssm:SSM",
}
_REGISTRY: dict[str, type[LanguageModel]] = {}  # names registered in code (register_model)
_TRUSTED_PLUGINS: set[str] = set()  # plug-in paths the user named (see the module docstring)


def register_model(name: str) -> Callable[[type[LanguageModel]], type[LanguageModel]]:
    """Class decorator: ``@register_model("mymodel")``."""

    def deco(cls: type[LanguageModel]) -> type[LanguageModel]:
        if name in BUILTINS:
            raise ValueError(f"model name {name!r} is a built-in architecture ({BUILTINS[name]})")
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"model name {name!r} is already registered to {_REGISTRY[name]}")
        _REGISTRY[name] = cls
        return cls

    return deco


def available_models() -> list[str]:
    names = set(BUILTINS) | set(_REGISTRY)
    names.update(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))
    return sorted(names)


def trust_plugins(names) -> None:
    """Allow the plug-in paths ``names`` (``package.module:Class``) to be built from run files."""
    _TRUSTED_PLUGINS.update(n for n in names if isinstance(n, str) and ":" in n)


def loadable_from_run(name: str) -> bool:
    """Whether architecture ``name``, read from a run directory's files, may be built: registered,
    an installed entry point, or a plug-in path passed to :func:`trust_plugins`."""
    if name in BUILTINS or name in _REGISTRY or name in _TRUSTED_PLUGINS:
        return True
    return ":" not in name and any(ep.name == name for ep in entry_points(group=ENTRY_POINT_GROUP))


def _from_dotted_path(path: str) -> type:
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise ValueError(f"plugin path {path!r} must look like 'package.module:ClassName'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import plugin module {module_name!r} (from {path!r}): {exc}") from exc
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ValueError(f"plugin module {module_name!r} has no attribute {attr!r} (from {path!r})") from None


def resolve_model(name: str) -> type[LanguageModel]:
    """Find the model class for ``name`` (built-in or registered name, dotted path, or entry point)."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    if name in BUILTINS:
        cls = _from_dotted_path(BUILTINS[name])
    elif ":" in name:
        cls = _from_dotted_path(name)
    else:
        eps = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
        if not eps:
            close = difflib.get_close_matches(name, available_models(), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(
                f"unknown architecture {name!r}{hint}; registered: {sorted(set(BUILTINS) | set(_REGISTRY))}; a plug-in is "
                "named by 'package.module:ClassName' or an entry point in group 'mosaic.models'"
            )
        cls = eps[0].load()
    if not (isinstance(cls, type) and issubclass(cls, LanguageModel)):
        raise TypeError(f"{name!r} resolves to {cls!r}, which is not a mosaic.interface.LanguageModel subclass")
    return cls


def build_model(name: str, **config: Any) -> LanguageModel:
    """Build architecture ``name`` from config keys (common nanoGPT keys + model-specific ones)."""
    cls = resolve_model(name)
    model = cls.from_config(**config)
    check_interface(model, f"architecture {name!r}")
    check_forward(model, f"architecture {name!r}")
    return model


PROBE_TOKENS = 2  # length of the probe sequence: the smallest that has a next-token target


@torch.no_grad()
def check_forward(model: LanguageModel, source: str) -> None:
    """Run ``forward`` once on a tiny batch and check the interface's contract
    ``forward(idx (B, T), targets (B, T)) -> (logits (B, T, vocab_size), scalar loss)``.

    A plug-in with another signature or output shape fails here, at build time, in one line,
    instead of deep inside the trainer or an analysis. Eval mode, so dropout draws no random
    numbers and the caller's seeded stream is untouched; a forward that raises anything other
    than a signature mismatch is a bug in the model and keeps its traceback."""
    cfg = model.config
    T = max(1, min(PROBE_TOKENS, int(getattr(cfg, "block_size", PROBE_TOKENS))))
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    idx = torch.zeros(1, T, dtype=torch.long, device=device)  # (B, T)
    was_training = model.training
    model.eval()
    try:
        out = model(idx, idx)
    except TypeError as exc:
        raise TypeError(f"{source}: forward(idx, targets) failed on a (1, {T}) batch: {exc} "
                        "(the interface is forward(idx, targets=None) -> (logits, loss))") from None
    finally:
        model.train(was_training)
    if not (isinstance(out, (tuple, list)) and len(out) == 2):
        raise TypeError(f"{source}: forward must return (logits, loss), got {_describe(out)}")
    logits, loss = out
    want = (1, T, int(cfg.vocab_size))
    if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != want:
        raise TypeError(f"{source}: forward returned logits of shape {_describe(logits)}, expected "
                        f"(B, T, vocab_size) = {want} (LanguageModel.logits_and_loss crops padding)")
    if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
        raise TypeError(f"{source}: forward with targets must return a scalar loss, got {_describe(loss)}")


def _describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return str(tuple(value.shape))
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)}"
    return type(value).__name__
