"""Figures 10, 12, 13 and 15 from the measurement tables of ``python -m mosaic analyses``.

Every function takes the long tables the measurement steps wrote (one CSV per model and corpus,
with the model's metadata in columns ``label``, ``arch``, ``n_layer``, ``ctx``, ``train_ctx``,
``corpus``, ``n_windows``), draws with the project style (:mod:`mosaic.harness.plotting`) and saves the
PNG + PDF + plotted data. Nothing here touches a model.
"""
from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns

from mosaic.harness.io import write_table
from mosaic.harness.plotting import arch_color, new_figure, save_figure, set_style  # first: selects the Agg backend
from mosaic.experiments.analyses.attention import lambda_width_table

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import colormaps  # noqa: E402
from matplotlib.gridspec import GridSpec  # noqa: E402

CORPUS_STYLE = {"ood": "-", "val": "--"}


_CB = sns.color_palette("colorblind", 10).as_hex()
# Position-encoding variants of one architecture drawn side by side (Fig. 13) need colours that
# differ from each other and from the architectures' own.
VARIANT_COLORS = {"rope": _CB[2], "alibi": _CB[4]}


def model_color(row: pd.Series | dict) -> str:
    """Architectures keep their project colour (the transformer with GPT-2's absolute positions
    included); RoPE and ALiBi variants get fixed colours of their own, other variants a stable one."""
    variant = row.get("variant", "")
    if not isinstance(variant, str) or variant in ("", "absolute"):
        return arch_color(row["arch"])
    return VARIANT_COLORS.get(variant, arch_color(row["label"]))


def _first(df: pd.DataFrame, column: str):
    return df[column].iloc[0]


# -- Fig. 10 -------------------------------------------------------------------------------------
def position_loss_summary(df: pd.DataFrame, split_at: int) -> pd.DataFrame:
    """Mean loss over positions 1..split_at, split_at+1..ctx and all, per (corpus, model).

    Range means weight positions by their token counts (= windows), as a pooled mean should.
    ``q3_minus_q4`` = mean loss over the third quarter of positions minus the last quarter:
    positive while the curve still falls at the end of the window (no plateau)."""
    rows = []
    for (corpus, label), part in df.groupby(["corpus", "label"], sort=True):
        part = part.sort_values("position")
        ctx = int(part["position"].max())
        if not 1 <= split_at < ctx:
            raise ValueError(f"analyses.position_loss.split_at={split_at} must be in [1, {ctx - 1}] "
                             f"for context {ctx}")
        pos = part["position"].to_numpy()

        def pooled(mask: np.ndarray, suffix: str = "") -> float:
            w = part["n" + suffix].to_numpy(float)[mask]
            loss = part["mean_loss" + suffix].to_numpy(float)[mask]
            # positions with no counted token have a NaN mean and weight 0: leave them out
            return float(np.where(w > 0, loss * w, 0.0).sum() / w.sum()) if w.sum() else math.nan

        q = ctx / 4
        early, late = pos <= split_at, pos > split_at
        row = {
            "corpus": corpus, "model": label, "arch": _first(part, "arch"),
            "n_layer": int(_first(part, "n_layer")), "ctx": ctx, "n_windows": int(_first(part, "n_windows")),
            f"loss_pos_1_{split_at}": pooled(early),
            f"loss_pos_{split_at + 1}_{ctx}": pooled(late),
            "loss_all": pooled(pos >= 1),
            "q3_minus_q4": pooled((pos > 2 * q) & (pos <= 3 * q)) - pooled(pos > 3 * q),
        }
        if "n_known" in part:  # the same without <unk> targets (compact vocabularies only)
            row["unk_rate"] = 1.0 - part["n_known"].sum() / part["n"].sum()
            row[f"known_loss_pos_1_{split_at}"] = pooled(early, "_known")
            row[f"known_loss_pos_{split_at + 1}_{ctx}"] = pooled(late, "_known")
        rows.append(row)
    return pd.DataFrame(rows)


