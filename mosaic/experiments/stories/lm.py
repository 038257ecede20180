"""Story language modelling (paper section 5): training runs, Table 3, Fig. 9, Tables 1 and 5.

Every step is a subcommand, called by ``workflow/rules/stories.smk`` and runnable by hand::

    python -m mosaic stories train --config config/config.yaml --arch mosaic --set n_layer=2 \\
        --data results/data/stories --out results/runs/stories/mosaic_L2
    python -m mosaic stories table3 --runs results/runs/stories/hparams --out results/tables/table3_hparam_search
    python -m mosaic stories fig09 --runs results/runs/stories/*_L* --out results/figures/fig09_train_val_by_depth.png
    python -m mosaic stories continuations --runs ... --data results/data/stories --out results/tables/table1_...md

The ``stories`` config section holds the common model sizes (``model``), per-architecture keys
(``arch_options``), the trainer settings (``train``), the Table 3 grid (``hparam_search``) and the
sampling settings. Architectures are registry names or plug-in paths; nothing here depends on
which one.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from mosaic.experiments.stories import (
    TokenDataset,
    data_fingerprint,
    load_prompts,
    load_tokenizer,
    make_get_batch,
    read_meta,
)
from mosaic.harness.config import add_config_args, check_section, config_from_args, parse_overrides, runtime_from_args
from mosaic.harness.io import write_table, write_text
from mosaic.harness.plotting import arch_palette, new_figure, save_figure, set_style
from mosaic.harness.runs import add_plugin_args, load_run_model, run_spec, trust_plugins_from
from mosaic.harness.train import DONE, EVAL_SEED, METRICS, TrainConfig, train
from mosaic.registry import build_model

TRAIN_KEYS = {f.name for f in dataclasses.fields(TrainConfig)}


# -- configuration -------------------------------------------------------------------------------
def stories_section(args: argparse.Namespace, needs: tuple[str, ...]) -> dict[str, Any]:
    """The ``stories`` section from the command line, checked against its schema (unknown keys
    and out-of-range values stop here, as they stop Snakemake). Snakemake hands a step only the
    keys it reads; ``needs`` are the keys this step must have."""
    section = config_from_args(args, "stories")
    check_section(section, "stories", partial=True)
    missing = [k for k in needs if k not in section]
    if missing:
        raise ValueError(f"config stories section lacks {missing} (needed by this step)")
    return section


def split_overrides(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split a point into trainer keys (lr, weight_decay, ...) and model keys (dropout, ...)."""
    train_part = {k: v for k, v in values.items() if k in TRAIN_KEYS}
    model_part = {k: v for k, v in values.items() if k not in TRAIN_KEYS}
    return train_part, model_part


def best_hparams(table_csv: str | Path) -> dict[str, Any]:
    """The grid values of the row marked best in a Table 3 CSV."""
    df = pd.read_csv(table_csv)
    best = df[df["best"]]
    if len(best) != 1:
        raise ValueError(f"{table_csv}: expected exactly one row with best=True, found {len(best)}")
    keys = [c for c in df.columns if c.startswith("hp_")]
    return {k[3:]: _plain(best.iloc[0][k]) for k in keys}


