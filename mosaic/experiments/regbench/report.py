"""RegBench figure and tables from the selections of ``experiment.select_runs``.

Two metric conventions are carried everywhere (``metrics.py`` defines them): the *last token*
of each test sequence, which the paper's text scores, and *all positions*, which seq_icl's code
averages and the published curves use.

* Fig. 11: accuracy and TVD on the fixed test pool against the number of training automata N
  (log axis), one line per architecture, the in-context 2-/3-gram references as horizontal
  lines and the published curves (read off the paper's plot, ``paper_reference``) dotted. It
  plots the **all-position** numbers, the convention of the published curves it is drawn with
  (their in-context 3-gram line, 0.934 / 0.258, is an all-position figure), and says so on its
  axes and title;
* ``fig11_regbench`` table: every convention (last token, all positions, and seq_icl
  ``train.py``'s logged ``acc_nodelim`` / ``l1``) per (architecture, N);
* ``fig11_vs_paper`` table: our all-position numbers next to the published ones at the same N,
  and our last-token numbers (the paper gives none we could read);
* Table 4: IID test (fresh sequences of the training automata) at the IID training size in both
  conventions, with the same architectures' out-of-distribution test numbers for contrast;
* ``*_per_sequence.csv`` beside the tables: the per-sequence sums behind every trained row
  (one row per test sequence and selected checkpoint), which the scorecard (``claims.py``)
  resamples by automaton.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from mosaic.experiments.regbench import paper_reference
from mosaic.experiments.regbench.dataset import RegBenchSplit
from mosaic.experiments.regbench.metrics import PER_SEQUENCE, evaluate_probs
from mosaic.experiments.regbench.ngram import ngram_probs
from mosaic.harness.io import atomic_open, write_table
from mosaic.harness.plotting import arch_color, new_figure, save_figure, set_style

LAST_TOKEN = ["acc_last_token", "tvd_last_token"]
ALL_POSITIONS = ["acc_all_positions", "tvd_all_positions"]
METRICS = [*LAST_TOKEN, *ALL_POSITIONS, "acc_nodelim", "l1", "l1_nodelim"]
NGRAM_LINES = {"2-gram backoff": "--", "3-gram backoff": "-."}  # drawn as horizontal references
PER_SEQUENCE_COLUMNS = ["model", "n_train", "selected_on", "eval_split", "sequence", "automaton", *PER_SEQUENCE]
MOSAIC = "mosaic"  # the architecture the claims are about; every other trained one is a baseline


def per_sequence_path(table_base: str | Path) -> Path:
    """``<table>_per_sequence.csv``: where ``fig11``/``table4`` put their per-sequence rows."""
    base = Path(table_base)
    return base.with_name(base.name + "_per_sequence.csv")


def read_selections(paths) -> list[dict]:
    out = []
    for p in paths:
        path = Path(p)
        if not path.is_file():
            raise FileNotFoundError(f"selection {path} not found (run `python -m mosaic regbench select`)")
        try:
            selection = json.loads(path.read_text(encoding="utf-8"))
            sels = selection["selections"]
            stale = [s for s, sel in sels.items() if "per_sequence" not in sel
                     or not set(METRICS) <= set(sel["metrics"])]
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"{path} is not a RegBench selection ({type(exc).__name__}: {exc}); "
                             "run `python -m mosaic regbench select` again") from None
        if stale:
            raise ValueError(f"{path} lacks the last-token metrics or per-sequence scores (written by an "
                             "older version); delete it and run `python -m mosaic regbench select` again")
        out.append(selection)
    return out


def _point_text(point: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(point.items())) or "-"


def _config_order(df: pd.DataFrame) -> pd.DataFrame:
    order = list(dict.fromkeys(df["model"]))  # config order of the architectures
    df = df.assign(_o=df["model"].map(order.index))
    return df.sort_values(["_o", "n_train"], kind="stable").drop(columns="_o").reset_index(drop=True)


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
    return _config_order(pd.DataFrame(rows))


def per_sequence_frame(selections: list[dict], selected_on: str) -> pd.DataFrame:
    """One row per (architecture, N, test sequence) of the checkpoint chosen on ``selected_on``:
    the per-sequence sums of ``metrics.MetricAccumulator.per_sequence`` and the sequence's
    automaton (its index in its seed stream)."""
    frames = []
    for s in selections:
        sel = s["selections"].get(selected_on)
        if sel is None:
            raise ValueError(f"{s['arch']} N={s['n_train']}: no checkpoint was selected on {selected_on!r}")
        d = pd.DataFrame(sel["per_sequence"])
        d.insert(0, "eval_split", sel["eval_split"])
        d.insert(0, "selected_on", selected_on)
        d.insert(0, "n_train", s["n_train"])
        d.insert(0, "model", s["arch"])
        frames.append(d[PER_SEQUENCE_COLUMNS])
    return pd.concat(frames, ignore_index=True)


def write_per_sequence(df: pd.DataFrame, path: str | Path) -> None:
    with atomic_open(path, "w", encoding="utf-8", newline="") as fh:
        df.to_csv(fh, index=False, float_format="%.8g")


def read_ngram(path: str | Path) -> pd.DataFrame:
    df = pd.read_csv(path)
    missing = sorted({"baseline", *METRICS} - set(df.columns))
    if missing:
        raise ValueError(f"{path}: not an n-gram table of this version of `python -m mosaic regbench ngram` "
                         f"(lacks {missing}); run it again")
    return df


def _write(df: pd.DataFrame, base: str | Path, float_format: str = "%.4f") -> None:
    """Counts stay integers (pandas would print them as floats next to missing cells)."""
    df = df.copy()
    for col in ("n_train", "n_positions", "n_sequences", "grid_points", "num_params"):
        if col in df:
            df[col] = pd.to_numeric(df[col]).round().astype("Int64")
    write_table(df, base, float_format)


# -- Fig. 11 -------------------------------------------------------------------------------------
FIG11_PANELS = [  # (our column, published column, axis label): the published curves' convention
    ("acc_all_positions", "acc", "accuracy, all positions"),
    ("tvd_all_positions", "tvd", "TVD (½ L1), all positions"),
]


def fig11(selections: list[dict], ngram_csv: str | Path, out_png: str | Path, table_base: str | Path,
          compare_base: str | Path, scale: str = "", per_sequence_csv: str | Path | None = None) -> pd.DataFrame:
    ours = results_frame(selections, "val")
    per_seq = per_sequence_frame(selections, "val")
    ngram = read_ngram(ngram_csv)
    paper = paper_reference.fig11_frame()
    paper = paper[paper["arch"].isin(set(ours["model"]))]

    set_style()
    fig, axes = new_figure(ncols=2, width_per_panel=3.6)
    long = []
    for ax, (metric, ref_col, ylabel) in zip(axes, FIG11_PANELS):
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
    fig.suptitle(f"RegBench test pool ({ours['n_sequences'].iloc[0]} automata), every position scored "
                 "(as the published curves)" + (f", {scale} scale" if scale else ""), fontsize="medium")
    save_figure(fig, out_png, pd.DataFrame(long))

    refs = ngram[ngram["baseline"].isin(list(NGRAM_LINES) + ["uniform over 18 letters"])]
    ref_rows = pd.DataFrame({"model": refs["baseline"], "kind": "in-context reference (training-free)",
                             **{k: refs[k] for k in METRICS}, "n_positions": refs.get("n_positions"),
                             "n_sequences": refs.get("n_sequences")})
    table = pd.concat([ours, ref_rows], ignore_index=True)
    _write(table, table_base)
    _write(compare_with_paper(ours, ngram, scale), compare_base, "%.3f")
    write_per_sequence(per_seq, per_sequence_csv or per_sequence_path(table_base))
    return table


def compare_with_paper(ours: pd.DataFrame, ngram: pd.DataFrame, scale: str = "") -> pd.DataFrame:
    """Our all-position accuracy and TVD next to the published values at the same N (the plot's
    convention), our last-token values beside them (nothing published to compare with), and our
    n-gram references next to the note's seq_icl ones. Published values are readings of a plot."""
    paper = paper_reference.fig11_frame().rename(columns={"arch": "model"})
    merged = ours[["model", "n_train", *METRICS[:4], "best_epoch"]].merge(paper, on=["model", "n_train"], how="left")
    rows = [{"model": r.model, "reference_model": r.paper_model if isinstance(r.paper_model, str) else None,
             "n_train": r.n_train,
             "acc_all_positions_ours": r.acc_all_positions, "acc_all_positions_reference": r.acc,
             "tvd_all_positions_ours": r.tvd_all_positions, "tvd_all_positions_reference": r.tvd,
             "acc_last_token_ours": r.acc_last_token, "tvd_last_token_ours": r.tvd_last_token,
             "reference": (paper_reference.FIG11_SOURCE + (" (≈, rough reading)" if r.approximate is True else ""))
             if isinstance(r.paper_model, str) else "no published point at this N",
             "our_scale": scale, "our_best_epoch": r.best_epoch} for r in merged.itertuples()]
    for name, acc, tvd in paper_reference.NGRAM:
        row = ngram[ngram["baseline"] == name]
        if len(row):
            rows.append({"model": name, "reference_model": name, "n_train": None,
                         "acc_all_positions_ours": float(row["acc_all_positions"].iloc[0]),
                         "acc_all_positions_reference": acc,
                         "tvd_all_positions_ours": float(row["tvd_all_positions"].iloc[0]),
                         "tvd_all_positions_reference": tvd,
                         "acc_last_token_ours": float(row["acc_last_token"].iloc[0]),
                         "tvd_last_token_ours": float(row["tvd_last_token"].iloc[0]),
                         "reference": paper_reference.NGRAM_SOURCE, "our_scale": scale, "our_best_epoch": None})
    df = pd.DataFrame(rows)
    for metric in ALL_POSITIONS:
        at = df.columns.get_loc(f"{metric}_reference") + 1
        df.insert(at, f"{metric}_diff", df[f"{metric}_ours"] - df[f"{metric}_reference"])
    return df


