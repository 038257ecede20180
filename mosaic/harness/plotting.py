"""One look for every figure: seaborn "whitegrid"/"paper", a fixed colour per architecture, and
``save_figure`` writing the PNG, a PDF and the plotted numbers (CSV) side by side, atomically.

Typical use in an experiment's ``plot`` step::

    from mosaic.harness.plotting import arch_palette, legend_outside, new_figure, save_figure, set_style
    set_style()
    fig, ax = new_figure()
    colors = arch_palette(df["arch"].unique())   # distinct colours for the architectures plotted
    for arch, d in df.groupby("arch"):
        ax.plot(d["step"], d["val_loss"], label=arch, color=colors[arch])
    legend_outside(fig, ax)                       # framed, beside the panels, never on the data
    save_figure(fig, "results/figures/fig04_loss.png", df)   # + .pdf + .csv

Colours. The built-in architectures (:data:`mosaic.registry.BUILTINS`) have fixed colours from the
colour-blind-safe "colorblind" palette. Any other name (a plug-in path, an entry point, a model
variant) gets one of :data:`PLUGIN_COLORS`, strong colours distinct from the built-ins' (no grey,
nothing pale), chosen by a hash of the name so it is the same in every figure.
:func:`arch_palette` resolves the rare hash collision within one figure, so every architecture in
a figure has its own colour.
"""
from __future__ import annotations

import colorsys
import hashlib
import os
import sys
from collections.abc import Iterable
from pathlib import Path

import matplotlib

if "matplotlib.pyplot" not in sys.modules:  # headless by default; respect an interactive session
    matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.legend import Legend  # noqa: E402

from mosaic.harness.io import atomic_open, atomic_path  # noqa: E402

DPI = 150
_CB = sns.color_palette("colorblind", 10).as_hex()
# The built-in architectures (mosaic.registry.BUILTINS) and the transformer's usual alias.
ARCH_COLORS: dict[str, str] = {
    "mosaic": _CB[3],  # vermillion: our model stands out
    "transformer": _CB[0],  # blue
    "gpt": _CB[0],
    "lstm": _CB[2],  # green
    "gru": _CB[4],  # pink-purple
    "ssm": _CB[1],  # orange
}
# Plug-ins and variants: saturated colours, far from the built-ins' and from each other (the
# colorblind palette's grey, pale pink, yellow and sand are left out: they vanish on white).
PLUGIN_COLORS: tuple[str, ...] = (
    "#6a3d9a",  # purple
    "#8c510a",  # brown
    "#17becf",  # cyan
    "#000000",  # black
    "#66a61e",  # olive green
    "#e7298a",  # magenta
    "#9b1d20",  # maroon
    "#1b3a8a",  # navy
)


def _stable_index(name: str, n: int) -> int:
    return int(hashlib.sha1(name.encode()).hexdigest(), 16) % n


def arch_color(name: str) -> str:
    """The colour of architecture ``name`` (case-insensitive): a built-in's fixed colour, else a
    stable pick of :data:`PLUGIN_COLORS`. Plot several names with :func:`arch_palette`, which
    also guarantees they differ."""
    key = str(name).lower()
    if key in ARCH_COLORS:
        return ARCH_COLORS[key]
    return PLUGIN_COLORS[_stable_index(key, len(PLUGIN_COLORS))]


def _extra_color(i: int) -> str:
    """The i-th colour beyond every fixed one: saturated hues spaced by the golden angle."""
    hue = (0.11 + 0.618034 * i) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 0.7)
    return f"#{round(255 * r):02x}{round(255 * g):02x}{round(255 * b):02x}"


def arch_palette(names: Iterable[str], reserved: Iterable[str] = ()) -> dict[str, str]:
    """``{name: colour}`` with a different colour for every distinct name (also for seaborn's
    ``palette=``). Built-ins keep their colour; another name keeps :func:`arch_color` unless an
    earlier name (in sorted order, so the result does not depend on the order given) or
    ``reserved`` took it, then gets the next free strong colour. Names equal up to case and the
    ``gpt``/``transformer`` alias share a colour, as they are one architecture."""
    names = list(dict.fromkeys(names))
    taken = {c.lower() for c in reserved}
    palette: dict[str, str] = {}
    for name in sorted(names, key=lambda n: (str(n).lower() not in ARCH_COLORS, str(n).lower())):
        key = str(name).lower()
        same = next((palette[n] for n in palette if str(n).lower() == key), None)
        if same is not None:
            palette[name] = same
            continue
        color = arch_color(name)
        if key not in ARCH_COLORS and color.lower() in taken:
            free = [c for c in PLUGIN_COLORS if c.lower() not in taken]
            start = _stable_index(key, len(PLUGIN_COLORS))
            ordered = [c for c in PLUGIN_COLORS[start:] + PLUGIN_COLORS[:start] if c in free]
            i = 0
            while not ordered:  # every strong colour is in use: generate more
                if _extra_color(i) not in taken:
                    ordered = [_extra_color(i)]
                i += 1
            color = ordered[0]
        palette[name] = color
        taken.add(color.lower())
    return {name: palette[name] for name in names}


def legend_outside(fig: Figure, ax: Axes | None = None, where: str = "right", handles=None, labels=None,
                   **kwargs) -> Legend | None:
    """A framed figure legend placed outside the panels (``where``: ``right`` or ``below``), so it
    can never be read as data. Entries: ``handles``/``labels``, else those of ``ax``. Needs the
    constrained layout of :func:`new_figure`. Returns None when there is nothing to show."""
    if handles is None:
        if ax is None:
            raise ValueError("legend_outside needs an axes or handles")
        handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return None
    locations = {"right": "outside right upper", "below": "outside lower center"}
    if where not in locations:
        raise ValueError(f"legend_outside: where must be one of {sorted(locations)}, got {where!r}")
    kwargs.setdefault("frameon", True)
    kwargs.setdefault("fontsize", "small")
    if where == "below":
        kwargs.setdefault("ncols", min(len(handles), 4))
    return fig.legend(handles, labels, loc=locations[where], **kwargs)


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
