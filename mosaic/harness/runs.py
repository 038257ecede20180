"""Rebuild a trained model from its run directory, whatever its architecture.

A language-model run directory (``results/runs/<experiment>/<run>/``) holds ``config.json``
(written by :func:`mosaic.harness.train.train`) whose ``run`` entry records ``arch`` (a registry name or
plug-in path) and ``model`` (the keyword config given to :func:`mosaic.build_model`), and
``model.pt``, the final weights. Analyses load models only through here, and a run directory is data: its ``arch`` is built only
if :func:`mosaic.registry.loadable_from_run` allows it (a plug-in path must have been named by the
user: ``--allow-plugin`` or the config's architecture lists).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from mosaic.registry import build_model, loadable_from_run
from mosaic.harness.train import CONFIG, WEIGHTS, load_trained


def run_spec(run_dir: str | Path) -> dict[str, Any]:
    """The ``run`` entry of ``run_dir/config.json`` (arch, model config, data, ...)."""
    path = Path(run_dir) / CONFIG
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: {run_dir} is not a finished training run")
    spec = json.loads(path.read_text(encoding="utf-8")).get("run") or {}
    missing = [k for k in ("arch", "model") if k not in spec]
    if missing:
        raise ValueError(f"{path}: run config lacks {missing}; it was not written by a language-model run")
    return spec


def load_run_model(run_dir: str | Path, device: str | torch.device = "cpu",
                   weights: str = WEIGHTS) -> torch.nn.Module:
    """Build the run's architecture from its config and load its weights (eval mode):
    ``model.pt`` (final) by default, or another weights file of the run (e.g. a best checkpoint)."""
    spec = run_spec(run_dir)
    arch = spec["arch"]
    if not isinstance(arch, str) or not loadable_from_run(arch):
        raise ValueError(f"{Path(run_dir) / CONFIG} names architecture {arch!r}, which is neither registered "
                         "nor installed; a run directory is data and never imports the code it names. "
                         f"If you trust it, pass --allow-plugin {arch} (or list it in the config's architectures)")
    model = build_model(arch, **spec["model"])
    try:
        load_trained(model, run_dir, weights)
    except RuntimeError as exc:  # state-dict shape/key mismatch
        raise ValueError(f"{run_dir}/{weights} does not match the config in {run_dir}/config.json: "
                         f"{str(exc).splitlines()[0]}") from None
    return model.to(device).eval()
