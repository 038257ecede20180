"""Figures 10, 12, 13, 15 drawn as the paper draws them (layout checked on the figure objects), and
the project palette they use (mosaic.harness.plotting)."""
from __future__ import annotations

import colorsys

import matplotlib.colors as mcolors
import numpy as np
import pandas as pd
import pytest
import torch

from mosaic.experiments.analyses import figures
from mosaic.experiments.analyses.attention import last_position_frame
from mosaic.experiments.analyses.position_loss import PositionStats
from mosaic.harness import plotting
from mosaic.registry import BUILTINS


@pytest.fixture
def drawn(monkeypatch):
    """Figures the functions would save, kept open for inspection (nothing is written)."""
    kept = []
    monkeypatch.setattr(figures, "save_figure", lambda fig, png, data: kept.append((fig, data)))
    yield kept
    for fig, _ in kept:
        plotting.plt.close(fig)


def meta(label, arch, variant, ctx, train_ctx, corpus="val", n_windows=30, **extra) -> dict:
    return {"run": f"results/runs/x/{label}", "label": label, "arch": arch, "variant": variant, "n_layer": 1,
            "ctx": ctx, "train_ctx": train_ctx, "train_steps": 100, "corpus": corpus, "corpus_name": "corpus",
            "n_windows": n_windows, **extra}


def loss_frame(label, arch, variant="", corpus="ood", T=64, level=5.0, unk_rate=0.0, **extra) -> pd.DataFrame:
    rng = np.random.default_rng(abs(hash(label)) % 2**32)
    values = torch.from_numpy(level - np.log1p(np.arange(T))[None, :] * 0.2 + 0.3 * rng.standard_normal((30, T)))
    stats = PositionStats(T, known=PositionStats(T))
    stats.update(values)
    stats.known.update(values, torch.from_numpy(rng.uniform(size=(30, T)) >= unk_rate))
    frame = stats.to_frame()
    for key, value in reversed(meta(label, arch, variant, T, T, corpus, **extra).items()):
        frame.insert(0, key, value)
    return frame


def attention_frame(label, arch, variant="", T=64, train_ctx=64, H=3, lam=None) -> pd.DataFrame:
    rows = torch.rand(1, H, T, generator=torch.Generator().manual_seed(H + T))
    rows[..., 0] += 5.0 if arch == "transformer" and variant == "absolute" else 0.0  # a sink
    rows = rows / rows.sum(-1, keepdim=True)
    frame = last_position_frame(rows.double(), None if lam is None else torch.tensor([lam]))
    for key, value in reversed(meta(label, arch, variant, T, train_ctx).items()):
        frame.insert(0, key, value)
    return frame


# -- palette ---------------------------------------------------------------------------------------
def _pale_or_grey(color: str) -> bool:
    h, lightness, s = colorsys.rgb_to_hls(*mcolors.to_rgb(color))
    return lightness > 0.8 or (s < 0.25 and 0.2 < lightness)


def test_every_architecture_gets_a_strong_distinct_colour():
    builtins = list(BUILTINS)
    assert len({plotting.arch_color(a) for a in builtins}) == len(builtins)  # gru and ssm included
    plugins = [f"pkg{i}.models:Net{i}" for i in range(12)] + ["mamba", "rwkv"]
    palette = plotting.arch_palette(builtins + plugins)
    assert len(set(palette.values())) == len(palette)  # more plug-ins than strong colours, still distinct
    assert not [n for n, c in palette.items() if _pale_or_grey(c)]
    assert all(not _pale_or_grey(c) for c in plotting.PLUGIN_COLORS)
    assert not set(plotting.PLUGIN_COLORS) & set(plotting.ARCH_COLORS.values())
    # stable: the same name has the same colour whatever else is plotted (barring a collision)
    assert plotting.arch_palette(["mosaic", "pkg0.models:Net0"])["pkg0.models:Net0"] == \
        plotting.arch_color("pkg0.models:Net0")
    assert plotting.arch_palette(["x.y:A", "mosaic"]) == plotting.arch_palette(["mosaic", "x.y:A"])
    taken = plotting.arch_color("my.plugin:Net")
    assert plotting.arch_palette(["my.plugin:Net"], reserved=[taken])["my.plugin:Net"] != taken


def test_legend_outside_is_framed_beside_the_panels():
    plotting.set_style()
    fig, ax = plotting.new_figure()
    ax.plot([0, 1], [0, 1], label="a")
    legend = plotting.legend_outside(fig, ax)
    fig.canvas.draw()
    box = legend.get_window_extent()
    assert legend.get_frame_on() and ax.get_legend() is None
    assert box.x0 >= ax.get_window_extent().x1  # right of the data area
    with pytest.raises(ValueError, match="where"):
        plotting.legend_outside(fig, ax, where="inside")
    plotting.plt.close(fig)


