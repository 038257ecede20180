"""Attention of the last position, averaged over windows (paper Fig. 12, 13, 15).

Any model whose ``attention_maps(idx)`` returns ``(n_layer, n_head, T, T)`` batch-averaged
attention probabilities works: the transformer's softmax attention (query ``i`` reads keys
``j <= i``) and the mosaic's kernel-smoothing weights of eq. 8 (query ``i`` reads keys
``j < i``, since values look one token ahead).

Averaging over N windows is streamed: a running sum of ``B ·`` (batch mean) and the window count,
never N × T × T at once. The figures use the last row (the last position looking back over the
whole window); :func:`average_attention` can keep every row for tests and other analyses.

Peak width (Fig. 15). For the last-position row ``a`` of a head, with look-back distance
``d = (T - 1) - j`` of key ``j`` and a recent window of ``W`` tokens:

* ``mean_distance`` = Σ_{d<=W} d · a_d / Σ_{d<=W} a_d, the attention-weighted mean look-back
  distance within the most recent W tokens (the primary width; continuous, so ties are rare);
* ``half_mass_distance`` = the smallest d with Σ_{d'<=d} a_d' >= ½ Σ_{d'<=W} a_d';
* ``recent_mass`` = Σ_{d<=W} a_d, the share of attention that falls in the window.

A head whose leaky average keeps a longer memory (larger λ_φ, eq. 7) builds keys that stay
similar over more steps, so the last position's key matches a longer stretch of recent keys:
the paper's claim is that ``mean_distance`` grows with λ_φ. We report Spearman's rank
correlation between λ_φ and the width over heads.

Units (scorecard). :func:`unit_attention` keeps the last-position mean of each run of consecutive
windows (one window per unit up to :data:`MAX_UNITS` windows) so the scorecard can bootstrap over
windows. The shape statistics of the claims are functions of a window-averaged row ``a`` (T,)
(the heads' mean): :func:`sink_ratio` (C9, Fig. 12), :func:`binned_flatness` (C9) and
:func:`beyond_inside_ratio` (C10, Fig. 13); :func:`recent_tokens` is how many of the most recent
keys count as "the most recent tokens" the paper sets apart.
"""
from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd
import torch

from mosaic.experiments.analyses.position_loss import _check_context
from mosaic.harness.progress import Progress

MAX_UNITS = 200  # at most this many bootstrap units per measurement (consecutive windows are pooled)


def _token_ids(batch) -> torch.Tensor:
    if isinstance(batch, (tuple, list)):  # (idx, targets) from TokenDataset.sequential_batches
        batch = batch[0]
    return batch


def _next_windows(model, batch, T: int | None, device) -> tuple[torch.Tensor, int]:
    """``batch`` as token ids on ``device``, and the common window length: the first batch sets it
    (checked against the model's context), the others must match it."""
    batch = _token_ids(batch).to(device, dtype=torch.long)
    if T is None:
        _check_context(model, batch.size(1))
    elif batch.size(1) != T:
        raise ValueError(f"all windows must have the same length, got {T} then {batch.size(1)}")
    return batch, batch.size(1)


def _last_rows(model: torch.nn.Module, batch: torch.Tensor, T: int, last_only: bool = True) -> torch.Tensor:
    """Batch-mean attention of ``batch`` (B, T): (L, H, T) last rows, or (L, H, T, T), float64 CPU."""
    maps = model.attention_maps(batch)  # (L, H, T, T), mean over the batch
    if maps.dim() != 4 or maps.shape[-2:] != (T, T):
        raise ValueError(f"attention_maps must return (n_layer, n_head, {T}, {T}), got {tuple(maps.shape)}")
    return (maps[..., -1, :] if last_only else maps).double().cpu()


