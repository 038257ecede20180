"""Mean next-token loss as a function of the position in the context window (paper Fig. 10, 13).

For a window of ``T + 1`` tokens ``w_0 .. w_T`` the model reads ``w_0 .. w_{T-1}`` and position
``p`` (1-based, ``1 <= p <= T``) is the prediction of ``w_p`` from the ``p`` tokens ``w_0 ..
w_{p-1}``: position 1 sees one token, position T the whole context. A curve that keeps falling
with ``p`` means the model keeps using the growing context (in-context learning); a plateau means
it stops.

Statistics are streamed: per position we keep the count, the sum and the sum of squares of the
per-token losses (float64), so any number of windows fits in O(T) memory. The 95% confidence band
of the mean is ``mean ± 1.96 · sd / sqrt(n)`` over windows (sequential non-overlapping windows of
one corpus, treated as independent samples).

Unknown tokens: with a compact vocabulary (CPU scales), a corpus encoded with the training
vocabulary maps tokens never seen in training to the unknown id (``meta.json``'s
``tokenizer.unk_id``). Such targets are **kept** in the main statistics: on out-of-distribution
text ``<unk>`` becomes a frequent new token, and learning that from the context is exactly the
in-context adaptation the per-position curve measures (the paper's full GPT-2 vocabulary has no
unknown id, so there every token is a real word piece). Given ``unk_id``, a second set of
statistics over the known targets only is kept too (``*_known`` columns), so a reader can check
that a conclusion does not hinge on ``<unk>`` (the scorecard's C6 statistic uses known targets
only). Targets equal to :data:`mosaic.IGNORE_INDEX` are always left out. Every model sees the
same windows.

Per window. With ``keep_windows=True`` the per-token losses of every window are kept as well
(:class:`WindowLosses`, float32, (n_windows, T)): the windows are the independent units of the
scorecard's bootstrap (``<measurement>.npz``, see :mod:`mosaic.experiments.analyses.window_arrays`).
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from mosaic.harness.progress import Progress
from mosaic.interface import IGNORE_INDEX

Z95 = 1.959963984540054  # two-sided 95% quantile of the standard normal


@dataclass
class WindowLosses:
    """Per-token losses of every window: ``loss`` (n_windows, T) float32 with NaN where the
    target does not count, ``unk`` (n_windows, T) bool where the target is the unknown id (None
    without an unknown id). Position ``p`` (1-based) is column ``p - 1``."""

    loss: np.ndarray
    unk: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.loss.ndim != 2:
            raise ValueError(f"window losses must be (n_windows, T), got shape {self.loss.shape}")
        if self.unk is not None and self.unk.shape != self.loss.shape:
            raise ValueError(f"unk mask {self.unk.shape} does not match the losses {self.loss.shape}")

    def counted(self, known_only: bool = True) -> np.ndarray:
        """(n_windows, T) bool: the targets that count (and are not ``<unk>`` if ``known_only``)."""
        keep = np.isfinite(self.loss)
        if known_only and self.unk is not None:
            keep &= ~self.unk
        return keep

    def range_means(self, first: int, last: int, known_only: bool = True) -> np.ndarray:
        """Per window, the mean loss over the counted targets at positions ``first..last``
        (1-based, inclusive; ``last`` is cut to T); NaN for a window with none."""
        if not 1 <= first <= last:
            raise ValueError(f"need 1 <= first <= last, got {first}, {last}")
        sl = slice(first - 1, min(last, self.loss.shape[1]))
        keep = self.counted(known_only)[:, sl]
        total = np.where(keep, self.loss[:, sl], 0.0).sum(axis=1, dtype=np.float64)
        n = keep.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 0, total / n, np.nan)


@dataclass
class PositionStats:
    """Streamed per-position moments of a quantity (here: token loss), positions 1..T."""

    T: int
    known: PositionStats | None = None  # the same over targets that are not the unknown id
    windows: WindowLosses | None = None  # per-window losses (position_loss(keep_windows=True))
    count: np.ndarray = field(init=False)
    total: np.ndarray = field(init=False)
    total_sq: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        if self.T < 1:
            raise ValueError(f"PositionStats needs T >= 1, got {self.T}")
        self.count = np.zeros(self.T, dtype=np.int64)
        self.total = np.zeros(self.T, dtype=np.float64)
        self.total_sq = np.zeros(self.T, dtype=np.float64)

    def update(self, values: torch.Tensor, keep: torch.Tensor | None = None) -> None:
        """Add a batch ``values`` (B, T); ``keep`` (B, T) bool marks the entries that count."""
        if values.dim() != 2 or values.size(1) != self.T:
            raise ValueError(f"expected values of shape (B, {self.T}), got {tuple(values.shape)}")
        v = values.detach().double()
        if keep is None:
            keep = torch.ones_like(v, dtype=torch.bool)
        v = torch.where(keep, v, torch.zeros_like(v))
        self.count += keep.sum(dim=0).cpu().numpy().astype(np.int64)
        self.total += v.sum(dim=0).cpu().numpy()
        self.total_sq += (v * v).sum(dim=0).cpu().numpy()

    def merge(self, other: PositionStats) -> PositionStats:
        if other.T != self.T:
            raise ValueError(f"cannot merge PositionStats of T={self.T} and T={other.T}")
        self.count += other.count
        self.total += other.total
        self.total_sq += other.total_sq
        if self.known is not None and other.known is not None:
            self.known.merge(other.known)
        return self

    @property
    def mean(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.total / self.count

    @property
    def std(self) -> np.ndarray:
        """Sample standard deviation (ddof = 1) per position; NaN where count < 2."""
        n = self.count.astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            var = (self.total_sq - self.total**2 / n) / (n - 1)
        return np.sqrt(np.clip(var, 0.0, None))  # clip: round-off can give tiny negatives

    @property
    def ci95(self) -> np.ndarray:
        """Half-width of the 95% confidence interval of the mean."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return Z95 * self.std / np.sqrt(self.count)

    def to_frame(self) -> pd.DataFrame:
        """One row per position: position (1-based), n, mean_loss, std, ci_low, ci_high, and
        n_known, mean_loss_known, ci_known (95% half-width) when :attr:`known` is kept."""
        mean, half = self.mean, self.ci95
        df = pd.DataFrame({
            "position": np.arange(1, self.T + 1),
            "n": self.count,
            "mean_loss": mean,
            "std": self.std,
            "ci_low": mean - half,
            "ci_high": mean + half,
        })
        if self.known is not None:
            df["n_known"] = self.known.count
            df["mean_loss_known"] = self.known.mean
            df["ci_known"] = self.known.ci95
        return df

    def range_mean(self, first: int, last: int) -> float:
        """Mean loss over all kept tokens at positions ``first..last`` (1-based, inclusive)."""
        if not 1 <= first <= last:
            raise ValueError(f"need 1 <= first <= last, got {first}, {last}")
        last = min(last, self.T)
        if first > last:
            return math.nan
        sl = slice(first - 1, last)
        n = self.count[sl].sum()
        return float(self.total[sl].sum() / n) if n else math.nan


