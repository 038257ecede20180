"""Synthetic in-context recall sequences: the induction-head task (paper footnote 5).

The task follows Bietti et al., "Birth of a Transformer: A Memory Viewpoint" (NeurIPS 2023;
albietz/transformer-birth ihead_data.py:86-131): in every sequence a few *trigger* tokens are
each followed by an *output* token drawn at random for that sequence, so the token after a
trigger can only be predicted by finding the trigger's earlier occurrence in the context and
copying the token that followed it (``... a b ... a -> b``), which is what an induction head does.

Here, per sequence of ``seq_len + 1`` tokens (inputs ``x = s[:-1]``, next tokens ``s[1:]``):

* ``n_triggers`` distinct trigger tokens are drawn uniformly from the vocabulary (Bietti et al.'s
  default: triggers drawn per sequence, ``fixed_special_toks=False``);
* each trigger gets an output token drawn uniformly from the non-trigger tokens;
* every trigger occurs exactly ``occurrences`` times (at least twice), each time immediately
  followed by its output; the ``n_triggers · occurrences`` (trigger, output) pairs occupy
  non-overlapping random places;
* every other position holds a background token drawn uniformly from the non-trigger tokens, so
  a trigger occurs nowhere else and its earlier occurrences all agree.

Two departures from Bietti et al., both so that the in-context copy is the only thing to learn
at the scored positions, on CPU budgets: background tokens are uniform (theirs follow character
bigram statistics of Shakespeare, which would add a bigram-learning phase), and each trigger
occurs a fixed number of times (theirs recur at the bigram rate).

*Recall positions* are the second and later occurrences of the triggers (Bietti et al. score
the same positions): the target there is the output token, which followed the trigger's first
occurrence. Training targets are :data:`IGNORE_INDEX` everywhere else (see :func:`make_batch`),
and accuracy is measured at the recall positions.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from mosaic.harness.config import reject_unknown_keys
from mosaic.interface import IGNORE_INDEX

# Bumped whenever generate() draws differently for the same config and seed: run identities and
# evaluation fingerprints record it, so a changed generator never resumes or pairs old results.
DATA_VERSION = 1


@dataclass(frozen=True)
class TaskConfig:
    """The ``task`` part of the ``induction`` section."""

    vocab_size: int  # tokens 0 .. vocab_size - 1
    seq_len: int  # model input length T (a sequence holds T + 1 tokens)
    n_triggers: int  # K triggers per sequence
    occurrences: int = 2  # times each trigger occurs; all but the first are scored

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TaskConfig:
        reject_unknown_keys(values, cls, "induction.task")
        missing = sorted({"vocab_size", "seq_len", "n_triggers"} - set(values))
        if missing:
            raise ValueError(f"induction.task lacks key(s) {missing}")
        for key, value in values.items():
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"induction.task.{key} must be an integer, got {value!r}")
        cfg = cls(**values)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        if self.n_triggers < 1:
            raise ValueError(f"induction.task.n_triggers must be >= 1, got {self.n_triggers}")
        if self.occurrences < 2:
            raise ValueError(f"induction.task.occurrences must be >= 2 (the first occurrence is what is "
                             f"recalled), got {self.occurrences}")
        if self.vocab_size < self.n_triggers + 2:
            raise ValueError(f"induction.task.vocab_size={self.vocab_size} leaves fewer than 2 non-trigger "
                             f"tokens for outputs and background with n_triggers={self.n_triggers}")
        # the (trigger, output) pairs must fit without overlap, with room to place them at random
        if self.seq_len + 1 < 2 * self.n_pairs:
            raise ValueError(f"induction.task.seq_len={self.seq_len} is too short for n_triggers={self.n_triggers} "
                             f"x occurrences={self.occurrences}: need seq_len + 1 >= 2 * n_triggers * occurrences")

    @property
    def n_pairs(self) -> int:
        """(trigger, output) pairs per sequence."""
        return self.n_triggers * self.occurrences

    @property
    def recall_positions(self) -> int:
        """Scored positions per sequence."""
        return self.n_triggers * (self.occurrences - 1)

    @property
    def chance_accuracy(self) -> float:
        """Recall accuracy of a uniform guess among the non-trigger tokens (the outputs' support)."""
        return 1.0 / (self.vocab_size - self.n_triggers)

    def to_dict(self) -> dict[str, int]:
        return {"vocab_size": self.vocab_size, "seq_len": self.seq_len, "n_triggers": self.n_triggers,
                "occurrences": self.occurrences}


@dataclass
class Sequences:
    """``n`` sequences of the task: ``tokens`` (n, T+1); per trigger k: ``triggers`` (n, K) its
    token, ``outputs`` (n, K) the token that follows it, ``places`` (n, K, occurrences) the
    positions of its occurrences in increasing order (all in ``0 .. T-1``)."""

    tokens: torch.Tensor
    triggers: torch.Tensor
    outputs: torch.Tensor
    places: torch.Tensor

    @property
    def first(self) -> torch.Tensor:
        """(n, K): where each trigger occurs first (the occurrence recalled)."""
        return self.places[:, :, 0]

    @property
    def recalls(self) -> torch.Tensor:
        """(n, K, occurrences - 1): the recall positions of each trigger."""
        return self.places[:, :, 1:]

    def inputs(self) -> torch.Tensor:
        """Model inputs (n, T)."""
        return self.tokens[:, :-1]

    def recall_targets(self) -> torch.Tensor:
        """Targets (n, T): the output token at each recall position (a later occurrence of a
        trigger, where the next token is the one that followed the first occurrence),
        :data:`IGNORE_INDEX` everywhere else."""
        n, T = self.tokens.shape[0], self.tokens.shape[1] - 1
        later = self.recalls.flatten(1)  # (n, K·(r-1))
        expanded = self.outputs[:, :, None].expand_as(self.recalls).flatten(1)
        return torch.full((n, T), IGNORE_INDEX, dtype=torch.long).scatter_(1, later, expanded)


def generate(cfg: TaskConfig, n: int, generator: torch.Generator) -> Sequences:
    """``n`` sequences drawn with ``generator`` (the same generator state gives the same sequences)."""
    if n < 1:
        raise ValueError(f"number of sequences must be >= 1, got {n}")
    V, K, r, L, P = cfg.vocab_size, cfg.n_triggers, cfg.occurrences, cfg.seq_len + 1, cfg.n_pairs
    # a random permutation of the vocabulary per sequence: its first K tokens are the triggers,
    # the rest the pool that outputs and background tokens are drawn from
    perm = torch.rand(n, V, generator=generator).argsort(dim=1)
    triggers, pool = perm[:, :K], perm[:, K:]
    tokens = pool.gather(1, torch.randint(0, V - K, (n, L), generator=generator))
    outputs = pool.gather(1, torch.randint(0, V - K, (n, K), generator=generator))
    # P non-overlapping pairs of places (s, s+1) in 0..L-1: s_i = c_i + i for c sorted distinct in
    # 0..L-P-1 spaces the starts at least 2 apart and keeps the last pair inside the sequence
    c = torch.rand(n, L - P, generator=generator).argsort(dim=1)[:, :P].sort(dim=1).values
    starts = c + torch.arange(P)
    # deal the P places to the triggers at random, r each
    order = torch.rand(n, P, generator=generator).argsort(dim=1)
    places = starts.gather(1, order).view(n, K, r).sort(dim=2).values
    for j in range(r):
        tokens.scatter_(1, places[:, :, j], triggers)
        tokens.scatter_(1, places[:, :, j] + 1, outputs)
    return Sequences(tokens, triggers, outputs, places)


def make_batch(cfg: TaskConfig, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``(inputs, targets)``, both (n, T) int64, for the trainer: the loss is taken at the recall
    positions only (targets :data:`IGNORE_INDEX` elsewhere). The background and the first
    occurrences are unpredictable by construction (uniform draws), so a loss on them would add
    only noise to the gradient; Bietti et al. train on the recall positions too in their
    Fig. 3 experiments (albietz/transformer-birth README, ``loss_head_only``)."""
    seqs = generate(cfg, n, generator)
    return seqs.inputs(), seqs.recall_targets()


def make_get_batch(cfg: TaskConfig, batch_size: int):
    """``get_batch(split, step, generator)`` for :func:`mosaic.harness.train.train`: fresh
    sequences every step, drawn only from ``generator`` (train and validation alike: the trainer
    seeds validation batch i with a fixed seed of its own)."""
    if batch_size < 1:
        raise ValueError(f"induction batch_size must be >= 1, got {batch_size}")

    def get_batch(split: str, step: int, generator: torch.Generator):
        return make_batch(cfg, batch_size, generator)

    return get_batch
