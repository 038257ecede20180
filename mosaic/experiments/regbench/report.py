"""RegBench figure and tables from the selections of ``experiment.select_runs``.

* Fig. 11: accuracy and TVD on the fixed test pool against the number of training automata N
  (log axis), one line per architecture, the in-context 2-/3-gram references as horizontal
  lines and the published curves (read off the paper's plot, ``paper_reference``) dotted;
* ``fig11_regbench`` table: every metric convention (``acc_all``/``tvd_half_l1`` = the paper
  figure's, ``acc_nodelim``/``l1`` = seq_icl ``train.py``'s logged ones) per (architecture, N);
* ``fig11_vs_paper`` table: our numbers next to the published ones at the same N;
* Table 4: IID test (fresh sequences of the training automata) at the IID training size, with
  the same architectures' out-of-distribution test numbers for contrast.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from mosaic.harness.io import write_table
from mosaic.experiments.regbench import paper_reference
from mosaic.experiments.regbench.metrics import evaluate_probs
from mosaic.experiments.regbench.ngram import ngram_probs

METRICS = ["acc_all", "tvd_half_l1", "acc_nodelim", "l1", "l1_nodelim"]
NGRAM_LINES = {"2-gram backoff": "--", "3-gram backoff": "-."}  # drawn as horizontal references


def read_selections(paths) -> list[dict]:
    out = []
    for p in paths:
        path = Path(p)
        if not path.is_file():
            raise FileNotFoundError(f"selection {path} not found (run `python -m mosaic regbench select`)")
        out.append(json.loads(path.read_text(encoding="utf-8")))
    return out


def _point_text(point: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(point.items())) or "-"


def results_frame(selections: list[dict], selected_on: str = "val") -> pd.DataFrame:
    """One row per (architecture, N): test metrics of the checkpoint chosen on ``selected_on``."""
    rows = []
    for s in selections:
        sel = s["selections"].get(selected_on)
        if sel is None:
            raise ValueError(f"{s['arch']} N={s['n_train']}: no checkpoint was selected on {selected_on!r}")
        m = sel["metrics"]
        rows.append({"model": s["arch"], "kind": "trained", "n_train": s["n_train"],
                     **{k: m[k] for k in METRICS}, "n_positions": m["n_positions"],
                     "n_sequences": m["n_sequences"], "eval_split": sel["eval_split"],
                     "selected_on": selected_on, "best_loss": sel["loss"], "best_epoch": sel["epoch"],
                     "selected_point": _point_text(sel["point"]), "grid_points": len(s["points"]),
                     "num_params": sel.get("num_params"), "run": sel["run"]})
    if not rows:
        raise ValueError("no selections given")
    order = list(dict.fromkeys(r["model"] for r in rows))  # config order of the architectures
    df = pd.DataFrame(rows)
    df["_o"] = df["model"].map(order.index)
    return df.sort_values(["_o", "n_train"]).drop(columns="_o").reset_index(drop=True)


def read_ngram(path: str | Path) -> pd.DataFrame:
    df = pd.read_csv(path)
    missing = sorted({"baseline", *METRICS} - set(df.columns))
    if missing:
        raise ValueError(f"{path}: not an n-gram table of `python -m mosaic regbench ngram` (lacks {missing})")
    return df


def _write(df: pd.DataFrame, base: str | Path, float_format: str = "%.4f") -> None:
    """Counts stay integers (pandas would print them as floats next to missing cells)."""
    df = df.copy()
    for col in ("n_train", "n_positions", "n_sequences", "grid_points", "num_params"):
        if col in df:
            df[col] = pd.to_numeric(df[col]).round().astype("Int64")
    write_table(df, base, float_format)


# -- Fig. 11 -------------------------------------------------------------------------------------
def fig11(selections: list[dict], ngram_csv: str | Path, out_png: str | Path, table_base: str | Path,
          compare_base: str | Path, scale: str = "") -> pd.DataFrame:
    from mosaic.harness.plotting import arch_color, new_figure, save_figure, set_style  # noqa: PLC0415

    ours = results_frame(selections, "val")
    ngram = read_ngram(ngram_csv)
    paper = paper_reference.fig11_frame()
    paper = paper[paper["arch"].isin(set(ours["model"]))]

    set_style()
    fig, axes = new_figure(ncols=2, width_per_panel=3.6)
    long = []
    for ax, (metric, ref_col, ylabel) in zip(axes, [("acc_all", "acc", "accuracy (all positions)"),
                                                    ("tvd_half_l1", "tvd", "TVD (½ L1)")]):
        for arch, d in ours.groupby("model", sort=False):
            ax.plot(d["n_train"], d[metric], marker="o", color=arch_color(arch), label=arch)
            long += [{"source": "ours", "model": arch, "n_train": n, "metric": metric, "value": v}
                     for n, v in zip(d["n_train"], d[metric])]
            ref = paper[paper["arch"] == arch]
            if len(ref):
                ax.plot(ref["n_train"], ref[ref_col], linestyle=":", marker="x", alpha=0.7,
                        color=arch_color(arch), label=f"paper: {ref['paper_model'].iloc[0]} (read off plot)")
                long += [{"source": "paper (read off plot)", "model": arch, "n_train": n, "metric": metric,
                          "value": v} for n, v in zip(ref["n_train"], ref[ref_col])]
        for name, style in NGRAM_LINES.items():
            row = ngram[ngram["baseline"] == name]
            if len(row):
                v = float(row[metric].iloc[0])
                ax.axhline(v, color="grey", linestyle=style, linewidth=1, label=f"{name} (in-context)")
                long.append({"source": "n-gram reference", "model": name, "n_train": np.nan,
                             "metric": metric, "value": v})
        ax.set_xscale("log")
        ax.set_xlabel("training automata N")
        ax.set_ylabel(ylabel)
    axes[0].set_ylim(0, 1.02)
    axes[1].set_ylim(0, None)
    axes[-1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize="x-small")
    fig.suptitle(f"RegBench test pool ({ours['n_sequences'].iloc[0]} automata)"
                 + (f", {scale} scale" if scale else ""), fontsize="medium")
    save_figure(fig, out_png, pd.DataFrame(long))

    refs = ngram[ngram["baseline"].isin(list(NGRAM_LINES) + ["uniform over 18 letters"])]
    ref_rows = pd.DataFrame({"model": refs["baseline"], "kind": "in-context reference (training-free)",
                             **{k: refs[k] for k in METRICS}, "n_positions": refs.get("n_positions")})
    table = pd.concat([ours, ref_rows], ignore_index=True)
    _write(table, table_base)
    _write(compare_with_paper(ours, ngram, scale), compare_base, "%.3f")
    return table


def compare_with_paper(ours: pd.DataFrame, ngram: pd.DataFrame, scale: str = "") -> pd.DataFrame:
    """Our (acc_all, tvd_half_l1) next to the published values at the same N, and our n-gram
    references next to the note's seq_icl ones. Published values are readings of a plot."""
    paper = paper_reference.fig11_frame().rename(columns={"arch": "model"})
    merged = ours[["model", "n_train", "acc_all", "tvd_half_l1", "best_epoch"]].merge(
        paper, on=["model", "n_train"], how="left")
    rows = [{"model": r.model, "reference_model": r.paper_model if isinstance(r.paper_model, str) else None,
             "n_train": r.n_train, "acc_ours": r.acc_all, "acc_reference": r.acc,
             "tvd_ours": r.tvd_half_l1, "tvd_reference": r.tvd,
             "reference": (paper_reference.FIG11_SOURCE + (" (≈, rough reading)" if r.approximate is True else ""))
             if isinstance(r.paper_model, str) else "no published point at this N",
             "our_scale": scale, "our_best_epoch": r.best_epoch} for r in merged.itertuples()]
    for name, acc, tvd in paper_reference.NGRAM:
        row = ngram[ngram["baseline"] == name]
        if len(row):
            rows.append({"model": name, "reference_model": name, "n_train": None,
                         "acc_ours": float(row["acc_all"].iloc[0]), "acc_reference": acc,
                         "tvd_ours": float(row["tvd_half_l1"].iloc[0]), "tvd_reference": tvd,
                         "reference": paper_reference.NGRAM_SOURCE, "our_scale": scale, "our_best_epoch": None})
    df = pd.DataFrame(rows)
    df.insert(df.columns.get_loc("acc_reference") + 1, "acc_diff", df["acc_ours"] - df["acc_reference"])
    df.insert(df.columns.get_loc("tvd_reference") + 1, "tvd_diff", df["tvd_ours"] - df["tvd_reference"])
    return df


