"""Fixtures and helpers shared by the test modules (no test module imports another one).

* ``one_thread``: torch on one intra-op thread for a module of tiny-model tests;
* ``TinyLM``, ``tiny_batch``: the smallest trainable model and its data, for trainer tests;
* ``REPO``, ``snakemake``, ``NOT_COPIED``, ``results_snapshot``, ``job_counts``: the checkout and
  how workflow tests run Snakemake on it (or on a copy of it).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[1]
# Not copied into a temporary workflow directory: VCS data, outputs and caches.
NOT_COPIED = shutil.ignore_patterns(".git", "results", ".snakemake", "__pycache__", ".pytest_cache",
                                    "*.egg-info", ".ci", ".ruff_cache")


@pytest.fixture(scope="module")
def one_thread():
    """torch on one intra-op thread for a module of tiny-model tests: their ops are too small
    for threads to pay off, and each would pay a thread barrier (on a loaded 2-core machine
    that made whole files many times slower). Use with
    ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# -- the trainer's smallest client ---------------------------------------------------------------
TINY_VOCAB, TINY_T, TINY_B = 11, 8, 4


class TinyLM(nn.Module):
    """Embedding -> dropout -> linear: enough to learn "next token = token + 1 (mod 11)".
    Dropout makes trainer tests check that the RNG state survives a resume."""

    def __init__(self, dropout: float = 0.1, d: int = 16):
        super().__init__()
        self.emb = nn.Embedding(TINY_VOCAB, d)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(d, TINY_VOCAB)

    def forward(self, x, y=None):
        logits = self.head(self.drop(self.emb(x)))
        loss = None if y is None else F.cross_entropy(logits.reshape(-1, TINY_VOCAB), y.reshape(-1))
        return logits, loss


def tiny_batch(split: str, step: int, generator: torch.Generator):
    """The trainer's ``get_batch`` for :class:`TinyLM`: runs of consecutive tokens."""
    start = torch.randint(0, TINY_VOCAB, (TINY_B, 1), generator=generator)
    x = (start + torch.arange(TINY_T)) % TINY_VOCAB
    return x, (x + 1) % TINY_VOCAB


# -- Snakemake on the checkout -------------------------------------------------------------------
def snakemake(*args: str, cwd: Path = REPO, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python -m snakemake ARGS`` in ``cwd`` (offline), output captured."""
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def results_snapshot(root: Path = REPO / "results") -> set[tuple[str, float]]:
    """(path, mtime) of everything under ``root``: compared before and after a dry run."""
    return {(str(p), p.stat().st_mtime) for p in root.rglob("*")} if root.exists() else set()


def job_counts(output: str) -> dict[str, int]:
    """Parse the "Job stats" table Snakemake prints (rule name, count)."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "Job stats:") + 3
    counts = {}
    for line in lines[start:]:
        parts = line.split()
        if len(parts) != 2 or parts[0] == "total":
            break
        counts[parts[0]] = int(parts[1])
    return counts
