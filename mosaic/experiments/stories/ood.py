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

The texts are tokenised with the *same* tokenizer as a prepared story data directory. A compact
vocabulary covers the OOD corpus when ``prepare`` was given the same OOD section (the Snakemake
rule passes ``analyses.ood`` to both steps): there is no unknown token; a token outside the
vocabulary stops ``prepare-ood`` with one line. The sidecar records how many OOD tokens the
stories' training split never holds (``splits.ood.unseen_in_train_rate``, see
:func:`prepare_ood`). Config section (``analyses.ood``)::

    source: embedded
    max_texts: null           # first N articles (null = all)
    max_tokens: null          # truncate the token stream (null = all)
    hub: {id: wikimedia/wikipedia, name: 20231101.simple, split: train, text_column: text,
          streaming: true,    # with max_texts set, only those articles are downloaded
          cache: true}        # keep the articles taken (mosaic.experiments.stories.corpus.hub_cache_dir)
    files: {paths: null, txt_mode: paragraph, text_column: text}
"""
from __future__ import annotations

import os
import platform
from pathlib import Path

import numpy as np

from mosaic.experiments.stories.corpus import (
    DataSourceError,
)
from mosaic.experiments.stories.ood_corpus import (  # noqa: F401  (the sources are re-exported here)
    DEFAULT_OOD_CONFIG,
    load_ood_stream,
    load_ood_texts,
    normalize_ood_config,
)
from mosaic.experiments.stories.tokenizer import (
    GPT2_EOT_ID,
    VOCAB_FILE,
    Tokenizer,
    VocabularyError,
    load_tokenizer,
    tokenizer_fingerprint,
)
from mosaic.experiments.stories.tokens import (
    TokenDataset,
    read_meta,
    token_array,
    token_file_entry,
    write_data_dir,
)


def prepare_ood(cfg: dict | None, story_data_dir: str | os.PathLike, out_dir: str | os.PathLike) -> dict:
    """Tokenise the OOD texts with the story data's tokenizer into ``out_dir/ood.bin``.

    ``out_dir`` becomes a data directory of its own (meta.json, and vocab.json copied from the
    story data), so ``TokenDataset(out_dir, "ood")`` and ``load_tokenizer(out_dir)`` work.
    Each article is followed by ``<|endoftext|>``; ``doc_starts`` in meta gives article offsets.

    ``splits.ood.unseen_in_train_rate``: the tokens of ``ood.bin`` (``<|endoftext|>`` separators
    included) whose id never occurs in the story data's ``train.bin``, divided by the number of
    tokens of ``ood.bin``. With a compact vocabulary these are exactly the ids
    ``>= tokenizer.n_train_ids``, so the rate over any subset (e.g. the targets of the windows a
    figure evaluates) is ``(targets >= n_train_ids).mean()``.
    """
    cfg = normalize_ood_config(cfg)
    story_data_dir = Path(story_data_dir)
    story_meta = read_meta(story_data_dir)
    tok = load_tokenizer(story_data_dir)
    corpus = load_ood_stream(cfg, Tokenizer())
    texts, stream, starts = corpus["texts"], corpus["stream"], corpus["starts"]
    try:
        ids = tok.from_gpt2(stream)
    except VocabularyError as err:
        raise DataSourceError(f"the OOD corpus is not covered by the vocabulary of {story_data_dir}: "
                              f"{err}; that directory was prepared without this OOD corpus: prepare "
                              "it again with this OOD section (python -m mosaic stories prepare "
                              "--ood-json '<this section>'; the Snakemake rule passes analyses.ood)") from None
    if tok.compact:
        unseen = int((ids >= tok.n_train_ids).sum())
    else:  # full GPT-2 ids: look the ids up in the training file
        train = TokenDataset(story_data_dir, "train").tokens
        seen = np.bincount(np.asarray(train), minlength=tok.vocab_size) > 0
        seen[GPT2_EOT_ID] = True
        unseen = int((~seen[ids]).sum())

    out_dir = Path(out_dir)
    data = token_array(ids, tok.vocab_size, out_dir / "ood.bin")
    tok_info = tok.info()
    entry = token_file_entry("ood.bin", data)
    entry.update(n_stories=len(starts), tokenizer_sha256=tokenizer_fingerprint(tok_info),
                 unseen_in_train_tokens=unseen,
                 unseen_in_train_rate=unseen / len(ids) if len(ids) else 0.0,
                 n_words=int(sum(len(t.split()) for t in texts)))
    meta = {
        "format": "mosaic-token-data/2",
        "corpus": {"embedded": "Python documentation topics (pydoc_data)",
                   "hub": f"{cfg['hub']['id']} {cfg['hub']['name'] or ''}".strip(),
                   "files": "local files"}[cfg["source"]],
        "config": cfg,
        # pydoc_data.topics differs between Python versions: record which one wrote the corpus.
        "python_version": platform.python_version(),
        "story_data": {"dir": str(story_data_dir), "corpus": story_meta.get("corpus"),
                       "train_sha256": story_meta["splits"]["train"]["sha256"]},
        "tokenizer": tok_info,
        # "val" aliases "ood" so evaluation code that reads a data dir's "val" split works here.
        "splits": {"ood": entry, "val": entry},
        "doc_starts": starts.tolist(),
    }
    files: dict[str, object] = {"ood.bin": data}
    if tok.compact:  # load_tokenizer checked that these are the story directory's vocab.json bytes
        files[VOCAB_FILE] = tok.vocab_json()
    write_data_dir(out_dir, files, meta, stale=() if tok.compact else (VOCAB_FILE,))
    return meta
