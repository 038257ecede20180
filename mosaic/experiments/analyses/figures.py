"""Figures 10, 12, 13 and 15 from the measurement tables of ``python -m mosaic analyses``.

Every function takes the long tables the measurement steps wrote (one CSV per model and corpus,
with the model's metadata in columns ``label``, ``arch``, ``variant``, ``n_layer``, ``ctx``,
``train_ctx``, ``corpus``, ``n_windows``), draws with the project style
(:mod:`mosaic.harness.plotting`) and saves the PNG + PDF + plotted data. Nothing here touches a
model. The layouts follow the paper's figures:

* Fig. 10: one main panel, mean loss per token against the position of the token in the input
  window on the out-of-distribution text, one line per architecture with its 95% band; a smaller
  in-distribution panel beside it for reference. The smoothing is stated on the y axis.
* Fig. 12: the transformer (absolute positions) left, the mosaic right; per head, the attention of
  the last position over key positions 0..ctx-1 (linear axis), one y scale for both, position 0
  (the transformer's attention sink) marked.
* Fig. 13: the same at ``factor`` × the trained context for RoPE, ALiBi and the mosaic, and the
  per-position loss below; one head legend for the figure.
* Fig. 15: the mosaic's heads coloured by their learned λ_φ (colour bar, not a legend over the
  data) and the recent-token peak width against λ_φ.
"""
from __future__ import annotations

import math
import textwrap
from pathlib import Path

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib import colormaps  # noqa: E402
from matplotlib.cm import ScalarMappable  # noqa: E402
from matplotlib.colors import Normalize  # noqa: E402
from matplotlib.gridspec import GridSpec  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from mosaic.experiments.analyses.attention import lambda_width_table
from mosaic.harness.io import write_table
from mosaic.harness.plotting import (  # first: Agg
    arch_color,
    arch_palette,
    legend_outside,
    new_figure,
    save_figure,
    set_style,
)

MISSING = "missing"  # the summary's unseen-in-train share when the data does not record it


def _plain_variant(variant) -> bool:
    """The architecture's own model (no position-encoding variant, or GPT-2's absolute one)."""
    return not isinstance(variant, str) or variant in ("", "absolute")


def model_palette(df: pd.DataFrame) -> dict[str, str]:
    """``{label: colour}``: an architecture's own model keeps the project colour
    (:func:`~mosaic.harness.plotting.arch_color`); variants (RoPE, ALiBi, ...) get strong colours of
    their own, distinct from every other line of the figure."""
    models = df.drop_duplicates("label")
    plain = {r.label: arch_color(r.arch) for r in models.itertuples() if _plain_variant(r.variant)}
    others = [r.label for r in models.itertuples() if r.label not in plain]
    return {**plain, **arch_palette(others, reserved=plain.values())}


def head_colors(n_heads: int) -> list:
    """One strong, distinct colour per head (heads are not architectures: their own palette)."""
    return sns.husl_palette(n_heads, s=0.9, l=0.5) if n_heads > 1 else [(0.0, 0.0, 0.0)]


def _first(df: pd.DataFrame, column: str):
    return df[column].iloc[0]


