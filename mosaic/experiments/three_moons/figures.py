"""Figures 4, 5 (forecast error against context length) and 6 (learned weights) of section 3.

Figs. 4 and 5: one panel per period triple (a training triple and the held-out one); grey dashed
lines at the moons' individual periods, a red line at the common period (lcm), in observations.

Fig. 6: moduli and phases of the 3×3 complex matrices W_φ, W_ψ, W_z of the 3-head model. A model
that has *disentangled* the moons (one moon per head) has a permutation-like |W|; the
decoupling score of a matrix is the fraction of its mass Σ|W_ij| on its best permutation
(``scipy.optimize.linear_sum_assignment``): 1 for a scaled permutation, 1/3 for a uniform |W|.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import seaborn as sns
from scipy.optimize import linear_sum_assignment

from mosaic.harness.plotting import new_figure, save_figure, set_style

MATRIX_LABELS = {"W_phi": "W_φ (keys)", "W_psi": "W_ψ (values)", "W_z": "W_z (combination)"}
# rows = outputs, columns = inputs: W_φ, W_ψ map moons to heads' channels, W_z heads to moons
AXES = {"W_phi": ("head", "moon"), "W_psi": ("head", "moon"), "W_z": ("moon", "head")}
PHASE_MIN_MODULUS = 0.05  # phases of entries below 5% of the largest modulus are noise: left blank
SPLIT_TITLES = {"train": "training triple", "val": "held-out triple"}


def plot_error_curves(curves: pd.DataFrame, png_path, title: str) -> None:
    """Figs. 4/5: MAD of the 25-step forecast against context length, one panel per triple
    (shaded: mean ± 1.96 standard errors over the windows)."""
    set_style()
    splits = [s for s in ("train", "val") if s in set(curves["split"])]
    fig, axes = new_figure(ncols=len(splits), sharey=True, squeeze=False, width_per_panel=3.8)
    for ax, split in zip(axes[0], splits):
        d = curves[curves["split"] == split].sort_values("context")
        if "mad_se" in d and d["mad_se"].notna().any():  # 95% band over windows (older CSVs lack it)
            ax.fill_between(d["context"], d["mad"] - 1.96 * d["mad_se"], d["mad"] + 1.96 * d["mad_se"],
                            color="C0", alpha=0.25, lw=0)
        ax.plot(d["context"], d["mad"], color="C0", lw=1.2)
        for p in str(d["periods_obs"].iloc[0]).split(";"):
            ax.axvline(float(p), color="0.55", ls="--", lw=0.8)
        ax.axvline(d["lcm_obs"].iloc[0], color="C3", lw=1.0, label="common period (lcm)")
        ax.set_title(f"{SPLIT_TITLES[split]} {d['triple'].iloc[0]}")
        ax.set_xlabel("context length (observations)")
        ax.set_ylim(bottom=0)
    axes[0][0].set_ylabel("MAD, next 25 predictions")
    axes[0][0].plot([], [], color="0.55", ls="--", lw=0.8, label="individual periods")
    axes[0][0].legend(loc="upper right", fontsize="small")
    fig.suptitle(title)
    save_figure(fig, png_path, curves)


def decoupling(weight: np.ndarray) -> tuple[float, list[int]]:
    """Fraction of Σ|W| on the best permutation, and that permutation (column of each row)."""
    mod = np.abs(weight)
    rows, cols = linear_sum_assignment(mod, maximize=True)
    return float(mod[rows, cols].sum() / mod.sum()), [int(c) for c in cols[np.argsort(rows)]]


def decoupling_table(models: dict[str, dict[str, np.ndarray]]) -> pd.DataFrame:
    """One row per (model, matrix): decoupling score and best permutation.

    ``consistent`` (per model) says whether W_φ and W_ψ route each head to the same moon and W_z
    routes it back to that moon (the disentangled solution of section 3). ``value_path_error`` is
    max |W_z W_ψ - I|: the phases of W_φ are free (a unit compares keys by k_t·k_s, which a
    common phase leaves unchanged) but the value path W_z W_ψ must return each moon unchanged."""
    rows = []
    for name, weights in models.items():
        perms = {}
        for key, w in weights.items():
            score, perm = decoupling(w)
            perms[key] = perm
            rows.append({"model": name, "matrix": key, "decoupling": score,
                         "permutation": " ".join(f"{i + 1}→{j + 1}" for i, j in enumerate(perm))})
        inverse_z = list(np.argsort(perms["W_z"]))
        consistent = perms["W_phi"] == perms["W_psi"] == [int(i) for i in inverse_z]
        path = weights["W_z"] @ weights["W_psi"]
        path_error = float(np.abs(path - np.eye(path.shape[0])).max())
        for row in rows[-len(weights):]:
            row["consistent"] = bool(consistent)
            row["value_path_error"] = path_error
    return pd.DataFrame(rows)


def weights_frame(weights: dict[str, np.ndarray]) -> pd.DataFrame:
    """Long table of the plotted entries: matrix, row, col, modulus, phase (radians)."""
    rows = []
    for key, w in weights.items():
        for i in range(w.shape[0]):
            for j in range(w.shape[1]):
                rows.append({"matrix": key, "row": i + 1, "col": j + 1,
                             "modulus": float(abs(w[i, j])), "phase": float(np.angle(w[i, j]))})
    return pd.DataFrame(rows)


def plot_weights(weights: dict[str, np.ndarray], png_path, title: str) -> None:
    """Fig. 6: |W| (top row) and arg W (bottom row) of W_φ, W_ψ, W_z of the 3-head model
    (complex channel h = head h) as annotated heatmaps; phases of near-zero entries are blank."""
    set_style()
    fig, axes = new_figure(ncols=3, nrows=2, width_per_panel=2.8, height_per_panel=2.5)
    vmax = max(float(np.abs(w).max()) for w in weights.values())
    for col, (key, w) in enumerate(weights.items()):
        score, _ = decoupling(w)
        out_name, in_name = AXES[key]
        ticks_out = [f"{out_name} {i + 1}" for i in range(w.shape[0])]
        ticks_in = [f"{in_name} {j + 1}" for j in range(w.shape[1])]
        for row, (values, cmap, lo, hi, fmt) in enumerate((
            (np.abs(w), "viridis", 0.0, vmax, ".2f"),
            (np.where(np.abs(w) >= PHASE_MIN_MODULUS * vmax, np.angle(w), np.nan), "twilight",
             -math.pi, math.pi, ".1f"),
        )):
            ax = axes[row][col]
            sns.heatmap(values, ax=ax, cmap=cmap, vmin=lo, vmax=hi, annot=True, fmt=fmt, square=True,
                        cbar=col == 2, xticklabels=ticks_in, yticklabels=ticks_out,
                        annot_kws={"fontsize": 7})
            ax.tick_params(labelsize=7)
            ax.grid(False)  # blank (masked) phase cells show the background, not grid lines
        axes[0][col].set_title(f"|{MATRIX_LABELS[key]}|, decoupling {score:.2f}")
        axes[1][col].set_title(f"phase of {key.replace('_phi', '_φ').replace('_psi', '_ψ')} (rad)")
    fig.suptitle(title)
    save_figure(fig, png_path, weights_frame(weights))
