"""Scorecard rows C7 and C8 on fabricated per-sequence tables: a case that must hold, one that
must fail, one that must be inconclusive, and runs without the files or without a mosaic."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mosaic.experiments.regbench.claims import FIG11_PER_SEQUENCE, TABLE4_PER_SEQUENCE, claim_results
from mosaic.experiments.regbench.report import PER_SEQUENCE_COLUMNS
from mosaic.harness.claims import FAILS, HOLDS, INCONCLUSIVE, NOT_RUN

N_TEST = 120  # test automata, one sequence each
POSITIONS = 300  # positions per sequence


def outcomes(rate: float, n: int, shift: int = 0) -> np.ndarray:
    """``round(rate * n)`` ones among ``n``, spread evenly and rotated by ``shift``: two models with
    the same rate and different shifts score the same on average but disagree automaton by
    automaton (a paired difference of exactly 0 with a non-degenerate interval)."""
    ones = round(rate * n)
    base = (np.arange(n) * ones // n != (np.arange(n) + 1) * ones // n).astype(int)
    return np.roll(base, shift)


def model_rows(model: str, n_train: int, acc: float, tvd: float, *, selected_on="val", eval_split="test",
               automata=None, shift: int = 0) -> pd.DataFrame:
    """Per-sequence rows with last-token accuracy ``acc`` and TVD about ``tvd``; the all-position
    numbers follow the same rates (correct positions ``acc * 300`` give or take one)."""
    automata = np.arange(N_TEST) if automata is None else np.asarray(automata)
    n = len(automata)
    last = outcomes(acc, n, shift)
    wiggle = np.roll(np.linspace(-0.05, 0.05, n), shift)
    return pd.DataFrame({
        "model": model, "n_train": n_train, "selected_on": selected_on, "eval_split": eval_split,
        "sequence": np.arange(n), "automaton": automata, "n_positions": POSITIONS,
        "correct_all_positions": np.round(acc * POSITIONS).astype(int) + last - round(acc),
        "tvd_sum_all_positions": (tvd + wiggle) * POSITIONS, "correct_last_token": last,
        "tvd_last_token": tvd + wiggle,
    })[PER_SEQUENCE_COLUMNS]


def write(results, rel, frames) -> None:
    path = results / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.concat(frames, ignore_index=True).to_csv(path, index=False)


def rows(results) -> dict:
    return {r.id: r for r in claim_results(results)}


# -- C7 ------------------------------------------------------------------------------------------
def fig11_frames(mosaic_by_n: dict, baselines_by_n: dict) -> list[pd.DataFrame]:
    frames = []
    for n_train, (acc, tvd) in mosaic_by_n.items():
        frames.append(model_rows("mosaic", n_train, acc, tvd))
        for i, (name, (b_acc, b_tvd)) in enumerate(baselines_by_n[n_train].items()):
            frames.append(model_rows(name, n_train, b_acc, b_tvd, shift=7 * (i + 1)))
    return frames


def test_c7_holds_when_the_mosaic_is_better_at_every_n(tmp_path):
    write(tmp_path, FIG11_PER_SEQUENCE, fig11_frames(
        {100: (0.95, 0.20), 500: (0.97, 0.15)},
        {100: {"transformer": (0.55, 0.60), "lstm": (0.40, 0.70)},
         500: {"transformer": (0.70, 0.45), "lstm": (0.50, 0.65)}}))
    c7 = rows(tmp_path)["C7"]
    assert c7.verdict == HOLDS, c7.note
    assert c7.ci_low > 0 and c7.value == pytest.approx((116 - 84) / 120)  # worst part: N=500 accuracy vs transformer
    assert "worst part: N=500 accuracy" in c7.note and "vs transformer" in c7.note
    assert "All-position verdict: holds" in c7.note
    assert c7.sources == [str(tmp_path / FIG11_PER_SEQUENCE)]


def test_c7_fails_when_a_baseline_beats_the_mosaic_at_one_n(tmp_path):
    write(tmp_path, FIG11_PER_SEQUENCE, fig11_frames(
        {100: (0.95, 0.20), 500: (0.60, 0.50)},
        {100: {"transformer": (0.55, 0.60), "ssm": (0.40, 0.70)},
         500: {"transformer": (0.97, 0.15), "ssm": (0.50, 0.65)}}))
    c7 = rows(tmp_path)["C7"]
    assert c7.verdict == FAILS, c7.note
    assert c7.ci_high < 0 and "N=500" in c7.note.split(".")[0]


def test_c7_inconclusive_when_the_difference_is_within_the_noise(tmp_path):
    # equal accuracy (different automata right), clearly lower TVD: accuracy part straddles 0
    write(tmp_path, FIG11_PER_SEQUENCE, fig11_frames(
        {100: (0.90, 0.20)}, {100: {"transformer": (0.90, 0.40)}}))
    c7 = rows(tmp_path)["C7"]
    assert c7.verdict == INCONCLUSIVE, c7.note
    assert c7.value == pytest.approx(0.0, abs=1e-12) and c7.ci_low < 0 < c7.ci_high


def test_c7_best_baseline_is_rechosen_per_metric(tmp_path):
    # the transformer is the most accurate baseline, the LSTM the closest in TVD; the mosaic beats
    # the transformer's accuracy but not the LSTM's TVD: only comparing with each metric's best fails
    write(tmp_path, FIG11_PER_SEQUENCE, fig11_frames(
        {100: (0.95, 0.30)}, {100: {"transformer": (0.60, 0.60), "lstm": (0.40, 0.10)}}))
    c7 = rows(tmp_path)["C7"]
    assert c7.verdict == FAILS and "TVD" in c7.note.split(".")[0] and "vs lstm" in c7.note


def test_c7_refuses_unpaired_scores(tmp_path):
    frames = fig11_frames({100: (0.9, 0.2)}, {100: {"transformer": (0.5, 0.6)}})
    frames[1]["automaton"] += 1000  # the baseline was scored on other automata
    write(tmp_path, FIG11_PER_SEQUENCE, frames)
    with pytest.raises(ValueError, match="same test sequences"):
        claim_results(tmp_path)


# -- C8 ------------------------------------------------------------------------------------------
IID_AUTOMATA = np.arange(250) % 100 + 5000  # 250 fresh sequences of 100 training automata


def table4_frames(models: dict) -> list[pd.DataFrame]:
    """``models``: name -> (IID accuracy, OOD accuracy)."""
    frames = []
    for i, (name, (iid, ood)) in enumerate(models.items()):
        frames.append(model_rows(name, 100, iid, 0.3, selected_on="iid_val", eval_split="iid_test",
                                 automata=IID_AUTOMATA, shift=11 * i))
        frames.append(model_rows(name, 100, ood, 0.3, shift=13 * i))
    return frames


def test_c8_holds_when_a_baseline_memorises_and_the_mosaic_does_not(tmp_path):
    write(tmp_path, TABLE4_PER_SEQUENCE, table4_frames(
        {"mosaic": (0.92, 0.90), "transformer": (0.95, 0.40), "lstm": (0.50, 0.30)}))
    c8 = rows(tmp_path)["C8"]
    assert c8.verdict == HOLDS, c8.note
    # best baseline by IID accuracy: transformer; (0.95 - 0.40) - (0.92 - 0.90) = 0.53
    assert c8.value == pytest.approx(0.53, abs=0.01) and c8.ci_low > 0
    assert "best baseline by IID accuracy: transformer" in c8.note
    assert "100 IID training automata (250 sequences) and 120 OOD test automata" in c8.units


def test_c8_fails_when_the_mosaics_gap_is_larger(tmp_path):
    write(tmp_path, TABLE4_PER_SEQUENCE, table4_frames({"mosaic": (0.95, 0.50), "transformer": (0.90, 0.88)}))
    c8 = rows(tmp_path)["C8"]
    assert c8.verdict == FAILS and c8.ci_high < 0, c8.note


def test_c8_inconclusive_when_the_gaps_are_equal(tmp_path):
    write(tmp_path, TABLE4_PER_SEQUENCE, table4_frames({"mosaic": (0.90, 0.70), "transformer": (0.90, 0.70)}))
    c8 = rows(tmp_path)["C8"]
    assert c8.verdict == INCONCLUSIVE and c8.ci_low < 0 < c8.ci_high, c8.note


# -- not run -------------------------------------------------------------------------------------
def test_missing_files_or_mosaic_are_not_run(tmp_path):
    got = rows(tmp_path)  # a run without RegBench
    assert [got["C7"].verdict, got["C8"].verdict] == [NOT_RUN, NOT_RUN]
    assert str(tmp_path / FIG11_PER_SEQUENCE) in got["C7"].note
    assert str(tmp_path / TABLE4_PER_SEQUENCE) in got["C8"].note
    # RegBench run with a plug-in only: nothing to compare the mosaic with
    write(tmp_path, FIG11_PER_SEQUENCE, [model_rows("pkg.mod:Model", 100, 0.5, 0.5)])
    write(tmp_path, TABLE4_PER_SEQUENCE, [model_rows("pkg.mod:Model", 100, 0.5, 0.5, selected_on="iid_val",
                                                     eval_split="iid_test")])
    got = rows(tmp_path)
    assert got["C7"].verdict == got["C8"].verdict == NOT_RUN
    assert "no mosaic rows" in got["C7"].note and "no mosaic rows" in got["C8"].note