# -- smoothing (Fig. 10, 13 loss curves) -----------------------------------------------------------
def smoothing_window(ctx: int) -> int:
    """Positions in the centred moving average of a loss curve: ctx // 64 made odd (9 at 512, 5 at
    256, 1 = none at 64 or fewer)."""
    return max(1, ctx // 64) | 1


def smoothing_text(k: int) -> str:
    return "not smoothed" if k <= 1 else f"moving average over {k} positions"


def moving_average(values, k: int) -> np.ndarray:
    """Centred moving average over ``k`` (odd) positions, ignoring NaNs; the window shrinks at the
    ends (no padding). ``k = 1`` returns the values unchanged."""
    v = np.asarray(values, dtype=np.float64)
    if k < 1 or k % 2 == 0:
        raise ValueError(f"moving average window must be odd and >= 1, got {k}")
    if k == 1:
        return v.copy()
    ok = np.isfinite(v)
    kernel = np.ones(k)
    total = np.convolve(np.where(ok, v, 0.0), kernel, mode="same")
    count = np.convolve(ok.astype(np.float64), kernel, mode="same")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


# -- Fig. 10 -------------------------------------------------------------------------------------
def position_loss_summary(df: pd.DataFrame, split_at: int) -> pd.DataFrame:
    """Mean loss over positions 1..split_at, split_at+1..ctx and all, per (corpus, model).

    Range means weight positions by their token counts (= windows), as a pooled mean should.
    ``q3_minus_q4`` = mean loss over the third quarter of positions minus the last quarter:
    positive while the curve still falls at the end of the window (no plateau).
    ``unseen_in_train_rate``: the share of the corpus's target tokens whose id never occurs in the
    training split, as the data directory records it (``missing`` when it does not)."""
    rows = []
    for (corpus, label), part in df.groupby(["corpus", "label"], sort=True):
        part = part.sort_values("position")
        ctx = int(part["position"].max())
        if not 1 <= split_at < ctx:
            raise ValueError(f"analyses.position_loss.split_at={split_at} must be in [1, {ctx - 1}] "
                             f"for context {ctx}")
        pos = part["position"].to_numpy()

        def pooled(mask: np.ndarray, suffix: str = "", part: pd.DataFrame = part) -> float:
            w = part["n" + suffix].to_numpy(float)[mask]
            loss = part["mean_loss" + suffix].to_numpy(float)[mask]
            # positions with no counted token have a NaN mean and weight 0: leave them out
            return float(np.where(w > 0, loss * w, 0.0).sum() / w.sum()) if w.sum() else math.nan

        q = ctx / 4
        early, late = pos <= split_at, pos > split_at
        unseen = part["unseen_in_train_rate"].iloc[0] if "unseen_in_train_rate" in part else math.nan
        row = {
            "corpus": corpus, "model": label, "arch": _first(part, "arch"),
            "n_layer": int(_first(part, "n_layer")), "ctx": ctx, "n_windows": int(_first(part, "n_windows")),
            f"loss_pos_1_{split_at}": pooled(early),
            f"loss_pos_{split_at + 1}_{ctx}": pooled(late),
            "loss_all": pooled(pos >= 1),
            "q3_minus_q4": pooled((pos > 2 * q) & (pos <= 3 * q)) - pooled(pos > 3 * q),
            "unseen_in_train_rate": float(unseen) if pd.notna(unseen) else MISSING,
        }
        if "n_known" in part:  # the same without <unk> targets (compact vocabularies only)
            row["unk_rate"] = 1.0 - part["n_known"].sum() / part["n"].sum()
            row[f"known_loss_pos_1_{split_at}"] = pooled(early, "_known")
            row[f"known_loss_pos_{split_at + 1}_{ctx}"] = pooled(late, "_known")
        rows.append(row)
    return pd.DataFrame(rows)


def _has_unk(sub: pd.DataFrame) -> bool:
    return "n_known" in sub and bool((sub["n_known"] < sub["n"]).any())


def _loss_curves(ax, sub: pd.DataFrame, palette: dict[str, str], k: int, known: bool) -> None:
    """Per model: the (smoothed) mean loss by position and its 95% band. The band's half-width is
    the moving average of the per-position half-widths, never narrower than the CI of the smoothed
    mean (the standard deviation of a mean is at most the mean of the standard deviations)."""
    suffix = "_known" if known else ""
    for label, part in sub.groupby("label", sort=False):
        part = part.sort_values("position")
        mean = part["mean_loss" + suffix].to_numpy(float)
        half = (part["ci_known"] if known else part["ci_high"] - part["mean_loss"]).to_numpy(float)
        m, h = moving_average(mean, k), moving_average(half, k)
        color = palette[label]
        ax.plot(part["position"], m, color=color, linewidth=1.3, label=label)
        ax.fill_between(part["position"], m - h, m + h, color=color, alpha=0.2, linewidth=0)


def fig10(frames: list[pd.DataFrame], png: str | Path, table: str | Path, summary: str | Path,
          split_at: int) -> pd.DataFrame:
    """Paper Fig. 10: mean loss per token against its position in the window, out of distribution
    (main panel), every architecture of the run with its 95% band over windows, and the story
    validation split for reference (small panel). Where the vocabulary has an unknown id the
    curves are over targets that are not ``<unk>`` (the paper's full GPT-2 vocabulary has none;
    the scorecard's C6 uses the same targets). Writes the figure, the per-position table (with
    the range means) and the summary."""
    df = pd.concat(frames, ignore_index=True)
    summ = position_loss_summary(df, split_at)
    early, late = [c for c in summ.columns if c.startswith("loss_pos_")]  # the two range columns
    df = df.merge(summ[["corpus", "model", early, late]].rename(columns={"model": "label"}),
                  on=["corpus", "label"], how="left")

    set_style()
    corpora = [c for c in ("ood", "val") if c in set(df["corpus"])] or sorted(set(df["corpus"]))
    palette = model_palette(df)
    ratios = [1.7] + [1.0] * (len(corpora) - 1)
    fig = plt.figure(figsize=(4.4 * ratios[0] + 3.2 * (len(corpora) - 1), 3.6), layout="constrained")
    grid = GridSpec(1, len(corpora), figure=fig, width_ratios=ratios)
    main_ax = None
    for i, corpus in enumerate(corpora):
        ax = fig.add_subplot(grid[0, i])
        if i == 0:
            main_ax = ax
        sub = df[df["corpus"] == corpus]
        known = _has_unk(sub)
        k = smoothing_window(int(sub["ctx"].max()))
        _loss_curves(ax, sub, palette, k, known)
        ax.axvline(split_at, color="0.3", linewidth=0.7, linestyle=":")
        kind = {"ood": "out of distribution", "val": "in distribution"}.get(corpus, corpus)
        name = textwrap.shorten(str(_first(sub, "corpus_name")), width=48 if i == 0 else 34, placeholder="...")
        lines = [f"{kind}: {name}" if i == 0 else f"{kind} (reference)\n{name}"]
        if known:
            rate = summ.loc[summ["corpus"] == corpus, "unk_rate"].max()
            lines.append(f"targets other than <unk> ({rate:.0%} <unk> left out)")
        lines.append(f"N_b = {int(sub['n_layer'].max())}, {int(sub['n_windows'].min())} windows, "
                     "bands: 95% CI over windows")
        ax.set_title("\n".join(lines), fontsize="small" if i else "medium")
        ax.set_xlabel("position of the token in the input window")
        ax.set_ylabel(f"mean loss per token (nats)\n{smoothing_text(k)}")
        ax.set_xlim(1, int(sub["ctx"].max()))
    handles, labels = main_ax.get_legend_handles_labels()
    handles.append(Line2D([], [], color="0.3", linewidth=0.7, linestyle=":"))
    labels.append(f"position {split_at} (summary split)")
    legend_outside(fig, handles=handles, labels=labels, where="below")
    save_figure(fig, png, df)
    write_table(df, Path(table).with_suffix(""))
    write_table(summ, Path(summary).with_suffix(""))
    return summ


# -- Fig. 12 / 13 --------------------------------------------------------------------------------
def model_order(labels: pd.DataFrame) -> list[str]:
    """Panel order of the paper: the transformer(s) with absolute positions, then the mosaic, then
    every other model in the order given (``labels``: one row per model with arch, variant)."""
    rows = labels.drop_duplicates("label")

    def rank(r) -> int:
        if r.arch == "transformer" and _plain_variant(r.variant):
            return 0
        return 1 if r.arch == "mosaic" else 2

    ranked = sorted(enumerate(rows.itertuples()), key=lambda ir: (rank(ir[1]), ir[0]))
    return [r.label for _, r in ranked]


def _attention_lines(ax, part: pd.DataFrame, colors, layer: int = 0) -> list:
    """Heads of ``layer``: attention of the last position against key position 0..T-1 (linear),
    with position 0 marked (the attention sink of Fig. 12). Returns the head handles."""
    part = part[part["layer"] == layer]
    handles = []
    for head in sorted(part["head"].unique()):
        h = part[part["head"] == head].sort_values("position")
        key = h["position"].to_numpy() - 1  # 0-based key position, as the paper's axis
        color = colors[int(head) % len(colors)]
        line, = ax.plot(key, h["attention"], color=color, linewidth=0.9, label=f"head {int(head)}")
        ax.plot(key[:1], h["attention"].to_numpy()[:1], marker="o", markersize=3.5, color=color, linestyle="none")
        handles.append(line)
    T = int(part["position"].max())
    ax.set_xlim(-0.02 * T, 1.02 * (T - 1))  # position 0 stays clear of the frame
    ax.set_xlabel("key position in the window (0 = first token)")
    return handles


def _position0_handle() -> Line2D:
    return Line2D([], [], color="0.2", marker="o", markersize=3.5, linestyle="none", label="key position 0")


def _panel_title(part: pd.DataFrame) -> str:
    ctx, train_ctx = int(_first(part, "ctx")), int(_first(part, "train_ctx"))
    longer = f" = {ctx / train_ctx:g}× trained" if ctx != train_ctx else ""
    layers = int(part["layer"].max()) + 1
    layer = ", layer 0 of " + str(layers) if layers > 1 else ""
    return f"{_first(part, 'label')}\nctx {ctx}{longer}, {int(_first(part, 'n_windows'))} windows{layer}"


def _n_heads(df: pd.DataFrame) -> int:
    return int(df["head"].max()) + 1


def fig12(frames: list[pd.DataFrame], png: str | Path) -> None:
    """Paper Fig. 12: per head, the attention of the last position over positions 0..ctx-1 averaged
    over windows, transformer (absolute positions) left, mosaic right, one shared y scale."""
    df = pd.concat(frames, ignore_index=True)
    set_style()
    labels = model_order(df)
    colors = head_colors(_n_heads(df))
    fig, axes = new_figure(ncols=len(labels), width_per_panel=4.0, height_per_panel=3.0, squeeze=False,
                           sharey=True)
    handles = []
    for i, (ax, label) in enumerate(zip(axes.flat, labels)):
        part = df[df["label"] == label]
        lines = _attention_lines(ax, part, colors)
        handles = lines if len(lines) > len(handles) else handles
        ax.set_title(_panel_title(part))
        if i == 0:
            ax.set_ylabel("attention of the last position\n(mean over windows)")
    handles = handles + [_position0_handle()]
    legend_outside(fig, handles=handles, labels=[h.get_label() for h in handles], where="right")
    save_figure(fig, png, df)


def fig13(attention: list[pd.DataFrame], losses: list[pd.DataFrame], png: str | Path) -> None:
    """Paper Fig. 13: at ``factor`` × the trained context, per model the last-position attention per
    head (top; dotted line: the oldest key within the trained context) and the per-position loss
    (bottom; dotted line: the trained context). One shared y scale and one head legend on top."""
    att = pd.concat(attention, ignore_index=True)
    loss = pd.concat(losses, ignore_index=True)
    set_style()
    labels = model_order(att)
    n = len(labels)
    colors = head_colors(_n_heads(att))
    fig = plt.figure(figsize=(3.8 * n + 1.2, 2 * 3.0), layout="constrained")
    grid = GridSpec(2, n, figure=fig)
    handles, top = [], []
    for i, label in enumerate(labels):
        ax = fig.add_subplot(grid[0, i], sharey=top[0] if top else None)
        top.append(ax)
        part = att[att["label"] == label]
        lines = _attention_lines(ax, part, colors)
        handles = lines if len(lines) > len(handles) else handles
        ax.axvline(int(_first(part, "ctx")) - int(_first(part, "train_ctx")), color="0.3", linewidth=0.8,
                   linestyle=":")
        ax.set_title(_panel_title(part))
        if i == 0:
            ax.set_ylabel("attention of the last position\n(mean over windows)")
        else:
            ax.tick_params(labelleft=False)
    ctx_line = Line2D([], [], color="0.3", linewidth=0.8, linestyle=":", label="oldest key within\nthe trained context")
    handles = handles + [_position0_handle(), ctx_line]
    fig.legend(handles, [h.get_label() for h in handles], loc="outside right upper", frameon=True, fontsize="small")
    ax = fig.add_subplot(grid[1, :])
    palette = model_palette(loss)
    ctx = int(loss["ctx"].max())
    k = smoothing_window(ctx)
    for label in [m for m in model_order(loss)]:
        part = loss[loss["label"] == label].sort_values("position")
        steps = part["train_steps"].iloc[0] if "train_steps" in part else None
        name = f"{label}, {int(steps)} steps" if steps is not None and not pd.isna(steps) else label
        m = moving_average(part["mean_loss"], k)
        h = moving_average((part["ci_high"] - part["mean_loss"]).to_numpy(float), k)
        ax.plot(part["position"], m, color=palette[label], linewidth=1.3, label=name)
        ax.fill_between(part["position"], m - h, m + h, color=palette[label], alpha=0.2, linewidth=0)
    ax.axvline(int(loss["train_ctx"].max()), color="0.3", linewidth=0.8, linestyle=":", label="trained context")
    ax.set_xlim(1, ctx)
    ax.set_xlabel("position of the token in the input window")
    ax.set_ylabel(f"mean loss per token (nats)\n{smoothing_text(k)}")
    ax.set_title(f"loss per position at {ctx} tokens ({_first(loss, 'corpus_name')}, "
                 f"{int(loss['n_windows'].min())} windows; bands: 95% CI over windows)")
    handles, names = ax.get_legend_handles_labels()
    fig.legend(handles, names, loc="outside right lower", frameon=True, fontsize="small")
    att["panel"], loss["panel"] = "attention", "position_loss"
    save_figure(fig, png, pd.concat([att, loss], ignore_index=True))


# -- Fig. 15 -------------------------------------------------------------------------------------
def fig15(frame: pd.DataFrame, png: str | Path, table: str | Path, window: int) -> pd.DataFrame:
    """Paper Fig. 15: the mosaic's heads coloured by their learned λ_φ (colour bar), last-position
    attention against look-back distance (one panel per layer), and the recent-token peak width
    against λ_φ; writes the per-head table with Spearman's ρ.

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
    fig, axes = new_figure(ncols=L + 1, width_per_panel=3.8, height_per_panel=3.0, squeeze=False)
    cmap = colormaps["viridis"]
    finite = heads["lambda_phi"][np.isfinite(heads["lambda_phi"])]
    low, high = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
    norm = Normalize(low, high if high > low else low + 1e-9)
    for layer in range(L):
        ax = axes.flat[layer]
        for r in heads[heads["layer"] == layer].itertuples():
            h = frame[(frame["layer"] == layer) & (frame["head"] == r.head)].sort_values("distance")
            ax.plot(h["distance"], h["attention"], color=cmap(norm(r.lambda_phi)), linewidth=1.0)
        ax.axvspan(0, window, color="0.5", alpha=0.12, linewidth=0)
        ax.set_xscale("symlog", linthresh=1.0)  # distance 0 and the long tail on one axis
        ax.set_xlabel(f"tokens back from the last position\n(shaded: the {window} most recent)")
        ax.set_ylabel("attention (mean over windows)")
        ax.set_title(f"{_first(frame, 'label')}, layer {layer}: {H} heads (ctx {T})")
    ax = axes.flat[L]
    markers = "os^Dv<>p"
    for layer in range(L):
        h = heads[heads["layer"] == layer]
        ax.scatter(h["lambda_phi"], h["mean_distance"], c=[cmap(norm(v)) for v in h["lambda_phi"]],
                   marker=markers[layer % len(markers)], edgecolors="black", linewidths=0.4, s=36,
                   label=f"layer {layer}: ρ = {h['spearman_rho'].iloc[0]:.2f}")
    ax.set_xlabel("learned λ_φ")
    ax.set_ylabel(f"mean look-back within {window} tokens")
    rho_all = (per_layer.loc["all layers", "spearman_rho_mean_distance"] if "all layers" in per_layer.index
               else per_layer.iloc[0]["spearman_rho_mean_distance"])
    rho_text = f"= {rho_all:.2f}" if np.isfinite(rho_all) else "undefined"
    ax.set_title(f"peak width vs λ_φ\nSpearman ρ {rho_text} over {len(heads)} heads", fontsize="small")
    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=list(axes.flat), label="learned λ_φ (head colour)",
                 shrink=0.9)
    if L > 1:
        legend_outside(fig, ax, where="below")
    save_figure(fig, png, frame)
    write_table(heads, Path(table).with_suffix(""))
    return heads
