"""Exact RegBench metrics from the true automaton state (Akyürek et al. 2024, Fig. 2; Memory
Mosaics Fig. 11 and Table 4, whose plot is the ICLL figure ``dfa_tvd.png``).

For a sequence ``x_0..x_{L-1}`` (one per automaton: 10-19 strings joined with ``|``) the model
predicts ``x_{t+1}`` at every position ``t = 0..L-2`` (the first symbol is never predicted,
padding is excluded). ``q_t`` is uniform over the letters leaving the automaton's state after
reading the current string up to ``x_t`` (the start state when ``x_t`` is ``|``), with
``q_t(|) = q_t(.) = 0`` even where the target is ``|``. ``p_t`` is the model's softmax over all
20 tokens, never renormalised onto letters. A prediction is *correct* when ``argmax p_t`` (first
maximal index on ties) is a letter with ``q_t > 0``; its *TVD* is ``½‖p_t − q_t‖₁``.

Two position sets, because the sources disagree:

* **all positions** — what seq_icl's notebook (``read_results_local.ipynb``) and this project
  average: every ``t = 0..L-2`` of every sequence, micro-averaged (pooled over sequences). The
  published Fig. 11 curves and the reference in-context 3-gram (0.934 / 0.258) are on this set.
* **last token** — what the paper's text scores: the prediction of the sequence's final symbol,
  i.e. the single position ``t = L-2`` (input ``x_0..x_{L-2}``, target ``x_{L-1}``), one position
  per test sequence and so per test automaton, averaged over sequences. Its target is always a
  letter (strings are non-empty and a sequence never ends with ``|``) and it has the longest
  context, which is why it scores higher than the average position. This reading (the last token
  of the test *example*, not of each ``|``-separated string) is the one that reproduces the
  figures quoted for the in-context 3-gram on our 250-automata test pool, 0.992 / 0.157; the
  other readings give 0.950 / 0.237 (the prediction of the last letter of every string) and
  0.939 / 0.247 (the position before every ``|``, the end-of-string decision, where ``q``
  puts no mass on ``|``), both close to the all-position 0.938 / 0.252.

Keys returned by :meth:`MetricAccumulator.result` (the convention is in the name):

* ``acc_all_positions`` / ``tvd_all_positions``: accuracy and mean TVD over all positions;
* ``acc_last_token`` / ``tvd_last_token``: the same at the last token of each sequence;
* ``acc_nodelim``: all-position accuracy excluding positions whose target is ``|`` (seq_icl
  ``train.py``'s logged ``dfa_accuracy``);
* ``l1`` / ``l1_nodelim``: mean ``‖p_t − q_t‖₁``, not halved (``train.py``'s ``model_dfa_diff``),
  over all positions / excluding delimiter targets;
* ``n_positions``, ``n_positions_nodelim``, ``n_sequences``.

:meth:`MetricAccumulator.per_sequence` gives the per-sequence sums behind them (what the
scorecard resamples, one unit per test automaton).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from mosaic.experiments.regbench.automaton import (  # noqa: F401  (true_* re-exported)
    DELIM_ID,
    NO_EDGE,
    PAD_ID,
    VOCAB_SIZE,
    Automaton,
    true_next_distributions,
    true_states,
)
from mosaic.experiments.regbench.dataset import make_batch
from mosaic.harness.progress import Progress

PER_SEQUENCE = ("n_positions", "correct_all_positions", "tvd_sum_all_positions", "correct_last_token",
                "tvd_last_token")  # columns of MetricAccumulator.per_sequence()


class MetricAccumulator:
    """Pools per-position sums over sequences; :meth:`result` gives the micro-averages and
    :meth:`per_sequence` the per-sequence sums."""

    def __init__(self):
        self.n = self.n_nodelim = 0
        self.correct = self.correct_nodelim = 0
        self.l1 = self.l1_nodelim = 0.0
        self.rows: dict[str, list] = {k: [] for k in PER_SEQUENCE}

    @property
    def n_seq(self) -> int:
        return len(self.rows["n_positions"])

    def add(self, p: np.ndarray, q: np.ndarray, targets: np.ndarray) -> None:
        """``p``, ``q``: ``(L-1, 20)``; ``targets``: ``x_1..x_{L-1}``."""
        p = np.asarray(p, dtype=np.float64)
        if p.shape != q.shape:
            raise ValueError(f"predictions have shape {p.shape}, expected {q.shape}")
        if len(q) == 0:
            raise ValueError("a sequence needs at least 2 tokens to be scored")
        correct = q[np.arange(len(q)), p.argmax(axis=1)] > 0
        l1 = np.abs(p - q).sum(axis=1)
        keep = np.asarray(targets) != DELIM_ID
        self.n += len(q)
        self.n_nodelim += int(keep.sum())
        self.correct += int(correct.sum())
        self.correct_nodelim += int(correct[keep].sum())
        self.l1 += float(l1.sum())
        self.l1_nodelim += float(l1[keep].sum())
        for key, value in zip(PER_SEQUENCE, (len(q), int(correct.sum()), 0.5 * float(l1.sum()),
                                             int(correct[-1]), 0.5 * float(l1[-1]))):
            self.rows[key].append(value)

    def result(self) -> dict:
        if self.n == 0:
            raise ValueError("no positions were evaluated")
        nd = max(self.n_nodelim, 1)
        return {
            "acc_all_positions": self.correct / self.n,
            "tvd_all_positions": 0.5 * self.l1 / self.n,
            "acc_last_token": sum(self.rows["correct_last_token"]) / self.n_seq,
            "tvd_last_token": sum(self.rows["tvd_last_token"]) / self.n_seq,
            "acc_nodelim": self.correct_nodelim / nd,
            "l1": self.l1 / self.n,
            "l1_nodelim": self.l1_nodelim / nd,
            "n_positions": self.n,
            "n_positions_nodelim": self.n_nodelim,
            "n_sequences": self.n_seq,
        }

    def per_sequence(self) -> dict[str, list]:
        """One entry per sequence, in the order added: ``n_positions``, ``correct_all_positions``
        (count), ``tvd_sum_all_positions`` (sum of TVDs), ``correct_last_token`` (0/1) and
        ``tvd_last_token``. Sums over sequences divided by ``n_positions`` (all positions) or
        by the number of sequences (last token) give :meth:`result`'s values."""
        return {k: list(v) for k, v in self.rows.items()}


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _progress(dataset, desc: str | None, enabled: bool):
    name = desc or f"score {getattr(dataset, 'name', 'split')}"
    return Progress(len(dataset), name, unit="sequences", enabled=enabled)


