"""Three-moons experiment CLI (section 3; Figs. 4, 5, 6). Each subcommand is one Snakemake rule::

    mosaic three-moons train --heads 3 --out results/runs/three_moons/three_heads
    mosaic three-moons evaluate --run results/runs/three_moons/three_heads \\
        --out results/runs/three_moons/three_heads/eval.csv     # + eval_windows.csv.gz next to it
    mosaic three-moons figure --eval results/runs/three_moons/three_heads/eval.csv \\
        --out results/figures/fig05_three_moons_three_heads.png --title "..."
    mosaic three-moons transitions --eval A/eval.csv --eval B/eval.csv \\
        --out results/tables/three_moons_transitions.csv
    mosaic three-moons weights --run results/runs/three_moons/three_heads \\
        --contrast-run results/runs/three_moons/one_head \\
        --out results/figures/fig06_three_moons_weights.png --table results/tables/three_moons_decoupling.csv

Configuration: ``--config config/config.yaml [--config config/smoke.yaml]`` or
``--config-json '<the three_moons section>'`` (what Snakemake passes); see ``mosaic.harness.config``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd
import torch

from mosaic.experiments.three_moons.data import ThreeMoonsData
from mosaic.experiments.three_moons.evaluate import evaluate_model, read_window_errors, windows_path, write_evaluation
from mosaic.experiments.three_moons.figures import decoupling_table, plot_error_curves, plot_weights
from mosaic.experiments.three_moons.model import ThreeMoonsModel, clipped_squared_error
from mosaic.experiments.three_moons.transitions import transitions_table
from mosaic.harness.checkpoint import NON_RESULT_KEYS
from mosaic.harness.config import add_config_args, config_from_args, runtime_from_args
from mosaic.harness.config import check_section as check_config_section
from mosaic.harness.io import write_table
from mosaic.harness.train import CONFIG, TrainConfig, load_trained, resolve_device, train

SECTION = "three_moons"
EXPERIMENT_KEYS = ("batch_size", "loss_clip")  # keys of the train section that are not TrainConfig's


# What each step reads of the section (Snakemake hands a step only these keys: a change of the
# evaluation settings must not retrain, a change of the training ones must retrain).
NEEDS = {"train": "train", "evaluate": "eval"}


def check_section(section: dict, command: str | None = None) -> None:
    """Validate the section against mosaic/harness/schemas/three_moons.schema.yaml (the keys present;
    ``command``'s own key must be there)."""
    check_config_section(section, SECTION, partial=command is not None)
    need = NEEDS.get(command)
    if need is not None and need not in section:
        raise ValueError(f"config three_moons section lacks {need!r} (needed by `{command}`)")


def build_model(section: dict, n_head: int) -> ThreeMoonsModel:
    return ThreeMoonsModel(n_head, attn_scale=section["attn_scale"])


def cmd_train(args, section: dict, runtime: dict) -> None:
    tr = dict(section["train"])
    batch_size, clip = tr.pop("batch_size"), tr.pop("loss_clip")
    cfg = TrainConfig.from_dict({**tr, "device": runtime["device"], "threads": runtime["threads"]})
    data = ThreeMoonsData.from_config(section, batch_size=batch_size)
    torch.manual_seed(cfg.seed)  # the initial weights depend only on the seed
    model = build_model(section, args.heads)

    def loss_fn(model, batch):
        x, y = batch
        return clipped_squared_error(model(x), y, clip)

    # the section is recorded whole (evaluate and fig06 read it back); what does not train the
    # model (evaluation settings, threads, the trainer's cadence keys) stays out of the identity,
    # so a run trained by hand with the whole config resumes under Snakemake's narrowed one
    ignore = ("section.eval", "section.threads", *(f"section.train.{k}" for k in sorted(NON_RESULT_KEYS)))
    done = train(model, data.get_batch, args.out, cfg, loss_fn=loss_fn,
                 run_config={"experiment": SECTION, "heads": args.heads, "section": section}, identity_ignore=ignore)
    print(json.dumps(done))


def load_run(run_dir: str, device: str = "cpu") -> tuple[ThreeMoonsModel, dict]:
    """The trained model of a ``train`` run directory and the section it was trained with."""
    path = Path(run_dir) / CONFIG
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: {run_dir} is not a three-moons training run")
    spec = json.loads(path.read_text(encoding="utf-8")).get("run") or {}
    if spec.get("experiment") != SECTION:
        raise ValueError(f"{path} is not a three-moons run (run.experiment={spec.get('experiment')!r})")
    model = load_trained(build_model(spec["section"], spec["heads"]), run_dir)
    return model.to(resolve_device(device)).eval(), spec


def cmd_evaluate(args, section: dict, runtime: dict) -> None:
    if runtime["threads"]:
        torch.set_num_threads(int(runtime["threads"]))
    model, spec = load_run(args.run, runtime["device"])
    curves, per_window = evaluate_model(model, section, spec["heads"], desc=f"three-moons evaluate {args.run}")
    write_evaluation(curves, per_window, args.out)


def read_curves(paths: list[str]) -> pd.DataFrame:
    frames = []
    for p in paths:
        if not Path(p).is_file():
            raise FileNotFoundError(f"evaluation file not found: {p}")
        frames.append(pd.read_csv(p))
    return pd.concat(frames, ignore_index=True)


def cmd_figure(args, section: dict, runtime: dict) -> None:
    plot_error_curves(read_curves([args.eval]), args.out, args.title)


def cmd_transitions(args, section: dict, runtime: dict) -> None:
    curves = read_curves(args.eval)
    found = [windows_path(p) for p in args.eval if windows_path(p).is_file()]
    per_window = None
    if len(found) == len(args.eval):
        per_window = pd.concat([read_window_errors(p) for p in found], ignore_index=True)
    else:  # an evaluation from before per-window errors were kept: point estimates only
        print(f"note: no per-window errors next to {len(args.eval) - len(found)} evaluation file(s): "
              f"no intervals, verdicts inconclusive", file=sys.stderr)
    table = transitions_table(curves, per_window)
    write_table(table, Path(args.out).with_suffix(""))
    print(table.to_string(index=False))


def cmd_weights(args, section: dict, runtime: dict) -> None:
    model, spec = load_run(args.run)
    if spec["heads"] != 3:
        raise ValueError(f"Fig. 6 shows the 3-head model; {args.run} has {spec['heads']} head(s)")
    as_numpy = lambda m: {k: v.cpu().numpy() for k, v in m.complex_weights().items()}  # noqa: E731
    models = {"3 heads": as_numpy(model)}
    if args.contrast_run:
        models["1 head"] = as_numpy(load_run(args.contrast_run)[0])
    table = decoupling_table(models)
    write_table(table, Path(args.table).with_suffix(""))
    plot_weights(models["3 heads"], args.out, args.title)
    print(table.to_string(index=False))


def main(argv: list[str] | None = None, prog: str = 'mosaic three-moons') -> None:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = add_config_args(sub.add_parser("train", help="train a 1- or 3-head model"))
    p.add_argument("--heads", type=int, required=True, choices=(1, 3))
    p.add_argument("--out", required=True, help="run directory")
    p = add_config_args(sub.add_parser("evaluate", help="forecast error against context length (CSV)"))
    p.add_argument("--run", required=True)
    p.add_argument("--out", required=True, help="CSV file of the curves; the per-window errors go next to it "
                   "(eval_windows.csv.gz)")
    p = add_config_args(sub.add_parser("figure", help="plot Fig. 4/5 from an evaluation CSV"))
    p.add_argument("--eval", required=True)
    p.add_argument("--out", required=True, help=".png (the .pdf and .csv come with it)")
    p.add_argument("--title", default="")
    p = add_config_args(sub.add_parser("transitions", help="where the error falls vs the paper's claims C1, C2"))
    p.add_argument("--eval", required=True, action="append", help="evaluation CSV (repeat)")
    p.add_argument("--out", required=True, help="table path (.csv; a .md is written next to it)")
    p = add_config_args(sub.add_parser("weights", help="Fig. 6 and the decoupling table"))
    p.add_argument("--run", required=True, help="the 3-head run")
    p.add_argument("--contrast-run", default=None, help="the 1-head run (its scores are tabulated)")
    p.add_argument("--out", required=True, help=".png")
    p.add_argument("--table", required=True, help="table path (.csv; a .md is written next to it)")
    p.add_argument("--title", default="")
    args = parser.parse_args(argv)
    section = config_from_args(args, SECTION)
    check_section(section, args.command)
    runtime = runtime_from_args(args)
    {"train": cmd_train, "evaluate": cmd_evaluate, "figure": cmd_figure,
     "transitions": cmd_transitions, "weights": cmd_weights}[args.command](args, section, runtime)

