"""Token files and batches: ``prepare_story_data`` writes them, ``TokenDataset`` reads them.

A *data directory* holds

* ``<split>.bin``: the split's token ids as a flat ``uint16`` array (nanoGPT's memmap format),
  every story followed by ``<|endoftext|>`` as in the official BabiStories ``prepare.py``;
* ``vocab.json``: the compact vocabulary mapping (only when ``compact_vocab``);
* ``meta.json``: written last (its presence marks a complete directory): the corpus config,
  tokenizer identity (with the SHA-256 of ``vocab.json``), per split the file name, story/token
  counts, SHA-256 of the ``.bin``, the largest id and the tokenizer record it was written with,
  what the vocabulary covers (``vocabulary``), and the Table 2 statistics.

The compact vocabulary covers every text the experiment trains or evaluates on: train, val, the
OOD corpus of Fig. 10 (``ood_cfg``, the ``analyses.ood`` section) and the prompts of Tables 1/5
(``prompts_file``), so no evaluated target is ever an unknown token (see
:mod:`mosaic.experiments.stories.tokenizer` for the id order).

Batches follow the official code: uniformly random windows that may cross story boundaries,
``x = tokens[i:i+T]``, ``y = tokens[i+1:i+T+1]``, with the start ``i`` drawn from the caller's
``torch.Generator`` — so the data order is a function of (seed, step) alone.
"""
from __future__ import annotations

import hashlib
import os
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch

from mosaic.experiments.stories.corpus import load_prompts, load_story_splits, normalize_data_config, prompts_digest
from mosaic.experiments.stories.ood_corpus import load_ood_stream, normalize_ood_config
from mosaic.experiments.stories.stats import split_stats
from mosaic.experiments.stories.tokenizer import (  # noqa: F401  (read_meta, encode_stories, META_FILE re-exported)
    GPT2_EOT_ID,
    GPT2_VOCAB_SIZE,
    META_FILE,
    VOCAB_FILE,
    Tokenizer,
    check_tokenizer_record,
    encode_stories,
    load_tokenizer,
    read_meta,
    tokenizer_fingerprint,
)
from mosaic.harness.io import atomic_path, fingerprint, write_json

TOKEN_DTYPE = np.uint16  # GPT-2's 50257 ids fit; so does any compact vocabulary
_SCAN_CHUNK = 1 << 24  # tokens per chunk when scanning a file for out-of-range ids


def token_array(ids: np.ndarray, vocab_size: int, what: str | os.PathLike) -> np.ndarray:
    """``ids`` as the uint16 array of a token file, checked against ``vocab_size``."""
    ids = np.asarray(ids)
    if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ValueError(f"{what}: token ids must lie in 0..{vocab_size - 1}, got {ids.min()}..{ids.max()}")
    return np.ascontiguousarray(ids, dtype=TOKEN_DTYPE)


def token_file_entry(name: str, data: np.ndarray) -> dict:
    """The meta.json entry of a token file holding ``data`` (uint16)."""
    return {"file": name, "n_tokens": int(data.size), "dtype": np.dtype(TOKEN_DTYPE).name,
            "sha256": hashlib.sha256(memoryview(data)).hexdigest(),
            "max_id": int(data.max()) if data.size else -1}


def _write_bytes(path: Path, data) -> None:
    """Write ``data`` (bytes or a uint16 array) to ``path`` and fsync it."""
    with open(path, "wb") as fh:
        fh.write(memoryview(data).cast("B") if isinstance(data, np.ndarray) else data)
        fh.flush()
        os.fsync(fh.fileno())


def _named(err: OSError, target: Path) -> OSError:
    """``err`` naming the output ``target`` (ENOSPC and fsync errors name no file, others a
    temporary name): one line for the user."""
    return OSError(err.errno, err.strerror or str(err), str(target))


def write_token_file(path: str | os.PathLike, ids: np.ndarray, vocab_size: int) -> dict:
    """Write ``ids`` as a uint16 file atomically; returns its sidecar entry."""
    data = token_array(ids, vocab_size, path)
    try:
        with atomic_path(path) as tmp:
            _write_bytes(tmp, data)
    except OSError as err:
        raise _named(err, Path(path)) from err
    return token_file_entry(Path(path).name, data)