@torch.no_grad()
def average_attention(
    model: torch.nn.Module,
    batches: Iterable[torch.Tensor],
    device: str | torch.device = "cpu",
    last_only: bool = True,
    desc: str = "attention",
    total: int | None = None,
) -> tuple[torch.Tensor, int]:
    """Mean attention over all windows of ``batches`` (each (B, T) token ids, or ``(idx, targets)``).

    Returns ``(mean, n_windows)``: ``mean`` is (n_layer, n_head, T) for the last position when
    ``last_only`` else (n_layer, n_head, T, T), float64 on the CPU. The running sum is weighted
    by batch size, so uneven batches give the exact mean over windows. ``total`` (windows) sizes
    the progress report."""
    model.eval()
    running: torch.Tensor | None = None
    n = 0
    T = None
    with Progress(total, desc, unit="windows") as bar:
        for batch in batches:
            batch, T = _next_windows(model, batch, T, device)
            part = _last_rows(model, batch, T, last_only) * batch.size(0)
            running = part if running is None else running + part
            n += batch.size(0)
            bar.update(batch.size(0))
    if running is None:
        raise ValueError("average_attention got no windows (the corpus is shorter than one window?)")
    return running / n, n


def unit_size(n_windows: int, max_units: int = MAX_UNITS) -> int:
    """Windows per bootstrap unit: 1 up to ``max_units`` windows, else the fewest that give at
    most ``max_units`` units."""
    if n_windows < 1 or max_units < 1:
        raise ValueError(f"need n_windows >= 1 and max_units >= 1, got {n_windows}, {max_units}")
    return math.ceil(n_windows / max_units)


@torch.no_grad()
def unit_attention(
    model: torch.nn.Module,
    batches: Iterable[torch.Tensor],
    n_windows: int,
    device: str | torch.device = "cpu",
    max_units: int = MAX_UNITS,
    desc: str = "attention",
) -> tuple[np.ndarray, np.ndarray]:
    """Last-position attention averaged within units of consecutive windows.

    ``batches`` yield the first ``n_windows`` windows in order (as :func:`average_attention`
    takes them). Returns ``(unit_means, unit_windows)``: (n_units, n_layer, n_head, T) float64 and
    the windows per unit, (n_units,) int. ``Σ unit_windows · unit_means / n_windows`` is exactly
    :func:`average_attention`'s mean. ``attention_maps`` only gives batch means, so each batch is
    cut at unit boundaries (one forward per unit part; a unit of one window is a batch of one)."""
    model.eval()
    g = unit_size(n_windows, max_units)
    n_units = math.ceil(n_windows / g)
    sums: np.ndarray | None = None
    counts = np.zeros(n_units, dtype=np.int64)
    seen, T = 0, None
    with Progress(n_windows, desc, unit="windows") as bar:
        for batch in batches:
            batch, T = _next_windows(model, batch, T, device)
            if seen + batch.size(0) > n_windows:
                raise ValueError(f"unit_attention was told of {n_windows} windows but got more")
            start = 0
            while start < batch.size(0):
                unit = (seen + start) // g
                stop = min(batch.size(0), (unit + 1) * g - seen)
                rows = _last_rows(model, batch[start:stop], T).numpy() * (stop - start)
                if sums is None:
                    sums = np.zeros((n_units, *rows.shape), dtype=np.float64)
                sums[unit] += rows
                counts[unit] += stop - start
                start = stop
            seen += batch.size(0)
            bar.update(batch.size(0))
    if sums is None:
        raise ValueError("unit_attention got no windows (the corpus is shorter than one window?)")
    if seen != n_windows:
        raise ValueError(f"unit_attention was told of {n_windows} windows but got {seen}")
    return sums / counts[:, None, None, None], counts


def pooled_mean(unit_means: np.ndarray, unit_windows: np.ndarray) -> np.ndarray:
    """The mean over all windows of per-unit means (first axis), weighted by windows per unit."""
    w = np.asarray(unit_windows, dtype=np.float64)
    return np.tensordot(w, np.asarray(unit_means, dtype=np.float64), axes=1) / w.sum()


