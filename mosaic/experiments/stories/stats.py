"""Corpus statistics for Table 2 (the story corpus the language models of section 5 train on, and
the real-text comparison of the stories with TinyStories).

Definitions (also written under the table):

* ``words``: lower-cased words, ``[a-z]+('[a-z]+)*`` over the lower-cased text (letters, with
  apostrophes inside a word: "don't", "tom's"; digits and other characters separate words);
* ``tokens``: GPT-2 tokens of the split's token file, one ``<|endoftext|>`` per story included;
* ``unique_tokens``: distinct GPT-2 ids among them (tokenizer-independent);
* ``*_tokens_per_story``: GPT-2 tokens of one story, ``<|endoftext|>`` excluded;
* ``vocab_size``: the tokenizer's (50257 for GPT-2, K for the compact vocabulary);
* ``distinct_story_rate``: distinct stories / stories (exact text match);
* ``word_types``: distinct words of the split;
* ``words_per_story``: words / stories;
* ``four_gram_stories``: the first N stories (``ngram_max_stories``; all by default) over which
  the two distinct rates and the two repeat rates below are computed — the distinct rates fall as
  a corpus grows, so compare them at equal story counts;
* ``sentences``: sentences of those stories; a story is cut at ``.``, ``!``, ``?`` and ``;``, a
  sentence is the word sequence of one piece, pieces without words are dropped;
* ``distinct_sentence_rate``: distinct sentences (as word sequences) / sentences;
* ``four_gram_diversity``: distinct word 4-grams / word 4-grams, 4-grams taken inside stories;
* ``word_repeat_rate``: within-story repetition: among the words of a story after its first 20,
  the fraction that already occurred earlier in the same story, pooled over stories (stories of
  at most 20 words contribute nothing);
* ``bigram_repeat_rate``: the same for word bigrams (bigram ``i`` = words ``i, i+1``; bigrams after
  the first 20 of a story).
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from mosaic.experiments.stories.tokenizer import encode_stories

_WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")
_SENTENCE_END = re.compile(r"[.!?;]")
REPEAT_SKIP = 20  # repeat rates count the words (bigrams) of a story after its first 20

TABLE2_COLUMNS = ["corpus", "split", "stories", "words", "tokens", "unique_tokens",
                  "mean_tokens_per_story", "median_tokens_per_story", "max_tokens_per_story",
                  "vocab_size", "distinct_story_rate", "four_gram_diversity", "four_gram_stories",
                  "word_types", "words_per_story", "sentences", "distinct_sentence_rate",
                  "word_repeat_rate", "bigram_repeat_rate"]


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def sentences(text: str) -> list[tuple[str, ...]]:
    """The sentences of ``text`` as word tuples (pieces between . ! ? ; holding at least one word)."""
    return [tuple(ws) for piece in _SENTENCE_END.split(text) if (ws := words(piece))]


def _word_ids(per_story: Sequence[Sequence[str]]) -> tuple[np.ndarray, np.ndarray, int]:
    """All stories' words as one id array (ids in order of first appearance), per-story counts and
    the number of distinct words."""
    vocab: dict[str, int] = {}
    counts = np.fromiter((len(w) for w in per_story), dtype=np.int64, count=len(per_story))
    flat = np.fromiter((vocab.setdefault(w, len(vocab)) for ws in per_story for w in ws),
                       dtype=np.int64, count=int(counts.sum()))
    return flat, counts, len(vocab)


def _codes(columns: list[np.ndarray], base: int) -> np.ndarray:
    """One int64 per row of ``columns`` (ids < ``base``), equal iff the rows are equal."""
    if base ** len(columns) < 2 ** 63:  # np.unique on scalars is much faster than on rows
        code = np.zeros(len(columns[0]), dtype=np.int64)
        for col in columns:
            code = code * base + col
        return code
    return np.unique(np.stack(columns, axis=1), axis=0, return_inverse=True)[1].ravel()


def _story_index(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per word: its story's index and its position inside the story."""
    story = np.repeat(np.arange(len(counts)), counts)
    starts = np.cumsum(counts) - counts
    return story, np.arange(int(counts.sum())) - starts[story]


