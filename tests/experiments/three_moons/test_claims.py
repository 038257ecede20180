"""Scorecard rows C1-C3 from fabricated result files: holds, fails, inconclusive, not run."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mosaic.experiments.claims import experiment_rows
from mosaic.experiments.three_moons.claims import DECOUPLING_BOUNDARY, claim_results
from mosaic.experiments.three_moons.data import period_marks
from mosaic.experiments.three_moons.evaluate import write_evaluation

CONTEXTS = list(range(1, 300, 2))
TRIPLES = {"train": (0.5, 1.0, 2.5), "val": (1.0, 2.0, 3.0)}
RUNS = {1: "one_head", 3: "three_heads"}


def staircase(drops, n=30, noise=0.01, seed=0, start=0.7, contexts=CONTEXTS):
    L = np.asarray(contexts, dtype=float)
    curve = start - sum(size * (L > at) for at, size in drops)
    return curve + np.random.default_rng(seed).normal(0, noise, (n, len(L)))


def write_run(results, heads, drops_of, noise=0.01, n=30, keep_windows=True, contexts=CONTEXTS):
    """results/runs/three_moons/<run>/eval.csv (+ eval_windows.csv.gz) with constructed curves:
    ``drops_of(individual_periods, lcm)`` -> [(context, size), ...]."""
    curves, windows = [], []
    for split, triple in TRIPLES.items():
        marks = period_marks(triple)
        per_window = staircase(drops_of(marks["individual"], marks["lcm"]), n=n, noise=noise,
                               seed=heads * 10 + len(split), contexts=contexts)
        curves.append(pd.DataFrame({
            "heads": heads, "split": split, "triple": str(triple), "context": contexts, "mad": per_window.mean(0),
            "mad_se": per_window.std(0, ddof=1) / np.sqrt(n), "mad_first": per_window.mean(0),
            "periods_obs": ";".join(f"{p:.1f}" for p in marks["individual"]), "max_period_obs": marks["max"],
            "lcm_obs": marks["lcm"]}))
        windows.append(pd.DataFrame({"heads": heads, "split": split, "context": np.tile(contexts, n),
                                     "window": np.repeat(np.arange(n), len(contexts)),
                                     "mad": per_window.reshape(-1)}))
    run = results / "runs" / "three_moons" / RUNS[heads]
    run.mkdir(parents=True, exist_ok=True)
    write_evaluation(pd.concat(curves), pd.concat(windows), run / "eval.csv")
    if not keep_windows:
        (run / "eval_windows.csv.gz").unlink()


def write_decoupling(results, three=(0.99, 0.98, 0.99), one=(0.4, 0.39, 0.41), consistent=True):
    rows = [{"model": model, "matrix": m, "decoupling": s, "permutation": "1→1 2→2 3→3",
             "consistent": consistent if model == "3 heads" else False, "value_path_error": 0.01}
            for model, scores in (("3 heads", three), ("1 head", one))
            for m, s in zip(("W_phi", "W_psi", "W_z"), scores)]
    path = results / "tables" / "three_moons_decoupling.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(path, index=False)


def at_lcm(periods, lcm):
    return [(lcm, 0.45)]


def at_periods(periods, lcm):
    return [(periods[0], 0.2), (periods[1], 0.2), (periods[2], 0.1), (lcm, 0.03)]


def rows(results):
    return {r.id: r for r in claim_results(results)}


def test_all_hold(tmp_path):
    write_run(tmp_path, 1, at_lcm)
    write_run(tmp_path, 3, at_periods)
    write_decoupling(tmp_path)
    got = rows(tmp_path)
    assert [got[c].verdict for c in ("C1", "C2", "C3")] == ["holds"] * 3, {c: got[c].note for c in got}
    c1, c2 = got["C1"], got["C2"]
    assert c1.value < 0.1 and c1.ci_low <= c1.value <= c1.ci_high < 0.5  # share before the lcm: ~0
    assert c2.value > 0.8 and 0.5 < c2.ci_low <= c2.value <= c2.ci_high
    assert "30 windows" in c1.units and any(s.endswith("eval_windows.csv.gz") for s in c1.sources)
    assert "train (0.5, 1.0, 2.5): holds" in c1.note and "val (1.0, 2.0, 3.0): holds" in c1.note
    assert got["C3"].value == pytest.approx(0.98) and got["C3"].ci_low is None and "no bootstrap" in got["C3"].note


def test_swapped_models_fail(tmp_path):
    """Each claim fails on the other model's curve shape; C3 fails for a model that mixes the moons."""
    write_run(tmp_path, 1, at_periods)
    write_run(tmp_path, 3, at_lcm)
    write_decoupling(tmp_path, three=(0.6, 0.9, 0.9))
    got = rows(tmp_path)
    assert [got[c].verdict for c in ("C1", "C2", "C3")] == ["fails"] * 3
    assert got["C1"].ci_low > 0.5 and got["C2"].ci_high < 0.5
    assert got["C3"].value == pytest.approx(0.6) and got["C3"].value < DECOUPLING_BOUNDARY
    write_decoupling(tmp_path, consistent=False)  # permutation-like, but W_phi/W_psi/W_z disagree
    assert rows(tmp_path)["C3"].verdict == "fails"
    write_decoupling(tmp_path, one=(0.995, 0.2, 0.2))  # the 1-head model is as decoupled on W_phi
    assert rows(tmp_path)["C3"].verdict == "fails"