def token_losses(model: torch.nn.Module, idx: torch.Tensor, targets: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Unreduced next-token cross-entropy: ``idx``, ``targets`` (B, T) -> losses (B, T) and the
    boolean mask of targets that count (not :data:`IGNORE_INDEX`; their loss is 0)."""
    logits, _ = model(idx)  # (B, T, V): models already drop padded vocabulary rows
    V = logits.size(-1)
    keep = targets != IGNORE_INDEX
    losses = F.cross_entropy(
        logits.reshape(-1, V).float(), targets.reshape(-1), ignore_index=IGNORE_INDEX, reduction="none"
    ).view(targets.shape)  # (B, T)
    return losses, keep


@torch.no_grad()
def position_loss(
    model: torch.nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    device: str | torch.device = "cpu",
    desc: str = "position loss",
    total: int | None = None,
    unk_id: int | None = None,
    keep_windows: bool = False,
) -> PositionStats:
    """Stream ``batches`` of ``(idx, targets)`` (B, T) through ``model``; per-position loss stats.

    ``targets`` is ``idx`` shifted by one token (what ``TokenDataset.sequential_batches`` gives).
    Every batch must have the same T. ``model.check_context(T)`` is called first, so a model with
    learned absolute positions refuses windows longer than it was trained on. With ``unk_id``
    the result's :attr:`PositionStats.known` holds the statistics without unknown targets; with
    ``keep_windows`` its :attr:`PositionStats.windows` holds every window's per-token losses.
    ``total`` (windows) sizes the progress report (:class:`mosaic.harness.progress.Progress`)."""
    model.eval()
    stats: PositionStats | None = None
    losses_kept, unk_kept = [], []
    with Progress(total, desc, unit="windows") as bar:
        for idx, targets in batches:
            idx, targets = idx.to(device, dtype=torch.long), targets.to(device, dtype=torch.long)
            if stats is None:
                _check_context(model, idx.size(1))
                stats = PositionStats(idx.size(1))
                if unk_id is not None:
                    stats.known = PositionStats(idx.size(1))
            losses, keep = token_losses(model, idx, targets)
            stats.update(losses, keep)
            is_unk = targets == unk_id if unk_id is not None else None
            if stats.known is not None:
                stats.known.update(losses, keep & ~is_unk)
            if keep_windows:
                losses_kept.append(torch.where(keep, losses, torch.nan).float().cpu().numpy())
                if is_unk is not None:
                    unk_kept.append(is_unk.cpu().numpy())
            bar.update(idx.size(0))
    if stats is None:
        raise ValueError("position_loss got no windows (the corpus is shorter than one window?)")
    if keep_windows:
        stats.windows = WindowLosses(np.concatenate(losses_kept), np.concatenate(unk_kept) if unk_kept else None)
    return stats


def _check_context(model: torch.nn.Module, T: int) -> None:
    check = getattr(model, "check_context", None)
    if callable(check):
        check(T)


def summary_ranges(T: int, split_at: int) -> list[tuple[str, int, int]]:
    """The position ranges of the summary table: ``1..split_at`` and ``split_at+1..T``."""
    if not 1 <= split_at < T:
        raise ValueError(f"summary split position must be in [1, {T - 1}] for ctx {T}, got {split_at}")
    return [(f"1-{split_at}", 1, split_at), (f"{split_at + 1}-{T}", split_at + 1, T)]
