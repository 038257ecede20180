"""Shareable models: the final-weights file of a run, its checksum, and the Hugging Face Hub.

A directory a model loads from (a run directory written by :func:`mosaic.harness.train.train`, a
directory written by :meth:`~mosaic.interface.LanguageModel.save_pretrained`, or a Hub repository
holding the same files) contains

* ``config.json``: its ``run`` entry names the architecture (``arch``: a registry name or
  plug-in path) and the keyword config the model is built from (``model``);
* ``model.safetensors`` (:data:`WEIGHTS`): the weights in the safetensors format, tensors and a
  JSON header only, so loading never unpickles anything;
* ``model.safetensors.sha256`` (:data:`WEIGHTS_SHA256`): the file's SHA-256 in ``sha256sum``
  format (``sha256sum -c model.safetensors.sha256`` checks it by hand). Every load checks it
  first: a copy damaged by one byte is refused with one line, never half-loaded;
* whatever else the experiment adds (``train(..., artifacts=...)``, e.g. a tokenizer's files).

Run directories written before this format hold ``model.pt`` (:data:`LEGACY_WEIGHTS`) instead;
they still load, with ``torch.load(weights_only=True)`` (tensors only, as before). A run that is
trained again (e.g. by Snakemake asking for ``model.safetensors``) finishes from its final
checkpoint, writes ``model.safetensors`` and removes ``model.pt``.

The Hub methods go through ``huggingface_hub``'s :class:`~huggingface_hub.ModelHubMixin`, which
is imported only when one of them is called (``import mosaic`` stays light): ``save_pretrained``
writes the files above and a model card; ``push_to_hub`` uploads them; ``from_pretrained`` takes a
local directory or a Hub id (e.g. ``user/mosaic-stories``), downloads ``config.json``, the weights
and their checksum, and rebuilds the model. To share a run with its tokenizer files, upload the
run directory itself (``hf upload user/name results/runs/stories/mosaic_L2 --exclude
"checkpoint*" --exclude ".lock"``): ``from_pretrained`` reads it the same way.

**A directory is data.** Its ``arch`` is built only if :func:`mosaic.registry.loadable_from_run`
allows it (a plug-in path must have been trusted: :func:`mosaic.registry.trust_plugins`), or if
the caller named the class itself: ``MyModel.from_pretrained(path)`` builds ``MyModel`` when the
directory's ``arch`` is ``MyModel``'s own path or resolves to it.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import os
import sys
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from mosaic import interface, registry
from mosaic.harness.io import write_json
from mosaic.harness.runs import load_run_model
from mosaic.harness.weights import LEGACY_WEIGHTS, WEIGHTS, WEIGHTS_SHA256, save_weights  # noqa: F401
from mosaic.interface import LanguageModel, class_path

CONFIG = "config.json"
PAPER_URL = "https://arxiv.org/abs/2405.06394"
# The model card of save_pretrained / push_to_hub (Jinja, rendered by huggingface_hub's ModelCard).
MODEL_CARD = """---
{{ card_data }}
---

# {{ arch }}: a language model of the Memory Mosaics harness

