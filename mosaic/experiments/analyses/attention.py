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
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd
import torch

from mosaic.experiments.analyses.position_loss import _check_context, progress


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
    by batch size, so uneven batches give the exact mean over windows."""
    model.eval()
    running: torch.Tensor | None = None
    n = 0
    T = None
    for batch in progress(batches, desc=desc, total=total):
        if isinstance(batch, (tuple, list)):  # (idx, targets) from TokenDataset.sequential_batches
            batch = batch[0]
        batch = batch.to(device, dtype=torch.long)
        if T is None:
            T = batch.size(1)
            _check_context(model, T)
        elif batch.size(1) != T:
            raise ValueError(f"all windows must have the same length, got {T} then {batch.size(1)}")
        maps = model.attention_maps(batch)  # (L, H, T, T), mean over the batch
        if maps.dim() != 4 or maps.shape[-2:] != (T, T):
            raise ValueError(f"attention_maps must return (n_layer, n_head, {T}, {T}), got {tuple(maps.shape)}")
        part = (maps[..., -1, :] if last_only else maps).double().cpu() * batch.size(0)
        running = part if running is None else running + part
        n += batch.size(0)
    if running is None:
        raise ValueError("average_attention got no windows (the corpus is shorter than one window?)")
    return running / n, n


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
