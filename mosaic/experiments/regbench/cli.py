"""RegBench command line.

    mosaic regbench generate --config-json '{"data": {"seed": 0, "n_test": 250, ...}}' --out DIR
    mosaic regbench generate --config config/config.yaml --out DIR   # reads regbench.data
    mosaic regbench ngram --data DIR --out results/tables/regbench_ngram.csv
    mosaic regbench train --config config/config.yaml --arch mosaic --n-train 100 \\
        [--set n_layer=2 --set weight_decay=0.1] --data DIR --out RUN_DIR
    mosaic regbench evaluate --run RUN_DIR --data DIR [--selected-on val] [--splits test]
    mosaic regbench select --runs RUN_DIR... --data DIR --out SELECTION.json
    mosaic regbench fig11 --selections SELECTION.json... --ngram NGRAM.csv \\
        --out FIG.png --table TABLE_BASE --compare COMPARE_BASE [--per-sequence CSV]
    mosaic regbench table4 --selections SELECTION.json... --data DIR --ngram NGRAM.csv --out TABLE_BASE \\
        [--per-sequence CSV]

``generate`` writes ``test``, ``val``, ``train_<N>`` and, with ``data.iid``, ``iid_val`` and
``iid_test`` (``.npz`` + ``.json`` sidecar each) and finally ``manifest.json``. ``ngram`` scores
the in-context 2-/3-gram references (and the uniform over letters) on a split with every metric
convention, as ``.csv`` + ``.md``. ``train`` trains one (architecture, N, grid point) run and keeps
its best checkpoint by validation loss; ``select`` picks the best grid point of one
(architecture, N) and scores it on the test pool; ``fig11`` and ``table4`` write the paper's
Fig. 11 and Table 4 (see ``experiment.py`` and ``report.py``), with the per-sequence scores the
scorecard rows C7 and C8 (``claims.py``) are computed from. Every metric comes in two
conventions, the last token of each test sequence and all positions (``metrics.py``).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from mosaic.experiments.regbench.dataset import DataConfig, RegBenchSplit, load_pools, write_pools
from mosaic.experiments.regbench.experiment import evaluate_run, select_runs, train_run
from mosaic.experiments.regbench.metrics import evaluate_probs
from mosaic.experiments.regbench.ngram import ngram_probs, uniform_letter_probs
from mosaic.experiments.regbench.report import fig11, read_selections, table4
from mosaic.harness.config import add_config_args, check_section, config_from_args, parse_overrides, runtime_from_args
from mosaic.harness.io import write_json, write_table
from mosaic.harness.runs import add_plugin_args, trust_plugins_from
from mosaic.harness.train import resolve_device


def data_config(section: dict) -> DataConfig:
    """The ``data`` part of the ``regbench`` section (or the data dict itself)."""
    data = section["data"] if "data" in section else section
    if not isinstance(data, dict):
        raise ValueError(f"regbench.data must be a mapping, got {data!r}")
    return DataConfig.from_dict(data)


def cmd_generate(args) -> int:
    cfg = data_config(config_from_args(args, "regbench"))
    out = Path(args.out)
    manifest = write_pools(cfg, out)
    for name, s in manifest["splits"].items():
        rejected = (f", {s['rejected_collisions']} draws rejected as test/val collisions"
                    if name.startswith("train_") else "")
        print(f"{name}: {s['n_sequences']} sequences, {s['n_tokens']} tokens{rejected}")
    print(f"wrote {out}/manifest.json ({manifest['ms_per_automaton']:.2f} ms per automaton)")
    return 0


def ngram_table(split: RegBenchSplit, orders=(2, 3)):
    import pandas as pd

    rows = []
    models = [(f"{n}-gram backoff", lambda x, n=n: ngram_probs(x, n)) for n in orders]
    models.append(("uniform over 18 letters", uniform_letter_probs))
    for name, fn in models:
        t0 = time.perf_counter()
        metrics = evaluate_probs(fn, split, desc=f"{name} on {split.name}")
        rows.append({"baseline": name, "split": split.name, **metrics,
                     "seconds": round(time.perf_counter() - t0, 3)})
    return pd.DataFrame(rows)


def cmd_ngram(args) -> int:
    split = RegBenchSplit.load(Path(args.data) / args.split)
    table = ngram_table(split, tuple(args.orders))
    out = Path(args.out)
    write_table(table, out.with_suffix("") if out.suffix == ".csv" else out)
    print(table.to_string(index=False))
    return 0


def _device(args) -> str:
    import torch


    runtime = runtime_from_args(args)
    if runtime["threads"] is not None:
        torch.set_num_threads(int(runtime["threads"]))
    return str(resolve_device(runtime["device"]))


def cmd_train(args) -> int:
    import json


    section = config_from_args(args, "regbench")
    check_section(section, "regbench", partial=True)  # Snakemake passes the keys a run reads
    done = train_run(section, args.arch, args.n_train, parse_overrides(args.set, numbers_first=True), args.data, args.out,
                     runtime_from_args(args), progress=not args.no_progress)
    print(json.dumps(done))
    return 0


def cmd_evaluate(args) -> int:
    import json


    trust_plugins_from(args)
    metrics = evaluate_run(args.run, load_pools(args.data), args.splits, args.selected_on,
                           args.batch_size, _device(args))
    if args.out:
        write_json(args.out, {"run": str(args.run), "selected_on": args.selected_on, "metrics": metrics})
    print(json.dumps(metrics, indent=1))
    return 0


def cmd_select(args) -> int:
    trust_plugins_from(args)
    selection = select_runs(args.runs, args.data, args.batch_size, _device(args))
    write_json(args.out, selection)
    for split, sel in selection["selections"].items():
        m = sel["metrics"]
        print(f"{selection['arch']} N={selection['n_train']}: chosen on {split}: {sel['run']} "
              f"(loss {sel['loss']:.4f}, epoch {sel['epoch']:.1f}); {sel['eval_split']}: "
              f"accuracy / TVD all positions {m['acc_all_positions']:.4f} / {m['tvd_all_positions']:.4f}, "
              f"last token {m['acc_last_token']:.4f} / {m['tvd_last_token']:.4f}")
    return 0


def cmd_fig11(args) -> int:
    table = fig11(read_selections(args.selections), args.ngram, args.out, args.table, args.compare, args.scale,
                  args.per_sequence)
    print(table.to_string(index=False))
    return 0


def cmd_table4(args) -> int:
    table = table4(read_selections(args.selections), args.data, args.ngram, args.out, args.per_sequence)
    print(table.to_string(index=False))
    return 0


def add_experiment_commands(sub) -> None:
    tr = add_config_args(sub.add_parser("train", help="train one (architecture, N, grid point) run"))
    tr.add_argument("--arch", required=True, help="registry name or package.module:Class")
    tr.add_argument("--n-train", type=int, required=True, help="training automata N (train_<N> split)")
    tr.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="grid-point override: a model key or a trainer key (lr, weight_decay, ...)")
    tr.add_argument("--data", required=True, help="directory written by `generate`")
    tr.add_argument("--out", required=True, help="run directory")
    tr.add_argument("--no-progress", action="store_true")
    tr.set_defaults(func=cmd_train)

    ev = add_config_args(sub.add_parser("evaluate", help="exact metrics of a run's best checkpoint"))
    ev.add_argument("--run", required=True, help="run directory written by `train`")
    ev.add_argument("--data", required=True, help="directory written by `generate`")
    ev.add_argument("--selected-on", default="val", help="which best checkpoint: val or iid_val")
    ev.add_argument("--splits", nargs="+", default=["test"], help="splits to score (default: test)")
    ev.add_argument("--batch-size", type=int, default=32)
    ev.add_argument("--out", default=None, help="optional JSON output")
    add_plugin_args(ev)
    ev.set_defaults(func=cmd_evaluate)

    se = add_config_args(sub.add_parser("select", help="best grid point of one (architecture, N), scored"))
    se.add_argument("--runs", nargs="+", required=True, help="run directories of one (architecture, N)")
    se.add_argument("--data", required=True, help="directory written by `generate`")
    se.add_argument("--batch-size", type=int, default=32)
    se.add_argument("--out", required=True, help="selection JSON")
    add_plugin_args(se)
    se.set_defaults(func=cmd_select)

    fg = sub.add_parser("fig11", help="Fig. 11 and its tables from the selections")
    fg.add_argument("--selections", nargs="+", required=True)
    fg.add_argument("--ngram", required=True, help="n-gram table of the test split (`ngram`)")
    fg.add_argument("--out", required=True, help="figure .png (a .pdf and the plotted .csv beside it)")
    fg.add_argument("--table", required=True, help="metrics table path without suffix")
    fg.add_argument("--compare", required=True, help="comparison-with-paper table path without suffix")
    fg.add_argument("--scale", default="", help="scale name shown in the title and the comparison")
    fg.add_argument("--per-sequence", default=None,
                    help="per-sequence scores CSV for the scorecard (default: <table>_per_sequence.csv)")
    fg.set_defaults(func=cmd_fig11)

    t4 = sub.add_parser("table4", help="Table 4: IID test at the IID training size")
    t4.add_argument("--selections", nargs="+", required=True)
    t4.add_argument("--data", required=True, help="directory written by `generate` (with iid_test)")
    t4.add_argument("--ngram", required=True, help="n-gram table of the test split (OOD references)")
    t4.add_argument("--out", required=True, help="table path without suffix")
    t4.add_argument("--per-sequence", default=None,
                    help="per-sequence scores CSV for the scorecard (default: <out>_per_sequence.csv)")
    t4.set_defaults(func=cmd_table4)


def main(argv: list[str] | None = None, prog: str = 'mosaic regbench') -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    gen = add_config_args(sub.add_parser("generate", help="write the test/val/train pools"))
    gen.add_argument("--out", required=True, help="output directory")
    gen.set_defaults(func=cmd_generate)
    ng = sub.add_parser("ngram", help="in-context n-gram references on a generated split")
    ng.add_argument("--data", required=True, help="directory written by `generate`")
    ng.add_argument("--out", required=True, help="table path (.csv; a .md is written beside it)")
    ng.add_argument("--split", default="test", help="split to score (default: test)")
    ng.add_argument("--orders", type=int, nargs="+", default=[2, 3], help="n-gram orders")
    ng.set_defaults(func=cmd_ngram)
    add_experiment_commands(sub)
    args = parser.parse_args(argv)
    return args.func(args)

