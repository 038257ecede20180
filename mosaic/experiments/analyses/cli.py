"""Analyses of trained story language models (paper Fig. 10, 12, 13, 15), one subcommand per step.

Measurements read a trained run (``results/runs/...``) and a prepared token directory, and write
one long CSV with the model's metadata; figure steps combine those CSVs. Nothing is trained here::

    mosaic analyses position-loss --run results/runs/stories/mosaic_L2 \\
        --data results/data/ood --split val --corpus ood --windows 300 --out pl_ood.csv
    mosaic analyses attention --run results/runs/stories/mosaic_L1 \\
        --data results/data/stories --split val --context-factor 3 --windows 300 --out att.csv
    mosaic analyses fig10 --ood a.csv b.csv --val c.csv d.csv --split-at 50 \\
        --out results/figures/fig10_ood_position_loss.png \\
        --table results/tables/fig10_ood_position_loss --summary results/tables/fig10_ood_summary
    mosaic analyses fig12 --inputs att_mosaic.csv att_transformer.csv --out fig12.png
    mosaic analyses fig13 --attention ... --loss ... --out fig13.png
    mosaic analyses fig15 --input att_mosaic.csv --window 32 --out fig15.png --table t

A model with learned absolute positions asked for a context longer than it was trained on stops
with one line ``error: ... supports at most block_size=...`` (exit status 2).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd
import torch

from mosaic.harness.config import add_plugin_args, trust_plugins_from
from mosaic.harness.io import atomic_open
from mosaic.harness.runs import load_run_model, run_spec
from mosaic.harness.train import resolve_device


def _load(args):
    run, device, threads = args.run, args.device, args.threads
    trust_plugins_from(args)
    if threads is not None:
        if threads < 1:
            raise ValueError(f"--threads must be >= 1, got {threads}")
        torch.set_num_threads(threads)
    dev = resolve_device(device)
    return load_run_model(run, dev), run_spec(run), dev


def _context(model, args) -> int:
    """The window length: ``--context`` or ``--context-factor`` × the trained block_size; checked
    against the model before any data is read (absolute positions stop at block_size)."""
    train_ctx = int(model.config.block_size)
    ctx = args.context if args.context is not None else int(round(args.context_factor * train_ctx))
    if ctx < 2:
        raise ValueError(f"context must be >= 2 tokens, got {ctx}")
    model.check_context(ctx)
    return ctx


def _windows(args, model, ctx: int):
    """Sequential non-overlapping windows of the split (the data package's evaluation order)."""
    from mosaic.experiments.stories.tokens import TokenDataset, read_meta  # noqa: PLC0415

    try:
        data = TokenDataset(args.data, args.split, vocab_size=model.config.vocab_size)
    except KeyError as exc:  # unknown split: make it a one-line error
        raise ValueError(str(exc).strip("'\"")) from None
    available = data.num_sequential_windows(ctx)
    if available < 1:
        raise ValueError(f"{data.path} has {len(data)} tokens, fewer than one window of {ctx} + 1")
    n = min(args.windows, available)
    if n < args.windows:
        print(f"note: {data.path} holds {available} windows of {ctx} tokens; using all of them "
              f"instead of {args.windows}", file=sys.stderr)
    n_batches = -(-n // args.batch_size)
    meta = read_meta(args.data)
    _check_same_training_data(meta, args)
    return data.sequential_batches(args.batch_size, ctx, max_windows=n), n, n_batches, meta


def _check_same_training_data(meta: dict, args) -> None:
    """Token ids only mean the same thing under the tokenizer the model was trained with: compare
    the training-split fingerprint the evaluation data records (an OOD directory records the story
    data whose tokenizer it used) with the model's training data, when both are known."""
    from mosaic.experiments.stories.tokens import read_meta  # noqa: PLC0415
    from mosaic.harness.runs import run_spec  # noqa: PLC0415

    evaluated = (meta.get("story_data") or {}).get("train_sha256") \
        or (meta.get("splits", {}).get("train") or {}).get("sha256")
    trained_on = run_spec(args.run).get("data")
    if not evaluated or not trained_on or not (Path(trained_on) / "meta.json").is_file():
        return
    expected = (read_meta(trained_on).get("splits", {}).get("train") or {}).get("sha256")
    if expected and expected != evaluated:
        raise ValueError(f"{args.data} was tokenised for other training data than {args.run} "
                         f"(trained on {trained_on}); re-run prepare/prepare-ood for this model's data")


def _metadata(spec: dict, model, ctx: int, n_windows: int, args, meta: dict) -> dict:
    from mosaic.harness.train import DONE  # noqa: PLC0415

    arch = spec["arch"]
    variant = spec["model"].get("pos_encoding", "")
    done = Path(args.run) / DONE
    steps = json.loads(done.read_text(encoding="utf-8")).get("step") if done.is_file() else None
    return {
        "run": str(args.run),
        "label": f"{arch} ({variant})" if variant else arch,
        "arch": arch,
        "variant": variant,
        "n_layer": int(model.config.n_layer),
        "ctx": ctx,
        "train_ctx": int(model.config.block_size),
        "train_steps": steps,
        "corpus": args.corpus or args.split,
        "corpus_name": meta.get("corpus", str(args.data)),
        "n_windows": n_windows,
    }


def _write_csv(df: pd.DataFrame, path: str) -> None:
    with atomic_open(path, "w", encoding="utf-8", newline="") as fh:
        df.to_csv(fh, index=False)


def cmd_position_loss(args) -> int:
    from mosaic.experiments.analyses.position_loss import position_loss  # noqa: PLC0415

    model, spec, dev = _load(args)
    ctx = _context(model, args)
    batches, n, n_batches, meta = _windows(args, model, ctx)
    unk_id = (meta.get("tokenizer") or {}).get("unk_id")  # None for the full GPT-2 vocabulary
    stats = position_loss(model, batches, dev, desc=f"loss {Path(args.run).name}", total=n_batches,
                          unk_id=unk_id)
    df = stats.to_frame()
    for key, value in reversed(_metadata(spec, model, ctx, n, args, meta).items()):
        df.insert(0, key, value)
    _write_csv(df, args.out)
    print(f"{args.run}: {args.corpus or args.split} ctx {ctx}, {n} windows, mean loss "
          f"{stats.range_mean(1, ctx):.4f}")
    return 0


def cmd_attention(args) -> int:
    from mosaic.experiments.analyses.attention import average_attention, last_position_frame  # noqa: PLC0415

    model, spec, dev = _load(args)
    ctx = _context(model, args)
    batches, n, n_batches, meta = _windows(args, model, ctx)
    mean_last, n_seen = average_attention(model, batches, dev, desc=f"attention {Path(args.run).name}",
                                          total=n_batches)
    lambdas = model.leaky_lambdas().cpu() if callable(getattr(model, "leaky_lambdas", None)) else None
    df = last_position_frame(mean_last, lambdas)
    for key, value in reversed(_metadata(spec, model, ctx, n_seen, args, meta).items()):
        df.insert(0, key, value)
    _write_csv(df, args.out)
    print(f"{args.run}: last-position attention over {n_seen} windows of {ctx} tokens")
    return 0


def _read(paths: list[str]) -> list[pd.DataFrame]:
    frames = []
    for path in paths:
        if not Path(path).is_file():
            raise FileNotFoundError(f"measurement table {path} not found")
        frames.append(pd.read_csv(path, keep_default_na=False, na_values=[""]))
    return frames


def cmd_fig10(args) -> int:
    from mosaic.experiments.analyses.figures import fig10  # noqa: PLC0415

    summary = fig10(_read(args.ood) + _read(args.val), args.out, args.table, args.summary, args.split_at)
    print(summary.to_string(index=False))
    return 0


def cmd_fig12(args) -> int:
    from mosaic.experiments.analyses.figures import fig12  # noqa: PLC0415

    fig12(_read(args.inputs), args.out)
    return 0


def cmd_fig13(args) -> int:
    from mosaic.experiments.analyses.figures import fig13  # noqa: PLC0415

    fig13(_read(args.attention), _read(args.loss), args.out)
    return 0


def cmd_fig15(args) -> int:
    from mosaic.experiments.analyses.figures import fig15  # noqa: PLC0415

    heads = fig15(_read([args.input])[0], args.out, args.table, args.window)
    print(heads.to_string(index=False))
    return 0


def main(argv: list[str] | None = None, prog: str = 'mosaic analyses') -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def measurement(name: str, func, help_: str) -> None:
        p = sub.add_parser(name, help=help_)
        p.add_argument("--run", required=True, help="trained run directory (model.pt + config.json)")
        p.add_argument("--data", required=True, help="prepared token directory (meta.json + <split>.bin)")
        p.add_argument("--split", default="val", help="split of --data to read (default: val)")
        p.add_argument("--corpus", default=None, help="tag written in the table (default: the split name)")
        ctx = p.add_mutually_exclusive_group()
        ctx.add_argument("--context-factor", type=float, default=1.0,
                         help="window length as a multiple of the model's trained block_size (default 1)")
        ctx.add_argument("--context", type=int, default=None, help="window length in tokens")
        p.add_argument("--windows", type=int, required=True, help="sequential windows to average over (at most)")
        p.add_argument("--batch-size", type=int, default=8)
        p.add_argument("--out", required=True, help="output CSV")
        p.add_argument("--device", default="auto", help="cpu | cuda | cuda:N | auto")
        p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
        add_plugin_args(p)
        p.set_defaults(func=func)

    measurement("position-loss", cmd_position_loss, "per-position next-token loss of one model (Fig. 10, 13)")
    measurement("attention", cmd_attention, "last-position attention per head of one model (Fig. 12, 13, 15)")

    p = sub.add_parser("fig10", help="OOD and in-distribution per-position loss (Fig. 10)")
    p.add_argument("--ood", nargs="+", required=True, help="position-loss CSVs on the OOD corpus")
    p.add_argument("--val", nargs="*", default=[], help="position-loss CSVs on the story val split")
    p.add_argument("--split-at", type=int, default=50, help="summary ranges 1..N and N+1..ctx")
    p.add_argument("--out", required=True, help="figure .png (.pdf and .csv next to it)")
    p.add_argument("--table", required=True, help="per-position table path (.csv and .md)")
    p.add_argument("--summary", required=True, help="summary table path (.csv and .md)")
    p.set_defaults(func=cmd_fig10)

    p = sub.add_parser("fig12", help="last-position attention of single-block models (Fig. 12)")
    p.add_argument("--inputs", nargs="+", required=True, help="attention CSVs, one panel each")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_fig12)

    p = sub.add_parser("fig13", help="attention and per-position loss beyond the trained context (Fig. 13)")
    p.add_argument("--attention", nargs="+", required=True)
    p.add_argument("--loss", nargs="+", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_fig13)

    p = sub.add_parser("fig15", help="mosaic attention by head against learned lambda_phi (Fig. 15)")
    p.add_argument("--input", required=True, help="attention CSV of a Memory Mosaic")
    p.add_argument("--window", type=int, required=True, help="recent window W of the peak width")
    p.add_argument("--out", required=True)
    p.add_argument("--table", required=True, help="per-head table path (.csv and .md)")
    p.set_defaults(func=cmd_fig15)

    args = parser.parse_args(argv)
    for key in ("windows", "batch_size"):
        if getattr(args, key, 1) is not None and getattr(args, key, 1) < 1:
            raise ValueError(f"--{key.replace('_', '-')} must be >= 1, got {getattr(args, key)}")
    return args.func(args)