# -- smoothing -------------------------------------------------------------------------------------
def test_moving_average_is_centred_shrinks_at_the_ends_and_skips_nans():
    np.testing.assert_allclose(figures.moving_average([1, 2, 3, 4, 5], 3), [1.5, 2, 3, 4, 4.5])
    np.testing.assert_allclose(figures.moving_average([1, np.nan, 3], 3), [1, 2, 3])
    np.testing.assert_allclose(figures.moving_average([4, 1], 1), [4, 1])
    assert [figures.smoothing_window(t) for t in (64, 256, 512, 1536)] == [1, 5, 9, 25]
    with pytest.raises(ValueError, match="odd"):
        figures.moving_average([1, 2], 2)


# -- figures ---------------------------------------------------------------------------------------
def test_fig10_one_main_ood_panel_with_every_architecture_smoothing_and_bands(tmp_path, drawn):
    frames = [loss_frame("mosaic", "mosaic", T=256, unk_rate=0.1, unseen_in_train_rate=0.2),
              loss_frame("transformer (absolute)", "transformer", "absolute", T=256, unk_rate=0.1,
                         unseen_in_train_rate=0.2),
              loss_frame("my.pkg:Net", "my.pkg:Net", T=256, unk_rate=0.1, unseen_in_train_rate=0.2),
              loss_frame("mosaic", "mosaic", corpus="val", T=256), loss_frame("transformer (absolute)", "transformer",
                                                                               "absolute", corpus="val", T=256)]
    summary = figures.fig10(frames, tmp_path / "f.png", tmp_path / "t", tmp_path / "s", split_at=50)
    fig, data = drawn[0]
    main, reference = fig.axes
    assert main.get_position().width > 1.4 * reference.get_position().width  # the main panel
    assert "out of distribution" in main.get_title() and "<unk>" in main.get_title()
    assert "moving average over 5 positions" in main.get_ylabel()
    assert "position of the token in the input window" in main.get_xlabel()
    lines = {line.get_label(): line.get_color() for line in main.get_lines() if not line.get_label().startswith("_")}
    assert set(lines) == {"mosaic", "transformer (absolute)", "my.pkg:Net"} and len(set(lines.values())) == 3
    assert len(main.collections) == 3  # one 95% band per model
    assert len(fig.legends) == 1 and main.get_legend() is None
    ood = summary[summary["corpus"] == "ood"]
    assert (ood["unseen_in_train_rate"] == 0.2).all()
    assert (summary.loc[summary["corpus"] == "val", "unseen_in_train_rate"] == figures.MISSING).all()
    assert (tmp_path / "s.md").is_file() and "measurement" not in data  # the CLI adds it, not the figure


def test_fig12_transformer_left_mosaic_right_shared_scale_position_zero_visible(tmp_path, drawn):
    figures.fig12([attention_frame("mosaic", "mosaic"), attention_frame("transformer (absolute)", "transformer",
                                                                         "absolute")], tmp_path / "f.png")
    fig, _ = drawn[0]
    left, right = fig.axes
    assert left.get_title().startswith("transformer (absolute)") and right.get_title().startswith("mosaic")
    assert left.get_ylim() == right.get_ylim()  # one y scale
    assert left.get_xlim()[0] < 0 < 63 <= left.get_xlim()[1]  # linear key positions 0..63, 0 clear of the frame
    assert left.get_xscale() == "linear"
    assert len(fig.legends) == 1 and left.get_legend() is None and right.get_legend() is None
    xs = np.concatenate([line.get_xdata() for line in left.get_lines()])
    assert xs.min() == 0 and xs.max() == 63


def test_fig13_one_head_legend_for_the_figure(tmp_path, drawn):
    attention = [attention_frame(label, "transformer" if variant else "mosaic", variant, T=192, train_ctx=64)
                 for label, variant in (("mosaic", ""), ("transformer (rope)", "rope"), ("transformer (alibi)", "alibi"))]
    losses = [loss_frame(a["label"].iloc[0], a["arch"].iloc[0], a["variant"].iloc[0], corpus="val", T=192)
              for a in attention]
    figures.fig13(attention, losses, tmp_path / "f.png")
    fig, _ = drawn[0]
    assert all(ax.get_legend() is None for ax in fig.axes)
    head_legends = [lg for lg in fig.legends if any(t.get_text() == "head 0" for t in lg.get_texts())]
    assert len(head_legends) == 1
    top = fig.axes[:3]
    assert len({ax.get_ylim() for ax in top}) == 1
    loss_lines = {line.get_label(): line.get_color() for line in fig.axes[3].get_lines()
                  if "steps" in line.get_label()}
    assert len(loss_lines) == 3 and len(set(loss_lines.values())) == 3


def test_fig15_colour_bar_instead_of_a_legend_on_the_data(tmp_path, drawn):
    frame = attention_frame("mosaic", "mosaic", H=4, lam=[0.1, 0.5, 0.3, 0.9])
    heads = figures.fig15(frame, tmp_path / "f.png", tmp_path / "t", window=8)
    fig, _ = drawn[0]
    assert all(ax.get_legend() is None for ax in fig.axes) and not fig.legends
    assert any("λ_φ" in ax.get_ylabel() for ax in fig.axes)  # the colour bar's axis
    np.testing.assert_allclose(heads["lambda_phi"], [0.1, 0.3, 0.5, 0.9], rtol=1e-6)