# -- Table 4 -------------------------------------------------------------------------------------
def table4(selections: list[dict], data_dir: str | Path, ngram_csv: str | Path, out_base: str | Path) -> pd.DataFrame:
    """IID test metrics of each architecture's checkpoint chosen on ``iid_val``, its OOD test
    metrics (checkpoint chosen on ``val``) and the in-context n-gram references on both pools."""
    from mosaic.experiments.regbench.dataset import RegBenchSplit  # noqa: PLC0415

    iid = results_frame(selections, "iid_val")
    ood = results_frame(selections, "val").set_index("model")
    table = iid[["model", "n_train", *METRICS, "n_positions", "best_loss", "best_epoch", "selected_point"]].rename(
        columns={"best_loss": "best_iid_val_loss"})
    table["ood_acc_all"] = table["model"].map(ood["acc_all"])
    table["ood_tvd_half_l1"] = table["model"].map(ood["tvd_half_l1"])
    table.insert(1, "kind", "trained")

    split = RegBenchSplit.load(Path(data_dir) / "iid_test")
    ngram = read_ngram(ngram_csv).set_index("baseline")
    rows = []
    for name in NGRAM_LINES:
        order = int(name.split("-")[0])
        m = evaluate_probs(lambda x, order=order: ngram_probs(x, order), split)
        rows.append({"model": name, "kind": "in-context reference (training-free)", "n_train": None,
                     **{k: m[k] for k in METRICS}, "n_positions": m["n_positions"],
                     "ood_acc_all": ngram["acc_all"].get(name), "ood_tvd_half_l1": ngram["tvd_half_l1"].get(name)})
    table = pd.concat([table, pd.DataFrame(rows)], ignore_index=True)
    _write(table, out_base)
    return table
