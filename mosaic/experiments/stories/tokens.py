"""Token files and batches: ``prepare_story_data`` writes them, ``TokenDataset`` reads them.

A *data directory* holds

* ``<split>.bin``: the split's token ids as a flat ``uint16`` array (nanoGPT's memmap format),
  every story followed by ``<|endoftext|>`` as in the official BabiStories ``prepare.py``;
* ``vocab.json``: the compact vocabulary mapping (only when ``compact_vocab``);
* ``meta.json``: written last (its presence marks a complete directory): the corpus config,
  tokenizer info, per split the file name, story/token counts, SHA-256 of the ``.bin`` and the
  largest id, and the Table 2 statistics.

Batches follow the official code: uniformly random windows that may cross story boundaries,
``x = tokens[i:i+T]``, ``y = tokens[i+1:i+T+1]``, with the start ``i`` drawn from the caller's
``torch.Generator`` — so the data order is a function of (seed, step) alone.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import os
import time
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

from mosaic.harness.io import atomic_path, fingerprint, write_json
from mosaic.experiments.stories.corpus import load_story_splits, normalize_data_config
from mosaic.experiments.stories.stats import split_stats
from mosaic.experiments.stories.tokenizer import GPT2_EOT_ID, VOCAB_FILE, Tokenizer

TOKEN_DTYPE = np.uint16  # GPT-2's 50257 ids fit; so does any compact vocabulary
META_FILE = "meta.json"
_SCAN_CHUNK = 1 << 24  # tokens per chunk when scanning a file for out-of-range ids


def encode_stories(tokenizer: Tokenizer, stories: list[str], chunk: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """GPT-2 ids of ``stories`` as one uint16 stream, ``<|endoftext|>`` after each; and per-story
    lengths. Encoded ``chunk`` stories at a time so Python lists never hold the whole corpus
    (the paper's 475M tokens would need tens of GB as Python ints)."""
    parts, lengths = [], []
    for first in range(0, len(stories), chunk):
        encoded = tokenizer.encode_gpt2_batch(stories[first:first + chunk])
        lens = np.fromiter((len(ids) for ids in encoded), dtype=np.int64, count=len(encoded))
        with_eot = itertools.chain.from_iterable(ids + [GPT2_EOT_ID] for ids in encoded)
        parts.append(np.fromiter(with_eot, dtype=np.uint16, count=int(lens.sum()) + len(encoded)))
        lengths.append(lens)
    if not parts:
        return np.zeros(0, dtype=np.uint16), np.zeros(0, dtype=np.int64)
    return np.concatenate(parts), np.concatenate(lengths)


def write_token_file(path: str | os.PathLike, ids: np.ndarray, vocab_size: int) -> dict:
    """Write ``ids`` as a uint16 file atomically; returns its sidecar entry."""
    ids = np.asarray(ids)
    if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ValueError(f"{path}: token ids must lie in 0..{vocab_size - 1}, got {ids.min()}..{ids.max()}")
    data = np.ascontiguousarray(ids, dtype=TOKEN_DTYPE)
    with atomic_path(path) as tmp:
        data.tofile(tmp)
    return {"file": Path(path).name, "n_tokens": int(data.size), "dtype": np.dtype(TOKEN_DTYPE).name,
            "sha256": hashlib.sha256(memoryview(data)).hexdigest(),
            "max_id": int(data.max()) if data.size else -1}


def prepare_story_data(data_cfg: dict, out_dir: str | os.PathLike) -> dict:
    """Load, tokenise and write one story corpus (train and val) into ``out_dir``; returns meta."""
    t0 = time.perf_counter()
    cfg = normalize_data_config(data_cfg)
    splits = load_story_splits(cfg)
    t_load = time.perf_counter() - t0
    gpt2 = Tokenizer()
    streams, lengths = {}, {}
    for split in ("train", "val"):
        streams[split], lengths[split] = encode_stories(gpt2, splits[split])
    tok = Tokenizer.from_training_ids(streams["train"]) if cfg["compact_vocab"] else gpt2
    t_tok = time.perf_counter() - t0 - t_load

    # Everything that can fail on the data is done before the first file is written.
    ids, stats = {}, {}
    for split in ("train", "val"):
        ids[split] = tok.from_gpt2(streams[split])
        stats[split] = split_stats(splits[split], lengths[split], streams[split], tok.vocab_size,
                                   cfg["ngram_max_stories"])

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / META_FILE).unlink(missing_ok=True)  # the directory is incomplete until meta is back
    if not tok.compact:
        (out_dir / VOCAB_FILE).unlink(missing_ok=True)  # a stale mapping from an earlier run
    tok.save(out_dir)
    split_meta = {}
    for split in ("train", "val"):
        entry = write_token_file(out_dir / f"{split}.bin", ids[split], tok.vocab_size)
        entry["n_stories"] = len(splits[split])
        entry["unk_tokens"] = int((ids[split] == tok.unk_id).sum()) if tok.compact else 0
        split_meta[split] = entry
    meta = {
        "format": "mosaic-token-data/1",
        "corpus": cfg["name"] or _corpus_name(cfg),
        "config": cfg,
        "source_info": splits["info"],
        "tokenizer": tok.info(),
        "splits": split_meta,
        "stats": stats,
        "timing_s": {"load_or_generate": round(t_load, 3), "tokenize": round(t_tok, 3),
                     "total": round(time.perf_counter() - t0, 3)},
    }
    write_json(out_dir / META_FILE, meta)
    return meta


def _corpus_name(cfg: dict) -> str:
    if cfg["source"] == "hub":
        return cfg["hub"]["id"]
    return "embedded stories" if cfg["source"] == "embedded" else "local files"


