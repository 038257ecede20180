"""Per-window arrays of a measurement: the independent units the scorecard bootstraps over.

Each measurement CSV (``position_loss_<corpus>_x<factor>.csv``, ``attention_<corpus>_x<factor>.csv``)
holds averages over windows, which is what the figures draw. The claims (C6, C9, C10; see
:mod:`mosaic.experiments.analyses.claims`) need the spread over windows too, so every measurement
also writes ``<same name>.npz`` next to its CSV:

* per-position loss: ``loss`` (n_windows, T) float32, NaN where the target does not count
  (:data:`mosaic.IGNORE_INDEX`); ``unk`` (n_windows, T) bool, the targets equal to the unknown id
  (only when the vocabulary has one);
* attention: ``unit_attention`` (n_units, n_layer, n_head, T) float32, the last-position attention
  averaged over the windows of each unit, and ``unit_windows`` (n_units,) their counts. A unit is
  a run of consecutive windows (one window each when there are at most
  :data:`mosaic.experiments.analyses.attention.MAX_UNITS`), so the file stays a few MB at the
  paper's 5,000 windows; means of disjoint runs of windows are independent like the windows are.

The metadata (``meta``: model label, context, the evaluated split's sha256, window count) is kept as
JSON inside the file, so two files can be checked to hold the same windows before a paired
difference is taken. Files are written atomically and read without pickle.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from mosaic.harness.io import atomic_open

FORMAT = "mosaic-analyses-windows/1"
_META_KEY = "__meta__"


def windows_path(csv_path: str | os.PathLike) -> Path:
    """The per-window file of the measurement CSV ``csv_path``."""
    return Path(csv_path).with_suffix(".npz")


def write_window_arrays(path: str | os.PathLike, arrays: dict[str, np.ndarray], meta: dict) -> Path:
    """Write ``arrays`` and the JSON-able ``meta`` to ``path`` (.npz, compressed, atomic)."""
    path = Path(path)
    if path.suffix != ".npz":
        raise ValueError(f"per-window arrays go to a .npz file, got {path}")
    if _META_KEY in arrays:
        raise ValueError(f"array name {_META_KEY!r} is reserved for the metadata")
    payload = {name: np.asarray(value) for name, value in arrays.items()}
    payload[_META_KEY] = np.array(json.dumps({"format": FORMAT, **meta}, sort_keys=True, default=str))
    with atomic_open(path, "wb") as fh:
        np.savez_compressed(fh, **payload)
    return path


def read_window_arrays(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict]:
    """``(arrays, meta)`` of a file written by :func:`write_window_arrays`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"per-window measurement {path} not found (re-run the measurement: "
                                "python -m mosaic analyses position-loss|attention ... writes it next to its CSV)")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path} is not a per-window measurement file ({exc})") from None
    raw = arrays.pop(_META_KEY, None)
    meta = json.loads(str(raw)) if raw is not None else {}
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path} has format {meta.get('format')!r}, expected {FORMAT!r}; re-run the measurement")
    return arrays, meta