def _four_gram_diversity(flat: np.ndarray, counts: np.ndarray) -> float:
    # 4-gram starting at position i is inside its story iff i + 3 < the story's end.
    ends = np.repeat(np.cumsum(counts), counts)
    starts = np.flatnonzero(np.arange(len(flat)) + 3 < ends)
    if starts.size == 0:
        return float("nan")
    codes = _codes([flat[starts + k] for k in range(4)], int(flat.max()) + 1)
    return float(np.unique(codes).size / codes.size)


def _repeat_rate(unit_ids: np.ndarray, story: np.ndarray, position: np.ndarray) -> float:
    """Fraction of units at position >= REPEAT_SKIP of their story that occurred earlier in it."""
    counted = position >= REPEAT_SKIP
    if not counted.any():
        return float("nan")
    keys = _codes([story, unit_ids], max(int(story.max()), int(unit_ids.max())) + 1)
    first = np.zeros(len(keys), dtype=bool)
    first[np.unique(keys, return_index=True)[1]] = True  # np.unique keeps each key's first index
    return float((~first[counted]).mean())


def repeat_rates(stories: Sequence[str]) -> tuple[float, float]:
    """(word_repeat_rate, bigram_repeat_rate) of ``stories`` (module docstring)."""
    flat, counts, n_types = _word_ids([words(s) for s in stories])
    return _repeat_rates(flat, counts, n_types)


def _repeat_rates(flat: np.ndarray, counts: np.ndarray, n_types: int) -> tuple[float, float]:
    if flat.size == 0:
        return float("nan"), float("nan")
    story, position = _story_index(counts)
    word_rate = _repeat_rate(flat, story, position)
    inside = np.flatnonzero(position[:-1] < (counts[story[:-1]] - 1))  # bigram (i, i+1) in one story
    if inside.size == 0:
        return word_rate, float("nan")
    bigrams = _codes([flat[inside], flat[inside + 1]], n_types)
    bigram_ids = np.unique(bigrams, return_inverse=True)[1].ravel()
    return word_rate, _repeat_rate(bigram_ids, story[inside], position[inside])


def four_gram_diversity(stories: Sequence[str]) -> float:
    """Distinct word 4-grams / all word 4-grams (4-grams do not cross story boundaries)."""
    flat, counts, _ = _word_ids([words(s) for s in stories])
    return _four_gram_diversity(flat, counts)


def distinct_sentence_rate(stories: Sequence[str]) -> tuple[int, float]:
    """(sentences, distinct sentences / sentences) over ``stories`` (sentences as word sequences)."""
    digests, n = set(), 0
    for story in stories:
        for sentence in sentences(story):
            n += 1
            digests.add(hashlib.blake2b(" ".join(sentence).encode(), digest_size=16).digest())
    return n, (len(digests) / n if n else float("nan"))


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
    n_words, types, head = 0, set(), []
    for i, story in enumerate(stories):
        ws = words(story)
        n_words += len(ws)
        types.update(ws)
        if i < n_gram:
            head.append(ws)
    flat, word_counts, n_types = _word_ids(head)
    word_repeat, bigram_repeat = _repeat_rates(flat, word_counts, n_types)
    n_sentences, sentence_rate = distinct_sentence_rate(stories[:n_gram])
    return {
        "stories": len(stories),
        "words": n_words,
        "tokens": int(ids.size),
        "unique_tokens": int(np.count_nonzero(np.bincount(ids.ravel()))) if ids.size else 0,
        "mean_tokens_per_story": float(counts.mean()) if counts.size else float("nan"),
        "median_tokens_per_story": float(np.median(counts)) if counts.size else float("nan"),
        "max_tokens_per_story": int(counts.max()) if counts.size else 0,
        "vocab_size": int(vocab_size),
        "distinct_story_rate": distinct_story_rate(stories),
        "four_gram_diversity": _four_gram_diversity(flat, word_counts) if flat.size else float("nan"),
        "four_gram_stories": n_gram,
        "word_types": len(types),
        "words_per_story": n_words / len(stories) if stories else float("nan"),
        "sentences": n_sentences,
        "distinct_sentence_rate": sentence_rate,
        "word_repeat_rate": word_repeat,
        "bigram_repeat_rate": bigram_repeat,
    }


def corpus_stats(splits: dict[str, Sequence[str]], tokenizer, corpus: str = "",
                 ngram_max_stories: int | None = None) -> pd.DataFrame:
    """Table 2 rows for raw stories ({split: stories}), tokenised here with ``tokenizer``."""
    rows = []
    for split, stories in splits.items():

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
