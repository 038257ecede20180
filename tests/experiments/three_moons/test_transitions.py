"""Where the three-moons error falls (claims C1, C2): known answers and constructed curves.

The known answers are the analytic solution of section 3 (W_φ = W_ψ = W_z = identity, no
training): one head drops once, at the common period; three heads step down at the individual
periods. The constructed curves move those drops away and must make the claims fail.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from mosaic.experiments.three_moons.data import ThreeMoonsData, period_marks, select_triples
from mosaic.experiments.three_moons.evaluate import window_errors
from mosaic.experiments.three_moons.model import ThreeMoonsModel
from mosaic.experiments.three_moons.transitions import (
    CurveAnalysis,
    Marks,
    assess_curve,
    bootstrap_means,
    frequency_verdict,
    transitions_table,
)

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py: tiny ops, no threads

TRAIN, VAL = (0.5, 1.0, 2.5), (1.0, 2.0, 3.0)  # the paper's plotted training triple, the held-out one
CONTEXTS = list(range(1, 300, 2))  # up to 1.1 x the held-out lcm (267), fine enough for ±10% of 22
N_BOOT = 400  # enough for the tests' clear-cut cases; the scorecard uses 2000


def marks_of(triple) -> Marks:
    m = period_marks(triple)
    return Marks(tuple(m["individual"]), m["lcm"])


@pytest.fixture(scope="module")
def identity_errors() -> dict:
    """Per-window MAD (16 windows x CONTEXTS) of the identity-weight model, by (heads, triple)."""
    data = ThreeMoonsData(*select_triples())
    out = {}
    for heads in (1, 3):
        model = ThreeMoonsModel(heads).set_identity().eval()
        for triple in (TRAIN, VAL):
            windows = data.windows(torch.tensor(triple), 16, torch.Generator().manual_seed(0), CONTEXTS[-1] + 25)
            out[heads, triple] = window_errors(model, windows, CONTEXTS, horizon=25, batch_size=16)[0]
    return out


@pytest.mark.parametrize("triple", [TRAIN, VAL])
def test_one_head_known_answer(identity_errors, triple):
    """C1 holds: a single drop, within ±10% of the lcm; nothing comparable at the periods."""
    marks = marks_of(triple)
    r = assess_curve(CONTEXTS, identity_errors[1, triple], marks, heads=1, n_boot=N_BOOT)
    assert r["claim"] == "C1" and r["verdict"] == "holds", r["reason"]
    assert abs(r["drop_at"] - marks.lcm) <= 0.1 * marks.lcm
    assert r["share"] < 0.1 and r["share_ci_high"] < 0.5 and r["period_drop_ratio"] < 0.1
    if triple == VAL:  # the paper's numbers for the analytic solution: 0.61 -> 0.16
        assert r["E1"] == pytest.approx(0.61, abs=0.03) and r["E2"] == pytest.approx(0.16, abs=0.03)
    # the same curve is not a three-head staircase
    assert assess_curve(CONTEXTS, identity_errors[1, triple], marks, heads=3, n_boot=N_BOOT)["verdict"] == "fails"


@pytest.mark.parametrize("triple", [TRAIN, VAL])
def test_three_heads_known_answer(identity_errors, triple):
    """C2 holds: one step within ±10% of each individual period; low before the lcm."""
    marks = marks_of(triple)
    r = assess_curve(CONTEXTS, identity_errors[3, triple], marks, heads=3, n_boot=N_BOOT)
    assert r["claim"] == "C2" and r["verdict"] == "holds", r["reason"]
    steps = sorted(r["steps"])
    assert len(steps) == 3 and all(abs(s - p) <= 0.1 * p for s, p in zip(steps, marks.periods)), steps
    assert r["share_ci_low"] > 0.7
    if triple == VAL:  # steps at 44, 89 and 133 observations
        assert [round(p) for p in marks.periods] == [44, 89, 133]
    assert assess_curve(CONTEXTS, identity_errors[3, triple], marks, heads=1, n_boot=N_BOOT)["verdict"] == "fails"


# -- constructed curves: the same statistics with the drops moved ---------------------------------
def staircase(drops: list[tuple[float, float]], start: float = 0.7, n: int = 40, noise: float = 0.01,
              seed: int = 0) -> np.ndarray:
    """Per-window errors (n, len(CONTEXTS)): ``start`` minus ``size`` from each context > ``at``,
    plus independent noise per window and context."""
    L = np.asarray(CONTEXTS, dtype=float)
    curve = start - sum(size * (L > at) for at, size in drops)
    return curve + np.random.default_rng(seed).normal(0, noise, (n, len(L)))


def test_constructed_one_head_curves():
    marks = marks_of(VAL)
    p1, p2, p3 = marks.periods
    lcm = marks.lcm
    assess = lambda drops, **kw: assess_curve(CONTEXTS, staircase(drops, **kw), marks, 1, n_boot=N_BOOT)  # noqa: E731
    assert assess([(lcm, 0.45)])["verdict"] == "holds"
    moved = assess([(0.75 * lcm, 0.45)])  # the drop moved away from the lcm
    assert moved["verdict"] == "fails" and moved["drop_located_freq"] == 0 and abs(moved["drop_at"] - 0.75 * lcm) <= 2
    early = assess([(p3, 0.45)])  # the drop at the slowest period: most of the fall before the lcm
    assert early["verdict"] == "fails" and early["share_ci_low"] > 0.5
    extra = assess([(p2, 0.25), (lcm, 0.3)])  # a comparable drop at an individual period
    assert extra["verdict"] == "fails" and extra["no_period_drop_freq"] == 0 and extra["share"] < 0.5
    assert assess([(lcm, 0.45)], noise=0.0, n=1)["verdict"] == "inconclusive"  # one window: no interval
    flat = assess([])  # no drop at all: the fall's sign is noise, so the share is undefined in about
    assert flat["verdict"] == "inconclusive" and "does not fall" in flat["reason"]  # half the resamples
    never = assess([(10, -0.2)])  # the error rises: it never falls from E0 to E2
    assert never["verdict"] == "fails" and math.isnan(never["share"])


def test_constructed_three_head_curves():
    marks = marks_of(TRAIN)
    p1, p2, p3 = marks.periods
    lcm = marks.lcm
    assess = lambda drops, **kw: assess_curve(CONTEXTS, staircase(drops, **kw), marks, 3, n_boot=N_BOOT)  # noqa: E731
    assert assess([(p1, 0.2), (p2, 0.2), (p3, 0.1), (lcm, 0.05)])["verdict"] == "holds"
    moved = assess([(1.3 * p1, 0.2), (1.3 * p2, 0.2), (1.3 * p3, 0.1), (lcm, 0.05)])  # steps off the periods
    assert moved["verdict"] == "fails" and moved["steps_at_periods_freq"] == 0 and moved["share_ci_low"] > 0.5
    missing = assess([(p1, 0.2), (p2, 0.2), (lcm, 0.05)])  # no step at the slowest period
    assert missing["verdict"] == "fails"
    at_lcm = assess([(lcm, 0.5)])  # a one-head curve: accurate only at the lcm
    assert at_lcm["verdict"] == "fails" and at_lcm["share_ci_high"] < 0.5
    # late steps: half the fall waits for the lcm -> the share's interval straddles 1/2
    half = assess([(p1, 0.1), (p2, 0.1), (p3, 0.1), (lcm, 0.3)], noise=0.2, n=30)
    assert half["verdict"] == "inconclusive" and half["share_ci_low"] < 0.5 < half["share_ci_high"]


def test_coarse_grid_and_helpers():
    marks = marks_of(VAL)
    coarse = list(range(1, 800, 97))  # the smoke configuration's grid
    r = assess_curve(coarse, np.random.default_rng(0).random((5, len(coarse))), marks, 1, n_boot=50)
    assert r["verdict"] == "inconclusive" and "too coarse" in r["reason"]
    assert CurveAnalysis(list(range(1, 200, 5)), marks).reason.startswith("no context of the grid")
    with pytest.raises(ValueError, match="1 or 3 heads"):
        assess_curve(CONTEXTS, staircase([]), marks, 2)
    with pytest.raises(ValueError, match="increasing"):
        CurveAnalysis([5, 3, 1], marks)
    assert [frequency_verdict(f) for f in (1.0, 0.975, 0.5, 0.02, math.nan)] == \
        ["holds", "holds", "inconclusive", "fails", "inconclusive"]
    m = np.arange(12.0).reshape(4, 3)
    boot = bootstrap_means(m, n_boot=7, seed=1)
    assert boot.shape == (7, 3) and np.array_equal(boot, bootstrap_means(m, n_boot=7, seed=1))
    assert np.allclose(boot[:, 1] - boot[:, 0], 1)  # each resample is a mean of whole rows (windows)


def test_transitions_table_from_long_files():
    """The table the DAG writes: one row per (heads, split), from eval.csv-style curves and the
    long per-window table; without per-window errors no interval and no verdict."""
    rows, windows = [], []
    for heads, drops_of in ((1, lambda m: [(m.lcm, 0.4)]),
                            (3, lambda m: [(m.periods[0], 0.2), (m.periods[1], 0.2), (m.periods[2], 0.1)])):
        for split, triple in (("train", TRAIN), ("val", VAL)):
            marks = marks_of(triple)
            per_window = staircase(drops_of(marks), n=10)
            rows.append(pd.DataFrame({"heads": heads, "split": split, "triple": str(triple), "context": CONTEXTS,
                                      "mad": per_window.mean(0), "periods_obs": ";".join(f"{p:.1f}" for p in marks.periods),
                                      "max_period_obs": marks.periods[-1], "lcm_obs": marks.lcm}))
            n, c = per_window.shape
            windows.append(pd.DataFrame({"heads": heads, "split": split, "context": np.tile(CONTEXTS, n),
                                         "window": np.repeat(np.arange(n), c), "mad": per_window.reshape(-1)}))
    curves, per_window = pd.concat(rows), pd.concat(windows)
    table = transitions_table(curves, per_window, n_boot=200)
    assert list(zip(table["heads"], table["split"], table["claim"])) == \
        [(1, "train", "C1"), (1, "val", "C1"), (3, "train", "C2"), (3, "val", "C2")]
    assert (table["verdict"] == "holds").all(), table[["verdict", "reason"]]
    assert table["drop_over_lcm"].iloc[:2].between(0.9, 1.1).all()
    point_only = transitions_table(curves, None)
    assert (point_only["verdict"] == "inconclusive").all() and point_only["reason"].str.contains("no per-window").all()
    assert point_only["share"].to_numpy() == pytest.approx(table["share"].to_numpy())
    with pytest.raises(ValueError, match="miss some"):
        transitions_table(curves, per_window.iloc[1:], n_boot=10)
