"""Figure: recall accuracy against training step, one curve per trained model (footnote 5).

Colour = architecture (:func:`mosaic.harness.plotting.arch_color`), line style = depth (solid one
block, dashed two, dotted more). Grey dotted line: chance (a uniform guess among the non-trigger
tokens); dark dashed line: the accuracy at which the scorecard says a model "handles" the task
(:data:`mosaic.experiments.induction.claims.HANDLES`). The accuracies are measured on the
trainer's fixed validation batches at every evaluation (``recall.jsonl`` of each run); the held-out
numbers with their intervals are in ``results/tables/induction_accuracy.*``.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from mosaic.experiments.induction.claims import HANDLES
from mosaic.experiments.induction.data import TaskConfig
from mosaic.experiments.induction.experiment import induction_spec, read_recall_curve
from mosaic.harness.plotting import arch_color, new_figure, save_figure, set_style

DEPTH_STYLES = {1: "-", 2: "--"}


def recall_curves(run_dirs: list[str | Path]) -> pd.DataFrame:
    """Long table of every run's curve: ``run, arch, depth, step, recall_accuracy, val_loss, chance``."""
    if not run_dirs:
        raise ValueError("the induction figure needs at least one run")
    frames = []
    for run_dir in run_dirs:
        spec = induction_spec(run_dir)
        curve = read_recall_curve(run_dir)
        curve.insert(0, "depth", int(spec["depth"]))
        curve.insert(0, "arch", spec["arch"])
        curve.insert(0, "run", Path(run_dir).name)
        curve["chance"] = TaskConfig.from_dict(spec["task"]).chance_accuracy
        frames.append(curve)
    return pd.concat(frames, ignore_index=True)


def plot_recall_curves(run_dirs: list[str | Path], png_path: str | Path, title: str) -> pd.DataFrame:
    """Draw the figure into ``png_path`` (+ .pdf, + the plotted .csv); returns the plotted data."""
    data = recall_curves(run_dirs)
    set_style()
    fig, ax = new_figure(width_per_panel=6.0, height_per_panel=3.0)
    for (arch, depth), d in data.groupby(["arch", "depth"], sort=True):
        blocks = "block" if depth == 1 else "blocks"
        ax.plot(d["step"], d["recall_accuracy"], color=arch_color(arch), ls=DEPTH_STYLES.get(depth, ":"),
                lw=1.4, label=f"{arch}, {depth} {blocks}")
    ax.axhline(HANDLES, color="0.2", ls="--", lw=0.7, label=f"'handles' threshold ({HANDLES})")
    chance = sorted(set(data["chance"]))
    if len(chance) == 1:  # one task: one chance level
        ax.axhline(chance[0], color="0.5", ls=":", lw=0.8, label=f"chance ({chance[0]:.3f})")
    ax.set_xlabel("training step")
    ax.set_ylabel("recall accuracy (validation batches)")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")  # outside: curves span the panel
    ax.set_title(title)
    save_figure(fig, png_path, data)
    return data
