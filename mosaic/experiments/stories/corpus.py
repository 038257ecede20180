"""Story corpora behind one function: ``load_stories(data_cfg, split)``.

Sources (``data_cfg["source"]``):

* ``embedded`` (default; offline): :mod:`mosaic.experiments.stories.generator`, deterministic per seed,
  train and validation from disjoint streams.
* ``hub``: ``datasets.load_dataset(hub.id, hub.name, split=..., streaming=hub.streaming)`` —
  ``facebook/BabiStories`` (the paper's corpus) or ``roneneldan/TinyStories`` (splits
  ``train``/``validation``, column ``text``). With ``n_*_stories`` set and ``streaming: true``
  only the first rows are downloaded; the texts taken are kept in a JSONL cache
  (:func:`hub_cache_dir`; ``hub.cache: false`` turns it off), so a rerun is offline. Without
  network and without a cached copy it fails with one line saying what to do.
* ``files``: local ``.txt`` / ``.json`` / ``.jsonl`` / ``.parquet`` / ``.csv`` through
  ``datasets.load_dataset("text"|"json"|"parquet"|"csv", data_files=...)``. A ``.txt`` file holds
  one story per blank-line-separated paragraph (``txt_mode: paragraph``, the default), one per
  line (``line``), or stories separated by ``<|endoftext|>`` (``eot``, TinyStories' .txt format).
  A leading UTF-8 byte-order mark is dropped (one warning line names the file); a NUL character
  is refused (one error line): text files never hold one, so the file is binary, UTF-16 or
  damaged, and training on a silently repaired copy would hide that.

The data section of the config (``stories.data``), with every key this module reads::

    source: embedded              # embedded | hub | files
    n_train_stories: 20000        # required for embedded; null = all (hub/files)
    n_val_stories: 500
    seed: 1234                    # embedded generator seed
    compact_vocab: true           # see mosaic.experiments.stories.tokenizer
    name: null                    # corpus label in Table 2
    ngram_max_stories: 100000     # 4-gram diversity over the first N stories (null = all)
    hub: {id: facebook/BabiStories, name: null, train_split: train, val_split: validation,
          text_column: null,      # null = "text" or the only string column
          streaming: false,       # true: read rows while downloading (with n_*_stories set)
          cache: true}            # keep the first n_*_stories texts taken (see hub_cache_dir)
    files: {train: null, val: null, txt_mode: paragraph, text_column: text}
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mosaic.experiments.stories import generator as story_generator
from mosaic.harness.io import atomic_open
from mosaic.harness.progress import Progress


class DataSourceError(ValueError):
    """Bad data configuration or unreadable source; the message is one line for the user."""


DEFAULT_DATA_CONFIG: dict[str, Any] = {
    "source": "embedded",
    "n_train_stories": None,
    "n_val_stories": None,
    "seed": 1234,
    "compact_vocab": True,
    "name": None,  # corpus label in Table 2 (default: the source)
    # Table 2's 4-gram diversity over the first N stories of each split (null = all; bounds the
    # memory at hub scale, where the value is computed on millions of stories otherwise).
    "ngram_max_stories": 100_000,
    "hub": {"id": "facebook/BabiStories", "name": None, "train_split": "train",
            "val_split": "validation", "text_column": None, "streaming": False, "cache": True},
    "files": {"train": None, "val": None, "txt_mode": "paragraph", "text_column": "text"},
}
SOURCES = ("embedded", "hub", "files")
SPLITS = ("train", "val")
TXT_MODES = {"paragraph": "paragraph", "line": "line", "eot": "document"}
_BUILDERS = {".txt": "text", ".text": "text", ".json": "json", ".jsonl": "json",
             ".parquet": "parquet", ".csv": "csv"}
HUB_CACHE_ENV = "MOSAIC_HUB_CACHE"  # overrides the directory of the hub cache
_OFFLINE_HINT = ("run once with network access (and HF_HUB_OFFLINE unset) to fill the cache, or use "
                 "`source: files` with local copies")


def merge_config(defaults: dict, cfg: dict | None, where: str) -> dict:
    """``defaults`` updated by ``cfg`` (nested dicts merged); unknown keys are errors."""
    out = copy.deepcopy(defaults)
    for key, value in (cfg or {}).items():
        if key not in defaults:
            raise DataSourceError(f"unknown key {where}.{key} (known: {', '.join(defaults)})")
        if isinstance(defaults[key], dict) and isinstance(value, dict):
            out[key] = merge_config(defaults[key], value, f"{where}.{key}")
        else:
            out[key] = value
    return out


def check_counts(cfg: dict, keys: tuple[str, ...], where: str) -> None:
    """Each ``cfg[key]`` must be a positive integer or None (= all)."""
    for key in keys:
        n = cfg[key]
        if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 1):
            raise DataSourceError(f"{where}.{key} must be a positive integer or null, got {n!r}")


def check_flags(cfg: dict, keys: tuple[str, ...], where: str) -> None:
    """Each ``cfg[key]`` must be true or false."""
    for key in keys:
        if not isinstance(cfg[key], bool):
            raise DataSourceError(f"{where}.{key} must be true or false, got {cfg[key]!r}")


def normalize_data_config(cfg: dict | None) -> dict:
    """The data section with defaults filled in and checked."""
    cfg = merge_config(DEFAULT_DATA_CONFIG, cfg, "data")
    check_flags(cfg, ("compact_vocab",), "data")
    check_flags(cfg["hub"], ("streaming", "cache"), "data.hub")
    if cfg["source"] not in SOURCES:
        raise DataSourceError(f"data.source must be one of {SOURCES}, got {cfg['source']!r}")
    for key in ("n_train_stories", "n_val_stories"):
        if cfg[key] is None and cfg["source"] == "embedded":
            raise DataSourceError(f"data.{key} is required for source: embedded")
    check_counts(cfg, ("n_train_stories", "n_val_stories", "ngram_max_stories"), "data")
    if cfg["files"]["txt_mode"] not in TXT_MODES:
        raise DataSourceError(f"data.files.txt_mode must be one of {list(TXT_MODES)}, "
                              f"got {cfg['files']['txt_mode']!r}")
    return cfg


def _check_split(split: str) -> str:
    if split not in SPLITS:
        raise DataSourceError(f"split must be one of {SPLITS}, got {split!r}")
    return split


def load_stories(data_cfg: dict, split: str) -> list[str]:
    """The stories of one split ("train" or "val"), stripped, empty ones dropped."""
    cfg = normalize_data_config(data_cfg)
    if cfg["source"] == "embedded":  # the validation stream is checked against train
        return load_story_splits(cfg)[_check_split(split)]
    return _load_source_split(cfg, _check_split(split))


def _load_source_split(cfg: dict, split: str) -> list[str]:
    n = cfg[f"n_{split}_stories"]
    if cfg["source"] == "hub":
        hub = cfg["hub"]
        return load_hub_texts(hub["id"], hub["name"], hub[f"{split}_split"], hub["text_column"], n,
                              streaming=hub["streaming"], cache=hub["cache"])
    files = cfg["files"]
    return load_local_texts(files[split], files["txt_mode"], files["text_column"], n,
                            what=f"data.files.{split}")


def load_story_splits(data_cfg: dict) -> dict:
    """{"train": [...], "val": [...], "info": {...}} — ``info`` counts validation stories that
    also occur in train (always 0 for ``embedded``, whose generator replaces them)."""
    cfg = normalize_data_config(data_cfg)
    info: dict[str, Any] = {"source": cfg["source"]}
    if cfg["source"] == "embedded":
        train, val, replaced = story_generator.generate_splits(
            cfg["n_train_stories"], cfg["n_val_stories"], cfg["seed"])
        info.update(seed=cfg["seed"], val_replaced_duplicates=replaced)
    else:
        train, val = (_load_source_split(cfg, split) for split in SPLITS)
        info.update({cfg["source"]: cfg[cfg["source"]]})
    seen = set(train)
    info["val_stories_also_in_train"] = sum(story in seen for story in val)
    return {"train": train, "val": val, "info": info}


def _clean(texts: Iterable, limit: int | None, progress=None) -> list[str]:
    out = []
    for text in texts:
        text = (text or "").strip()
        if text:
            out.append(text)
            if progress is not None:
                progress.update(1)
            if limit is not None and len(out) >= limit:
                break
    return out


def _text_column(column_names: list[str], wanted: str | None, features, where: str) -> str:
    if wanted is not None:
        if wanted not in column_names:
            raise DataSourceError(f"{where} has no column {wanted!r} (columns: {column_names}); "
                                  "set text_column")
        return wanted
    if "text" in column_names:
        return "text"
    strings = [c for c in column_names if getattr(features.get(c), "dtype", None) in ("string", "large_string")]
    if len(strings) == 1:
        return strings[0]
    raise DataSourceError(f"{where}: cannot tell which column holds the text (columns: "
                          f"{column_names}); set text_column")


# ------------------------------------------------------------------------------ hub
_HUB_ID = re.compile(r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)?")
_CACHE_NAME = re.compile(r"(?P<split>.+)-(?P<column>[^-]+)-(?P<n>\d+)\.jsonl")


def hub_cache_dir() -> Path:
    """Where the texts taken from the hub are kept: ``$MOSAIC_HUB_CACHE``, else
    ``$XDG_CACHE_HOME/mosaic/hub``, else ``~/.cache/mosaic/hub``. One file per (dataset, config,
    split, column, count): ``<id>/<config or default>/<split>-<column or auto>-<n>.jsonl``, one
    ``{"text": ...}`` per line, in the hub's row order."""
    if os.environ.get(HUB_CACHE_ENV):
        return Path(os.environ[HUB_CACHE_ENV]).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "mosaic" / "hub"