# -- shape statistics of a window-averaged last-position row (claims C9, C10) ------------------
def recent_tokens(T: int) -> int:
    """How many of the most recent keys the paper's "most recent tokens" covers: T // 16 (32 of
    512), at least 1. Fixed before any result was seen; statistics of the flat part leave them out."""
    return max(1, T // 16)


def sink_ratio(row: np.ndarray) -> float:
    """Attention on position 0 over the median attention of all positions (1 = no sink)."""
    row = np.asarray(row, dtype=np.float64)
    median = float(np.median(row))
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(row[0] / median) if median > 0 else (math.inf if row[0] > 0 else math.nan)


def binned_flatness(row: np.ndarray, n_bins: int = 8) -> float:
    """Largest over smallest mean attention of ``n_bins`` equal runs of positions of ``row``
    (1 = flat). Bins average out the noise of single positions; a sink or a trend shows."""
    row = np.asarray(row, dtype=np.float64)
    if len(row) < 1:
        raise ValueError("binned_flatness needs at least one position")
    means = np.array([b.mean() for b in np.array_split(row, min(n_bins, len(row)))])
    low = means.min()
    return float(means.max() / low) if low > 0 else math.inf


def beyond_inside_ratio(row: np.ndarray, train_ctx: int) -> float:
    """Mean attention per key beyond the trained context (look-back distance >= ``train_ctx``)
    over the mean per key inside it, leaving out the :func:`recent_tokens` of ``train_ctx`` most
    recent keys (the recent peak every model has). 1 = the pattern extends flat."""
    row = np.asarray(row, dtype=np.float64)
    T = len(row)
    k = recent_tokens(train_ctx)
    if not 1 <= train_ctx < T or train_ctx <= k:
        raise ValueError(f"need 1 <= train_ctx < T and train_ctx > {k}, got train_ctx={train_ctx}, T={T}")
    beyond = row[: T - train_ctx]
    inside = row[T - train_ctx: T - k]
    denominator = inside.mean()
    return float(beyond.mean() / denominator) if denominator > 0 else math.nan


def last_position_frame(mean_last: torch.Tensor, lambdas: torch.Tensor | None = None) -> pd.DataFrame:
    """Long table of (n_layer, n_head, T) last-position attention: one row per layer, head, key.

    Columns: layer, head (0-based), position (key index, 1-based), distance (look-back from the
    last position, 0 = itself), attention, and lambda_phi when ``lambdas`` (n_layer, n_head)."""
    L, H, T = mean_last.shape
    layer, head, key = np.meshgrid(np.arange(L), np.arange(H), np.arange(T), indexing="ij")
    df = pd.DataFrame({
        "layer": layer.ravel(),
        "head": head.ravel(),
        "position": key.ravel() + 1,
        "distance": (T - 1) - key.ravel(),
        "attention": mean_last.reshape(-1).numpy(),
    })
    if lambdas is not None:
        lam = np.asarray(lambdas, dtype=np.float64).reshape(L, H)
        df["lambda_phi"] = lam[df["layer"], df["head"]]
    return df


def peak_widths(rows: np.ndarray | torch.Tensor, window: int) -> dict[str, np.ndarray]:
    """Widths of the recent-token peak of last-position attention ``rows`` (..., T).

    See the module docstring for the definitions; returns arrays of shape ``rows.shape[:-1]`` for
    ``mean_distance``, ``half_mass_distance`` and ``recent_mass``."""
    a = np.asarray(rows, dtype=np.float64)
    T = a.shape[-1]
    if window < 1:
        raise ValueError(f"peak width window must be >= 1, got {window}")
    W = min(window, T - 1)
    recent = a[..., ::-1][..., : W + 1]  # index d = look-back distance 0..W
    d = np.arange(W + 1, dtype=np.float64)
    mass = recent.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_distance = (recent * d).sum(axis=-1) / mass
        cumulative = np.cumsum(recent, axis=-1) / mass[..., None]
    # first distance where half the window's mass is reached (tolerance for round-off)
    half = np.argmax(cumulative >= 0.5 - 1e-12, axis=-1).astype(np.float64)
    half = np.where(mass > 0, half, np.nan)
    return {"mean_distance": mean_distance, "half_mass_distance": half, "recent_mass": mass}


def spearman(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Spearman rank correlation and p-value; NaN when fewer than 3 finite pairs or a constant."""
    from scipy.stats import spearmanr  # noqa: PLC0415  (slow import; only Fig. 15 needs it)

    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3 or np.ptp(x[ok]) == 0 or np.ptp(y[ok]) == 0:
        return float("nan"), float("nan")
    result = spearmanr(x[ok], y[ok])
    return float(result.statistic), float(result.pvalue)


def _average_ranks(a: np.ndarray) -> np.ndarray:
    """Ranks 0..n-1 of ``a``, ties sharing their average rank."""
    order = np.argsort(a, kind="mergesort")
    ranks = np.empty(len(a), dtype=np.float64)
    ranks[order] = np.arange(len(a), dtype=np.float64)
    _, inverse, counts = np.unique(a, return_inverse=True, return_counts=True)
    return (np.bincount(inverse, weights=ranks) / counts)[inverse]


def spearman_rho(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's ρ (Pearson correlation of the average ranks) as :func:`spearman` computes it,
    without the p-value: fast enough for thousands of bootstrap resamples."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    rx, ry = _average_ranks(x), _average_ranks(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    return float((rx * ry).sum() / np.sqrt((rx * rx).sum() * (ry * ry).sum()))


def lambda_width_table(mean_last, lambdas, window: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-head widths against λ_φ, and Spearman correlations per layer and over all heads.

    ``mean_last`` (n_layer, n_head, T) and ``lambdas`` (n_layer, n_head), tensors or arrays.
    Returns ``(heads, corr)``: ``heads`` has one row per (layer, head) sorted by layer then λ_φ
    (columns layer, head, lambda_phi, lambda_rank, mean_distance, half_mass_distance,
    recent_mass); ``corr`` has one row per layer plus ``all layers`` when there are several
    (scope, n_heads, window, Spearman ρ and p-value for both widths, and the least-squares slope
    of mean_distance against λ_φ)."""
    lam = np.asarray(lambdas, dtype=np.float64)
    L, H, _ = mean_last.shape
    if lam.shape != (L, H):
        raise ValueError(f"lambdas must have shape {(L, H)} to match the attention, got {lam.shape}")
    widths = peak_widths(np.asarray(mean_last), window)
    heads = pd.DataFrame({
        "layer": np.repeat(np.arange(L), H),
        "head": np.tile(np.arange(H), L),
        "lambda_phi": lam.ravel(),
        **{k: v.ravel() for k, v in widths.items()},
    })
    heads["lambda_rank"] = heads.groupby("layer")["lambda_phi"].rank(method="first").astype(int)
    heads = heads.sort_values(["layer", "lambda_phi"]).reset_index(drop=True)
    heads = heads[["layer", "head", "lambda_phi", "lambda_rank", "mean_distance",
                   "half_mass_distance", "recent_mass"]]
    scopes = [(f"layer {layer}", heads[heads["layer"] == layer]) for layer in range(L)]
    if L > 1:
        scopes.append(("all layers", heads))
    rows = []
    for scope, part in scopes:
        rho, p = spearman(part["lambda_phi"], part["mean_distance"])
        rho_h, p_h = spearman(part["lambda_phi"], part["half_mass_distance"])
        ok = np.isfinite(part["lambda_phi"]) & np.isfinite(part["mean_distance"])
        slope = (float(np.polyfit(part["lambda_phi"][ok], part["mean_distance"][ok], 1)[0])
                 if ok.sum() >= 2 and np.ptp(part["lambda_phi"][ok]) > 0 else float("nan"))
        rows.append({"scope": scope, "n_heads": len(part), "window": window,
                     "spearman_rho_mean_distance": rho, "p_value_mean_distance": p,
                     "spearman_rho_half_mass": rho_h, "p_value_half_mass": p_h,
                     "slope_mean_distance_per_lambda": slope})
    return heads, pd.DataFrame(rows)
