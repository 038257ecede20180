"""Rebuild a trained model from its run directory, whatever its architecture.

A language-model run directory (``results/runs/<experiment>/<run>/``) holds ``config.json``
(written by :func:`mosaic.harness.train.train`) whose ``run`` entry records ``arch`` (a registry name or
plug-in path) and ``model`` (the keyword config given to :func:`mosaic.build_model`), and
``model.safetensors``, the final weights, checked against ``model.safetensors.sha256`` at every load
(:mod:`mosaic.harness.weights`; a run written before that format has ``model.pt``, still loaded).
Analyses load models only through here, and so does ``LanguageModel.from_pretrained``; a run
directory is data: its ``arch`` is built only if :func:`mosaic.registry.loadable_from_run` allows it
(a plug-in path must have been named by the user: ``--allow-plugin`` or the config's architecture
lists) or if the caller named the class itself (``expected``).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch

from mosaic.harness.train import CONFIG, WEIGHTS, load_trained
from mosaic.interface import check_interface, class_path
from mosaic.registry import build_model, check_forward, loadable_from_run, resolve_model, trust_plugins


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


def load_run_model(run_dir: str | Path, device: str | torch.device = "cpu", weights: str = WEIGHTS,
                   expected: type | None = None) -> torch.nn.Module:
    """Build the run's architecture from its config and load its weights (eval mode):
    ``model.safetensors`` (final) by default, or another weights file of the run (e.g. a best
    checkpoint). ``expected``: a class the caller names (``MyModel.from_pretrained``); the run
    must be of that class, and naming it trusts it even if the run's ``arch`` is a plug-in path."""
    spec = run_spec(run_dir)
    arch = spec["arch"]
    config_path = Path(run_dir) / CONFIG
    if not isinstance(arch, str):
        raise ValueError(f"{config_path}: run.arch must be a string, got {arch!r}")
    if not isinstance(spec["model"], dict):
        raise ValueError(f"{config_path}: run.model must be a mapping of config keys, got {spec['model']!r}")
    if expected is not None and arch == class_path(expected):
        model = expected.from_config(**spec["model"])  # the caller's class: no import, no trust needed
        check_interface(model, f"{class_path(expected)} (from {config_path})")
        check_forward(model, f"{class_path(expected)} (from {config_path})")
    elif not loadable_from_run(arch):
        raise ValueError(f"{config_path} names architecture {arch!r}, which is neither registered "
                         "nor installed; a run directory is data and never imports the code it names. "
                         f"If you trust it, pass --allow-plugin {arch} (or list it in the config's architectures)")
    else:
        if expected is not None and not issubclass(resolve_model(arch), expected):
            raise ValueError(f"{config_path} is a run of {arch!r} ({class_path(resolve_model(arch))}), "
                             f"not of {expected.__name__}; load it with LanguageModel.from_pretrained")
        model = build_model(arch, **spec["model"])
    try:
        load_trained(model, run_dir, weights)
    except RuntimeError as exc:  # state-dict shape/key mismatch
        raise ValueError(f"{run_dir}/{weights} does not match the config in {run_dir}/config.json: "
                         f"{str(exc).splitlines()[0]}") from None
    return model.to(device).eval()


def add_plugin_args(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``--allow-plugin PATH`` (repeatable): plug-in architectures a step may build from run files."""
    parser.add_argument("--allow-plugin", action="append", default=[], metavar="PKG.MOD:CLASS",
                        help="trust this plug-in architecture when a run directory names it (run "
                             "directories are data: they never import code that nobody named)")
    return parser


def trust_plugins_from(args: argparse.Namespace, *named: Any) -> None:
    """Trust ``--allow-plugin`` values and the architecture lists the user's config names."""
    trust_plugins(getattr(args, "allow_plugin", None) or [])
    for names in named:
        trust_plugins(names or [])
