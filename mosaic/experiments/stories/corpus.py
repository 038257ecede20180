"""Story corpora behind one function: ``load_stories(data_cfg, split)``.

Sources (``data_cfg["source"]``):

* ``embedded`` (default; offline): :mod:`mosaic.experiments.stories.generator`, deterministic per seed,
  train and validation from disjoint streams.
* ``hub``: ``datasets.load_dataset(hub.id, hub.name, split=...)`` — ``facebook/BabiStories``
  (the paper's corpus) or ``roneneldan/TinyStories`` (splits ``train``/``validation``, column
  ``text``). Needs network; offline it fails with one line saying what to do.
* ``files``: local ``.txt`` / ``.json`` / ``.jsonl`` / ``.parquet`` / ``.csv`` through
  ``datasets.load_dataset("text"|"json"|"parquet"|"csv", data_files=...)``. A ``.txt`` file holds
  one story per blank-line-separated paragraph (``txt_mode: paragraph``, the default), one per
  line (``line``), or stories separated by ``<|endoftext|>`` (``eot``, TinyStories' .txt format).

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
          streaming: false}       # true: read rows while downloading (with n_*_stories set)
    files: {train: null, val: null, txt_mode: paragraph, text_column: text}
"""
from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

from mosaic.experiments.stories import generator as story_generator


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
            "val_split": "validation", "text_column": None, "streaming": False},
    "files": {"train": None, "val": None, "txt_mode": "paragraph", "text_column": "text"},
}
SOURCES = ("embedded", "hub", "files")
SPLITS = ("train", "val")
TXT_MODES = {"paragraph": "paragraph", "line": "line", "eot": "document"}
_BUILDERS = {".txt": "text", ".text": "text", ".json": "json", ".jsonl": "json",
             ".parquet": "parquet", ".csv": "csv"}
_OFFLINE_HINT = "set up network access (and unset HF_HUB_OFFLINE), or use `source: files` with local copies"


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


def normalize_data_config(cfg: dict | None) -> dict:
    """The data section with defaults filled in and checked."""
    cfg = merge_config(DEFAULT_DATA_CONFIG, cfg, "data")
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
                              streaming=hub["streaming"])
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


def _clean(texts, limit: int | None) -> list[str]:
    out = []
    for text in texts:
        text = (text or "").strip()
        if text:
            out.append(text)
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


def load_hub_texts(dataset_id: str, name: str | None, split: str, text_column: str | None,
                   limit: int | None = None, streaming: bool = False) -> list[str]:
    """Texts of one split of a Hugging Face hub dataset (first ``limit`` non-empty ones).

    ``streaming`` reads rows as they download, so a small ``limit`` fetches a small part of a
    big dataset (e.g. a few thousand Wikipedia articles); the column must then exist by name.
    """
    import datasets

    where = f"hub dataset {dataset_id!r}" + (f" ({name})" if name else "") + f" split {split!r}"
    try:
        ds = datasets.load_dataset(dataset_id, name, split=split, streaming=streaming)
        if streaming:
            column = text_column or "text"
            texts = _clean(_stream_column(ds, column, where), limit)
        else:
            column = _text_column(list(ds.column_names), text_column, ds.features, where)
            texts = _clean(ds[column] if limit is None else _iter_column(ds, column), limit)
    except DataSourceError:
        raise
    except (ConnectionError, OSError, TimeoutError) as err:
        raise DataSourceError(f"cannot load {where} from the Hugging Face hub "
                              f"({type(err).__name__}: {_first_line(err)}); {_OFFLINE_HINT}") from err
    except ValueError as err:  # unknown split or config
        raise DataSourceError(f"cannot load {where}: {_first_line(err)}") from err
    if not texts:
        raise DataSourceError(f"{where} has no non-empty text in column {column!r}")
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


def load_local_texts(paths, txt_mode: str = "paragraph", text_column: str | None = "text",
                     limit: int | None = None, what: str = "files") -> list[str]:
    """Texts from local files (one format per call), via ``datasets.load_dataset``."""
    import datasets

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
    kwargs = {"sample_by": TXT_MODES[txt_mode]} if builder == "text" else {}
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
    return texts


# ------------------------------------------------------------------------------ prompts
PROMPTS_FILE = Path(__file__).with_name("prompts.json")


def load_prompts(path: str | os.PathLike | None = None) -> list[dict]:
    """Evaluation prompts as ``[{"category": ..., "prompt": ...}]``.

    Default: our 24 story beginnings (8 each of factual knowledge, reasoning and context
    tracking, the categories of Eldan & Li). Other files: ``.json`` holding a list of strings,
    a list of ``{"prompt", "category"?}`` objects, or ``{"prompts": [...]}``; any other file is
    read as one prompt per non-empty line (category "custom").
    """
    import json

    path = Path(path) if path is not None else PROMPTS_FILE
    if not path.is_file():
        raise DataSourceError(f"prompts file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise DataSourceError(f"prompts file is not UTF-8 text: {path} ({err})") from err
    if path.suffix.lower() == ".json":
        try:
            items = json.loads(text) if text.strip() else []
        except json.JSONDecodeError as err:
            raise DataSourceError(f"prompts file is not valid JSON: {path} ({err})") from err
        items = items.get("prompts", []) if isinstance(items, dict) else items
        prompts = []
        for i, item in enumerate(items):
            if isinstance(item, str):
                item = {"prompt": item}
            if not isinstance(item, dict) or not isinstance(item.get("prompt"), str):
                raise DataSourceError(f"{path}: entry {i} is neither a string nor an object with a 'prompt' string")
            prompts.append({"category": str(item.get("category", "custom")), "prompt": item["prompt"]})
    else:
        prompts = [{"category": "custom", "prompt": line.strip()} for line in text.splitlines() if line.strip()]
    prompts = [p for p in prompts if p["prompt"].strip()]
    if not prompts:
        raise DataSourceError(f"prompts file holds no prompts: {path}")
    return prompts
