"""RegBench experiment: step arithmetic, run settings, IID splits, best-checkpoint tracking,
grid-point selection, a tiny train -> select -> Fig. 11 / Table 4 pass, and the paper-scale
Snakemake sweep resolving in a dry run."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pandas as pd
import pytest
import torch

from mosaic.experiments.regbench import DataConfig, generate_all, load_pools
from mosaic.experiments.regbench.experiment import (
    BestCheckpoints,
    Schedule,
    evaluate_run,
    make_run_batches,
    run_settings,
    select_best,
    select_runs,
    split_loss,
    train_run,
)
from mosaic.experiments.regbench.metrics import true_states
from mosaic.experiments.regbench.report import compare_with_paper, fig11, table4
from mosaic.harness.config import load_config
from mosaic.registry import trust_plugins
from tests.conftest import REPO as ROOT

PLUGIN = "tests.fixtures.plugin_models:BigramLM"  # reaches the registry only by dotted path
TINY_PFA = {"min_strings": 2, "max_strings": 4, "max_string_len": 10}
METRIC_KEYS = {"acc_last_token", "tvd_last_token", "acc_all_positions", "tvd_all_positions", "acc_nodelim",
               "l1", "l1_nodelim", "n_positions", "n_positions_nodelim", "n_sequences"}


def tiny_section(**over) -> dict:
    section = {
        "model": {"n_layer": 1, "n_embd": 8, "n_head": 2, "block_size": 64, "dropout": 0.0,
                  "pad_vocab_multiple": 1},
        "arch_options": {"lstm": {"lr": 3.0e-3, "grad_clip": 1.0}, PLUGIN: {"lr": 5.0e-2}},
        "batch_size": 4, "epochs": 3, "eval_every_epochs": 1, "warmup_fraction": 0.1,
        "min_lr_fraction": 0.1,
        "train": {"lr": 1.0e-3, "weight_decay": 0.1, "betas": [0.9, 0.999], "grad_clip": 0.0, "seed": 0},
    }
    section.update(over)
    return section


@pytest.fixture(scope="module")
def pools(tmp_path_factory):
    from mosaic.experiments.regbench import write_pools

    out = tmp_path_factory.mktemp("regbench") / "data"
    cfg = DataConfig.from_dict({"seed": 3, "n_test": 6, "n_val": 5, "train_sizes": [8, 12],
                                "iid": {"train_size": 8, "n_val": 5, "n_test": 10}, "pfa": TINY_PFA})
    write_pools(cfg, out)
    return out


# -- recipe arithmetic ---------------------------------------------------------------------------
@pytest.mark.parametrize("n, epochs, spe, steps, warmup", [
    (100, 200, 4, 800, 80),          # the note: ceil(100/32) = 4 steps per epoch, 10% warm-up
    (40000, 200, 1250, 250000, 25000),
    (500, 7, 16, 112, 11),           # last partial batch kept; warm-up rounded
    (32, 1, 1, 1, 0),
])
def test_schedule_arithmetic(n, epochs, spe, steps, warmup):
    s = Schedule.of(n, 32, epochs, 0.1, eval_every_epochs=2)
    assert (s.steps_per_epoch, s.max_steps, s.warmup_steps) == (spe, steps, warmup)
    assert s.eval_interval == min(2 * spe, steps)
    assert s.epoch(steps) == epochs


def test_run_settings_layering_and_derived_keys():
    section = tiny_section(arch_options={"mosaic": {"n_head": 8, "dropout": 0.05, "lr": 5.0e-4, "grad_clip": 1.0}})
    model, cfg, sched = run_settings(section, "mosaic", 100, {"weight_decay": 0.01, "n_layer": 4}, n_val=250)
    assert model["n_head"] == 8 and model["n_layer"] == 4 and model["vocab_size"] == 20
    assert "lr" not in model and "grad_clip" not in model
    assert cfg.lr == 5.0e-4 and math.isclose(cfg.min_lr, 5.0e-5) and cfg.grad_clip == 1.0
    assert cfg.weight_decay == 0.01 and tuple(cfg.betas) == (0.9, 0.999)
    assert cfg.max_steps == sched.max_steps == 3 * 25 and cfg.warmup_steps == round(0.1 * 75)
    assert cfg.eval_batches == math.ceil(250 / 4) and cfg.eval_interval == 25
    other, cfg2, _ = run_settings(section, "transformer", 100, {}, n_val=250)
    assert other["n_head"] == 2 and cfg2.lr == 1.0e-3 and cfg2.grad_clip == 0.0
    with pytest.raises(ValueError, match="max_steps"):
        run_settings(tiny_section(train={"max_steps": 5}), "lstm", 10, {}, n_val=4)
    with pytest.raises(ValueError, match="epochs"):
        run_settings(tiny_section(epochs=0), "lstm", 10, {}, n_val=4)


# -- data ----------------------------------------------------------------------------------------
def test_iid_splits_come_from_training_automata_only():
    base = {"seed": 1, "n_test": 5, "n_val": 5, "train_sizes": [6, 10], "pfa": TINY_PFA}
    with_iid = generate_all(DataConfig.from_dict({**base, "iid": {"train_size": 6, "n_val": 9, "n_test": 13}}))
    without = generate_all(DataConfig.from_dict(base))
    assert set(with_iid) == set(without) | {"iid_val", "iid_test"}
    for name in without:  # adding the IID splits changes nothing else
        assert with_iid[name].content_hash() == without[name].content_hash()
    train = with_iid["train_6"]
    train_keys = [a.key() for a in train.automata]
    outside = {a.key() for a in with_iid["train_10"].automata[6:]} | \
        {a.key() for s in ("test", "val") for a in with_iid[s].automata}
    for name, n in (("iid_val", 9), ("iid_test", 13)):
        split = with_iid[name]
        assert len(split) == n and split.meta["automata_from"] == "train_6"
        for j in range(n):  # round-robin over the training automata, strings in their language
            assert split.automata[j].key() == train_keys[j % 6]
            assert split.automata[j].key() not in outside - set(train_keys)
            assert split.source_index[j] == train.source_index[j % 6]
            true_states(split.automata[j], split.sequence(j))  # raises if not walkable
    train_seqs = {train.sequence(i).tobytes() for i in range(len(train))}
    fresh = [with_iid["iid_test"].sequence(j).tobytes() for j in range(13)]
    assert sum(s in train_seqs for s in fresh) == 0, "IID strings must be new samples"
    assert with_iid["iid_val"].content_hash() != with_iid["iid_test"].content_hash()
    with pytest.raises(ValueError, match="train_size"):
        DataConfig.from_dict({**base, "iid": {"train_size": 7, "n_val": 1, "n_test": 1}})


def test_val_batches_cover_the_pool_in_order(pools):
    from mosaic.experiments.regbench import load_pools

    splits = load_pools(pools)
    get_batch, batcher = make_run_batches(splits, "train_8", 2, seed=0)
    assert batcher.steps_per_epoch == 4
    rows = sum(get_batch("val", i, None)[0].shape[0] for i in range(math.ceil(5 / 2)))
    assert rows == len(splits["val"]) == 5
    x0, _ = get_batch("val", 0, torch.Generator().manual_seed(1))
    x1, _ = get_batch("val", 0, torch.Generator().manual_seed(2))
    assert torch.equal(x0, x1)  # fixed batches, independent of the generator


# -- best checkpoints and selection ---------------------------------------------------------------
def test_best_checkpoints_keep_lowest_loss(tmp_path, pools):
    from mosaic import build_model

    model = build_model(PLUGIN, vocab_size=20, pad_vocab_multiple=1)
    sched = Schedule.of(8, 4, 5)
    hook = BestCheckpoints(tmp_path, {"val": None}, 4, sched)
    for step, loss in [(0, 3.0), (2, 2.0), (4, 2.5), (6, 2.0), (8, float("nan"))]:
        with torch.no_grad():
            model.table.weight.fill_(step)
        hook(step, loss, model)
    best = json.loads((tmp_path / "best_val.json").read_text())
    assert best["step"] == 2 and best["loss"] == 2.0 and best["epoch"] == 1.0  # ties: earliest
    weights = torch.load(tmp_path / "best_val.pt", weights_only=True)
    assert float(weights["table.weight"][0, 0]) == 2.0
    resumed = BestCheckpoints(tmp_path, {"val": None}, 4, sched)  # a resumed run continues from the files
    resumed(10, 2.2, model)
    assert resumed.best == {"val": 2.0} and json.loads((tmp_path / "best_val.json").read_text())["step"] == 2


@pytest.mark.parametrize("losses, expected", [
    ([2.0, 1.5, 1.7], 1), ([1.0, 1.0, 0.5, 0.5], 2), ([None, float("nan"), 3.0], 2), ([4.0], 0),
])
def test_select_best_on_fake_losses(losses, expected):
    assert select_best(losses) == expected


def test_select_best_refuses_no_finite_loss():
    with pytest.raises(ValueError, match="finite"):
        select_best([None, float("nan")])


# -- end to end ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def runs(pools, tmp_path_factory):
    """Two grid points of the plug-in at N=8 (the IID size), one LSTM run at N=12."""
    root = tmp_path_factory.mktemp("runs")
    torch.set_num_threads(1)
    trust_plugins([PLUGIN])  # what the CLI's --allow-plugin does: these runs name a plug-in path
    out = {}
    for name, arch, n, point in [("a", PLUGIN, 8, {"weight_decay": 0.0}), ("b", PLUGIN, 8, {"lr": 1.0e-4}),
                                 ("lstm", "lstm", 12, {})]:
        train_run(tiny_section(), arch, n, point, pools, root / name, {"device": "cpu", "threads": 1})
        out[name] = root / name
    return out


def test_tiny_train_and_evaluate_give_metrics(runs, pools):
    from mosaic.experiments.regbench import load_pools

    lstm = runs["lstm"]
    for f in ("done.json", "best_val.pt", "best_val.json", "metrics.jsonl"):
        assert (lstm / f).is_file(), f
    assert list(lstm.glob("model.*")), "no final weights"  # the trainer's file (its format is the trainer's)
    assert not (lstm / "best_iid_val.pt").exists()  # N=12 is not the IID size
    assert (runs["a"] / "best_iid_val.pt").is_file()
    spec = json.loads((lstm / "config.json").read_text())
    assert spec["run"]["schedule"]["max_steps"] == 3 * 3 and spec["train"]["max_steps"] == 9
    evals = [json.loads(l) for l in (lstm / "metrics.jsonl").read_text().splitlines() if "val_loss" in l]
    assert [e["step"] for e in evals] == [0, 3, 6, 9]  # every epoch, step 0 included
    best = json.loads((lstm / "best_val.json").read_text())
    assert best["loss"] == min(e["val_loss"] for e in evals)
    splits = load_pools(pools)
    assert math.isclose(best["loss"], split_loss(_best_model(lstm), splits["val"], 4), rel_tol=1e-5)
    metrics = evaluate_run(lstm, splits, ["test", "iid_test"], "val", batch_size=4)
    assert set(metrics["test"]) == METRIC_KEYS
    for key in ("acc_all_positions", "tvd_all_positions", "acc_last_token", "tvd_last_token"):
        assert 0 <= metrics["test"][key] <= 1, key
    assert metrics["iid_test"]["n_sequences"] == 10
    done = train_run(tiny_section(), "lstm", 12, {}, pools, lstm, {"device": "cpu", "threads": 1})
    assert done["step"] == 9  # finished run: nothing retrained


def _best_model(run_dir):
    from mosaic.experiments.regbench.experiment import load_best_model

    return load_best_model(run_dir, "val")


def test_select_runs_picks_lowest_val_loss_and_scores_it(runs, pools):
    for name, loss in (("a", 1.25), ("b", 0.75)):  # fake best validation losses
        meta = runs[name] / "best_val.json"
        meta.write_text(json.dumps({**json.loads(meta.read_text()), "loss": loss}))
    sel = select_runs([runs["a"], runs["b"]], pools, batch_size=4)
    assert sel["arch"] == PLUGIN and sel["n_train"] == 8 and len(sel["points"]) == 2
    assert sel["selections"]["val"]["run"] == str(runs["b"]) and sel["selections"]["val"]["loss"] == 0.75
    assert sel["selections"]["val"]["eval_split"] == "test"
    assert set(sel["selections"]["iid_val"]["metrics"]) == METRIC_KEYS
    assert sel["selections"]["iid_val"]["eval_split"] == "iid_test"
    splits = load_pools(pools)
    for sel_split, eval_split in (("val", "test"), ("iid_val", "iid_test")):
        chosen = sel["selections"][sel_split]
        rows, m = chosen["per_sequence"], chosen["metrics"]
        # the per-sequence sums are the pooled metrics' own: the scorecard resamples these
        assert rows["sequence"] == list(range(len(splits[eval_split])))
        assert rows["automaton"] == splits[eval_split].source_index.tolist()
        assert sum(rows["n_positions"]) == m["n_positions"]
        assert sum(rows["correct_all_positions"]) / m["n_positions"] == pytest.approx(m["acc_all_positions"])
        assert sum(rows["tvd_sum_all_positions"]) / m["n_positions"] == pytest.approx(m["tvd_all_positions"])
        assert sum(rows["correct_last_token"]) / m["n_sequences"] == pytest.approx(m["acc_last_token"])
        assert sum(rows["tvd_last_token"]) / m["n_sequences"] == pytest.approx(m["tvd_last_token"])
    assert len(set(sel["selections"]["iid_val"]["per_sequence"]["automaton"])) == 8  # 10 sequences of 8 automata
    with pytest.raises(ValueError, match="mix"):
        select_runs([runs["a"], runs["lstm"]], pools)


def test_fig11_and_table4_outputs(runs, pools, tmp_path):
    from mosaic.experiments.regbench import RegBenchSplit
    from mosaic.experiments.regbench.cli import ngram_table

    ngram_csv = tmp_path / "ngram.csv"
    ngram_table(RegBenchSplit.load(pools / "test")).to_csv(ngram_csv, index=False)
    sel_plugin = select_runs([runs["a"], runs["b"]], pools, batch_size=4)
    sel_lstm = select_runs([runs["lstm"]], pools, batch_size=4)
    table = fig11([sel_plugin, sel_lstm], ngram_csv, tmp_path / "fig.png", tmp_path / "t", tmp_path / "cmp", "test")
    for f in ("fig.png", "fig.pdf", "fig.csv", "t.csv", "t.md", "cmp.csv", "cmp.md", "t_per_sequence.csv"):
        assert (tmp_path / f).is_file(), f
    both = {"acc_last_token", "tvd_last_token", "acc_all_positions", "tvd_all_positions"}
    assert both | {"acc_nodelim", "l1"} <= set(table.columns)
    assert {"2-gram backoff", "3-gram backoff", PLUGIN, "lstm"} <= set(table["model"])
    assert "nan" not in (tmp_path / "t.md").read_text()
    cmp = pd.read_csv(tmp_path / "cmp.csv")
    assert {"acc_all_positions_ours", "acc_all_positions_reference", "tvd_all_positions_diff",
            "acc_last_token_ours", "tvd_last_token_ours"} <= set(cmp.columns)
    plotted = pd.read_csv(tmp_path / "fig.csv")  # Fig. 11 draws the published curves' convention
    assert set(plotted["metric"]) == {"acc_all_positions", "tvd_all_positions"}
    per_seq = pd.read_csv(tmp_path / "t_per_sequence.csv")
    assert len(per_seq) == 2 * 6 and set(per_seq["eval_split"]) == {"test"}  # 2 (arch, N) x 6 test automata
    t4 = table4([sel_plugin], pools, ngram_csv, tmp_path / "t4")
    assert list(t4["model"]) == [PLUGIN, "2-gram backoff", "3-gram backoff"]
    assert (t4["n_positions"].iloc[0] == t4["n_positions"].iloc[1])  # same IID test strings
    assert both | {f"ood_{k}" for k in both} <= set(t4.columns)
    assert t4["ood_acc_last_token"].iloc[0] == table.set_index("model").loc[PLUGIN, "acc_last_token"]
    per_seq4 = pd.read_csv(tmp_path / "t4_per_sequence.csv")
    assert sorted(per_seq4.groupby(["selected_on", "eval_split"]).size().items()) == \
        [(("iid_val", "iid_test"), 10), (("val", "test"), 6)]
    with pytest.raises(ValueError, match="iid_val"):
        table4([sel_lstm], pools, ngram_csv, tmp_path / "t4b")


def test_scorecard_reads_the_tables_fig11_and_table4_write(runs, pools, tmp_path):
    """C7/C8 from the files fig11 and table4 really write: the plug-in's selection, renamed
    `mosaic`, is compared with itself as the baseline (identical predictions: differences of 0)."""
    from mosaic.experiments.regbench import RegBenchSplit
    from mosaic.experiments.regbench.claims import FIG11_PER_SEQUENCE, TABLE4_PER_SEQUENCE, claim_results
    from mosaic.experiments.regbench.cli import ngram_table
    from mosaic.experiments.regbench.report import read_selections
    from mosaic.harness.claims import VERDICTS

    tables = tmp_path / "results" / "tables"
    ngram_csv = tmp_path / "ngram.csv"
    ngram_table(RegBenchSplit.load(pools / "test")).to_csv(ngram_csv, index=False)
    baseline = select_runs([runs["a"], runs["b"]], pools, batch_size=4)
    paths = []
    for name, sel in (("mosaic", {**baseline, "arch": "mosaic"}), ("plugin", baseline)):
        paths.append(tmp_path / f"{name}.json")
        paths[-1].write_text(json.dumps(sel))
    selections = read_selections(paths)
    fig11(selections, ngram_csv, tmp_path / "fig.png", tables / "fig11_regbench", tmp_path / "cmp")
    table4(selections, pools, ngram_csv, tables / "table4_regbench_iid")
    assert (tmp_path / "results" / FIG11_PER_SEQUENCE).is_file()
    assert (tmp_path / "results" / TABLE4_PER_SEQUENCE).is_file()
    rows = {r.id: r for r in claim_results(tmp_path / "results")}
    for claim in ("C7", "C8"):
        # identical predictions: a difference of exactly 0, never "holds"
        assert rows[claim].verdict in VERDICTS and rows[claim].verdict not in ("holds", "not run"), rows[claim]
        assert rows[claim].value == pytest.approx(0.0, abs=1e-12)
    # a selection written before the last-token metrics existed is refused with a clear line
    stale = json.loads(paths[0].read_text())
    del stale["selections"]["val"]["per_sequence"]
    paths[0].write_text(json.dumps(stale))
    with pytest.raises(ValueError, match="older version.*select` again"):
        read_selections(paths)


def test_compare_with_paper_matches_published_points():
    ours = pd.DataFrame({"model": ["mosaic", "transformer", "my.pkg:Model"], "n_train": [100, 700, 100],
                         "acc_all_positions": [0.9, 0.5, 0.6], "tvd_all_positions": [0.5, 0.7, 0.6],
                         "acc_last_token": [0.95, 0.6, 0.7], "tvd_last_token": [0.4, 0.6, 0.5],
                         "best_epoch": [10.0] * 3})
    ngram = pd.DataFrame({"baseline": ["3-gram backoff"], "acc_all_positions": [0.93], "tvd_all_positions": [0.26],
                          "acc_last_token": [0.99], "tvd_last_token": [0.16]})
    cmp = compare_with_paper(ours, ngram, "default").set_index("model")
    assert cmp.loc["mosaic", "acc_all_positions_reference"] == 0.925
    assert math.isclose(cmp.loc["mosaic", "acc_all_positions_diff"], -0.025)
    assert cmp.loc["mosaic", "acc_last_token_ours"] == 0.95  # shown, compared with nothing
    assert pd.isna(cmp.loc["transformer", "acc_all_positions_reference"])  # no published point at N=700
    assert pd.isna(cmp.loc["my.pkg:Model", "tvd_all_positions_reference"])
    assert cmp.loc["3-gram backoff", "acc_all_positions_reference"] == 0.934
    assert cmp.loc["3-gram backoff", "tvd_last_token_ours"] == 0.16


# -- workflow ------------------------------------------------------------------------------------
def test_paper_sweep_resolves_in_dry_run():
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p))
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "fig11", "table4", "--forceall",
                           "--configfile", "config/paper.yaml"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    counts = {}
    for line in out[out.index("Job stats:"):].splitlines()[3:]:
        parts = line.split()
        if len(parts) != 2 or parts[0] == "total":
            break
        counts[parts[0]] = int(parts[1])
    rb = load_config(ROOT / "config/config.yaml", ROOT / "config/paper.yaml")["regbench"]
    sizes, sweep = rb["data"]["train_sizes"], rb["sweep"]
    expected = 0
    for arch in rb["architectures"]:
        grid = {**sweep["grid"], **(sweep.get("arch_grid") or {}).get(arch, {})}
        expected += math.prod(len(v) for v in grid.values()) * len(sizes)
    assert len(sweep["grid"]) == 4 and len(sizes) == 8  # depth x heads x width x wd; 100 .. 40k
    assert counts["regbench_train"] == expected
    assert counts["regbench_select"] == len(rb["architectures"]) * len(sizes)
    assert counts["fig11"] == counts["table4"] == 1


def test_cli_overrides_parse_numbers_yaml_cannot():
    from mosaic.harness.config import parse_overrides  # as regbench's CLI calls it

    assert parse_overrides(["n_layer=2", "weight_decay=1e-05", "lr=1.0e-3", "bias=true", "pos=rope"],
                           numbers_first=True) == \
        {"n_layer": 2, "weight_decay": 1e-05, "lr": 1e-3, "bias": True, "pos": "rope"}
    with pytest.raises(ValueError, match="key=value"):
        parse_overrides(["n_layer"], numbers_first=True)
