"""Induction heads in one block (paper footnote 5): train, evaluate, table, figure.

Each subcommand is one Snakemake rule (workflow/rules/induction.smk)::

    mosaic induction train --arch mosaic --depth 1 --out results/runs/induction/mosaic_L1
    mosaic induction evaluate --run results/runs/induction/mosaic_L1 \\
        --out results/runs/induction/mosaic_L1/eval.csv
    mosaic induction table --eval A/eval.csv --eval B/eval.csv --out results/tables/induction_accuracy
    mosaic induction figure --run A --run B --out results/figures/induction_heads.png

Configuration: ``--config config/config.yaml [--config config/smoke.yaml]`` or
``--config-json '<the keys of the induction section the step reads>'`` (what Snakemake passes);
see :mod:`mosaic.harness.config`. ``table`` and ``figure`` read only their input files.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from mosaic.experiments.induction.experiment import accuracy_table, evaluate_run, read_eval, train_run
from mosaic.experiments.induction.figures import plot_recall_curves
from mosaic.harness.config import add_config_args, check_section, config_from_args, runtime_from_args
from mosaic.harness.io import atomic_open, write_table
from mosaic.harness.runs import add_plugin_args, trust_plugins_from
from mosaic.harness.train import resolve_device

SECTION = "induction"


def induction_section(args: argparse.Namespace) -> dict:
    """The (possibly partial: Snakemake passes the keys a step reads) section, schema-checked."""
    section = config_from_args(args, SECTION)
    check_section(section, SECTION, partial=True)
    return section


def cmd_train(args: argparse.Namespace) -> int:
    section = induction_section(args)
    done = train_run(section, args.arch, args.depth, args.out, runtime_from_args(args),
                     progress=not args.no_progress)
    print(json.dumps(done))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    import torch  # noqa: PLC0415


    section = induction_section(args)
    if "eval" not in section:
        raise ValueError("induction config lacks section 'eval' (sequences, seed, batch_size)")
    trust_plugins_from(args, section.get("architectures"))
    runtime = runtime_from_args(args)
    if runtime["threads"] is not None:
        torch.set_num_threads(int(runtime["threads"]))
    frame = evaluate_run(args.run, section["eval"], str(resolve_device(runtime["device"])))
    with atomic_open(args.out, "w", encoding="utf-8", newline="") as fh:
        frame.to_csv(fh, index=False)
    print(f"{args.run}: recall accuracy {frame['accuracy'].mean():.4f} over {len(frame)} held-out sequences")
    return 0


def cmd_table(args: argparse.Namespace) -> int:
    table = accuracy_table([read_eval(p) for p in args.eval])
    out = Path(args.out)
    write_table(table, out.with_suffix("") if out.suffix in (".csv", ".md") else out)
    print(table.to_string(index=False))
    return 0


def cmd_figure(args: argparse.Namespace) -> int:
    data = plot_recall_curves(args.run, args.out, args.title)
    print(f"wrote {args.out} ({data['run'].nunique()} runs)")
    return 0


def main(argv: list[str] | None = None, prog: str = "mosaic induction") -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = add_config_args(sub.add_parser("train", help="train one architecture at one depth"))
    p.add_argument("--arch", required=True, help="registry name or package.module:Class")
    p.add_argument("--depth", type=int, required=True, help="number of blocks (n_layer)")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--no-progress", action="store_true", help="no progress bar at a terminal")
    p.set_defaults(func=cmd_train)
    p = add_plugin_args(add_config_args(sub.add_parser("evaluate", help="held-out recall accuracy, per sequence (CSV)")))
    p.add_argument("--run", required=True, help="run directory written by `train`")
    p.add_argument("--out", required=True, help="CSV file")
    p.set_defaults(func=cmd_evaluate)
    p = sub.add_parser("table", help="accuracy table with bootstrap intervals")
    p.add_argument("--eval", required=True, action="append", help="evaluation CSV (repeat)")
    p.add_argument("--out", required=True, help="table path (.csv; a .md is written beside it)")
    p.set_defaults(func=cmd_table)
    p = sub.add_parser("figure", help="recall accuracy against training step")
    p.add_argument("--run", required=True, action="append", help="run directory (repeat)")
    p.add_argument("--out", required=True, help=".png (the .pdf and the plotted .csv come with it)")
    p.add_argument("--title", default="Induction heads: recall accuracy during training")
    p.set_defaults(func=cmd_figure)
    args = parser.parse_args(argv)
    return args.func(args)
