"""Out-of-distribution text for the per-position loss analysis (section 5: how models trained on
children's stories behave on text unlike it, position by position in the context).

Sources (``cfg["source"]``):

* ``embedded`` (offline): the Python documentation topics that every Python ships
  (``pydoc_data.topics``, 79 topics), cleaned into prose articles — code examples, grammar
  rules, indented blocks, headings and reST markup removed, paragraphs unwrapped; one topic =
  one article. Technical English, far from the story distribution.
* ``hub``: Simple English Wikipedia, ``datasets.load_dataset("wikimedia/wikipedia",
  "20231101.simple", split="train")``, column ``text`` (configurable).
* ``files``: local files, as the story corpus's ``files`` source.

The texts are tokenised with the *same* tokenizer as a prepared story data directory; with a
compact vocabulary, GPT-2 ids the stories never used map to the unknown id and the sidecar
reports how many. Config section (e.g. ``stories.ood``)::

    source: embedded
    max_texts: null           # first N articles (null = all)
    max_tokens: null          # truncate the token stream (null = all)
    hub: {id: wikimedia/wikipedia, name: 20231101.simple, split: train, text_column: text,
          streaming: true}    # with max_texts set, only those articles are downloaded
    files: {paths: null, txt_mode: paragraph, text_column: text}
"""
from __future__ import annotations

import os
import platform
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from mosaic.harness.io import atomic_path, write_json
from mosaic.experiments.stories.corpus import (TXT_MODES, DataSourceError, check_counts, load_hub_texts, load_local_texts,
                     merge_config)
from mosaic.experiments.stories.tokenizer import VOCAB_FILE, load_tokenizer
from mosaic.experiments.stories.tokens import META_FILE, encode_stories, read_meta, write_token_file

DEFAULT_OOD_CONFIG: dict[str, Any] = {
    "source": "embedded",
    "max_texts": None,
    "max_tokens": None,
    "hub": {"id": "wikimedia/wikipedia", "name": "20231101.simple", "split": "train",
            "text_column": "text", "streaming": True},
    "files": {"paths": None, "txt_mode": "paragraph", "text_column": "text"},
}

_UNDERLINE = re.compile(r"^[*=\-^~#+]{3,}$")
_FOOTNOTE_REF = re.compile(r"\s\[\d+\]")
_EMPHASIS = re.compile(r"\*(\w[^*]*?)\*")
_SYMBOLS = re.compile(r"[^\w\s.,;:!?'\"()\u2019\u201c\u201d-]")


def _prose_paragraph(block: list[str]) -> str | None:
    """One unwrapped prose paragraph from a block of lines, or None if it is not prose."""
    if block[0][:1].isspace():  # indented: code, grammar productions, "See also" entries
        return None
    text = " ".join(line.strip() for line in block if not _UNDERLINE.match(line.strip()))
    if not text or ">>>" in text or "::=" in text or text.startswith("-["):
        return None
    text = _FOOTNOTE_REF.sub("", text).replace("**", "").replace("``", '"')
    text = _EMPHASIS.sub(r"\1", text[2:] if text.startswith("* ") else text)  # *word*, bullets
    text = re.sub(r"\s+", " ", text).strip()
    if len(text.split()) < 5 or text[-1] not in '.!?)"\u201d':
        return None  # headings, and sentences that lead into a removed code example
    if len(_SYMBOLS.findall(text)) > 0.05 * len(text):
        return None  # operator tables and other symbol-heavy remains
    return text


def clean_pydoc_topic(text: str) -> str:
    """Prose paragraphs of one pydoc topic, joined by blank lines."""
    paragraphs, block = [], []
    for line in text.splitlines() + [""]:
        if line.strip():
            block.append(line)
        elif block:
            para = _prose_paragraph(block)
            if para:
                paragraphs.append(para)
            block = []
    return "\n\n".join(paragraphs)


def pydoc_articles() -> list[str]:
    """The embedded OOD corpus: one cleaned article per pydoc topic (sorted by topic name)."""
    from pydoc_data.topics import topics

    articles = (clean_pydoc_topic(topics[name]) for name in sorted(topics))
    return [a for a in articles if a]