# -- Table 4 -------------------------------------------------------------------------------------
def table4(selections: list[dict], data_dir: str | Path, ngram_csv: str | Path, out_base: str | Path,
           per_sequence_csv: str | Path | None = None) -> pd.DataFrame:
    """IID test metrics of each architecture's checkpoint chosen on ``iid_val``, its OOD test
    metrics (checkpoint chosen on ``val``), both conventions, and the in-context n-gram
    references on both pools. The per-sequence rows of both (``iid_test`` and ``test``) go to
    ``per_sequence_csv``."""
    iid = results_frame(selections, "iid_val")
    ood = results_frame(selections, "val").set_index("model")
    per_seq = pd.concat([per_sequence_frame(selections, "iid_val"), per_sequence_frame(selections, "val")],
                        ignore_index=True)
    table = iid[["model", "n_train", *METRICS, "n_positions", "n_sequences", "best_loss", "best_epoch",
                 "selected_point"]].rename(columns={"best_loss": "best_iid_val_loss"})
    for metric in METRICS[:4]:
        table[f"ood_{metric}"] = table["model"].map(ood[metric])
    table.insert(1, "kind", "trained")

    split = RegBenchSplit.load(Path(data_dir) / "iid_test")
    ngram = read_ngram(ngram_csv).set_index("baseline")
    rows = []
    for name in NGRAM_LINES:
        order = int(name.split("-")[0])
        m = evaluate_probs(lambda x, order=order: ngram_probs(x, order), split, desc=f"{name} on iid_test")
        rows.append({"model": name, "kind": "in-context reference (training-free)", "n_train": None,
                     **{k: m[k] for k in METRICS}, "n_positions": m["n_positions"], "n_sequences": m["n_sequences"],
                     **{f"ood_{k}": ngram[k].get(name) for k in METRICS[:4]}})
    table = pd.concat([table, pd.DataFrame(rows)], ignore_index=True)
    _write(table, out_base)
    write_per_sequence(per_seq, per_sequence_csv or per_sequence_path(out_base))
    return table