def fig10(frames: list[pd.DataFrame], png: str | Path, table: str | Path, summary: str | Path,
          split_at: int) -> pd.DataFrame:
    """Per-position loss, OOD (solid) and in-distribution (dashed), one line per model with its
    95% band (plus an OOD panel without ``<unk>`` targets when there are any); writes the figure,
    the per-position table (with the range means) and the summary."""
    df = pd.concat(frames, ignore_index=True)
    summ = position_loss_summary(df, split_at)
    early, late = [c for c in summ.columns if c.startswith("loss_pos_")]  # the two range columns
    df = df.merge(summ[["corpus", "model", early, late]].rename(columns={"model": "label"}),
                  on=["corpus", "label"], how="left")

    set_style()
    # Panels: OOD, OOD without <unk> targets (only when the compact vocabulary has some), val.
    panels = []
    for corpus in [c for c in ("ood", "val") if c in set(df["corpus"])]:
        panels.append((corpus, ""))
        rate = summ.loc[summ["corpus"] == corpus, "unk_rate"].max() if "unk_rate" in summ else 0.0
        if rate > 0:
            panels.append((corpus, "_known"))
    fig, axes = new_figure(ncols=len(panels), width_per_panel=4.0, height_per_panel=3.0, squeeze=False)
    for ax, (corpus, suffix) in zip(axes.flat, panels):
        sub = df[df["corpus"] == corpus]
        for label, part in sub.groupby("label", sort=True):
            part = part.sort_values("position")
            color = model_color(part.iloc[0])
            mean = part["mean_loss" + suffix]
            half = part["ci_known"] if suffix else (part["ci_high"] - part["mean_loss"])
            ax.plot(part["position"], mean, color=color, linestyle=CORPUS_STYLE[corpus], linewidth=1.2,
                    label=label)
            ax.fill_between(part["position"], mean - half, mean + half, color=color, alpha=0.25, linewidth=0)
        ax.axvline(split_at, color="grey", linewidth=0.7, linestyle=":")
        kind = "out-of-distribution" if corpus == "ood" else "in-distribution"
        if suffix:
            rate = summ.loc[summ["corpus"] == corpus, "unk_rate"].max()
            kind += f", without <unk> targets ({rate:.0%})"
        name = textwrap.shorten(str(_first(sub, "corpus_name")), width=45, placeholder="...")
        ax.set_title(f"{kind}\n{name}\n"
                     f"N_b = {int(sub['n_layer'].max())}, {int(sub['n_windows'].min())} windows, 95% CI",
                     fontsize="small")
        ax.set_xlabel("position in the context window")
        ax.set_ylabel("mean next-token loss (nats)")
        ax.legend(fontsize="small")
    save_figure(fig, png, df)
    write_table(df, Path(table).with_suffix(""))
    write_table(summ, Path(summary).with_suffix(""))
    return summ


# -- Fig. 12 / 13 --------------------------------------------------------------------------------
def _attention_panel(ax, part: pd.DataFrame, layer: int = 0, order: list[int] | None = None,
                     colors=None, legend_labels: dict[int, str] | None = None) -> None:
    """Heads of ``layer`` as lines: attention of the last position against look-back distance."""
    part = part[part["layer"] == layer]
    heads = order if order is not None else sorted(part["head"].unique())
    cmap = colormaps["viridis"]
    for i, head in enumerate(heads):
        h = part[part["head"] == head].sort_values("distance")
        color = colors[i] if colors is not None else cmap(i / max(1, len(heads) - 1))
        label = legend_labels[head] if legend_labels else f"head {head}"
        ax.plot(h["distance"], h["attention"], color=color, linewidth=1.0, label=label)
    ax.set_xscale("symlog", linthresh=1.0)  # shows distance 0 and the long tail on one axis
    ax.set_xlabel("tokens back from the last position")
    ax.set_ylabel("attention (mean over windows)")


def _panel_title(part: pd.DataFrame) -> str:
    ctx, train_ctx = int(_first(part, "ctx")), int(_first(part, "train_ctx"))
    longer = f", {ctx / train_ctx:g}× trained ctx" if ctx != train_ctx else ""
    return f"{_first(part, 'label')}\nctx {ctx}{longer}, {int(_first(part, 'n_windows'))} windows"


def fig12(frames: list[pd.DataFrame], png: str | Path) -> None:
    """Last-position attention per head, one panel per single-block model (layer 0)."""
    df = pd.concat(frames, ignore_index=True)
    set_style()
    labels = list(dict.fromkeys(df["label"]))
    fig, axes = new_figure(ncols=len(labels), width_per_panel=3.6, height_per_panel=2.8, squeeze=False)
    for ax, label in zip(axes.flat, labels):
        part = df[df["label"] == label]
        _attention_panel(ax, part)
        ax.set_title(_panel_title(part))
        ax.legend(fontsize="x-small", ncol=2)
    save_figure(fig, png, df)


