"""One open registry of architectures: built-ins, plug-ins by dotted path, and entry points.

``build_model(name, **config)`` resolves ``name`` in this order:

1. a name registered with :func:`register_model` (``mosaic``, ``transformer``, ``lstm``, ``gru``,
   ``ssm`` and anything a user registers in code);
2. a dotted path ``package.module:ClassName`` naming a :class:`~mosaic.interface.LanguageModel`
   subclass (only modules the user names are imported);
3. an entry point in the group ``mosaic.models`` of an installed distribution.

Nothing else in the harness may special-case an architecture by name.
"""
from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any, Callable

from .interface import LanguageModel, check_interface

ENTRY_POINT_GROUP = "mosaic.models"
_REGISTRY: dict[str, type[LanguageModel]] = {}
_BUILTINS_LOADED = False


def register_model(name: str) -> Callable[[type[LanguageModel]], type[LanguageModel]]:
    """Class decorator: ``@register_model("mymodel")``."""

    def deco(cls: type[LanguageModel]) -> type[LanguageModel]:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"model name {name!r} is already registered to {_REGISTRY[name]}")
        _REGISTRY[name] = cls
        return cls

    return deco


def _load_builtins() -> None:
    global _BUILTINS_LOADED
    if not _BUILTINS_LOADED:
        _BUILTINS_LOADED = True
        importlib.import_module("mosaic.model")
        importlib.import_module("baselines")


def available_models() -> list[str]:
    _load_builtins()
    names = set(_REGISTRY)
    names.update(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))
    return sorted(names)


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
    """Find the model class for ``name`` (registered name, dotted path, or entry point)."""
    _load_builtins()
    if name in _REGISTRY:
        return _REGISTRY[name]
    if ":" in name:
        cls = _from_dotted_path(name)
    else:
        eps = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
        if not eps:
            raise ValueError(
                f"unknown architecture {name!r}; registered: {sorted(_REGISTRY)}; a plug-in is "
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
    return model
