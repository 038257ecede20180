"""The Snakemake report and results/README.md: each declared output's caption says what the paper
claims and what this run shows (its numbers, scale, runs and their provenance), and
`snakemake <target> --report` packs the figure with that caption under its paper section."""
from __future__ import annotations

import shutil
import time
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from docutils.core import publish_parts
from jinja2 import Environment

from mosaic.harness.io import write_json, write_table
from mosaic.harness.results_index import caption_rst, check_manifest, render_index, write_captions
from tests.conftest import NOT_COPIED, REPO, snakemake

# Snakemake itself calls docutils with the argument docutils 0.22 deprecates; so do we, to match.
pytestmark = [pytest.mark.filterwarnings("ignore::PendingDeprecationWarning"),
              pytest.mark.workflow]  # runs Snakemake (deselect with -m "not workflow")

PROVENANCE = {"git_commit": "0123456789abcdef", "git_dirty": True, "seed": 3, "python": "3.11.7",
              "platform": "Linux", "packages": {"torch": "2.13.0", "numpy": "2.1.0"},
              "started_utc": "2026-12-01T09:00:00+00:00", "argv": ["x"]}


@pytest.fixture()
def finished(tmp_path, monkeypatch):
    """A figure with a summary table and two runs, one with provenance in config.json, one without."""
    monkeypatch.chdir(tmp_path)
    Path("results/figures").mkdir(parents=True)
    Path("results/figures/fig99_demo.png").write_bytes(b"\x89PNG\r\n")
    write_table(pd.DataFrame({"arch": ["mosaic", "transformer"], "val_loss": [0.4451, 0.4862]}),
                "results/tables/demo_losses")
    write_json("results/runs/demo/a/done.json", {"step": 12, "train_loss": 1.5, "val_loss": 0.4451})
    write_json("results/runs/demo/a/config.json", {"train": {}, "provenance": PROVENANCE})
    write_json("results/runs/demo/b/done.json", {"step": 12, "val_loss": 0.4862})
    return check_manifest([{
        "path": "results/figures/fig99_demo.png", "title": "Figure 99: demo", "section": "Demo section",
        "caption": "Paper: the mosaic is below the transformer.", "scale_note": "12 steps",
        "runs": ["results/runs/demo/a", "results/runs/demo/b"], "summary": "results/tables/demo_losses.csv"}])


def test_caption_renders_claim_numbers_and_provenance(finished):
    rst = caption_rst(finished[0], "smoke")
    # what Snakemake does with a caption: Jinja first, then docutils to HTML
    html = publish_parts(Environment().from_string(rst).render(), writer_name="html")["body"]
    assert "the mosaic is below the transformer." in html and "Paper:" not in html
    assert "<table" in html and "0.4451" in html and "0.4862" in html and "demo_losses.csv" in html
    assert "smoke — 12 steps" in html
    assert "git 0123456789 (dirty), torch 2.13.0, seed 3" in html
    assert "results/runs/demo/b" in html and "12 steps, val_loss 0.4862" in html  # no provenance: tolerated


def test_caption_of_missing_output_says_so(finished):
    Path(finished[0]["path"]).unlink()
    html = publish_parts(Environment().from_string(caption_rst(finished[0], "smoke")).render(),
                         writer_name="html")["body"]
    assert "Not built yet" in html and "<table" not in html


def test_write_captions_leaves_unchanged_files(finished, tmp_path):
    target = tmp_path / "captions" / "fig99.rst"
    write_captions(finished, "smoke", {finished[0]["path"]: str(target)})
    first = target.stat().st_mtime_ns
    time.sleep(0.01)
    write_captions(finished, "smoke", {finished[0]["path"]: str(target)})
    assert target.stat().st_mtime_ns == first


def test_index_shows_this_run_and_provenance(finished):
    text = render_index(finished, "smoke", Path("results/README.md"), PROVENANCE)
    assert "Written 2026-12-01T09:00:00+00:00 by code at git 0123456789 (dirty)" in text
    assert "numpy 2.1.0, torch 2.13.0" in text
    assert "This run ([`tables/demo_losses.csv`](tables/demo_losses.csv)):" in text
    assert "| mosaic | 0.4451 |" in text
    assert "(git 0123456789 (dirty), torch 2.13.0, seed 3)" in text


def test_report_of_one_figure_target(tmp_path):
    """Smoke-scale fig04 in a copy of the workflow, then `snakemake fig04 --report`."""
    work = tmp_path / "repo"
    shutil.copytree(REPO, work, ignore=NOT_COPIED, symlinks=True)
    (work / "results").mkdir(exist_ok=True)
    smoke = ["--configfile", "config/smoke.yaml"]
    proc = snakemake("fig04", "--cores", "2", *smoke, cwd=work, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc = snakemake("fig04", *smoke, "--report", "results/report.zip", cwd=work, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with zipfile.ZipFile(work / "results" / "report.zip") as archive:
        names = archive.namelist()
        html = archive.read(next(n for n in names if n.endswith("report.html"))).decode()
    assert any(n.endswith("fig04_three_moons_one_head.png") for n in names), names
    assert "Three moons (section 3)" in html and "Figure 4: three moons, one head" in html  # category, subcategory
    assert "a full common period (lcm) of the three moons" in html  # the paper's claim (a label)
    assert "three_moons_figure" in html  # a target built alone: the generic caption names its rule
    assert "at the <strong>smoke</strong> scale" in html  # the global description
    assert not (work / ".snakemake" / "mosaic_report").exists()  # nothing written while parsing


def test_every_figure_and_table_has_a_named_target():
    proc = snakemake("--list-target-rules")
    assert proc.returncode == 0, proc.stderr[-2000:]
    targets = set(proc.stdout.split())
    paper = {"fig04", "fig05", "fig06", "three_moons_transitions", "table1", "table2", "table3", "table4",
             "table5", "fig09", "fig10", "fig11", "fig12", "fig13", "fig15", "regbench_ngram"}
    assert paper <= targets, sorted(paper - targets)
