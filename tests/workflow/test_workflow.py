"""The Snakemake workflow: the DAG builds at every scale, bad config is refused, and the smoke
DAG runs end to end (the project's end-to-end test) producing every declared figure and table."""
from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import NOT_COPIED, REPO, job_counts, results_snapshot, snakemake

pytestmark = pytest.mark.workflow  # runs Snakemake (deselect with -m 'not workflow')

SCALES = {
    "default": [],
    "smoke": ["--configfile", "config/smoke.yaml"],
    "paper": ["--configfile", "config/paper.yaml"],
}
# A limit for the smoke DAG's subprocess (a hang fails instead of blocking CI); its duration is
# printed, not asserted: speed is measured by benchmarks, not by unit tests.
SMOKE_BUDGET_S = float(os.environ.get("MOSAIC_SMOKE_BUDGET_S", 600))
def slowest_jobs(work: Path, n: int = 5) -> list[tuple[str, float]]:
    """(benchmark file, wall seconds) of the slowest jobs, from their `benchmark:` files."""
    times = []
    for tsv in (work / "results" / "benchmarks").rglob("*.tsv"):
        try:
            times.append((str(tsv.relative_to(work)), float(pd.read_csv(tsv, sep="\t")["s"].iloc[-1])))
        except (KeyError, IndexError, ValueError, pd.errors.ParserError):
            continue
    return sorted(times, key=lambda t: -t[1])[:n]


@pytest.mark.parametrize("scale", sorted(SCALES))
def test_dry_run_builds_full_dag(scale):
    before = results_snapshot()
    proc = snakemake("-n", "--forceall", *SCALES[scale])
    assert proc.returncode == 0, proc.stderr[-3000:]
    counts = job_counts(proc.stdout + proc.stderr)
    assert counts.get("all") == 1 and counts.get("results_index") == 1, counts
    assert results_snapshot() == before, "a dry run must not write to results/"


@pytest.mark.parametrize(
    "override, named",
    [("bogus_key=1", "bogus_key"), ("scale=huge", "huge"), ("threads=0", "threads")],
)
def test_bad_top_level_config_is_rejected(override, named):
    proc = snakemake("-n", "--config", override)
    assert proc.returncode != 0
    assert named in proc.stderr + proc.stdout


def test_smoke_dag_runs(tmp_path):
    """Run the whole smoke-scale workflow in a copy of the repository and check its products."""
    work = tmp_path / "repo"
    shutil.copytree(REPO, work, ignore=NOT_COPIED, symlinks=True)
    (work / "results").mkdir(exist_ok=True)
    start = time.monotonic()
    proc = snakemake("--cores", "2", "--configfile", "config/smoke.yaml", cwd=work,
                     timeout=max(600, 2 * SMOKE_BUDGET_S))
    elapsed = time.monotonic() - start
    assert proc.returncode == 0, (proc.stdout[-2000:] + proc.stderr[-4000:])
    print(f"smoke DAG: {elapsed:.0f} s; slowest jobs: {slowest_jobs(work)}")  # shown with -s; not a target

    results = work / "results"
    manifest = json.loads((results / "outputs.json").read_text())
    assert manifest["scale"] == "smoke"
    readme = (results / "README.md").read_text()
    for declared in manifest["outputs"]:
        path = work / declared
        assert path.is_file(), f"declared output {declared} was not produced"
        assert Path(declared).name in readme or declared in readme
        if path.suffix == ".png":  # figures come with their PDF and plotted data
            assert path.with_suffix(".pdf").is_file() and path.with_suffix(".csv").is_file(), declared

    from PIL import Image

    for png in results.rglob("*.png"):
        with Image.open(png) as image:
            image.load()  # decodes the whole image
            assert image.size[0] > 10 and image.size[1] > 10, png
    for csv in list((results / "figures").rglob("*.csv")) + list((results / "tables").rglob("*.csv")):
        pd.read_csv(csv)  # raises on a malformed file
    for pdf in results.rglob("*.pdf"):
        assert pdf.read_bytes()[:4] == b"%PDF", pdf

    claims = pd.read_csv(results / "tables" / "claims.csv")  # the scorecard: every claim, a verdict each
    assert list(claims["id"]) == [f"C{i}" for i in range(1, 13)]
    assert set(claims["verdict"]) <= {"holds", "fails", "inconclusive", "not run", "not judged"}
    assert readme.index("Reproduction scorecard") < readme.index("Three moons")  # the first section
    assert list((results / "report" / "captions").glob("*.rst"))  # written by results_index, not at parse

    # each job's params hold only what it reads: a config change reruns exactly the jobs it affects
    sampling = jobs_after_change(work, {"stories": {"sampling": {"temperature": 0.5}}})
    assert {"table1", "table5"} <= set(sampling) <= {"table1", "table5", "results_index", "claims",
                                                      "runtime_table", "all"}, sampling
    added = jobs_after_change(work, {"stories": {"architectures": ["mosaic", "transformer", "lstm"]}})
    assert added["stories_train"] and all(w.startswith("arch=lstm") for w in added["stories_train"]), added
    assert not {"three_moons_train", "regbench_train", "stories_hparam_run", "induction_train"} & set(added), added


