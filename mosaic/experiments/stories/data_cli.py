"""Command line of the data layer (what the Snakemake rules call; every step also runs by hand).

    python -m mosaic stories prepare     --config-json '<stories.data as JSON>' --out DATA_DIR
                                         [--ood-json '<analyses.ood as JSON>'] [--prompts-file FILE]
    python -m mosaic stories table2      --data DATA_DIR [DATA_DIR ...] --out results/tables/table2_corpus_stats
    python -m mosaic stories prepare-ood --config-json '<analyses.ood as JSON>' --data DATA_DIR --out OOD_DIR
    python -m mosaic stories sample      --config-json '<stories.data as JSON>' [--split val] [--n 3]

Instead of (or under) ``--config-json``, ``--config config/config.yaml [--config
config/smoke.yaml] [--section stories.data]`` reads the YAML files (``mosaic.harness.config``).

``prepare`` builds a vocabulary that also covers the OOD corpus and the prompts (compact
vocabulary only): ``--ood-json`` gives the ``analyses.ood`` section (``null``: no OOD corpus) and
``--prompts-file`` the ``stories.prompts_file``; without them they come from the ``--config``
files (``analyses.ood``, ``stories.prompts_file``), else the defaults (the embedded OOD corpus,
the default prompts). ``prepare-ood`` must then be given the same OOD section.
Bad input prints one ``error:`` line and exits with status 2, leaving no partial output behind.
"""
from __future__ import annotations

import argparse
import json
import sys

import pandas as pd

from mosaic.experiments.stories.corpus import DataSourceError, load_stories
from mosaic.experiments.stories.ood import prepare_ood
from mosaic.experiments.stories.stats import table2
from mosaic.experiments.stories.tokens import head_stats_row, prepare_story_data
from mosaic.harness.config import DEFAULT_CONFIG, deep_merge, describe_os_error, load_config
from mosaic.harness.io import write_table

_DEFAULT_SECTIONS = {"prepare": "stories.data", "sample": "stories.data", "prepare-ood": "analyses.ood"}


def _config_files(args) -> tuple[list[str], dict | None]:
    """The ``--config`` files (default config/config.yaml when no JSON is given) and their merge."""
    files = list(args.config or [])
    if not files and args.config_json is None:
        files = [str(DEFAULT_CONFIG)]
    return files, (load_config(*files) if files else None)


def _section_config(args) -> dict:
    """The config section: ``--config`` files navigated to ``--section``, with ``--config-json``
    deep-merged on top (mosaic.harness.config's rule)."""
    files, full = _config_files(args)
    cfg: dict = {}
    if full is not None:
        cfg = full
        for key in args.section.split("."):
            if not isinstance(cfg, dict) or key not in cfg:
                raise DataSourceError(f"section {args.section!r} not found in {' + '.join(files)}")
            cfg = cfg[key]
        cfg = cfg or {}
    if args.config_json is not None:
        try:
            extra = json.loads(args.config_json)
        except json.JSONDecodeError as err:
            raise DataSourceError(f"--config-json is not valid JSON: {err}") from err
        if not isinstance(extra, dict):
            raise DataSourceError(f"--config-json must be a JSON object, got {type(extra).__name__}")
        cfg = deep_merge(cfg, extra)
    if not isinstance(cfg, dict):
        raise DataSourceError(f"section {args.section!r} must be a mapping, got {cfg!r}")
    return cfg


def _vocabulary_inputs(args) -> dict:
    """``prepare``'s OOD section and prompts file (module docstring for the precedence)."""
    _, full = _config_files(args)
    ood: dict | None = {}
    include_ood = True
    if args.ood_json is not None:
        try:
            ood = json.loads(args.ood_json)
        except json.JSONDecodeError as err:
            raise DataSourceError(f"--ood-json is not valid JSON: {err}") from err
        if ood is None:
            include_ood = False
        elif not isinstance(ood, dict):
            raise DataSourceError(f"--ood-json must be a JSON object or null, got {type(ood).__name__}")
    elif full is not None and isinstance(full.get("analyses"), dict):
        ood = full["analyses"].get("ood") or {}
    prompts_file = args.prompts_file
    if prompts_file is None and full is not None and isinstance(full.get("stories"), dict):
        prompts_file = full["stories"].get("prompts_file")
    return {"ood_cfg": ood if include_ood else None, "include_ood": include_ood,
            "prompts_file": prompts_file or None}