def _hub_cache_folder(dataset_id: str, name: str | None) -> Path | None:
    """The cache folder of a hub dataset, or None for an id that is not a hub repository name
    (a local directory is read directly: a cached copy could go stale when its files change)."""
    parts = [dataset_id, name or "default"]
    if (not _HUB_ID.fullmatch(dataset_id) or not _HUB_ID.fullmatch(parts[1]) or "/" in parts[1]
            or any(p in (".", "..") for part in parts for p in part.split("/"))
            or os.path.exists(dataset_id)):
        return None
    return hub_cache_dir() / dataset_id / parts[1]


def _read_hub_cache(folder: Path, split: str, column: str, limit: int) -> tuple[Path, list[str]] | None:
    """The first ``limit`` texts from the smallest cached take of at least ``limit`` texts (a take
    that holds fewer lines than its count is the whole split)."""
    if not folder.is_dir():
        return None
    takes = []
    for path in folder.iterdir():
        m = _CACHE_NAME.fullmatch(path.name)
        if m and m["split"] == split and m["column"] == column and int(m["n"]) >= limit:
            takes.append((int(m["n"]), path))
    if not takes:
        return None
    path = min(takes)[1]
    texts: list[str] = []
    try:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if len(texts) >= limit:
                    break
                row = json.loads(line)
                if not isinstance(row, dict) or not isinstance(row.get("text"), str):
                    raise ValueError("not a {\"text\": ...} object")
                texts.append(row["text"])
    except (ValueError, UnicodeDecodeError) as err:  # json.JSONDecodeError is a ValueError
        raise DataSourceError(f"hub cache file {path} is damaged (line {len(texts) + 1}: "
                              f"{_first_line(err)}); delete it to download the texts again") from None
    return path, texts


