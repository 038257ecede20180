"""Corpus statistics for Table 2 (the story corpus the language models of section 5 train on).

Definitions (also written under the table):

* ``words``: lower-cased runs of letters, digits and apostrophes (``[a-z0-9']+``);
* ``tokens``: GPT-2 tokens of the split's token file, one ``<|endoftext|>`` per story included;
* ``unique_tokens``: distinct GPT-2 ids among them (tokenizer-independent);
* ``*_tokens_per_story``: GPT-2 tokens of one story, ``<|endoftext|>`` excluded;
* ``vocab_size``: the tokenizer's (50257 for GPT-2, K for the compact vocabulary);
* ``distinct_story_rate``: distinct stories / stories (exact text match);
* ``four_gram_diversity``: distinct word 4-grams / word 4-grams, 4-grams taken inside stories,
  over the first ``ngram_max_stories`` stories (all by default; the value falls as the corpus
  grows, so compare it at equal story counts).
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

_WORD = re.compile(r"[a-z0-9']+")

TABLE2_COLUMNS = ["corpus", "split", "stories", "words", "tokens", "unique_tokens",
                  "mean_tokens_per_story", "median_tokens_per_story", "max_tokens_per_story",
                  "vocab_size", "distinct_story_rate", "four_gram_diversity", "four_gram_stories"]


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _word_ids(stories: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """All stories' words as one id array (ids in order of first appearance) and per-story counts."""
    vocab: dict[str, int] = {}
    per_story = [words(s) for s in stories]
    counts = np.fromiter((len(w) for w in per_story), dtype=np.int64, count=len(per_story))
    flat = np.fromiter((vocab.setdefault(w, len(vocab)) for ws in per_story for w in ws),
                       dtype=np.int64, count=int(counts.sum()))
    return flat, counts


def _four_gram_diversity(flat: np.ndarray, counts: np.ndarray) -> float:
    # 4-gram starting at position i is inside its story iff i + 3 < the story's end.
    ends = np.repeat(np.cumsum(counts), counts)
    starts = np.flatnonzero(np.arange(len(flat)) + 3 < ends)
    if starts.size == 0:
        return float("nan")
    grams = np.stack([flat[starts + k] for k in range(4)], axis=1)
    v = int(flat.max()) + 1
    if v ** 4 < 2 ** 63:  # one int64 per 4-gram: np.unique on scalars is much faster than on rows
        codes = ((grams[:, 0] * v + grams[:, 1]) * v + grams[:, 2]) * v + grams[:, 3]
        return float(np.unique(codes).size / codes.size)
    return float(len(np.unique(grams, axis=0)) / len(grams))


def four_gram_diversity(stories: Sequence[str]) -> float:
    """Distinct word 4-grams / all word 4-grams (4-grams do not cross story boundaries)."""
    return _four_gram_diversity(*_word_ids(stories))


def distinct_story_rate(stories: Sequence[str]) -> float:
    # 16-byte digests instead of the texts: memory stays small for millions of stories.
    digests = {hashlib.blake2b(s.encode(), digest_size=16).digest() for s in stories}
    return len(digests) / len(stories) if stories else float("nan")


def split_stats(stories: Sequence[str], story_token_counts: Sequence[int], split_gpt2_ids: np.ndarray,
                vocab_size: int, ngram_max_stories: int | None = None) -> dict:
    """Table 2 numbers of one split. ``split_gpt2_ids`` is the split's GPT-2 token stream
    (stories and their ``<|endoftext|>``), ``story_token_counts`` the per-story lengths without it."""
    counts = np.asarray(story_token_counts, dtype=np.int64)
    n_gram = len(stories) if ngram_max_stories is None else min(len(stories), ngram_max_stories)
    ids = np.asarray(split_gpt2_ids)
    return {
        "stories": len(stories),
        "words": int(sum(len(words(s)) for s in stories)),
        "tokens": int(ids.size),
        "unique_tokens": int(np.count_nonzero(np.bincount(ids.ravel()))) if ids.size else 0,
        "mean_tokens_per_story": float(counts.mean()) if counts.size else float("nan"),
        "median_tokens_per_story": float(np.median(counts)) if counts.size else float("nan"),
        "max_tokens_per_story": int(counts.max()) if counts.size else 0,
        "vocab_size": int(vocab_size),
        "distinct_story_rate": distinct_story_rate(stories),
        "four_gram_diversity": four_gram_diversity(stories[:n_gram]),
        "four_gram_stories": n_gram,
    }


def corpus_stats(splits: dict[str, Sequence[str]], tokenizer, corpus: str = "",
                 ngram_max_stories: int | None = None) -> pd.DataFrame:
    """Table 2 rows for raw stories ({split: stories}), tokenised here with ``tokenizer``."""
    rows = []
    for split, stories in splits.items():
        from mosaic.experiments.stories.tokens import encode_stories

        stream, lengths = encode_stories(tokenizer, list(stories))
        row = split_stats(stories, lengths, stream, tokenizer.vocab_size, ngram_max_stories)
        rows.append({"corpus": corpus, "split": split, **row})
    return pd.DataFrame(rows, columns=TABLE2_COLUMNS)


def table2(data_dirs: Sequence[str | Path]) -> pd.DataFrame:
    """Table 2 from prepared data directories (the stats ``prepare`` stored in meta.json)."""
    rows = []
    for data_dir in data_dirs:
        meta_path = Path(data_dir) / "meta.json"
        if not meta_path.exists():
            raise FileNotFoundError(f"{meta_path} not found: run python -m mosaic stories prepare first")
        meta = json.loads(meta_path.read_text())
        if "stats" not in meta:
            raise ValueError(f"{meta_path} has no 'stats' (not a story data directory?)")
        for split, row in meta["stats"].items():
            rows.append({"corpus": meta["corpus"], "split": split, **row})
    return pd.DataFrame(rows, columns=TABLE2_COLUMNS)
