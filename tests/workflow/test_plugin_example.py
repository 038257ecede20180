"""The example plug-in (examples/linear_attention.py) joins every architecture comparison through
config alone: it speaks the interface, a dry run with examples/linear_attention.yaml trains it in
every experiment, and a smoke run with only the plug-in named draws it in Figs. 9, 10, 11 and
the runtime table."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import pandas as pd
import pytest
import torch

from mosaic import build_model
from mosaic.harness.config import deep_merge, load_config
from tests.conftest import NOT_COPIED, REPO, snakemake

pytestmark = pytest.mark.workflow  # runs Snakemake (deselect with -m 'not workflow')

PLUGIN = "examples.linear_attention:LinearAttentionLM"
SLUG = "examples.linear_attention__LinearAttentionLM"  # its run-directory name
OVERLAY = ["--configfile", "config/smoke.yaml", "examples/linear_attention.yaml"]


def test_plugin_speaks_the_interface():
    torch.manual_seed(0)
    model = build_model(PLUGIN, vocab_size=50, n_layer=2, n_head=2, n_embd=16, block_size=32, chunk_size=5)
    idx = torch.randint(0, 50, (2, 23))
    logits, loss = model(idx, torch.randint(0, 50, (2, 23)))
    assert logits.shape == (2, 23, 50) and loss.item() == pytest.approx(torch.log(torch.tensor(50.0)).item(), abs=0.1)
    for block in model.blocks:  # the chunked scan is exact whatever the chunk size
        block.attn.chunk_size = 64
    assert torch.allclose(model(idx)[0], logits, atol=1e-5)
    assert torch.allclose(model(idx[:, :10])[0], logits[:, :10], atol=1e-5)  # causal
    assert model.supports_cache()
    cached = model.generate(idx[:, :5], 8, temperature=0.0)
    assert torch.equal(cached, model.generate(idx[:, :5], 8, temperature=0.0, use_cache=False))
    maps = model.attention_maps(idx)
    assert maps.shape == (2, 2, 23, 23)
    assert torch.allclose(maps.sum(-1), torch.ones(2, 2, 23)) and torch.all(maps.triu(1) == 0)


def test_overlay_trains_plugin_in_every_experiment():
    proc = snakemake("-n", "--forceall", *OVERLAY, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    wildcards = set(re.findall(r"wildcards: (.*)", out))
    assert {f"arch={SLUG}, depth=1", f"arch={SLUG}, depth=2"} <= wildcards  # Fig. 9, Tables 1/5 (smoke depths)
    assert {f"arch={SLUG}, n=16, point=weight_decay~0.1", f"arch={SLUG}, n=32, point=weight_decay~0.1"} <= wildcards
    for corpus in ("ood", "val"):  # Fig. 10 at analyses.depth = 2
        assert f"group=stories, run={SLUG}_L2, kind=position_loss, corpus={corpus}, factor=1" in wildcards
    assert f"--arch {PLUGIN} " in out  # trained under its own dotted path


# The plug-in beside one built-in model (Fig. 15 reads the mosaic's λ_φ), at the one depth
# Fig. 10 reads: the fewest jobs that still draw Figs. 9, 10 and 11 (about a minute on two
# cores), so the default suite runs it.
PLUGIN_ONLY = f"""
stories:
  architectures: [mosaic, "{PLUGIN}"]
  depths: [2]
analyses:
  attention: {{models: [mosaic, "{PLUGIN}"]}}
regbench:
  architectures: ["{PLUGIN}"]
"""


def test_smoke_run_draws_plugin(tmp_path):
    """fig09, fig10, fig11 and the runtime table at smoke scale with only the plug-in named in
    config, in a copy of the workflow: it is trained, measured and drawn with no code change."""
    work = tmp_path / "repo"
    shutil.copytree(REPO, work, ignore=NOT_COPIED, symlinks=True)
    (work / "results").mkdir(exist_ok=True)
    (work / "plugin_only.yaml").write_text(PLUGIN_ONLY)
    proc = snakemake("fig09", "fig10", "fig11", "--cores", "2", "--configfile", "config/smoke.yaml",
                     "plugin_only.yaml", cwd=work, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    # the runtime table's step (rule runtime_table waits for every output; run its CLI on what exists)
    config = deep_merge(load_config(work / "config/config.yaml", work / "config/smoke.yaml"),
                        load_config(work / "plugin_only.yaml"))
    runtime = subprocess.run([sys.executable, "benchmarks/dag_time.py", "--benchmarks", "results/benchmarks",
                              "--out", "results/tables/runtime", "--config-json", json.dumps(config)],
                             cwd=work, capture_output=True, text=True, timeout=120)
    assert runtime.returncode == 0, runtime.stderr[-2000:]
    tables, figures = work / "results" / "tables", work / "results" / "figures"
    for csv in (tables / "stories_final_losses.csv", figures / "fig09_train_val_by_depth.csv",
                tables / "fig10_ood_summary.csv", figures / "fig10_ood_position_loss.csv",
                tables / "fig11_regbench.csv", figures / "fig11_regbench.csv"):
        frame = pd.read_csv(csv)
        assert frame.astype(str).apply(lambda col: col.str.contains("LinearAttentionLM")).any().any(), csv
    for png in ("fig09_train_val_by_depth.png", "fig10_ood_position_loss.png", "fig11_regbench.png"):
        assert (figures / png).stat().st_size > 0, png
    runtime_rows = pd.read_csv(tables / "runtime.csv")
    plugin_jobs = runtime_rows[(runtime_rows["architecture"] == PLUGIN) & (runtime_rows["rule"] != "(architecture total)")]
    assert len(plugin_jobs) >= 3, runtime_rows.to_string()  # its story and RegBench training jobs, timed