def _write_hub_cache(path: Path, texts: list[str]) -> None:
    try:
        with atomic_open(path, "w", encoding="utf-8") as fh:
            for text in texts:
                fh.write(json.dumps({"text": text}, ensure_ascii=False) + "\n")
    except OSError as err:  # the cache only saves a download: the data are already in hand
        print(f"warning: cannot write the hub cache {path} ({err.strerror or err}); the next run "
              "downloads the texts again", file=sys.stderr)


def load_hub_texts(dataset_id: str, name: str | None, split: str, text_column: str | None,
                   limit: int | None = None, streaming: bool = False, cache: bool = True) -> list[str]:
    """Texts of one split of a Hugging Face hub dataset (first ``limit`` non-empty ones).

    ``streaming`` reads rows as they download, so a small ``limit`` fetches a small part of a
    big dataset (e.g. a few thousand Wikipedia articles); the column must then exist by name.
    With ``limit`` set and ``cache``, the texts taken are kept under :func:`hub_cache_dir` and
    later calls read them from there without touching the network.
    """
    where = f"hub dataset {dataset_id!r}" + (f" ({name})" if name else "") + f" split {split!r}"
    column_key = text_column or "auto"
    cache_file = None
    folder = _hub_cache_folder(dataset_id, name) if cache and limit is not None else None
    if folder is not None:
        cached = _read_hub_cache(folder, split, column_key, limit)
        if cached is not None:
            print(f"{where}: {len(cached[1])} texts read from the cache {cached[0]}", file=sys.stderr)
            return cached[1]
        cache_file = folder / f"{split}-{column_key}-{limit}.jsonl"

    import datasets  # noqa: PLC0415

    try:
        ds = datasets.load_dataset(dataset_id, name, split=split, streaming=streaming)
        with Progress(limit, f"reading {where}", unit="texts") as progress:
            if streaming:
                column = text_column or "text"
                texts = _clean(_stream_column(ds, column, where), limit, progress)
            else:
                column = _text_column(list(ds.column_names), text_column, ds.features, where)
                texts = _clean(ds[column] if limit is None else _iter_column(ds, column), limit, progress)
    except DataSourceError:
        raise
    except (ConnectionError, OSError, TimeoutError) as err:
        cached_note = (f", and no cached copy of its first {limit} texts is in {folder}"
                       if folder is not None else "")
        raise DataSourceError(f"cannot load {where} from the Hugging Face hub "
                              f"({type(err).__name__}: {_first_line(err)}): no network, or "
                              f"HF_HUB_OFFLINE=1 is set{cached_note}; {_OFFLINE_HINT}") from err
    except ValueError as err:  # unknown split or config
        raise DataSourceError(f"cannot load {where}: {_first_line(err)}") from err
    if not texts:
        raise DataSourceError(f"{where} has no non-empty text in column {column!r}")
    if cache_file is not None:
        _write_hub_cache(cache_file, texts)
    return texts