Saved by the `memory-mosaics` package, the reference harness for Memory Mosaics (Zhang, Nolte,
Sadhukhan, Chen, Bottou; ICLR 2025, [arXiv 2405.06394](https://arxiv.org/abs/2405.06394)), which
compares the paper's model with transformers, RNNs and SSMs.

```python
from mosaic import LanguageModel
model = LanguageModel.from_pretrained("{{ repo_id | default('<this repository>', true) }}")
```

* architecture: `{{ arch }}` ({{ num_params }} parameters); its config is `run.model` in `config.json`;
* weights: `model.safetensors`, checked against `model.safetensors.sha256` at every load.
"""


# -- the architecture a class is built as ---------------------------------------------------------
def arch_name(cls: type) -> str:
    """The name the registry builds ``cls`` under: a built-in or registered name, an installed
    entry point, else its plug-in path."""
    from importlib.metadata import entry_points  # noqa: PLC0415


    path = class_path(cls)
    for name, target in registry.BUILTINS.items():
        if target == path:
            return name
    for name, registered in registry._REGISTRY.items():  # names registered in code (register_model)
        if registered is cls:
            return name
    for ep in entry_points(group=registry.ENTRY_POINT_GROUP):
        if ep.value == path:
            return ep.name
    return path


def model_config_dict(model: nn.Module) -> dict[str, Any]:
    """The model's config dataclass as JSON types (what ``build_model(arch, **config)`` takes)."""
    config = getattr(model, "config", None)
    if not dataclasses.is_dataclass(config):
        raise TypeError(f"{type(model).__name__}.config is not a dataclass (an LMConfig); it cannot be saved")
    return json.loads(json.dumps(dataclasses.asdict(config)))


def _num_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())  # (nn.Module.parameters yields a tied tensor once)


def write_model_dir(model: nn.Module, directory: str | os.PathLike) -> None:
    """Write ``config.json`` (in a run directory's format), the weights and their checksum."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    write_json(directory / CONFIG, {"run": {"arch": arch_name(type(model)), "model": model_config_dict(model)},
                                    "num_params": _num_params(model), "library": "memory-mosaics"})
    save_weights(model, directory / WEIGHTS)


# -- the Hub, through huggingface_hub's ModelHubMixin ---------------------------------------------
@functools.cache
def _hub_class() -> type:
    """The ModelHubMixin subclass carrying one of our models (built on first use: importing
    huggingface_hub takes about a second)."""
    from huggingface_hub import ModelHubMixin  # noqa: PLC0415

    class HubModel(ModelHubMixin, library_name="memory-mosaics", paper_url=PAPER_URL, model_card_template=MODEL_CARD,
                   tags=["memory-mosaics", "language-model"]):
        """The mixin's save/push/download machinery around one LanguageModel: our own files are
        written by ``_save_pretrained`` (so the mixin writes no config.json of its own, only the
        model card) and read by ``_from_pretrained``."""

        def __init__(self, language_model: nn.Module):
            self.language_model = language_model

        def _save_pretrained(self, save_directory: Path) -> None:
            write_model_dir(self.language_model, save_directory)

        def generate_model_card(self, *args: Any, **kwargs: Any):
            model = self.language_model
            kwargs.setdefault("arch", arch_name(type(model)))
            kwargs.setdefault("num_params", f"{_num_params(model):,}")
            return super().generate_model_card(*args, **kwargs)

        @classmethod
        def _from_pretrained(cls, *, model_id: str, revision: str | None, cache_dir: str | Path | None,
                             force_download: bool, local_files_only: bool, token: str | bool | None,
                             config: dict | None = None, expected: type | None = None,
                             device: str | torch.device = "cpu", **unused: Any) -> HubModel:
            from huggingface_hub import hf_hub_download  # noqa: PLC0415
            from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError  # noqa: PLC0415

            if os.path.isdir(model_id):
                directory = Path(model_id)
            else:
                if config is None:
                    raise FileNotFoundError(f"{model_id}: no {CONFIG} found on the Hub (or in the local cache); "
                                            "it is not a model saved by this project")
                try:
                    paths = [hf_hub_download(repo_id=model_id, filename=name, revision=revision, cache_dir=cache_dir,
                                             force_download=force_download, token=token,
                                             local_files_only=local_files_only)
                             for name in (WEIGHTS, WEIGHTS_SHA256)]
                except (HfHubHTTPError, LocalEntryNotFoundError) as exc:
                    raise FileNotFoundError(f"{model_id}: cannot get {WEIGHTS} and {WEIGHTS_SHA256} from the Hub "
                                            f"({str(exc).strip().splitlines()[0]})") from None
                directory = Path(paths[0]).parent  # config.json is in the same snapshot folder

            return cls(load_run_model(directory, device, expected=expected))

    return HubModel


def save_pretrained(model: nn.Module, save_directory: str | os.PathLike, **kwargs: Any) -> str | None:
    """:meth:`ModelHubMixin.save_pretrained` for ``model`` (``push_to_hub=True, repo_id=...``
    also uploads)."""
    if kwargs.get("repo_id"):
        kwargs["model_card_kwargs"] = {"repo_id": kwargs["repo_id"], **(kwargs.get("model_card_kwargs") or {})}
    return _hub_class()(model).save_pretrained(save_directory, **kwargs)


def push_to_hub(model: nn.Module, repo_id: str, **kwargs: Any) -> str:
    """:meth:`ModelHubMixin.push_to_hub`: upload config.json, the weights, their checksum and a
    model card to the Hub repository ``repo_id`` (created if needed)."""
    kwargs["model_card_kwargs"] = {"repo_id": repo_id, **(kwargs.get("model_card_kwargs") or {})}
    return _hub_class()(model).push_to_hub(repo_id, **kwargs)


def from_pretrained(cls: type, source: str | os.PathLike, *, device: str | torch.device = "cpu",
                    **hub_kwargs: Any) -> nn.Module:
    """A model rebuilt from a directory (run directory or ``save_pretrained`` output) or a Hub id,
    in eval mode on ``device``. ``cls`` is the class ``from_pretrained`` was called on: the base
    :class:`~mosaic.interface.LanguageModel` builds whatever the directory names (if allowed: see
    the module docstring); a subclass insists on being what is built. ``hub_kwargs``: revision,
    token, cache_dir, force_download, local_files_only (Hub ids only)."""
    expected = None if cls is LanguageModel else cls
    path = Path(source)
    if path.is_dir():

        return load_run_model(path, device, expected=expected)
    if path.exists():
        raise NotADirectoryError(f"{source} is a file; from_pretrained takes a run directory or a Hub id")
    if str(source).count("/") > 1 or str(source).startswith((".", "/", "~")):
        raise FileNotFoundError(f"{source}: no such run directory (and not a Hub id, which looks like user/name)")
    hub_class = _hub_class()  # imports huggingface_hub
    from huggingface_hub.errors import HfHubHTTPError, HFValidationError, LocalEntryNotFoundError  # noqa: PLC0415

    try:
        hub_model = hub_class.from_pretrained(str(source), expected=expected, device=device, **hub_kwargs)
    except (HfHubHTTPError, HFValidationError, LocalEntryNotFoundError) as exc:
        raise FileNotFoundError(f"{source}: not a local directory, and not available from the Hub "
                                f"({str(exc).strip().splitlines()[0]})") from None
    return hub_model.language_model


interface.set_persistence(sys.modules[__name__])  # what LanguageModel.save_pretrained & co. call