def score_probs(probs: Callable[[np.ndarray], np.ndarray] | Sequence[np.ndarray], dataset, *,
                logits: bool = False, desc: str | None = None, progress: bool = True) -> MetricAccumulator:
    """The :class:`MetricAccumulator` of per-position predictions on every sequence of
    ``dataset`` (a :class:`~mosaic.experiments.regbench.dataset.RegBenchSplit` or anything with
    ``len``, ``sequence(i)`` and ``true_next(i)``).

    ``probs`` is either a function ``tokens (L,) uint8 -> (L-1 or L, 20)`` or a list with one
    such array per sequence; rows past ``L-1`` are ignored. Rows are probabilities over all 20
    tokens, or logits when ``logits=True`` (a softmax over the 20 is applied). Progress is
    reported in sequences scored (``desc`` names the line)."""
    acc = MetricAccumulator()
    with _progress(dataset, desc, progress) as bar:
        for i in range(len(dataset)):
            tokens = dataset.sequence(i)
            p = probs(tokens) if callable(probs) else probs[i]
            p = np.asarray(p)
            if p.ndim != 2 or p.shape[1] != VOCAB_SIZE or p.shape[0] < len(tokens) - 1:
                raise ValueError(f"sequence {i}: predictions of shape {p.shape}, expected "
                                 f"({len(tokens) - 1}, {VOCAB_SIZE})")
            p = p[: len(tokens) - 1]
            acc.add(softmax(p) if logits else p, dataset.true_next(i), tokens[1:])
            bar.update(1)
    return acc


def evaluate_probs(probs, dataset, *, logits: bool = False, desc: str | None = None,
                   progress: bool = True) -> dict:
    """:func:`score_probs`'s pooled metrics (:meth:`MetricAccumulator.result`)."""
    return score_probs(probs, dataset, logits=logits, desc=desc, progress=progress).result()


def score_model(model, dataset, batch_size: int = 32, device="cpu", *, desc: str | None = None,
                progress: bool = True) -> MetricAccumulator:
    """Run any ``LanguageModel`` (``forward(idx) -> (logits, loss)`` or logits ``(B, T, V)``,
    ``V >= 20``; extra padded-vocabulary columns are dropped) on padded batches of ``dataset``
    and return the :class:`MetricAccumulator` of its predictions (softmax in float32 over the 20
    real tokens). Progress is reported in sequences scored."""
    import torch


    was_training = model.training
    model.eval()
    acc = MetricAccumulator()
    try:
        with torch.no_grad(), _progress(dataset, desc, progress) as bar:
            for lo in range(0, len(dataset), batch_size):
                idx = list(range(lo, min(lo + batch_size, len(dataset))))
                x, _ = make_batch(dataset, idx)
                out = model(x.to(device))
                logits = out[0] if isinstance(out, (tuple, list)) else out
                if logits.dim() != 3 or logits.size(-1) < VOCAB_SIZE:
                    raise ValueError(f"model returned logits of shape {tuple(logits.shape)}, "
                                     f"expected (B, T, >= {VOCAB_SIZE})")
                p = torch.softmax(logits[..., :VOCAB_SIZE].float(), dim=-1).cpu().numpy()
                for row, i in enumerate(idx):
                    tokens = dataset.sequence(i)
                    acc.add(p[row, : len(tokens) - 1], dataset.true_next(i), tokens[1:])
                bar.update(len(idx))
    finally:
        model.train(was_training)
    return acc


def evaluate_model(model, dataset, batch_size: int = 32, device="cpu", *, desc: str | None = None,
                   progress: bool = True) -> dict:
    """:func:`score_model`'s pooled metrics (:meth:`MetricAccumulator.result`)."""
    return score_model(model, dataset, batch_size, device, desc=desc, progress=progress).result()