def test_one_triple_failing_fails_the_claim(tmp_path):
    def lcm_on_val_only(periods, lcm):  # train triple: drop at the slowest period instead
        return [(lcm, 0.45)] if periods[-1] > 120 else [(periods[-1], 0.45)]

    write_run(tmp_path, 1, lcm_on_val_only)
    c1 = rows(tmp_path)["C1"]
    assert c1.verdict == "fails" and "train (0.5, 1.0, 2.5): fails" in c1.note and "val (1.0, 2.0, 3.0): holds" in c1.note
    assert c1.value > 0.5  # the worse triple's share


def test_inconclusive(tmp_path):
    """Noisy windows: half the fall before the lcm -> the share's interval straddles 1/2; evaluation
    files without per-window errors -> no interval."""
    write_run(tmp_path, 3, lambda p, lcm: [(p[0], 0.1), (p[1], 0.1), (p[2], 0.1), (lcm, 0.3)], noise=0.2, n=30)
    c2 = rows(tmp_path)["C2"]
    assert c2.verdict == "inconclusive" and c2.ci_low < 0.5 < c2.ci_high
    write_run(tmp_path, 1, at_lcm, keep_windows=False)
    c1 = rows(tmp_path)["C1"]
    assert c1.verdict == "inconclusive" and c1.ci_low is None and "no per-window" in c1.units
    assert "no per-window errors" in c1.note
    write_run(tmp_path, 1, at_lcm, contexts=list(range(1, 800, 97)))  # the smoke grid: no number, no verdict
    c1 = rows(tmp_path)["C1"]
    assert c1.verdict == "inconclusive" and c1.value is None and c1.ci_low is None and "too coarse" in c1.note


def test_not_run_and_scorecard(tmp_path):
    got = rows(tmp_path)
    assert all(got[c].verdict == "not run" for c in ("C1", "C2", "C3"))
    assert "eval.csv" in got["C1"].note and "three_moons_decoupling.csv" in got["C3"].note
    write_run(tmp_path, 3, at_periods)
    verdicts = {r.id: r.verdict for r in experiment_rows("three_moons", tmp_path)}  # how the scorecard calls it
    assert verdicts == {"C1": "not run", "C2": "holds", "C3": "not run"}
    (tmp_path / "runs" / "three_moons" / "three_heads" / "eval.csv").write_text(
        pd.read_csv(tmp_path / "runs" / "three_moons" / "three_heads" / "eval.csv").assign(heads=1).to_csv(index=False))
    with pytest.raises(ValueError, match="3-head"):
        rows(tmp_path)
