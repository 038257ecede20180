"""The out-of-distribution corpus of Fig. 10 as text and GPT-2 ids: the sources (embedded
Python documentation prose, Simple English Wikipedia from the hub, local files) and
:func:`load_ood_stream`, which ``prepare`` (to cover it in the vocabulary) and ``prepare-ood``
(to write it) both read. See :mod:`mosaic.experiments.stories.ood` for the config section."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from mosaic.experiments.stories.corpus import (
    TXT_MODES,
    DataSourceError,
    check_counts,
    check_flags,
    load_hub_texts,
    load_local_texts,
    merge_config,
)
from mosaic.experiments.stories.tokenizer import Tokenizer, encode_stories

DEFAULT_OOD_CONFIG: dict[str, Any] = {
    "source": "embedded",
    "max_texts": None,
    "max_tokens": None,
    "hub": {"id": "wikimedia/wikipedia", "name": "20231101.simple", "split": "train",
            "text_column": "text", "streaming": True, "cache": True},
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
    check_flags(cfg["hub"], ("streaming", "cache"), "ood.hub")
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
                              streaming=hub["streaming"], cache=hub["cache"])
    files = cfg["files"]
    return load_local_texts(files["paths"], files["txt_mode"], files["text_column"], limit,
                            what="ood.files.paths")


def load_ood_stream(cfg: dict | None, gpt2: Tokenizer) -> dict:
    """The OOD corpus as evaluated: ``{"texts", "stream", "starts"}`` — the GPT-2 ids of the texts,
    each followed by ``<|endoftext|>``, cut to ``max_tokens``, and the offsets of the texts that
    start inside it. ``prepare`` (to cover it in the vocabulary) and :func:`prepare_ood` both
    read the corpus through here, so they see the same tokens."""
    cfg = normalize_ood_config(cfg)
    texts = load_ood_texts(cfg)
    stream, lengths = encode_stories(gpt2, texts, desc=f"OOD corpus: tokenising {len(texts)} texts",
                                     unit="texts")
    starts = np.concatenate([[0], np.cumsum(lengths + 1)[:-1]]).astype(np.int64)
    if cfg["max_tokens"] is not None:
        stream = stream[:cfg["max_tokens"]]
        starts = starts[starts < len(stream)]
    return {"texts": texts, "stream": stream, "starts": starts}