def _temporary_name(target: Path) -> Path:
    """A new empty file next to ``target`` (hidden, like mosaic.harness.io's temporaries), created
    with mode 0666 less the umask: the mode the renamed output should have."""
    while True:
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp{target.suffix}")
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            continue


def write_data_dir(out_dir: str | os.PathLike, files: dict[str, object], meta: dict,
                   stale: tuple[str, ...] = ()) -> None:
    """Write a data directory's ``files`` ({name: bytes or uint16 array}) and then ``meta.json``,
    all or nothing. Every file is first written to a temporary name next to its target and
    fsync'ed; only when all are on disk is the old meta.json removed and are they renamed into
    place (renames need no space), then meta.json is written atomically. On any error no new file
    is left: the temporaries are removed, so a failure while writing leaves the directory as it was
    (its old meta.json included); if meta.json itself fails, the renamed files are removed too and
    the directory, without meta.json, reads as incomplete. A directory this call created is removed
    if it stays empty. ``stale``: files of an earlier run to remove. Errors are OSErrors naming the
    path."""
    out_dir = Path(out_dir)
    created = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    staged: dict[Path, Path] = {}
    placed: list[Path] = []
    try:
        for name, data in files.items():
            target = out_dir / name
            try:
                staged[target] = _temporary_name(target)
                _write_bytes(staged[target], data)
            except OSError as err:
                raise _named(err, target) from err
        (out_dir / META_FILE).unlink(missing_ok=True)  # stale from the first rename on
        for name in stale:
            (out_dir / name).unlink(missing_ok=True)
        for target, tmp in staged.items():
            os.replace(tmp, target)
            placed.append(target)
        try:
            write_json(out_dir / META_FILE, meta)
        except OSError as err:
            raise _named(err, out_dir / META_FILE) from err
    except BaseException:
        for tmp in staged.values():
            tmp.unlink(missing_ok=True)
        for target in placed:
            target.unlink(missing_ok=True)
        if created and out_dir.is_dir() and not any(out_dir.iterdir()):
            out_dir.rmdir()
        raise


def _seen_mask(gpt2_stream: np.ndarray) -> np.ndarray:
    """GPT-2 ids (bool per id) occurring in ``gpt2_stream``."""
    return np.bincount(np.asarray(gpt2_stream).ravel(), minlength=GPT2_VOCAB_SIZE) > 0


