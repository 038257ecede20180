"""One look for every figure: seaborn "whitegrid"/"paper", a fixed colour per architecture, and
``save_figure`` writing the PNG, a PDF and the plotted numbers (CSV) side by side, atomically.

Typical use in an experiment's ``plot`` step::

    from mosaic.harness.plotting import arch_color, new_figure, save_figure, set_style
    set_style()
    fig, ax = new_figure()
    for arch, d in df.groupby("arch"):
        ax.plot(d["step"], d["val_loss"], label=arch, color=arch_color(arch))
    save_figure(fig, "results/figures/fig04_loss.png", df)   # + .pdf + .csv
"""
from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import matplotlib

if "matplotlib.pyplot" not in sys.modules:  # headless by default; respect an interactive session
    matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from mosaic.harness.io import atomic_open, atomic_path  # noqa: E402

DPI = 150
# Stable colours for the architectures the paper compares (colour-blind-safe "colorblind" palette).
_CB = sns.color_palette("colorblind", 10).as_hex()
ARCH_COLORS: dict[str, str] = {
    "mosaic": _CB[3],  # red-ish: our model stands out
    "transformer": _CB[0],
    "gpt": _CB[0],
    "lstm": _CB[2],
    "rnn": _CB[2],
    "mamba": _CB[4],
    "s4": _CB[5],
    "rwkv": _CB[6],
    "retnet": _CB[8],
    "gla": _CB[9],
    "hyena": _CB[1],
    "h3": _CB[7],
}
# Names not listed above get a colour from this palette by a hash of the name, so a given name has
# the same colour in every figure whatever else is plotted.
_FALLBACK = sns.color_palette("tab20", 20).as_hex()


def arch_color(name: str) -> str:
    """The colour of architecture ``name`` (case-insensitive; unknown names: stable hashed colour)."""
    key = str(name).lower()
    if key in ARCH_COLORS:
        return ARCH_COLORS[key]
    index = int(hashlib.sha1(key.encode()).hexdigest(), 16) % len(_FALLBACK)
    return _FALLBACK[index]


def arch_palette(names) -> dict[str, str]:
    """``{name: colour}`` for seaborn's ``palette=`` argument."""
    return {name: arch_color(name) for name in names}


def set_style() -> None:
    """The project's matplotlib/seaborn style (call once before plotting)."""
    sns.set_theme(style="whitegrid", context="paper", palette=_CB)
    matplotlib.rcParams.update({
        "figure.dpi": DPI,
        "savefig.dpi": DPI,
        "savefig.bbox": "tight",
        "axes.titlesize": "medium",
        "legend.frameon": False,
        "pdf.fonttype": 42,  # embed TrueType: text stays editable in the PDF
    })


def new_figure(ncols: int = 1, nrows: int = 1, width_per_panel: float = 3.4,
               height_per_panel: float = 2.6, **subplots_kwargs):
    """``(fig, axes)`` with panels of a fixed size; ``axes`` as ``plt.subplots`` returns it."""
    if ncols < 1 or nrows < 1:
        raise ValueError(f"new_figure needs ncols, nrows >= 1, got {ncols}, {nrows}")
    subplots_kwargs.setdefault("layout", "constrained")
    return plt.subplots(nrows, ncols, figsize=(width_per_panel * ncols, height_per_panel * nrows),
                        **subplots_kwargs)


def save_figure(fig: Figure, png_path: str | os.PathLike, data: pd.DataFrame) -> Path:
    """Write ``png_path`` (dpi 150), the same figure as ``.pdf`` and ``data`` as ``.csv``; close ``fig``.

    ``data`` is the table the figure shows (long format is best), so every number in a figure can
    be checked or re-plotted without re-running the experiment."""
    png_path = Path(png_path)
    try:
        if png_path.suffix != ".png":
            raise ValueError(f"save_figure wants a .png path, got {png_path}")
        if not isinstance(data, pd.DataFrame):
            raise TypeError(f"save_figure needs the plotted data as a pandas DataFrame, got {type(data).__name__}")
        with atomic_open(png_path.with_suffix(".csv"), "w", encoding="utf-8", newline="") as fh:
            data.to_csv(fh, index=False)
        with atomic_path(png_path.with_suffix(".pdf")) as tmp:
            # No creation date: a re-run with the same numbers gives the same bytes.
            fig.savefig(tmp, format="pdf", metadata={"CreationDate": None})
        with atomic_path(png_path) as tmp:
            fig.savefig(tmp, format="png", dpi=DPI)
    finally:
        plt.close(fig)
    return png_path
