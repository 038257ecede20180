"""Forecast error against context length (Figs. 4, 5), per window and averaged.

For each context length L on a grid we feed the first L true observations of a window, predict
the next ``horizon`` (25) autoregressively (each prediction fed back as input, with its look-ahead
value filled in: see :mod:`mosaic.experiments.three_moons.model`), and measure the mean absolute
deviation from the truth, aligned: the prediction for position L+j is compared with x_{L+j}. The
MAD of one window is averaged over the 6 coordinates and the horizon; the curve of Figs. 4/5 is its
mean over N windows of one period triple.

Keys and values of a window batch are computed once; each L then costs ``horizon`` single-query
steps over at most L + horizon cached positions, vectorised over the batch.

Two files per model (``evaluate`` command):

* ``eval.csv``: one row per (triple, context): ``mad`` (mean over windows), ``mad_se`` (its
  standard error over windows), ``mad_first`` (one-step prediction only) and the triple's periods
  in observations (``periods_obs``, ``max_period_obs``, ``lcm_obs``): what the figures plot;
* ``eval_windows.csv.gz``: one row per (triple, context, window), the MAD of each window: the
  independent units the scorecard's bootstrap resamples (:mod:`.transitions`, :mod:`.claims`).

The transition analysis of these curves is in :mod:`mosaic.experiments.three_moons.transitions`.
"""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from mosaic.experiments.three_moons.data import ThreeMoonsData, period_marks
from mosaic.experiments.three_moons.model import ThreeMoonsModel
from mosaic.harness.io import atomic_open
from mosaic.harness.progress import Progress

WINDOWS_FILE = "eval_windows.csv.gz"  # next to eval.csv
CURVE_COLUMNS = ["heads", "split", "triple", "context", "mad", "mad_se", "mad_first", "periods_obs",
                 "max_period_obs", "lcm_obs"]
WINDOW_COLUMNS = ["heads", "split", "context", "window", "mad"]


def context_grid(eval_cfg: dict) -> list[int]:
    """Context lengths ``context_min, context_min + context_step, ..., <= context_max``."""
    lo, hi, step = eval_cfg["context_min"], eval_cfg["context_max"], eval_cfg["context_step"]
    if lo < 1 or hi < lo or step < 1:
        raise ValueError(f"three_moons.eval: need 1 <= context_min <= context_max and context_step >= 1, "
                         f"got {lo}, {hi}, {step}")
    return list(range(lo, hi + 1, step))