def _plain(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v


# -- train ---------------------------------------------------------------------------------------
def cmd_train(args: argparse.Namespace) -> int:
    section = stories_section(args, ("model", "train", "batch_size"))
    runtime = runtime_from_args(args)
    model_overrides = parse_overrides(args.set)
    train_overrides = parse_overrides(args.set_train)
    point = json.loads(args.point_json) if args.point_json else {}
    if args.hparams:
        point = best_hparams(args.hparams)
    point_train, point_model = split_overrides(point)
    train_overrides = {**point_train, **train_overrides}
    model_overrides = {**point_model, **model_overrides}

    model_cfg = {
        **section["model"],
        **(section.get("arch_options") or {}).get(args.arch, {}),
        **model_overrides,
        "vocab_size": load_tokenizer(args.data).vocab_size,
    }
    train_cfg = TrainConfig.from_dict({
        **section["train"], **train_overrides,
        "device": runtime["device"], "threads": runtime["threads"], "progress": not args.no_progress,
    })
    get_batch = make_get_batch(args.data, section["batch_size"], model_cfg["block_size"],
                               vocab_size=model_cfg["vocab_size"])
    torch.manual_seed(train_cfg.seed)
    model = build_model(args.arch, **model_cfg)
    run = {"arch": args.arch, "model": model_cfg, "batch_size": section["batch_size"], "data": str(args.data),
           "data_fingerprint": data_fingerprint(args.data), "hparams": args.hparams,
           "grid_point": point, "overrides": {**train_overrides, **model_overrides}}
    # the data path as typed, the hparams file and the overrides restate what data_fingerprint,
    # grid_point, the model config and the trainer settings hold: a rerun from another working
    # directory, or with another cadence, resumes
    final = train(model, get_batch, args.out, train_cfg, run_config=run, artifacts=tokenizer_artifacts(args.data),
                  identity_ignore=("data", "hparams", "overrides"))
    print(json.dumps(final))
    return 0


def tokenizer_artifacts(data_dir: str | Path) -> dict[str, Any]:
    """What a run directory needs to turn its ids back into text, copied into it so that it is
    self-contained: the tokenizer's description (``tokenizer.json``, the ``tokenizer`` entry of the
    data's meta.json: GPT-2 BPE, compact or not, hashes) and the compact vocabulary (``vocab.json``,
    the GPT-2 id of each model id) when there is one."""
    data_dir = Path(data_dir)
    artifacts: dict[str, Any] = {
        "tokenizer.json": (json.dumps(read_meta(data_dir)["tokenizer"], indent=2, sort_keys=True) + "\n").encode()}
    if (data_dir / "vocab.json").is_file():
        artifacts["vocab.json"] = data_dir / "vocab.json"
    return artifacts


# -- Table 3 -------------------------------------------------------------------------------------
def cmd_table3(args: argparse.Namespace) -> int:
    rows = []
    for run_dir in sorted(args.runs):
        spec = run_spec(run_dir)
        done = json.loads((Path(run_dir) / DONE).read_text(encoding="utf-8"))
        if done.get("val_loss") is None:
            raise ValueError(f"{run_dir}/{DONE} has no val_loss: the grid runs need eval_batches > 0")
        row = {f"hp_{k}": v for k, v in sorted(spec["grid_point"].items())}
        row.update({"arch": spec["arch"], "n_layer": spec["model"]["n_layer"],
                    "n_embd": spec["model"]["n_embd"], "steps": done["step"],
                    "final_train_loss": done.get("train_loss"), "final_val_loss": done["val_loss"],
                    "run": str(run_dir)})
        rows.append(row)
    if not rows:
        raise ValueError("table3: no runs given")
    df = pd.DataFrame(rows)
    df["best"] = df["final_val_loss"] == df["final_val_loss"].min()
    df.loc[df["best"].cumsum() > 1, "best"] = False  # ties: the first point in grid order wins
    write_table(df, args.out)
    print(df.to_string(index=False))
    return 0


# -- Fig. 9 --------------------------------------------------------------------------------------
def read_metrics(run_dir: str | Path) -> pd.DataFrame:
    lines = (Path(run_dir) / METRICS).read_text(encoding="utf-8").splitlines()
    return pd.DataFrame([json.loads(line) for line in lines if line.strip()])


def cmd_fig09(args: argparse.Namespace) -> int:
    trust_plugins_from(args)  # the per-sequence losses load every final model
    frames = []
    for run_dir in args.runs:
        spec = run_spec(run_dir)
        m = read_metrics(run_dir)
        for split in ("train_loss", "val_loss"):
            if split in m:
                part = m[["step", split]].dropna().rename(columns={split: "loss"})
                part["split"] = split.split("_")[0]
                part["arch"], part["depth"] = spec["arch"], spec["model"]["n_layer"]
                frames.append(part)
    df = pd.concat(frames, ignore_index=True)
    depths = sorted(df["depth"].unique())
    set_style()
    fig, axes = new_figure(ncols=len(depths), sharey=True, squeeze=False)  # one depth: still a grid
    palette = arch_palette(sorted(df["arch"].unique()))
    for ax, depth in zip(axes.flat, depths):
        for (arch, split), part in df[df["depth"] == depth].groupby(["arch", "split"]):
            ax.plot(part["step"], part["loss"], color=palette[arch],
                    linestyle="-" if split == "val" else ":", label=f"{arch} {split}")
        ax.set_title(f"$N_b$ = {depth}")
        ax.set_xlabel("training step")
    axes.flat[0].set_ylabel("cross-entropy (nats)")
    unigram = unigram_cross_entropy(args.data)
    for ax in axes.flat:
        ax.axhline(unigram, color="grey", linewidth=0.8, linestyle="--", label="unigram (val)")
    axes.flat[-1].legend(fontsize="small")
    save_figure(fig, args.out, df)

    rows = []
    for run_dir in args.runs:
        spec, done = run_spec(run_dir), json.loads((Path(run_dir) / DONE).read_text(encoding="utf-8"))
        rows.append({"arch": spec["arch"], "n_layer": spec["model"]["n_layer"],
                     "params": json.loads((Path(run_dir) / "config.json").read_text())["num_params"],
                     "steps": done["step"], "final_train_loss": done.get("train_loss"),
                     "final_val_loss": done.get("val_loss"), "unigram_val_cross_entropy": unigram,
                     "run": str(run_dir)})
    write_table(pd.DataFrame(rows).sort_values(["n_layer", "arch"]), args.losses)
    per_sequence = pd.concat([per_sequence_val_losses(r, args.data) for r in args.runs], ignore_index=True)
    write_table(per_sequence, Path(args.per_sequence).with_suffix(""))
    return 0


@torch.no_grad()
def per_sequence_val_losses(run_dir: str | Path, data_dir: str | Path) -> pd.DataFrame:
    """Mean next-token loss of the final model on each validation window of the trainer's fixed
    evaluation batches (seed ``EVAL_SEED + i``, the run's own batch size, block size and number of
    batches): the windows every model of Fig. 9 is scored on, so that differences between models
    are paired by window (the scorecard bootstraps over them, claim C4)."""
    config = json.loads((Path(run_dir) / "config.json").read_text(encoding="utf-8"))
    spec, train_cfg = config["run"], config["train"]
    model = load_run_model(run_dir)
    get_batch = make_get_batch(data_dir, int(spec["batch_size"]), int(spec["model"]["block_size"]),
                               vocab_size=int(spec["model"]["vocab_size"]), splits=("val",))
    rows = []
    for i in range(int(train_cfg["eval_batches"])):
        x, y = get_batch("val", i, torch.Generator().manual_seed(EVAL_SEED + i))
        logits, _ = model(x)
        losses = torch.nn.functional.cross_entropy(logits.transpose(1, 2).float(), y, reduction="none")  # (B, T)
        for j, loss in enumerate(losses.mean(dim=1).tolist()):
            rows.append({"arch": spec["arch"], "n_layer": spec["model"]["n_layer"], "window": i * len(losses) + j,
                         "loss": loss, "run": str(run_dir)})
    return pd.DataFrame(rows)


def unigram_cross_entropy(data_dir: str | Path) -> float:
    """Cross-entropy (nats) of the val tokens under the train split's add-one unigram model:
    what a model that ignores the context at best achieves."""
    train_tokens, val_tokens = (TokenDataset(data_dir, s) for s in ("train", "val"))
    V = train_tokens.vocab_size
    counts = torch.bincount(torch.from_numpy(train_tokens.tokens.astype("int64")), minlength=V)
    logp = torch.log((counts.double() + 1) / (counts.sum() + V))
    val = torch.from_numpy(val_tokens.tokens.astype("int64"))
    return float(-logp[val].mean())


# -- Tables 1 and 5: continuations ---------------------------------------------------------------
def cmd_continuations(args: argparse.Namespace) -> int:
    section = stories_section(args, ("sampling",))
    trust_plugins_from(args, section.get("architectures"))
    sampling = section["sampling"]
    tok = load_tokenizer(args.data)
    prompts = load_prompts(section.get("prompts_file"))
    columns: dict[str, list[str]] = {}
    for run_dir in args.runs:
        spec = run_spec(run_dir)
        model = load_run_model(run_dir)
        name = f"{spec['arch']} ($N_b$={spec['model']['n_layer']})"
        outs = []
        for i, p in enumerate(prompts):
            idx = torch.tensor([tok.encode(p["prompt"])], dtype=torch.long)
            g = torch.Generator().manual_seed(sampling["seed"] + i)
            out = model.generate(idx, sampling["max_new_tokens"], temperature=sampling["temperature"],
                                 top_k=sampling.get("top_k"), generator=g)
            text = tok.decode(out[0, idx.size(1):].tolist())
            outs.append(text.split(tok.decode([tok.eot_id]))[0].strip())
        columns[name] = outs
    header = f"Sampling: temperature {sampling['temperature']}, top-k {sampling.get('top_k')}, " \
             f"{sampling['max_new_tokens']} new tokens at most, stopped at <|endoftext|>.\n\n"
    lines = ["| category | prompt | " + " | ".join(columns) + " |",
             "| --- | --- | " + " | ".join("---" for _ in columns) + " |"]
    for i, p in enumerate(prompts):
        cells = [p["category"], p["prompt"]] + [columns[c][i] for c in columns]
        lines.append("| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |")
    write_text(args.out, f"# {args.title}\n\n" + header + "\n".join(lines) + "\n")
    return 0


def add_commands(sub) -> None:
    """The model steps: train, table3, fig09, continuations."""

    p = add_config_args(sub.add_parser("train", help="train one architecture on prepared story data"))
    p.add_argument("--arch", required=True, help="registry name or package.module:Class")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="model config override")
    p.add_argument("--set-train", action="append", default=[], metavar="KEY=VALUE", help="trainer override")
    p.add_argument("--point-json", default=None, help="a Table 3 grid point (trainer and model keys)")
    p.add_argument("--hparams", default=None, help="Table 3 CSV: apply its best point")
    p.add_argument("--data", required=True, help="prepared data directory (python -m mosaic stories prepare)")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("table3", help="collect the hyper-parameter grid runs into Table 3")
    p.add_argument("--runs", nargs="+", required=True)
    p.add_argument("--out", required=True, help="output path without suffix (.csv and .md)")
    p.set_defaults(func=cmd_table3)

    p = sub.add_parser("fig09", help="train/val loss vs steps by depth (Fig. 9)")
    p.add_argument("--runs", nargs="+", required=True)
    p.add_argument("--data", required=True, help="prepared data directory (unigram reference)")
    p.add_argument("--losses", required=True, help="final-loss table path without suffix")
    p.add_argument("--per-sequence", required=True,
                   help="table (.csv and .md) of each final model's loss on each fixed validation window")
    p.add_argument("--out", required=True)
    add_plugin_args(p)
    p.set_defaults(func=cmd_fig09)

    p = add_config_args(sub.add_parser("continuations", help="Tables 1/5: continuations of the prompts"))
    p.add_argument("--runs", nargs="+", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--title", required=True)
    add_plugin_args(p)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_continuations)


