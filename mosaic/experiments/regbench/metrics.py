"""Exact RegBench metrics from the true automaton state (Akyürek et al. 2024, Fig. 2; the
Memory Mosaics ICLL figure ``dfa_tvd.png``). Definitions are in notes/regbench.md §2.

For a sequence ``x_0..x_{L-1}`` the model predicts ``x_{t+1}`` at every position ``t = 0..L-2``
(the first symbol is never predicted, padding is excluded). ``q_t`` is uniform over the letters
leaving the automaton's state after reading the current string up to ``x_t`` (the start state
when ``x_t`` is ``|``), with ``q_t(|) = q_t(.) = 0`` even where the target is ``|``. ``p_t`` is
the model's softmax over all 20 tokens, never renormalised onto letters.

Keys returned (the convention is in the name):

* ``acc_all``: fraction of positions where ``argmax p_t`` (first maximal index on ties) is a
  letter with ``q_t > 0`` — the paper-figure accuracy;
* ``acc_nodelim``: the same excluding positions whose target is ``|`` (``train.py``'s
  ``dfa_accuracy``);
* ``tvd_half_l1``: mean of ``½‖p_t − q_t‖₁`` — the paper-figure TVD;
* ``l1`` / ``l1_nodelim``: mean of ``‖p_t − q_t‖₁`` (not halved, ``train.py``'s
  ``model_dfa_diff``), over all positions / excluding delimiter targets;
* ``n_positions``, ``n_positions_nodelim``, ``n_sequences``.

All are micro-averages over positions (pooled over sequences), as the paper's figures are.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from mosaic.experiments.regbench.automaton import DELIM_ID, NO_EDGE, PAD_ID, VOCAB_SIZE, Automaton


def true_states(aut: Automaton, tokens) -> np.ndarray:
    """State after reading each ``x_t`` (start state after ``|``); raises on a token the
    automaton cannot read, so a corrupted dataset fails loudly."""
    delta = aut.delta.tolist()
    states = np.empty(len(tokens), dtype=np.int64)
    s = aut.start
    for t, tok in enumerate(np.asarray(tokens).tolist()):
        if tok == DELIM_ID:
            s = aut.start
        elif tok == PAD_ID or not 0 < tok < VOCAB_SIZE:
            raise ValueError(f"token {tok} at position {t} is not a letter or `|` (strip padding first)")
        else:
            s = delta[s][tok]
            if s == NO_EDGE:
                raise ValueError(f"token {tok} at position {t} leaves the automaton's language")
        states[t] = s
    return states


def true_next_distributions(aut: Automaton, tokens) -> np.ndarray:
    """``(L-1, 20)`` array: row ``t`` is ``q_t``, uniform over the outgoing letters of the state
    after ``x_t``. A state with no outgoing letter (impossible for sampled automata) gets an
    all-zero row: every prediction there counts as wrong and its TVD is ``½‖p‖₁``."""
    states = true_states(aut, tokens)[:-1]
    valid = (aut.delta != NO_EDGE).astype(np.float64)  # (n_states, 20)
    deg = valid.sum(axis=1, keepdims=True)
    q_state = np.divide(valid, deg, out=np.zeros_like(valid), where=deg > 0)
    return q_state[states]


class MetricAccumulator:
    """Pools per-position sums over sequences; :meth:`result` gives the micro-averages."""

    def __init__(self):
        self.n = self.n_nodelim = self.n_seq = 0
        self.correct = self.correct_nodelim = 0
        self.l1 = self.l1_nodelim = 0.0

    def add(self, p: np.ndarray, q: np.ndarray, targets: np.ndarray) -> None:
        """``p``, ``q``: ``(L-1, 20)``; ``targets``: ``x_1..x_{L-1}``."""
        p = np.asarray(p, dtype=np.float64)
        if p.shape != q.shape:
            raise ValueError(f"predictions have shape {p.shape}, expected {q.shape}")
        correct = q[np.arange(len(q)), p.argmax(axis=1)] > 0
        l1 = np.abs(p - q).sum(axis=1)
        keep = np.asarray(targets) != DELIM_ID
        self.n += len(q)
        self.n_nodelim += int(keep.sum())
        self.n_seq += 1
        self.correct += int(correct.sum())
        self.correct_nodelim += int(correct[keep].sum())
        self.l1 += float(l1.sum())
        self.l1_nodelim += float(l1[keep].sum())

    def result(self) -> dict:
        if self.n == 0:
            raise ValueError("no positions were evaluated")
        nd = max(self.n_nodelim, 1)
        return {
            "acc_all": self.correct / self.n,
            "acc_nodelim": self.correct_nodelim / nd,
            "tvd_half_l1": 0.5 * self.l1 / self.n,
            "l1": self.l1 / self.n,
            "l1_nodelim": self.l1_nodelim / nd,
            "n_positions": self.n,
            "n_positions_nodelim": self.n_nodelim,
            "n_sequences": self.n_seq,
        }


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def evaluate_probs(probs: Callable[[np.ndarray], np.ndarray] | Sequence[np.ndarray], dataset,
                   *, logits: bool = False) -> dict:
    """Metrics of per-position predictions on every sequence of ``dataset`` (a
    :class:`~mosaic.experiments.regbench.dataset.RegBenchSplit` or anything with ``len``, ``sequence(i)``
    and ``true_next(i)``).

    ``probs`` is either a function ``tokens (L,) uint8 -> (L-1 or L, 20)`` or a list with one
    such array per sequence; rows past ``L-1`` are ignored. Rows are probabilities over all 20
    tokens, or logits when ``logits=True`` (a softmax over the 20 is applied).
    """
    acc = MetricAccumulator()
    for i in range(len(dataset)):
        tokens = dataset.sequence(i)
        p = probs(tokens) if callable(probs) else probs[i]
        p = np.asarray(p)
        if p.ndim != 2 or p.shape[1] != VOCAB_SIZE or p.shape[0] < len(tokens) - 1:
            raise ValueError(f"sequence {i}: predictions of shape {p.shape}, expected "
                             f"({len(tokens) - 1}, {VOCAB_SIZE})")
        p = p[: len(tokens) - 1]
        acc.add(softmax(p) if logits else p, dataset.true_next(i), tokens[1:])
    return acc.result()


def evaluate_model(model, dataset, batch_size: int = 32, device="cpu") -> dict:
    """Run any ``LanguageModel`` (``forward(idx) -> (logits, loss)`` or logits ``(B, T, V)``,
    ``V >= 20``; extra padded-vocabulary columns are dropped) on padded batches of ``dataset``
    and return :func:`evaluate_probs`'s metrics. Softmax in float32 over the 20 real tokens."""
    import torch

    from mosaic.experiments.regbench.dataset import make_batch

    was_training = model.training
    model.eval()
    acc = MetricAccumulator()
    try:
        with torch.no_grad():
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
    finally:
        model.train(was_training)
    return acc.result()