def _add_config_args(p: argparse.ArgumentParser, command: str) -> None:
    p.add_argument("--config-json", help="the config section as a JSON object (over --config files)")
    p.add_argument("--config", action="append", metavar="FILE",
                   help="YAML config file; repeat to overlay (default: config/config.yaml "
                        "when no --config-json is given)")
    p.add_argument("--section", default=_DEFAULT_SECTIONS[command],
                   help="dotted path of the section inside --config (default: %(default)s)")


def add_commands(sub) -> None:
    """The data steps: prepare, table2, prepare-ood, sample."""
    p = sub.add_parser("prepare", help="write train.bin, val.bin, meta.json (+ vocab.json)")
    _add_config_args(p, "prepare")
    p.add_argument("--out", required=True, help="data directory to write")
    p.add_argument("--ood-json", default=None,
                   help="the analyses.ood section as JSON (the OOD corpus the vocabulary covers; "
                        "null: none); default: from --config files, else the embedded corpus")
    p.add_argument("--prompts-file", default=None,
                   help="prompts the vocabulary covers (stories.prompts_file); default: from "
                        "--config files, else the default prompts")
    p.set_defaults(func=run_data_command)
    p = sub.add_parser("table2", help="Table 2 corpus statistics from prepared data directories")
    p.add_argument("--data", nargs="+", required=True)
    p.add_argument("--out", required=True, help="output path without suffix (.csv and .md written)")
    p.set_defaults(func=run_data_command)
    p = sub.add_parser("prepare-ood", help="tokenise the OOD corpus with a story data dir's tokenizer")
    _add_config_args(p, "prepare-ood")
    p.add_argument("--data", required=True, help="prepared story data directory (its tokenizer is used)")
    p.add_argument("--out", required=True)
    p.set_defaults(func=run_data_command)
    p = sub.add_parser("sample", help="print stories of a corpus")
    _add_config_args(p, "sample")
    p.add_argument("--split", default="train", choices=("train", "val"))
    p.add_argument("--n", type=int, default=3)
    p.set_defaults(func=run_data_command)


def run_data_command(args) -> int:

    try:
        if args.command == "prepare":
            meta = prepare_story_data(_section_config(args), args.out, **_vocabulary_inputs(args))
            tr, va, vocab = meta["splits"]["train"], meta["splits"]["val"], meta["vocabulary"]
            print(f"{args.out}: {tr['n_stories']} train stories ({tr['n_tokens']} tokens), "
                  f"{va['n_stories']} val stories ({va['n_tokens']} tokens, "
                  f"{va['unseen_in_train_tokens']} unseen in train), {meta['tokenizer']['name']} vocab "
                  f"{vocab['size']} ({vocab['ids_unseen_in_train']} ids unseen in train), "
                  f"{meta['timing_s']['total']:.1f} s")
        elif args.command == "table2":
            # each corpus whole, then its first 2,316 training stories (rates taken at equal counts)
            df = table2(args.data)
            df = pd.concat([df, pd.DataFrame([head_stats_row(d) for d in args.data], columns=df.columns)],
                           ignore_index=True)
            write_table(df, args.out)
            print(df.to_string(index=False))
        elif args.command == "prepare-ood":
            meta = prepare_ood(_section_config(args), args.data, args.out)
            e = meta["splits"]["ood"]
            print(f"{args.out}: {e['n_stories']} OOD texts, {e['n_tokens']} tokens, "
                  f"unseen in train {e['unseen_in_train_rate']:.4f} ({meta['corpus']})")
        else:
            cfg = _section_config(args)
            if cfg.get("source", "embedded") == "embedded":  # generate only what is printed
                cfg = {**cfg, "n_train_stories": args.n, "n_val_stories": args.n}
            for story in load_stories(cfg, args.split)[:args.n]:
                print(story, end="\n\n" + "-" * 80 + "\n\n")
    except (DataSourceError, FileNotFoundError, ValueError, KeyError, RuntimeError) as err:
        print(f"error: {str(err).strip(chr(39) + chr(34))}", file=sys.stderr)
        return 2
    except OSError as err:  # an output path the file system refuses (e.g. under a regular file)

        print(f"error: {describe_os_error(err)}", file=sys.stderr)
        return 2
    return 0