def fig13(attention: list[pd.DataFrame], losses: list[pd.DataFrame], png: str | Path) -> None:
    """Top row: last-position attention at the longer context, one panel per model. Bottom row:
    per-position loss at that context (dotted line: the trained context)."""
    att = pd.concat(attention, ignore_index=True)
    loss = pd.concat(losses, ignore_index=True)
    set_style()
    labels = list(dict.fromkeys(att["label"]))
    n = len(labels)
    fig = plt.figure(figsize=(3.6 * n, 2 * 2.8), layout="constrained")
    grid = GridSpec(2, n, figure=fig)
    for i, label in enumerate(labels):
        ax = fig.add_subplot(grid[0, i])
        part = att[att["label"] == label]
        _attention_panel(ax, part)
        ax.axvline(int(_first(part, "train_ctx")) - 1, color="grey", linewidth=0.7, linestyle=":")
        ax.set_title(_panel_title(part))
        if i == n - 1:
            ax.legend(fontsize="x-small", ncol=2)
    ax = fig.add_subplot(grid[1, :])
    for label, part in loss.groupby("label", sort=False):
        part = part.sort_values("position")
        color = model_color(part.iloc[0])
        steps = part["train_steps"].iloc[0] if "train_steps" in part else None
        name = f"{label}, {int(steps)} steps" if steps is not None and not pd.isna(steps) else label
        ax.plot(part["position"], part["mean_loss"], color=color, linewidth=1.2, label=name)
        ax.fill_between(part["position"], part["ci_low"], part["ci_high"], color=color, alpha=0.25, linewidth=0)
    ax.axvline(int(loss["train_ctx"].max()), color="grey", linewidth=0.8, linestyle=":",
               label="trained context")
    ax.set_xlabel("position in the context window")
    ax.set_ylabel("mean next-token loss (nats)")
    ax.set_title(f"per-position loss at {int(loss['ctx'].max())} tokens "
                 f"({_first(loss, 'corpus_name')}, {int(loss['n_windows'].min())} windows, 95% CI)")
    ax.legend(fontsize="small")
    att["panel"], loss["panel"] = "attention", "position_loss"
    save_figure(fig, png, pd.concat([att, loss], ignore_index=True))


# -- Fig. 15 -------------------------------------------------------------------------------------
def fig15(frame: pd.DataFrame, png: str | Path, table: str | Path, window: int) -> pd.DataFrame:
    """Mosaic heads ordered by λ_φ: their last-position attention (one panel per layer, colour =
    λ rank) and the peak width against λ_φ; writes the per-head table with Spearman's ρ.

    The workflow measures the single-block mosaic by default (``analyses.lambda_width.depth``):
    there the keys are leaky averages of token embeddings alone, so differences between heads'
    attention come from λ_φ and W_k, not from what earlier layers mixed in. A deeper model gives
    one panel per layer, per-layer ρ and a pooled ρ over all heads."""
    if "lambda_phi" not in frame or frame["lambda_phi"].isna().all():
        raise ValueError("fig15 needs attention measured on a model with leaky_lambdas() "
                         "(a Memory Mosaic); the table has no lambda_phi column")
    L = int(frame["layer"].max()) + 1
    H = int(frame["head"].max()) + 1
    T = int(frame["distance"].max()) + 1
    dense = np.zeros((L, H, T))
    layer, head = frame["layer"].to_numpy(), frame["head"].to_numpy()
    dense[layer, head, frame["position"].to_numpy() - 1] = frame["attention"].to_numpy()
    lam = np.full((L, H), np.nan)
    lam[layer, head] = frame["lambda_phi"].to_numpy()
    heads, corr = lambda_width_table(dense, lam, window)
    per_layer = corr.set_index("scope")
    for column, source in [("spearman_rho", "spearman_rho_mean_distance"), ("spearman_p", "p_value_mean_distance"),
                           ("spearman_rho_half_mass", "spearman_rho_half_mass"),
                           ("fit_slope", "slope_mean_distance_per_lambda")]:
        heads[column] = [per_layer.loc[f"layer {layer}", source] for layer in heads["layer"]]
    if "all layers" in per_layer.index:
        heads["spearman_rho_all_layers"] = per_layer.loc["all layers", "spearman_rho_mean_distance"]
    heads.insert(0, "model", _first(frame, "label"))
    heads["window"] = window

    set_style()
    fig, axes = new_figure(ncols=L + 1, width_per_panel=3.8, height_per_panel=2.9, squeeze=False)
    cmap = colormaps["viridis"]
    for layer in range(L):
        ax = axes.flat[layer]
        h = heads[heads["layer"] == layer]  # sorted by λ_φ
        order = list(h["head"])
        colors = [cmap(i / max(1, len(order) - 1)) for i in range(len(order))]
        legend = {int(r.head): f"h{int(r.head)}: λ={r.lambda_phi:.3f}" for r in h.itertuples()}
        _attention_panel(ax, frame, layer=layer, order=order, colors=colors, legend_labels=legend)
        ax.axvspan(0, window, color="grey", alpha=0.08, linewidth=0)
        ax.set_title(f"{_first(frame, 'label')}, layer {layer}: heads by λ_φ (ctx {T})")
        ax.legend(fontsize="x-small", ncol=1 if H <= 8 else 2)
    ax = axes.flat[L]
    for layer in range(L):
        h = heads[heads["layer"] == layer]
        ax.scatter(h["lambda_phi"], h["mean_distance"], c=[cmap(i / max(1, len(h) - 1)) for i in range(len(h))],
                   marker="os^Dv<>p"[layer % 8], label=f"layer {layer}: ρ={h['spearman_rho'].iloc[0]:.2f}")
    ax.set_xlabel("learned λ_φ")
    ax.set_ylabel(f"mean look-back within {window} tokens")
    ax.set_title("recent-token peak width vs λ_φ (Spearman ρ)")
    ax.legend(fontsize="x-small")
    save_figure(fig, png, frame)
    write_table(heads, Path(table).with_suffix(""))
    return heads
