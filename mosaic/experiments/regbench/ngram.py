"""Training-free in-context n-gram baselines for RegBench (Akyürek et al. 2024, §4 "n-gram
models"; the reference is seq_icl's ``ngram.py``, re-derived here with incremental counts).

At position ``t`` the model sees ``x_0..x_t`` and nothing else: the counts come only from that
prefix of the current sequence. The prefix is split into strings at ``|``; each string
(including the current, unfinished one) is left-padded with ``N-1`` boundary markers ``_`` and
all its k-grams, ``k = 1..N``, are counted. With ``V`` the letters seen so far and the context
``h`` = the last ``k-1`` symbols of the padded current string, the order-``k`` estimate is

    P_k(c | h) = C(h c) / C(h)                                     if C(h c) > 0
               = beta_k * P_{k-1}(c) / sum_{c' in V : C(h c') = 0} P_{k-1}(c')   otherwise,
    beta_k = 1 - sum_{c in V : C(h c) > 0} C(h c) / C(h),
    P_1(c) = C(c) / (total unigram count, boundary markers included),

for ``c`` in ``V`` and 0 for other tokens (``|`` and ``.`` included). ``C(h)`` counts every
occurrence of ``h`` — also at string ends, including the current one — so ``beta_k > 0``: the
mass of contexts that ended a string backs off to the lower order. No discounting, no add-one.
As in the reference, when every letter of ``V`` has been seen after ``h`` the mass ``beta_k``
has nowhere to go and is dropped (``p`` then sums to less than one).

Counts are updated incrementally (one k-gram per order per token), so a sequence costs
``O(L · N · |V|)`` instead of the reference's ``O(L²)`` recount.
"""
from __future__ import annotations

import numpy as np

from mosaic.experiments.regbench.automaton import DELIM_ID, LETTER_IDS, N_LETTERS, PAD_ID, VOCAB_SIZE

BOUNDARY = PAD_ID  # id 0 never occurs inside a sequence, so it can stand for the marker `_`


def ngram_probs(tokens, order: int = 3) -> np.ndarray:
    """``(L-1, 20)`` predictions of the in-context ``order``-gram with backoff; row ``t`` is
    the distribution of ``x_{t+1}`` given ``x_0..x_t``."""
    if order < 2:
        raise ValueError(f"n-gram order must be >= 2 (the reference's order 1 is broken), got {order}")
    tokens = np.asarray(tokens).tolist()
    count: dict[tuple, int] = {}  # C(g) for every k-gram g, k = 1..order
    follow: dict[tuple, dict[int, int]] = {}  # follow[h][c] = C(h c); h = () holds unigrams
    history: list[int] = []  # the padded current string
    vocab: list[int] = []  # V: letters seen so far, increasing
    n_unigrams = 0

    def push(sym: int) -> None:
        nonlocal n_unigrams
        history.append(sym)
        n_unigrams += 1
        for k in range(1, min(order, len(history)) + 1):
            g = tuple(history[-k:])
            count[g] = count.get(g, 0) + 1
            f = follow.setdefault(g[:-1], {})
            f[sym] = f.get(sym, 0) + 1

    def start_string() -> None:
        history.clear()
        for _ in range(order - 1):
            push(BOUNDARY)

    rows: list[list[float]] = []
    start_string()
    for t, tok in enumerate(tokens[:-1]):
        if tok == DELIM_ID:
            start_string()
        elif 1 <= tok <= N_LETTERS:
            push(tok)
            if tok not in vocab:
                vocab.append(tok)
                vocab.sort()
        else:
            raise ValueError(f"token {tok} at position {t} is not a letter or `|`")
        unigrams = follow[()]
        p = [unigrams[c] / n_unigrams for c in vocab]  # P_1
        for k in range(2, order + 1):
            h = tuple(history[-(k - 1):])
            f = follow.get(h, {})
            denom = count[h]  # >= 1: h ends the current string
            has = [f.get(c, 0) > 0 for c in vocab]
            beta = 1.0 - sum(f[c] for c, s in zip(vocab, has) if s) / denom
            z = sum(pc for pc, s in zip(p, has) if not s)
            scale = beta / z if z > 0 else 0.0  # z = 0: every letter of V seen after h
            p = [f[c] / denom if s else scale * pc for c, s, pc in zip(vocab, has, p)]
        row = [0.0] * VOCAB_SIZE
        for c, pc in zip(vocab, p):
            row[c] = pc
        rows.append(row)
    return np.array(rows, dtype=np.float64).reshape(-1, VOCAB_SIZE)


def uniform_letter_probs(tokens) -> np.ndarray:
    """The note's "uniform over 18 letters" reference: ``p = 1/18`` on every letter."""
    out = np.zeros((len(tokens) - 1, VOCAB_SIZE))
    out[:, LETTER_IDS] = 1.0 / N_LETTERS
    return out
