"""Data for the story language-modelling experiment (paper section 5) and the OOD analysis.

* :mod:`.corpus` — ``load_stories(data_cfg, split)`` over three sources (embedded generator,
  Hugging Face hub, local files) and ``load_prompts``;
* :mod:`.generator` — the offline children's-story generator (``embedded`` source);
* :mod:`.tokenizer` — GPT-2 BPE via tiktoken, offline-safe, optional compact vocabulary;
* :mod:`.tokens` — uint16 token files + meta.json (``prepare_story_data``), ``TokenDataset`` and
  the trainer's ``make_get_batch``;
* :mod:`.stats` — Table 2 corpus statistics;
* :mod:`.ood` — the out-of-distribution corpus for the per-position loss analysis.

CLI: ``python -m mosaic stories {prepare,table2,prepare-ood,sample} --help``.
"""
from mosaic.experiments.stories.corpus import (
    DataSourceError,
    load_prompts,
    load_stories,
    load_story_splits,
    normalize_data_config,
)
from mosaic.experiments.stories.generator import generate_splits, generate_stories
from mosaic.experiments.stories.ood import load_ood_texts, prepare_ood
from mosaic.experiments.stories.stats import corpus_stats, table2
from mosaic.experiments.stories.tokenizer import Tokenizer, gpt2_encoding, load_tokenizer
from mosaic.experiments.stories.tokens import (
    TokenDataset,
    data_fingerprint,
    make_get_batch,
    prepare_story_data,
    read_meta,
)

__all__ = [
    "DataSourceError", "TokenDataset", "Tokenizer", "corpus_stats", "generate_splits",
    "generate_stories", "gpt2_encoding", "load_ood_texts", "load_prompts", "load_stories",
    "load_story_splits", "load_tokenizer", "make_get_batch", "normalize_data_config",
    "prepare_ood", "prepare_story_data", "read_meta", "table2", "data_fingerprint",
]