def _stream_column(ds, column: str, where: str):
    for row in ds:
        if column not in row:
            raise DataSourceError(f"{where} has no column {column!r} (columns: {list(row)}); "
                                  "set text_column")
        yield row[column]


def _iter_column(ds, column: str):
    for batch in ds.iter(batch_size=1024):
        yield from batch[column]


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else "no message"


# ------------------------------------------------------------------------------ local files
_BOM = b"\xef\xbb\xbf"


def load_local_texts(paths, txt_mode: str = "paragraph", text_column: str | None = "text",
                     limit: int | None = None, what: str = "files") -> list[str]:
    """Texts from local files (one format per call), via ``datasets.load_dataset``."""
    import datasets  # noqa: PLC0415

    if paths is None or paths == [] or paths == "":
        raise DataSourceError(f"{what} is not set: give a path (or a list of paths)")
    paths = [str(Path(p).expanduser()) for p in ([paths] if isinstance(paths, (str, os.PathLike)) else paths)]
    for p in paths:
        if not os.path.isfile(p):
            raise DataSourceError(f"{what}: file not found: {p}")
        if os.path.getsize(p) == 0:
            raise DataSourceError(f"{what}: file is empty: {p}")
    suffixes = {Path(p).suffix.lower() for p in paths}
    if len(suffixes) != 1 or next(iter(suffixes)) not in _BUILDERS:
        raise DataSourceError(f"{what}: files must share one of the extensions {sorted(_BUILDERS)}, "
                              f"got {paths}")
    builder = _BUILDERS[suffixes.pop()]
    # utf-8-sig drops a leading byte-order mark (the JSON and CSV readers drop it themselves).
    kwargs = {"sample_by": TXT_MODES[txt_mode], "encoding": "utf-8-sig"} if builder == "text" else {}
    if builder != "parquet":
        for p in paths:
            with open(p, "rb") as fh:
                if fh.read(len(_BOM)) == _BOM:
                    print(f"warning: {what}: {p} starts with a UTF-8 byte-order mark; dropped",
                          file=sys.stderr)
    names = ", ".join(paths)
    try:
        ds = datasets.load_dataset(builder, data_files={"train": paths}, split="train", **kwargs)
    except Exception as err:  # UnicodeDecodeError, JSON/Parquet parse errors, wrapped by datasets
        cause = err.__cause__ or err.__context__ or err
        raise DataSourceError(f"{what}: cannot read {names} as {builder} "
                              f"({type(cause).__name__}: {_first_line(cause)})") from err
    column = "text" if builder == "text" else _text_column(list(ds.column_names), text_column,
                                                          ds.features, names)
    texts = ds[column] if limit is None else _iter_column(ds, column)
    if builder == "text" and txt_mode == "eot":
        texts = (part for doc in texts for part in doc.split("<|endoftext|>"))
    texts = _clean(texts, limit)
    if not texts:
        raise DataSourceError(f"{what}: no non-empty text in {names}")
    nul_texts = [i for i, t in enumerate(texts) if "\x00" in t]
    if nul_texts:
        n_nul = sum(texts[i].count("\x00") for i in nul_texts)
        raise DataSourceError(f"{what}: {names} holds {n_nul} NUL character(s) (first in text "
                              f"{nul_texts[0]}): not plain text (binary, UTF-16 or damaged?); remove "
                              "them (e.g. tr -d '\\000') or convert the file to UTF-8")
    return texts


