"""RegBench pools, splits, storage and batching (notes/regbench.md §1, §6).

Differences from the reference generator, all deliberate (the note's §6 pitfalls):

* every automaton ``i`` of a stream gets its own ``numpy`` generator seeded by
  ``SeedSequence([seed, stream, i])``, so pools are reproducible across processes and
  ``PYTHONHASHSEED`` values, and pools are *nested* (the N=100 train pool is a prefix of N=500);
* test, val and train are separate streams: the test pool is the same for every training size;
* a train automaton whose minimal automaton (canonical form, :meth:`Automaton.key`) equals a
  test or val automaton's is rejected and counted (``rejected_collisions``); duplicates within
  a split are kept, as they are in the reference;
* batches are padded to the longest sequence of the batch, not of the split (equivalent for
  causal models, much cheaper).

For the IID evaluation (Memory Mosaics Table 4) the optional ``iid`` key adds ``iid_val`` and
``iid_test``: fresh sequences sampled from the automata of one training pool (``train_<N>``,
``N = iid.train_size``), drawn round-robin over those automata from their own seed streams.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
import time
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mosaic.experiments.regbench.automaton import (
    DELIM_ID,
    PAD_ID,
    VOCAB_SIZE,
    Automaton,
    PFAParams,
    sample_automaton,
    sample_sequence,
    true_next_distributions,
)
from mosaic.harness.config import reject_unknown_keys
from mosaic.harness.io import atomic_open, fingerprint, write_json
from mosaic.harness.progress import Progress
from mosaic.interface import IGNORE_INDEX

STREAMS = {"test": 1, "val": 2, "train": 3, "iid_val": 4, "iid_test": 5}
FORMAT = "regbench-split-v1"


@dataclass(frozen=True)
class IIDConfig:
    """Held-out sequences of the training automata: ``n_val``/``n_test`` sequences sampled
    round-robin from the automata of ``train_<train_size>`` (Memory Mosaics Table 4)."""

    train_size: int = 100
    n_val: int = 250
    n_test: int = 250

    @classmethod
    def from_dict(cls, values: dict) -> IIDConfig:
        names = [f.name for f in dataclasses.fields(cls)]
        reject_unknown_keys(values, names, "regbench data.iid")
        cfg = cls(**values)
        for key in names:
            v = getattr(cfg, key)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"regbench data.iid.{key} must be an integer >= 1, got {v!r}")
        return cfg


@dataclass(frozen=True)
class DataConfig:
    """The ``data`` keys of the config's ``regbench`` section (defaults: the note's smoke scale)."""

    seed: int = 0
    n_test: int = 250
    n_val: int = 250
    train_sizes: tuple[int, ...] = (100,)
    max_attempts_factor: int = 10  # at most factor * N train draws (the reference's 10 * N)
    pfa: PFAParams = field(default_factory=PFAParams)
    iid: IIDConfig | None = None  # None: no iid_val / iid_test splits

    @classmethod
    def from_dict(cls, values: dict) -> DataConfig:
        names = [f.name for f in dataclasses.fields(cls)]
        reject_unknown_keys(values, names, "regbench data")
        values = dict(values)
        values["pfa"] = PFAParams.from_dict(dict(values.get("pfa") or {}))
        if values.get("iid") is not None:
            if not isinstance(values["iid"], dict):
                raise ValueError(f"regbench data key iid must be a mapping or null, got {values['iid']!r}")
            values["iid"] = IIDConfig.from_dict(values["iid"])
        if "train_sizes" in values:
            values["train_sizes"] = tuple(values["train_sizes"])
        cfg = cls(**values)
        for key in ("seed", "n_test", "n_val", "max_attempts_factor"):
            v = getattr(cfg, key)
            if isinstance(v, bool) or not isinstance(v, int) or v < (0 if key == "seed" else 1):
                raise ValueError(f"regbench data key {key} must be an integer >= "
                                 f"{0 if key == 'seed' else 1}, got {v!r}")
        if not cfg.train_sizes or any(isinstance(n, bool) or not isinstance(n, int) or n < 1
                                      for n in cfg.train_sizes):
            raise ValueError(f"regbench data key train_sizes must be a non-empty list of integers "
                             f">= 1, got {list(cfg.train_sizes)}")
        if cfg.iid is not None and cfg.iid.train_size not in cfg.train_sizes:
            raise ValueError(f"regbench data.iid.train_size={cfg.iid.train_size} must be one of "
                             f"train_sizes {list(cfg.train_sizes)}")
        return cfg

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["train_sizes"] = list(self.train_sizes)
        return d


class RegBenchSplit:
    """Sequences (flat ``uint8`` tokens + offsets) and their minimal automata."""

    def __init__(self, name: str, sequences: list[np.ndarray], automata: list[Automaton],
                 source_index: np.ndarray, meta: dict | None = None):
        if len(sequences) != len(automata) or len(sequences) != len(source_index):
            raise ValueError("sequences, automata and source_index differ in length")
        self.name = name
        lengths = np.array([len(s) for s in sequences], dtype=np.int64)
        if (lengths < 2).any():
            raise ValueError(f"split {name!r}: every sequence needs at least 2 tokens")
        self.offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        self.tokens = np.concatenate(sequences).astype(np.uint8) if sequences else np.zeros(0, np.uint8)
        self.automata = list(automata)
        self.source_index = np.asarray(source_index, dtype=np.int64)
        self.meta = dict(meta or {})
        self._q_cache: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.automata)

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def sequence(self, i: int) -> np.ndarray:
        return self.tokens[self.offsets[i]: self.offsets[i + 1]]

    def automaton(self, i: int) -> Automaton:
        return self.automata[i]

    def true_next(self, i: int) -> np.ndarray:
        """``q_t`` for every position of sequence ``i`` (cached)."""
        if i not in self._q_cache:
            self._q_cache[i] = true_next_distributions(self.automata[i], self.sequence(i))
        return self._q_cache[i]

    def subset(self, n: int, name: str | None = None) -> RegBenchSplit:
        """The first ``n`` sequences (train pools are nested prefixes of one stream)."""
        if n > len(self):
            raise ValueError(f"split {self.name!r} has {len(self)} sequences, asked for {n}")
        seqs = [self.sequence(i) for i in range(n)]
        return RegBenchSplit(name or self.name, seqs, self.automata[:n], self.source_index[:n], self.meta)

    # -- storage --------------------------------------------------------------------------------
    def _arrays(self) -> dict[str, np.ndarray]:
        n_states = np.array([a.n_states for a in self.automata], dtype=np.int64)
        return {
            "tokens": self.tokens,
            "offsets": self.offsets,
            "state_offsets": np.concatenate([[0], np.cumsum(n_states)]).astype(np.int64),
            "delta": (np.concatenate([a.delta for a in self.automata]) if self.automata
                      else np.zeros((0, VOCAB_SIZE))).astype(np.int16),
            "accepting": (np.concatenate([a.accepting for a in self.automata]) if self.automata
                          else np.zeros(0)).astype(bool),
            "start": np.array([a.start for a in self.automata], dtype=np.int64),
            "source_index": self.source_index,
        }

    def content_hash(self) -> str:
        h = hashlib.sha256()
        for key, arr in sorted(self._arrays().items()):
            h.update(key.encode())
            h.update(np.ascontiguousarray(arr).tobytes())
        return h.hexdigest()

    def summary(self) -> dict:
        lengths = self.lengths
        return {
            "format": FORMAT, "name": self.name, "n_sequences": len(self),
            "n_tokens": int(lengths.sum()), "n_positions": int((lengths - 1).sum()),
            "mean_length": float(lengths.mean()) if len(self) else 0.0,
            "max_length": int(lengths.max()) if len(self) else 0,
            "sha256": self.content_hash(), **self.meta,
        }

    def save(self, path: str | Path) -> dict:
        """Write ``<path>.npz`` (arrays) and ``<path>.json`` (sidecar: :meth:`summary` plus the
        ``npz_sha256`` of the file's bytes, checked by :meth:`load`), each atomically. Returns
        the summary (without the file hash: the zip records its write time, so the bytes of
        equal content differ between generations, while the summary does not)."""
        path = Path(path).with_suffix("")
        buffer = io.BytesIO()
        np.savez(buffer, **self._arrays())
        raw = buffer.getvalue()
        with atomic_open(path.with_suffix(".npz"), "wb") as fh:
            fh.write(raw)
        summary = self.summary()
        write_json(path.with_suffix(".json"), {**summary, "npz_sha256": hashlib.sha256(raw).hexdigest()})
        return summary

    @classmethod
    def load(cls, path: str | Path, verify: bool = True) -> RegBenchSplit:
        """Read a split written by :meth:`save`. Any damage (a truncated or altered ``.npz``, an
        unreadable sidecar, arrays that do not form automata and sequences) is one ``ValueError``
        naming the file; with ``verify`` the file's sha256 and the content hash are checked
        against the sidecar."""
        path = Path(path).with_suffix("")
        npz, sidecar = path.with_suffix(".npz"), path.with_suffix(".json")
        if not npz.exists():
            raise FileNotFoundError(
                f"RegBench split {npz} does not exist (run `python -m mosaic regbench generate`)")
        again = "run `python -m mosaic regbench generate` again"
        meta = {}
        if sidecar.exists():
            try:
                meta = json.loads(sidecar.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise ValueError(f"corrupt: {sidecar} is not JSON ({exc}); {again}") from None
            if not isinstance(meta, dict):
                raise ValueError(f"corrupt: {sidecar} is not a RegBench split sidecar; {again}")
        raw = npz.read_bytes()
        if verify and "npz_sha256" in meta and hashlib.sha256(raw).hexdigest() != meta["npz_sha256"]:
            raise ValueError(f"corrupt: {npz} (its sha256 differs from the one {sidecar.name} recorded "
                             f"when it was written: truncated or altered); {again}")
        try:
            with np.load(io.BytesIO(raw), allow_pickle=False) as z:
                a = {k: z[k] for k in z.files}
            missing = sorted(set(cls._array_keys()) - set(a))
            if missing:
                raise ValueError(f"arrays {missing} are missing")
            automata = [Automaton(a["delta"][lo:hi], int(a["start"][i]), a["accepting"][lo:hi])
                        for i, (lo, hi) in enumerate(zip(a["state_offsets"][:-1], a["state_offsets"][1:]))]
            seqs = [a["tokens"][lo:hi] for lo, hi in zip(a["offsets"][:-1], a["offsets"][1:])]
            keep = {k: v for k, v in meta.items() if k not in cls._derived_keys()}
            split = cls(meta.get("name", path.name), seqs, automata, a["source_index"], keep)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError, IndexError,
                TypeError) as exc:
            raise ValueError(f"corrupt: {npz} ({type(exc).__name__}: {exc}); {again}") from None
        if verify and "sha256" in meta and split.content_hash() != meta["sha256"]:
            raise ValueError(f"corrupt: {npz} (its content hash differs from {sidecar.name}: altered or "
                             f"mixed up with another split); {again}")
        return split

    @staticmethod
    def _array_keys() -> tuple[str, ...]:
        return ("tokens", "offsets", "state_offsets", "delta", "accepting", "start", "source_index")

    @staticmethod
    def _derived_keys() -> set[str]:
        return {"format", "name", "n_sequences", "n_tokens", "n_positions", "mean_length",
                "max_length", "sha256", "npz_sha256"}


# -- generation ---------------------------------------------------------------------------------
def automaton_rng(seed: int, stream: str, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, STREAMS[stream], index]))


def generate_one(seed: int, stream: str, index: int, params: PFAParams = PFAParams()):
    """Automaton ``index`` of ``stream`` and its sequence; a pure function of its arguments."""
    rng = automaton_rng(seed, stream, index)
    aut = sample_automaton(rng, params)
    return aut, sample_sequence(aut, rng, params)


def generate_split(cfg: DataConfig, stream: str, count: int, exclude: set[bytes] = frozenset(),
                   max_attempts: int | None = None, name: str | None = None,
                   progress: bool = True) -> RegBenchSplit:
    """The first ``count`` automata of ``stream`` whose canonical form is not in ``exclude``.

    Raises a ``ValueError`` naming the config keys to change when ``max_attempts`` draws do not
    give ``count`` of them: the space of automata the ``pfa`` ranges allow is too small for the
    requested pools (or, if some usable automata were drawn, too many collide). Progress is
    reported in automata accepted, with the number of draws."""
    cfg.pfa.validate()
    max_attempts = count if max_attempts is None else max_attempts
    seqs, auts, index = [], [], []
    rejected = attempts = 0
    seen: set[bytes] = set()  # distinct automata among this stream's draws
    t0 = time.perf_counter()
    with Progress(count, f"generate {name or stream}", unit="automata", enabled=progress) as bar:
        while len(auts) < count:
            if attempts >= max_attempts:
                raise ValueError(space_too_small(cfg, stream, count, len(auts), attempts, seen, exclude))
            aut, tokens = generate_one(cfg.seed, stream, attempts, cfg.pfa)
            key = aut.key()
            seen.add(key)
            if key in exclude:
                rejected += 1
            else:
                seqs.append(tokens)
                auts.append(aut)
                index.append(attempts)
            attempts += 1
            bar.update(0 if key in exclude else 1, drawn=attempts)
    meta = {"seed": cfg.seed, "stream": stream, "attempts": attempts,
            "rejected_collisions": rejected, "pfa": dataclasses.asdict(cfg.pfa),
            "seconds": round(time.perf_counter() - t0, 3)}
    return RegBenchSplit(name or stream, seqs, auts, np.array(index), meta)


def space_too_small(cfg: DataConfig, stream: str, count: int, accepted: int, attempts: int,
                    seen: set[bytes], exclude: set[bytes]) -> str:
    """The one-line error of a pool that could not be filled, with the numbers and the keys."""
    usable = len(seen - exclude)
    return (
        f"regbench data: the automata space is too small for the requested pools: the {stream} pool needs "
        f"{count} automata that differ from the {len(exclude)} distinct test/val automata, but {attempts} "
        f"draws (data.max_attempts_factor={cfg.max_attempts_factor}) gave {len(seen)} distinct automata, "
        f"{len(seen) - usable} of them test/val ones, so only {accepted} of the {count} could be drawn "
        f"({len(seen | exclude)} distinct automata in all pools); draw from a larger space (raise "
        f"data.pfa.max_states={cfg.pfa.max_states}, data.pfa.max_alphabet={cfg.pfa.max_alphabet} or "
        f"data.pfa.max_out_degree={cfg.pfa.max_out_degree}) or ask for fewer automata (lower "
        f"data.n_test={cfg.n_test}, data.n_val={cfg.n_val} or data.train_sizes={list(cfg.train_sizes)})"
        + (", or allow more draws (raise data.max_attempts_factor)" if usable else ""))


def generate_iid_split(cfg: DataConfig, train: RegBenchSplit, stream: str, count: int,
                       progress: bool = True) -> RegBenchSplit:
    """``count`` fresh sequences of the automata of ``train``: sequence ``j`` comes from automaton
    ``j mod len(train)`` with the generator of ``(seed, stream, j)``, a stream no other split
    uses, so the strings are new but the languages are the training ones (Table 4's IID test).
    ``source_index`` is the automaton's index in the train stream."""
    cfg.pfa.validate()
    if len(train) == 0:
        raise ValueError(f"cannot draw IID sequences from the empty split {train.name!r}")
    t0 = time.perf_counter()
    seqs, auts, index = [], [], []
    with Progress(count, f"generate {stream}", unit="sequences", enabled=progress) as bar:
        for j in range(count):
            i = j % len(train)
            seqs.append(sample_sequence(train.automata[i], automaton_rng(cfg.seed, stream, j), cfg.pfa))
            auts.append(train.automata[i])
            index.append(int(train.source_index[i]))
            bar.update(1)
    meta = {"seed": cfg.seed, "stream": stream, "automata_from": train.name,
            "pfa": dataclasses.asdict(cfg.pfa), "seconds": round(time.perf_counter() - t0, 3)}
    return RegBenchSplit(stream, seqs, auts, np.array(index), meta)


def generate_all(cfg: DataConfig) -> dict[str, RegBenchSplit]:
    """``test``, ``val`` and ``train_<N>`` for each configured N (nested prefixes of one train
    stream, disjoint from test and val by canonical form), plus ``iid_val``/``iid_test`` when
    ``cfg.iid`` is set."""
    test = generate_split(cfg, "test", cfg.n_test)
    val = generate_split(cfg, "val", cfg.n_val)
    exclude = {a.key() for a in test.automata} | {a.key() for a in val.automata}
    n_max = max(cfg.train_sizes)
    train = generate_split(cfg, "train", n_max, exclude, cfg.max_attempts_factor * n_max)
    splits = {"test": test, "val": val}
    for n in sorted(set(cfg.train_sizes)):
        sub = train.subset(n, f"train_{n}")
        last = int(sub.source_index[-1])
        # collisions among the draws that built this prefix
        sub.meta = {**train.meta, "attempts": last + 1,
                    "rejected_collisions": last + 1 - n, "seconds": None}
        splits[sub.name] = sub
    if cfg.iid is not None:
        pool = splits[f"train_{cfg.iid.train_size}"]
        splits["iid_val"] = generate_iid_split(cfg, pool, "iid_val", cfg.iid.n_val)
        splits["iid_test"] = generate_iid_split(cfg, pool, "iid_test", cfg.iid.n_test)
    return splits


def write_pools(cfg: DataConfig, out_dir: str | Path) -> dict:
    """Generate every split and write them plus ``manifest.json`` (written last) to ``out_dir``."""
    out_dir = Path(out_dir)
    t0 = time.perf_counter()
    splits = generate_all(cfg)
    seconds = time.perf_counter() - t0
    summaries = {name: split.save(out_dir / name) for name, split in splits.items()}
    test_keys = {a.key() for a in splits["test"].automata}
    n_drawn = sum(s.meta["attempts"] for k, s in splits.items() if k in ("test", "val")) + \
        max(s.meta["attempts"] for k, s in splits.items() if k.startswith("train_"))
    manifest = {
        "config": cfg.to_dict(), "splits": summaries,
        "test_val_overlap": sum(a.key() in test_keys for a in splits["val"].automata),
        "generation_seconds": round(seconds, 3),
        "ms_per_automaton": round(1000 * seconds / max(n_drawn, 1), 3),
    }
    write_json(out_dir / "manifest.json", manifest)
    return manifest


TIMING_KEYS = ("generation_seconds", "ms_per_automaton")  # manifest entries that vary between equal runs


def read_manifest(data_dir: str | Path) -> dict:
    """``manifest.json`` of a generated directory (written last: its presence marks it complete)."""
    manifest = Path(data_dir) / "manifest.json"
    if not manifest.exists():
        raise FileNotFoundError(f"{manifest} not found: {data_dir} is not a generated RegBench directory")
    try:
        content = json.loads(manifest.read_text(encoding="utf-8"))
        content["splits"]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as exc:
        raise ValueError(f"{manifest} is not a RegBench manifest ({type(exc).__name__}: {exc}); "
                         "run `python -m mosaic regbench generate` again") from None
    return content


def data_fingerprint(data_dir: str | Path) -> str:
    """What a run's identity records of its data: the manifest (config and every split's
    summary) less its timings."""
    return fingerprint({k: v for k, v in read_manifest(data_dir).items() if k not in TIMING_KEYS})


def load_pools(data_dir: str | Path) -> dict[str, RegBenchSplit]:
    data_dir = Path(data_dir)
    names = read_manifest(data_dir)["splits"]
    return {name: RegBenchSplit.load(data_dir / name) for name in names}


# -- batching -----------------------------------------------------------------------------------
def make_batch(split: RegBenchSplit, indices):
    """``(x, y)`` int64 tensors ``(B, T)``, ``T`` = longest sequence in the batch minus one:
    ``x`` = tokens[:-1] right-padded with ``.`` (0); ``y`` = tokens[1:] with ``|`` targets and
    padding set to ``IGNORE_INDEX`` (the delimiter is never trained, notes §1)."""
    import torch

    indices = [int(i) for i in indices]
    T = max(int(split.offsets[i + 1] - split.offsets[i]) for i in indices) - 1
    x = np.full((len(indices), T), PAD_ID, dtype=np.int64)
    y = np.full((len(indices), T), IGNORE_INDEX, dtype=np.int64)
    for row, i in enumerate(indices):
        seq = split.sequence(i).astype(np.int64)
        x[row, : len(seq) - 1] = seq[:-1]
        tgt = seq[1:].copy()
        tgt[tgt == DELIM_ID] = IGNORE_INDEX
        y[row, : len(seq) - 1] = tgt
    return torch.from_numpy(x), torch.from_numpy(y)


def random_batch(split: RegBenchSplit, batch_size: int, generator):
    """``batch_size`` distinct sequences (all if fewer) drawn with a ``torch.Generator``."""
    import torch

    perm = torch.randperm(len(split), generator=generator)[: min(batch_size, len(split))]
    return make_batch(split, perm.tolist())


class EpochBatcher:
    """Maps a global step to a batch of an epoch-wise reshuffled pass over ``n`` sequences.

    The reference trains 200 epochs at batch 32 with the last partial batch kept, i.e.
    ``steps_per_epoch = ceil(n / batch_size)``. Epoch ``e``'s order is a permutation drawn from
    ``SeedSequence([seed, e])``, so step -> batch is a pure function (safe across resumes).
    """

    def __init__(self, n: int, batch_size: int, seed: int = 0):
        if n < 1 or batch_size < 1:
            raise ValueError(f"EpochBatcher needs n >= 1 and batch_size >= 1, got {n}, {batch_size}")
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.steps_per_epoch = math.ceil(n / batch_size)
        self._epoch, self._perm = -1, None

    def steps(self, epochs: int) -> int:
        return epochs * self.steps_per_epoch

    def permutation(self, epoch: int) -> np.ndarray:
        if epoch != self._epoch:
            rng = np.random.default_rng(np.random.SeedSequence([self.seed, epoch]))
            self._epoch, self._perm = epoch, rng.permutation(self.n)
        return self._perm

    def indices(self, step: int) -> np.ndarray:
        epoch, j = divmod(int(step), self.steps_per_epoch)
        return self.permutation(epoch)[j * self.batch_size: (j + 1) * self.batch_size]


def make_get_batch(splits: dict[str, RegBenchSplit], batch_size: int, seed: int = 0,
                   train: str = "train"):
    """A ``get_batch(split, step, generator)`` for ``mosaic.harness.train.train``: ``"train"`` maps the
    step through an :class:`EpochBatcher` over ``splits[train]``; other split names (``"val"``,
    ``"test"``) draw a random batch with ``generator``. Returns ``(get_batch, batcher)``."""
    batcher = EpochBatcher(len(splits[train]), batch_size, seed)

    def get_batch(split: str, step: int, generator):
        if split == "train":
            return make_batch(splits[train], batcher.indices(step))
        if split not in splits:
            raise KeyError(f"no RegBench split {split!r}; have {sorted(splits)}")
        return random_batch(splits[split], batch_size, generator)

    return get_batch, batcher