def prepare_story_data(data_cfg: dict, out_dir: str | os.PathLike, ood_cfg: dict | None = None,
                       prompts_file: str | os.PathLike | None = None, include_ood: bool = True) -> dict:
    """Load, tokenise and write one story corpus (train and val) into ``out_dir``; returns meta.

    With ``compact_vocab`` the vocabulary also covers the OOD corpus ``ood_cfg`` (the
    ``analyses.ood`` section; None = its defaults; ``include_ood=False``: no OOD corpus) and the
    prompts of ``prompts_file`` (None = the default prompts), as prepare-ood and the continuations
    will tokenise them. With the full GPT-2 vocabulary every text is covered already and these are
    not read.
    """

    t0 = time.perf_counter()
    cfg = normalize_data_config(data_cfg)
    ood = normalize_ood_config(ood_cfg) if include_ood else None
    prompts = load_prompts(prompts_file)  # checked before the long steps
    splits = load_story_splits(cfg)
    t_load = time.perf_counter() - t0
    gpt2 = Tokenizer()
    streams, lengths = {}, {}
    for split in ("train", "val"):
        streams[split], lengths[split] = encode_stories(
            gpt2, splits[split], desc=f"prepare: tokenising {len(splits[split])} {split} stories")
    sources = [{"source": "train"}, {"source": "val"}]
    if cfg["compact_vocab"]:
        extra = []
        if ood is not None:
            ood_stream = load_ood_stream(ood, gpt2)["stream"]
            extra.append(ood_stream)
            sources.append({"source": "ood", "config": ood, "n_tokens": int(ood_stream.size),
                            "sha256": hashlib.sha256(memoryview(ood_stream)).hexdigest()})
        prompt_ids = [i for ids in gpt2.encode_gpt2_batch([p["prompt"] for p in prompts]) for i in ids]
        extra.append(np.asarray(prompt_ids, dtype=np.int64))
        sources.append({"source": "prompts", "file": None if prompts_file is None else str(prompts_file),
                        "n_prompts": len(prompts), "sha256": prompts_digest(prompts)})
        tok, sizes = Tokenizer.from_gpt2_streams(streams["train"], streams["val"], *extra)
        for source, size in zip(sources, sizes):
            source["new_ids"] = size
    else:
        tok = gpt2
    t_tok = time.perf_counter() - t0 - t_load

    # Everything that can fail on the data is done before the first file is written.
    train_seen = _seen_mask(streams["train"])
    train_seen[GPT2_EOT_ID] = True
    files, split_meta, stats = {}, {}, {}
    tok_info = tok.info()
    for split in ("train", "val"):
        name = f"{split}.bin"
        data = token_array(tok.from_gpt2(streams[split]), tok.vocab_size, Path(out_dir) / name)
        files[name] = data
        entry = token_file_entry(name, data)
        entry.update(n_stories=len(splits[split]), tokenizer_sha256=tokenizer_fingerprint(tok_info),
                     unseen_in_train_tokens=int((~train_seen[streams[split]]).sum()))
        split_meta[split] = entry
        stats[split] = split_stats(splits[split], lengths[split], streams[split], tok.vocab_size,
                                   cfg["ngram_max_stories"])
    n_train_ids = int(train_seen.sum())
    if tok.compact:
        files[VOCAB_FILE] = tok.vocab_json()
    meta = {
        "format": "mosaic-token-data/2",
        "corpus": cfg["name"] or _corpus_name(cfg),
        "config": cfg,
        "source_info": splits["info"],
        "tokenizer": tok_info,
        "vocabulary": {"size": tok.vocab_size, "ids_seen_in_train": n_train_ids,
                       "ids_unseen_in_train": tok.vocab_size - n_train_ids,
                       "covers": [s["source"] for s in sources] if tok.compact else "all GPT-2 ids",
                       "sources": sources if tok.compact else None},
        "splits": split_meta,
        "stats": stats,
        "timing_s": {"load_or_generate": round(t_load, 3), "tokenize": round(t_tok, 3),
                     "total": round(time.perf_counter() - t0, 3)},
    }
    write_data_dir(out_dir, files, meta, stale=() if tok.compact else (VOCAB_FILE,))
    return meta


def _corpus_name(cfg: dict) -> str:
    if cfg["source"] == "hub":
        return cfg["hub"]["id"]
    return "embedded stories" if cfg["source"] == "embedded" else "local files"


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
        check_tokenizer_record(data_dir, meta)
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


# -- Table 2 at a fixed story count ----------------------------------------------------------------
COMPARISON_STORIES = 2316  # the count at which the embedded corpus is compared with TinyStories


def head_stats_row(data_dir: str | os.PathLike, n_stories: int = COMPARISON_STORIES, split: str = "train") -> dict:
    """A Table 2 row for the first ``n_stories`` stories of a prepared split, decoded from its
    token file (GPT-2's BPE is lossless, so the text is the corpus's). The distinct and repeat rates
    depend on how many stories they are taken over: this row compares corpora at equal counts."""
    meta = read_meta(data_dir)
    tok = load_tokenizer(data_dir)
    ids = np.asarray(TokenDataset(data_dir, split).tokens, dtype=np.int64)
    ends = np.flatnonzero(ids == tok.eot_id)[:n_stories]
    starts = np.concatenate([[0], ends[:-1] + 1])
    stories = [tok.decode(ids[a:b]) for a, b in zip(starts, ends)]
    stream = tok.to_gpt2(ids[:ends[-1] + 1] if len(ends) else ids[:0])
    row = split_stats(stories, ends - starts, stream, tok.vocab_size)
    return {"corpus": meta["corpus"], "split": f"{split}, first {len(stories)}", **row}