def read_meta(data_dir: str | os.PathLike) -> dict:
    path = Path(data_dir) / META_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: not a prepared data directory "
                                "(run: python -m mosaic stories prepare ...)")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); prepare the directory again") from None
    missing = [k for k in ("splits", "tokenizer") if not isinstance(meta, dict) or not isinstance(meta.get(k), dict)]
    if missing:
        raise ValueError(f"{path} has no {' or '.join(map(repr, missing))} mapping: "
                         "not written by python -m mosaic stories prepare")
    return meta


def data_fingerprint(data_dir: str | os.PathLike) -> str:
    """What a run's identity records of its data: ``meta.json`` (the corpus config, the
    tokenizer and every token file's sha256) less its timings."""
    return fingerprint({k: v for k, v in read_meta(data_dir).items() if k != "timing_s"})


class TokenDataset:
    """One split of a prepared data directory, memory-mapped.

    ``vocab_size`` defaults to the tokenizer's; pass the model's to check the file against it.
    Raises if the file's size or SHA-256 differ from its sidecar entry or it holds an id
    >= ``vocab_size`` (one pass over the file, at load).
    """

    def __init__(self, data_dir: str | os.PathLike, split: str, vocab_size: int | None = None):
        meta = read_meta(data_dir)
        if split not in meta["splits"]:
            raise KeyError(f"split {split!r} not in {Path(data_dir) / META_FILE} "
                           f"(splits: {list(meta['splits'])})")
        entry = meta["splits"][split]
        self.path = Path(data_dir) / entry["file"]
        self.vocab_size = int(vocab_size or meta["tokenizer"]["vocab_size"])
        if not self.path.exists():
            raise FileNotFoundError(f"{self.path} not found (listed in {META_FILE})")
        n_bytes = self.path.stat().st_size
        if n_bytes != entry["n_tokens"] * np.dtype(TOKEN_DTYPE).itemsize:
            raise ValueError(f"{self.path} has {n_bytes} bytes; {META_FILE} says "
                             f"{entry['n_tokens']} tokens of {np.dtype(TOKEN_DTYPE).name}")
        self.tokens = np.memmap(self.path, dtype=TOKEN_DTYPE, mode="r") if n_bytes else np.zeros(0, TOKEN_DTYPE)
        self._check_contents(entry.get("sha256"))

    def _check_contents(self, sha256: str | None) -> None:
        """One pass over the file: its SHA-256 against meta.json's (a file overwritten or
        corrupted since ``prepare``) and its ids against ``vocab_size``."""
        digest = hashlib.sha256()
        for start in range(0, len(self.tokens), _SCAN_CHUNK):
            chunk = np.ascontiguousarray(self.tokens[start:start + _SCAN_CHUNK])
            digest.update(memoryview(chunk))
            top = int(chunk.max())
            if top >= self.vocab_size:
                where = start + int(np.argmax(chunk >= self.vocab_size))
                raise ValueError(f"{self.path} holds token id {int(self.tokens[where])} >= vocab_size "
                                 f"{self.vocab_size} (at position {where}): it was tokenised for "
                                 "another vocabulary")
        if sha256 is not None and digest.hexdigest() != sha256:
            raise ValueError(f"{self.path} does not match its {META_FILE} entry (SHA-256 "
                             f"{digest.hexdigest()[:12]}..., recorded {sha256[:12]}...): the file "
                             "changed since `python -m mosaic stories prepare`; prepare it again")

    def __len__(self) -> int:
        return len(self.tokens)

    def _check_window(self, block_size: int) -> None:
        if len(self.tokens) < block_size + 1:
            raise ValueError(f"{self.path} has {len(self.tokens)} tokens, fewer than one context "
                             f"window of block_size {block_size} + 1; use more stories or a "
                             "smaller block_size")

    def _windows(self, starts: np.ndarray, block_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        idx = starts[:, None] + np.arange(block_size + 1)[None, :]
        chunk = torch.from_numpy(self.tokens[idx].astype(np.int64))
        return chunk[:, :-1].contiguous(), chunk[:, 1:].contiguous()

    def get_batch(self, batch_size: int, block_size: int,
                  generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``batch_size`` random windows (starts uniform in ``0..len-block_size-1``), int64 on CPU."""
        self._check_window(block_size)
        starts = torch.randint(len(self.tokens) - block_size, (batch_size,), generator=generator)
        return self._windows(starts.numpy(), block_size)

    def num_sequential_windows(self, block_size: int) -> int:
        return (len(self.tokens) - 1) // block_size

    def sequential_batches(self, batch_size: int, block_size: int,
                           max_windows: int | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The first ``max_windows`` non-overlapping windows (starts 0, T, 2T, ...), in batches."""
        self._check_window(block_size)
        n = self.num_sequential_windows(block_size)
        n = n if max_windows is None else min(n, max_windows)
        for first in range(0, n, batch_size):
            starts = np.arange(first, min(first + batch_size, n), dtype=np.int64) * block_size
            yield self._windows(starts, block_size)


def make_get_batch(data_dir: str | os.PathLike, batch_size: int, block_size: int,
                   vocab_size: int | None = None, splits: tuple[str, ...] = ("train", "val"),
                   ) -> Callable[[str, int, torch.Generator], tuple[torch.Tensor, torch.Tensor]]:
    """The trainer's ``get_batch(split, step, generator)`` over a prepared data directory.

    ``step`` is unused: the trainer seeds ``generator`` per step, which fixes the windows.
    """
    datasets = {s: TokenDataset(data_dir, s, vocab_size) for s in splits}
    for ds in datasets.values():
        ds._check_window(block_size)

    def get_batch(split: str, step: int, generator: torch.Generator):
        return datasets[split].get_batch(batch_size, block_size, generator)

    return get_batch