def normalize_ood_config(cfg: dict | None) -> dict:
    cfg = merge_config(DEFAULT_OOD_CONFIG, cfg, "ood")
    if cfg["source"] not in ("embedded", "hub", "files"):
        raise DataSourceError(f"ood.source must be embedded, hub or files, got {cfg['source']!r}")
    check_counts(cfg, ("max_texts", "max_tokens"), "ood")
    if cfg["files"]["txt_mode"] not in TXT_MODES:
        raise DataSourceError(f"ood.files.txt_mode must be one of {list(TXT_MODES)}, "
                              f"got {cfg['files']['txt_mode']!r}")
    return cfg


def load_ood_texts(cfg: dict | None = None) -> list[str]:
    """The OOD texts (articles) the config names."""
    cfg = normalize_ood_config(cfg)
    limit = cfg["max_texts"]
    if cfg["source"] == "embedded":
        texts = pydoc_articles()
        return texts[:limit] if limit else texts
    if cfg["source"] == "hub":
        hub = cfg["hub"]
        return load_hub_texts(hub["id"], hub["name"], hub["split"], hub["text_column"], limit,
                              streaming=hub["streaming"])
    files = cfg["files"]
    return load_local_texts(files["paths"], files["txt_mode"], files["text_column"], limit,
                            what="ood.files.paths")


def prepare_ood(cfg: dict | None, story_data_dir: str | os.PathLike, out_dir: str | os.PathLike) -> dict:
    """Tokenise the OOD texts with the story data's tokenizer into ``out_dir/ood.bin``.

    ``out_dir`` becomes a data directory of its own (meta.json, and vocab.json copied from the
    story data), so ``TokenDataset(out_dir, "ood")`` and ``load_tokenizer(out_dir)`` work.
    Each article is followed by ``<|endoftext|>``; ``doc_starts`` in meta gives article offsets.
    """
    cfg = normalize_ood_config(cfg)
    story_meta = read_meta(story_data_dir)
    tok = load_tokenizer(story_data_dir)
    texts = load_ood_texts(cfg)
    stream, lengths = encode_stories(tok, texts)
    starts = np.concatenate([[0], np.cumsum(lengths + 1)[:-1]]).astype(np.int64)
    if cfg["max_tokens"] is not None:
        stream = stream[:cfg["max_tokens"]]
        starts = starts[starts < len(stream)]
    ids = tok.from_gpt2(stream)
    unk = int((ids == tok.unk_id).sum()) if tok.compact else 0

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / META_FILE).unlink(missing_ok=True)
    if tok.compact:
        with atomic_path(out_dir / VOCAB_FILE) as tmp:
            shutil.copyfile(Path(story_data_dir) / VOCAB_FILE, tmp)
    else:
        (out_dir / VOCAB_FILE).unlink(missing_ok=True)  # a stale mapping from an earlier run
    entry = write_token_file(out_dir / "ood.bin", ids, tok.vocab_size)
    entry.update(n_stories=len(starts), unk_tokens=unk,
                 unk_rate=unk / len(ids) if len(ids) else 0.0,
                 n_words=int(sum(len(t.split()) for t in texts)))
    meta = {
        "format": "mosaic-token-data/1",
        "corpus": {"embedded": "Python documentation topics (pydoc_data)",
                   "hub": f"{cfg['hub']['id']} {cfg['hub']['name'] or ''}".strip(),
                   "files": "local files"}[cfg["source"]],
        "config": cfg,
        # pydoc_data.topics differs between Python versions: record which one wrote the corpus.
        "python_version": platform.python_version(),
        "story_data": {"dir": str(story_data_dir), "corpus": story_meta.get("corpus"),
                       "train_sha256": story_meta["splits"]["train"]["sha256"]},
        "tokenizer": tok.info(),
        # "val" aliases "ood" so evaluation code that reads a data dir's "val" split works here.
        "splits": {"ood": entry, "val": entry},
        "doc_starts": starts.tolist(),
    }
    write_json(out_dir / META_FILE, meta)
    return meta
