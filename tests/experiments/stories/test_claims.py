"""Scorecard rows C4 and C5 (mosaic.experiments.stories.claims) on fabricated result files."""
import numpy as np
import pandas as pd
import pytest

from mosaic.experiments.stories.claims import PER_SEQUENCE, TABLE1, claim_results


def write_losses(results, gaps: dict[int, float], noise: float, n: int = 200, seed: int = 0):
    """Per-window losses whose transformer − mosaic gap at depth d is ``gaps[d]`` plus noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for depth, gap in gaps.items():
        base = 2.0 + rng.normal(0, 0.3, n)
        mosaic = base + rng.normal(0, noise, n)
        transformer = base + gap + rng.normal(0, noise, n)
        for w in range(n):
            rows += [{"arch": "mosaic", "n_layer": depth, "window": w, "loss": mosaic[w], "run": f"m{depth}"},
                     {"arch": "transformer", "n_layer": depth, "window": w, "loss": transformer[w], "run": f"t{depth}"}]
    path = results / PER_SEQUENCE
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(path, index=False)


@pytest.mark.parametrize("gaps, noise, verdict", [
    ({1: 0.05, 2: 0.02, 4: 0.0}, 0.02, "holds"),        # better at small depth, gap vanishes
    ({1: -0.05, 2: -0.02, 4: 0.0}, 0.02, "fails"),      # worse at small depth
    ({1: 0.02, 2: 0.02, 4: 0.05}, 0.02, "fails"),       # the gap grows with depth
    ({1: 0.002, 2: 0.001, 4: 0.0}, 0.2, "inconclusive"),  # lost in the noise
])
def test_c4_verdicts(tmp_path, gaps, noise, verdict):
    write_losses(tmp_path, gaps, noise)
    row = claim_results(tmp_path)[0]
    assert row.id == "C4" and row.verdict == verdict, row
    if verdict != "inconclusive":
        assert row.ci_low is not None and row.ci_low <= row.value <= row.ci_high


def test_not_run_and_not_judged(tmp_path):
    c4, c5 = claim_results(tmp_path)
    assert c4.verdict == "not run" and c5.verdict == "not run"
    (tmp_path / TABLE1).parent.mkdir(parents=True)
    (tmp_path / TABLE1).write_text("# Table 1\n")
    assert claim_results(tmp_path)[1].verdict == "not judged"
