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

Each measurement also writes its per-window arrays next to the CSV (``<out>.npz``, see
:mod:`mosaic.experiments.analyses.window_arrays`): the units the scorecard's bootstrap resamples
(:mod:`mosaic.experiments.analyses.claims`). Long measurements report progress
(:mod:`mosaic.harness.progress`).

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

from mosaic.experiments.analyses.attention import last_position_frame, pooled_mean, unit_attention
from mosaic.experiments.analyses.figures import MISSING, fig10, fig12, fig13, fig15
from mosaic.experiments.analyses.position_loss import position_loss
from mosaic.experiments.analyses.window_arrays import windows_path, write_window_arrays
from mosaic.experiments.stories.tokens import TokenDataset, read_meta
from mosaic.harness.io import atomic_open
from mosaic.harness.runs import add_plugin_args, load_run_model, run_spec, trust_plugins_from
from mosaic.harness.train import DONE, resolve_device


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
    """The model and data columns every measurement table starts with. ``data_sha256`` (the
    evaluated split's) and ``ctx`` identify the windows, so paired comparisons can be checked;
    ``unseen_in_train_rate`` is the share of the split's target tokens whose id never occurs in
    the training split, when the data directory records it (``splits.<split>.unseen_in_train_rate``;
    NaN otherwise)."""
    arch = spec["arch"]
    variant = spec["model"].get("pos_encoding", "")
    done = Path(args.run) / DONE
    steps = json.loads(done.read_text(encoding="utf-8")).get("step") if done.is_file() else None
    split = (meta.get("splits") or {}).get(args.split) or {}
    unseen = split.get("unseen_in_train_rate")
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
        "data_sha256": split.get("sha256", ""),
        "unk_id": (meta.get("tokenizer") or {}).get("unk_id"),
        "unseen_in_train_rate": float(unseen) if unseen is not None else float("nan"),
        "n_windows": n_windows,
    }


def _write_csv(df: pd.DataFrame, path: str) -> None:
    with atomic_open(path, "w", encoding="utf-8", newline="") as fh:
        df.to_csv(fh, index=False)


def _write_outputs(df: pd.DataFrame, out: str, arrays: dict, metadata: dict) -> None:
    """The per-window arrays (``<out>.npz``) and the table (``out``): both or neither."""
    npz = windows_path(out)
    write_window_arrays(npz, arrays, metadata)
    try:
        _write_csv(df, out)
    except BaseException:
        npz.unlink(missing_ok=True)
        raise


def _check_out(out: str) -> None:
    if Path(out).suffix != ".csv":
        raise ValueError(f"--out must be a .csv path (the per-window arrays go next to it as .npz), got {out}")


def cmd_position_loss(args) -> int:
    _check_out(args.out)
    model, spec, dev = _load(args)
    ctx = _context(model, args)
    batches, n, n_batches, meta = _windows(args, model, ctx)
    unk_id = (meta.get("tokenizer") or {}).get("unk_id")  # None for the full GPT-2 vocabulary
    stats = position_loss(model, batches, dev, desc=f"loss {Path(args.run).name}", total=n,
                          unk_id=unk_id, keep_windows=True)
    df = stats.to_frame()
    metadata = _metadata(spec, model, ctx, n, args, meta)
    for key, value in reversed(metadata.items()):
        df.insert(0, key, value)
    arrays = {"loss": stats.windows.loss}
    if stats.windows.unk is not None:
        arrays["unk"] = stats.windows.unk
    _write_outputs(df, args.out, arrays, {"kind": "position_loss", **metadata})
    print(f"{args.run}: {args.corpus or args.split} ctx {ctx}, {n} windows, mean loss "
          f"{stats.range_mean(1, ctx):.4f}")
    return 0


def cmd_attention(args) -> int:
    _check_out(args.out)
    model, spec, dev = _load(args)
    ctx = _context(model, args)
    batches, n, n_batches, meta = _windows(args, model, ctx)
    unit_means, unit_windows = unit_attention(model, batches, n, dev, desc=f"attention {Path(args.run).name}")
    mean_last = torch.from_numpy(pooled_mean(unit_means, unit_windows))
    lambdas = model.leaky_lambdas().cpu() if callable(getattr(model, "leaky_lambdas", None)) else None
    df = last_position_frame(mean_last, lambdas)
    metadata = _metadata(spec, model, ctx, n, args, meta)
    for key, value in reversed(metadata.items()):
        df.insert(0, key, value)
    arrays = {"unit_attention": unit_means.astype("float32"), "unit_windows": unit_windows}
    if lambdas is not None:
        arrays["lambda_phi"] = lambdas.double().numpy()
    _write_outputs(df, args.out, arrays, {"kind": "attention", **metadata})
    print(f"{args.run}: last-position attention over {n} windows of {ctx} tokens "
          f"({len(unit_windows)} bootstrap units)")
    return 0


def _read(paths: list[str]) -> list[pd.DataFrame]:
    frames = []
    for path in paths:
        if not Path(path).is_file():
            raise FileNotFoundError(f"measurement table {path} not found")
        frame = pd.read_csv(path, keep_default_na=False, na_values=[""])
        frame["measurement"] = str(path)  # the figures' tables say which measurement each row is from
        frames.append(frame)
    return frames


def cmd_fig10(args) -> int:
    summary = fig10(_read(args.ood) + _read(args.val), args.out, args.table, args.summary, args.split_at)
    print(summary.to_string(index=False))
    if (summary.loc[summary["corpus"] == "ood", "unseen_in_train_rate"] == MISSING).any():
        print("note: the OOD data's meta.json has no splits.ood.unseen_in_train_rate; the summary reports it "
              "as missing", file=sys.stderr)
    return 0


def cmd_fig12(args) -> int:
    fig12(_read(args.inputs), args.out)
    return 0


def cmd_fig13(args) -> int:
    fig13(_read(args.attention), _read(args.loss), args.out)
    return 0


def cmd_fig15(args) -> int:
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