def jobs_after_change(work: Path, overlay: dict) -> dict[str, list[str]]:
    """Rule -> wildcards of every job a dry run after overlaying ``overlay`` on the smoke config lists."""
    import yaml

    extra = work / "changed.yaml"
    extra.write_text(yaml.safe_dump(overlay))
    proc = snakemake("-n", "--configfile", "config/smoke.yaml", str(extra), cwd=work, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs: dict[str, list[str]] = {}
    rule = None
    for line in (proc.stdout + proc.stderr).splitlines():
        stripped = line.strip()
        if stripped.startswith(("rule ", "localrule ")) and stripped.endswith(":"):
            rule = stripped.split()[1].rstrip(":")
            jobs.setdefault(rule, [])
        elif rule and stripped.startswith("wildcards:"):
            jobs[rule].append(stripped[len("wildcards:"):].strip())
    return jobs


def test_results_index_lists_every_output(tmp_path, monkeypatch):
    from mosaic.harness.io import write_json, write_table
    from mosaic.harness.results_index import main

    monkeypatch.chdir(tmp_path)
    write_table(pd.DataFrame({"model": ["mosaic"], "loss": [1.25]}), "results/tables/table9_demo")
    write_json("results/runs/demo/r1/done.json", {"step": 7, "train_loss": 1.5, "val_loss": 1.25})
    manifest = [
        {"path": "results/tables/table9_demo.csv", "title": "Table 9: demo", "caption": "Paper: a claim.",
         "section": "Demo", "scale_note": "7 steps", "runs": ["results/runs/demo/r1"]},
        {"path": "results/figures/fig98_missing.png", "title": "Figure 98", "caption": "Another claim.",
         "section": "Demo"},
    ]
    assert main(["--manifest-json", json.dumps(manifest), "--scale", "smoke",
                 "--outputs-json", "results/outputs.json"]) == 0
    readme = (tmp_path / "results" / "README.md").read_text()
    assert "## Demo" in readme and "### Table 9: demo" in readme and "| mosaic | 1.2500 |" in readme
    assert "**Paper:** a claim." in readme and "smoke — 7 steps" in readme
    assert "[`runs/demo/r1`](runs/demo/r1/) — 7 steps, train_loss 1.5000, val_loss 1.2500" in readme
    assert "*Not built yet:* `results/figures/fig98_missing.png`" in readme
    outputs = json.loads((tmp_path / "results" / "outputs.json").read_text())
    assert outputs == {"scale": "smoke", "outputs": [m["path"] for m in manifest]}
    with pytest.raises(ValueError, match="declared twice"):
        main(["--manifest-json", json.dumps(manifest * 2), "--scale", "smoke"])