@torch.no_grad()
def window_errors(model: ThreeMoonsModel, windows: torch.Tensor, contexts: list[int], horizon: int,
                  batch_size: int = 128, bar: Progress | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-window MAD of ``horizon``-step forecasts, over ``windows`` (N, >= max L + horizon, 6).

    Returns two (N, len(contexts)) float64 arrays: the MAD over all horizon steps and over the
    first (one-step) prediction only. ``bar`` advances by one per (window batch, context).
    """
    need = max(contexts) + horizon
    if windows.shape[1] < need:
        raise ValueError(f"windows hold {windows.shape[1]} observations, context {max(contexts)} + horizon "
                         f"{horizon} needs {need}")
    model.eval()
    device = next(model.parameters()).device
    windows = windows[:, :need]
    n = windows.shape[0]
    total = np.zeros((n, len(contexts)))
    first = np.zeros((n, len(contexts)))
    start = 0
    for chunk in windows.split(batch_size):
        rows = slice(start, start + chunk.shape[0])
        start += chunk.shape[0]
        chunk = chunk.to(device)
        keys, values = model.precompute(chunk)
        for i, L in enumerate(contexts):
            pred = model.rollout(keys[:, :, :L], values[:, :, : L - 1], chunk[:, L - 1 : L], horizon)
            err = (pred - chunk[:, L : L + horizon]).abs()  # (b, horizon, 6)
            total[rows, i] = err.mean(dim=(1, 2)).double().cpu().numpy()
            first[rows, i] = err[:, 0].mean(dim=1).double().cpu().numpy()
            if bar is not None:
                bar.update(1)
    return total, first


def forecast_errors(model: ThreeMoonsModel, windows: torch.Tensor, contexts: list[int], horizon: int,
                    batch_size: int = 128) -> pd.DataFrame:
    """The curve over ``windows``: columns ``context``, ``mad`` (all horizon steps, mean over windows),
    ``mad_se`` (its standard error) and ``mad_first`` (the first, one-step prediction only)."""
    total, first = window_errors(model, windows, contexts, horizon, batch_size)
    return curve_frame(contexts, total, first)


def curve_frame(contexts: list[int], total: np.ndarray, first: np.ndarray) -> pd.DataFrame:
    n = total.shape[0]
    se = total.std(axis=0, ddof=1) / np.sqrt(n) if n > 1 else np.full(total.shape[1], np.nan)
    return pd.DataFrame({"context": contexts, "mad": total.mean(axis=0), "mad_se": se,
                         "mad_first": first.mean(axis=0)})


def evaluate_model(model: ThreeMoonsModel, section: dict, n_head: int,
                   desc: str = "three-moons evaluate") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Error curves of one model on the plotted training triple and the validation triple:
    ``(curves, per_window)`` in the formats of ``eval.csv`` and ``eval_windows.csv.gz``.

    The windows depend only on the eval seed and the triple, so every model sees the same ones.
    """
    ev = section["eval"]
    data = ThreeMoonsData.from_config(section)
    contexts = context_grid(ev)
    length = max(contexts) + ev["horizon"]
    splits = (("train", tuple(float(p) for p in ev["train_triple"])), ("val", data.val_triple))
    if splits[0][1] not in [tuple(t) for t in data.train_triples]:
        raise ValueError(f"three_moons.eval.train_triple {splits[0][1]} is not a training triple "
                         f"({data.train_triples})")
    n_batches = -(-ev["windows"] // ev["batch_size"])
    curves, per_window = [], []
    with Progress(len(splits) * n_batches * len(contexts), desc, unit="contexts") as bar:
        for split, triple in splits:
            gen = torch.Generator().manual_seed(ev["seed"])
            windows = data.windows(torch.tensor(triple), ev["windows"], gen, length)
            total, first = window_errors(model, windows, contexts, ev["horizon"], ev["batch_size"], bar)
            df = curve_frame(contexts, total, first)
            marks = period_marks(triple, data.samples_per_unit)
            df.insert(0, "heads", n_head)
            df.insert(1, "split", split)
            df.insert(2, "triple", format_triple(triple))
            df["periods_obs"] = ";".join(f"{p:.1f}" for p in marks["individual"])
            df["max_period_obs"] = marks["max"]
            df["lcm_obs"] = marks["lcm"]
            curves.append(df)
            n, c = total.shape
            per_window.append(pd.DataFrame({
                "heads": n_head, "split": split, "context": np.tile(contexts, n),
                "window": np.repeat(np.arange(n), c), "mad": total.reshape(-1)}))
    return pd.concat(curves, ignore_index=True)[CURVE_COLUMNS], pd.concat(per_window, ignore_index=True)


def windows_path(eval_csv: str | Path) -> Path:
    """Where the per-window errors of ``eval_csv`` are: ``eval_windows.csv.gz`` in its directory."""
    return Path(eval_csv).parent / WINDOWS_FILE


def write_evaluation(curves: pd.DataFrame, per_window: pd.DataFrame, eval_csv: str | Path) -> None:
    """``eval_csv`` and, next to it, the per-window errors (gzip CSV), each written atomically."""
    with atomic_open(windows_path(eval_csv), "wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:  # mtime 0: same bytes for same numbers
            gz.write(per_window.to_csv(index=False, float_format="%.6g").encode("utf-8"))
    with atomic_open(eval_csv, "w", encoding="utf-8", newline="") as fh:
        curves.to_csv(fh, index=False)


def read_window_errors(path: str | Path) -> pd.DataFrame:
    """The per-window errors written by :func:`write_evaluation` (columns :data:`WINDOW_COLUMNS`)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"per-window errors not found: {path} (rerun `mosaic three-moons evaluate`)")
    df = pd.read_csv(path)
    missing = [c for c in WINDOW_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: not a three-moons per-window file (missing columns {missing})")
    return df


def format_triple(triple) -> str:
    return "(" + ", ".join(f"{p:g}" for p in triple) + ")"