# ------------------------------------------------------------------------------ prompts
PROMPTS_FILE = Path(__file__).with_name("prompts.json")
_PROMPT_FORMAT = "a list of strings, or of objects with a 'prompt' string and an optional 'category' string"


def _kind(value: Any) -> str:
    if isinstance(value, str):
        return f"a string ({value[:20]!r})"
    if isinstance(value, bool):
        return f"a boolean ({value})"
    if isinstance(value, (int, float)):
        return f"a number ({value})"
    if value is None:
        return "null"
    if isinstance(value, list):
        return "a list"
    return "an object" if isinstance(value, dict) else f"a {type(value).__name__}"


def _prompt_entries(items: Any, path: Path) -> list[dict]:
    where = f"prompts file {path}"
    if isinstance(items, dict):
        if not isinstance(items.get("prompts"), list):
            raise DataSourceError(f"{where}: an object must hold a 'prompts' list (keys: "
                                  f"{sorted(map(str, items))}); expected {_PROMPT_FORMAT}")
        items = items["prompts"]
    if not isinstance(items, list):
        raise DataSourceError(f"{where}: expected {_PROMPT_FORMAT}, got {_kind(items)}")
    prompts = []
    for i, item in enumerate(items):
        if isinstance(item, str):
            item = {"prompt": item}
        if not isinstance(item, dict):
            raise DataSourceError(f"{where}: entry {i} is {_kind(item)}; expected a string or an "
                                  "object with a 'prompt' string")
        if not isinstance(item.get("prompt"), str):
            raise DataSourceError(f"{where}: entry {i} has no 'prompt' string (keys: "
                                  f"{sorted(map(str, item))})")
        category = item.get("category", "custom")
        if not isinstance(category, str):
            raise DataSourceError(f"{where}: entry {i} has a 'category' that is {_kind(category)}, "
                                  "not a string")
        prompts.append({"category": category, "prompt": item["prompt"]})
    return prompts


def load_prompts(path: str | os.PathLike | None = None) -> list[dict]:
    """Evaluation prompts as ``[{"category": ..., "prompt": ...}]``.

    Default: our 24 story beginnings (8 each of factual knowledge, reasoning and context
    tracking, the categories of Eldan & Li). Other files: ``.json`` (or ``.yaml``/``.yml``)
    holding a list of strings, a list of ``{"prompt": ..., "category": ...}`` objects (category
    optional, default "custom"), or ``{"prompts": [...]}``; any other file is read as one prompt
    per non-empty line (category "custom"). A leading UTF-8 byte-order mark is dropped; anything
    else is refused with one line naming the file and the problem.
    """
    path = Path(path) if path is not None else PROMPTS_FILE
    if not path.is_file():
        raise DataSourceError(f"prompts file not found: {path}")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise DataSourceError(f"prompts file is not UTF-8 text: {path} ({err})") from err
    if "\x00" in text:
        raise DataSourceError(f"prompts file {path} holds NUL characters: not a text file")
    suffix = path.suffix.lower()
    if suffix in (".json", ".yaml", ".yml"):
        if suffix == ".json":
            try:
                items = json.loads(text) if text.strip() else []
            except json.JSONDecodeError as err:
                raise DataSourceError(f"prompts file is not valid JSON: {path} ({err})") from err
        else:
            import yaml  # noqa: PLC0415

            try:
                items = yaml.safe_load(text) if text.strip() else []
            except yaml.YAMLError as err:
                raise DataSourceError(f"prompts file is not valid YAML: {path} "
                                      f"({' '.join(str(err).split())})") from err
        prompts = _prompt_entries(items, path)
    else:
        prompts = [{"category": "custom", "prompt": line.strip()} for line in text.splitlines() if line.strip()]
    prompts = [p for p in prompts if p["prompt"].strip()]
    if not prompts:
        raise DataSourceError(f"prompts file holds no prompts: {path}")
    return prompts


def prompts_digest(prompts: list[dict]) -> str:
    """SHA-256 of the prompt texts (what a data directory records of the prompts it covers)."""
    return hashlib.sha256(json.dumps([p["prompt"] for p in prompts]).encode()).hexdigest()
