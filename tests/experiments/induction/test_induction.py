"""Induction heads in one block (footnote 5): the task, the CLI end to end, the scorecard row C12."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from mosaic.experiments.induction.claims import HANDLES, claim_results, eval_path
from mosaic.experiments.induction.cli import main
from mosaic.experiments.induction.data import TaskConfig, generate, make_batch, make_get_batch
from mosaic.experiments.induction.experiment import (
    EVAL_COLUMNS,
    check_held_out,
    model_config,
    read_recall_curve,
    run_name,
)
from mosaic.harness.claims import FAILS, HOLDS, INCONCLUSIVE, NOT_RUN
from mosaic.harness.config import check_section, load_config
from mosaic.harness.train import WEIGHTS
from mosaic.interface import IGNORE_INDEX
from tests.conftest import REPO

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py: tiny ops, no threads

TASK = TaskConfig(vocab_size=20, seq_len=32, n_triggers=3)
RECURRING = TaskConfig(vocab_size=20, seq_len=40, n_triggers=3, occurrences=4)


def reference_targets(tokens: torch.Tensor, triggers: set[int]) -> dict[int, int]:
    """The rule, by brute force on one sequence: at every input position holding a trigger that
    occurred earlier, the target is the token that followed the first occurrence."""
    seq = tokens.tolist()
    targets = {}
    for t in range(len(seq) - 1):
        earlier = [p for p in range(t) if seq[p] == seq[t]]
        if seq[t] in triggers and earlier:
            targets[t] = seq[earlier[0] + 1]
    return targets


# -- the task -----------------------------------------------------------------------------------
@pytest.mark.parametrize("task", [TASK, RECURRING], ids=["twice", "four_times"])
def test_copy_target_is_the_token_after_the_first_occurrence(task):
    seqs = generate(task, 64, torch.Generator().manual_seed(3))
    x, y = seqs.inputs(), seqs.recall_targets()
    T = task.seq_len
    assert x.shape == y.shape == (64, T) and seqs.tokens.shape == (64, T + 1)
    for i in range(64):
        want = reference_targets(seqs.tokens[i], set(seqs.triggers[i].tolist()))
        got = {t: int(y[i, t]) for t in range(T) if y[i, t] != IGNORE_INDEX}
        assert got == want and len(got) == task.recall_positions == task.n_triggers * (task.occurrences - 1)
        # the target is the next token of the sequence at the recall position (teacher forcing)
        assert all(int(seqs.tokens[i, t + 1]) == v for t, v in got.items())


@pytest.mark.parametrize("task", [TASK, RECURRING], ids=["twice", "four_times"])
def test_trigger_positions_and_tokens(task):
    seqs = generate(task, 200, torch.Generator().manual_seed(0))
    K, r = task.n_triggers, task.occurrences
    assert seqs.places.shape == (200, K, r) and (seqs.places.diff(dim=2) >= 2).all()
    assert (seqs.first >= 0).all() and (seqs.places <= task.seq_len - 1).all()
    assert torch.equal(seqs.recalls, seqs.places[:, :, 1:])
    for i in range(200):
        tokens = seqs.tokens[i]
        places = seqs.places[i].flatten()
        assert len(set(places.tolist()) | set((places + 1).tolist())) == 2 * K * r  # pairs never overlap
        for k in range(K):
            trig, out = int(seqs.triggers[i, k]), int(seqs.outputs[i, k])
            assert (tokens == trig).nonzero().flatten().tolist() == seqs.places[i, k].tolist()
            assert (tokens[seqs.places[i, k] + 1] == out).all()
            assert out not in seqs.triggers[i].tolist()
    assert len(set(seqs.triggers.flatten().tolist())) > K  # triggers are drawn per sequence
    # every legal place occurs: the first pair may start the sequence, the last may end it
    assert int(seqs.first.min()) == 0 and int(seqs.places.max()) == task.seq_len - 1


def test_generation_is_deterministic_and_batches_come_from_the_generator():
    a = make_batch(TASK, 8, torch.Generator().manual_seed(5))
    b = make_batch(TASK, 8, torch.Generator().manual_seed(5))
    c = make_batch(TASK, 8, torch.Generator().manual_seed(6))
    assert all(torch.equal(u, v) for u, v in zip(a, b)) and not torch.equal(a[0], c[0])
    get_batch = make_get_batch(TASK, 8)
    d = get_batch("val", 17, torch.Generator().manual_seed(5))
    assert all(torch.equal(u, v) for u, v in zip(a, d))
    assert a[0].dtype == a[1].dtype == torch.long


@pytest.mark.parametrize("values, named", [
    ({"vocab_size": 4, "seq_len": 32, "n_triggers": 3}, "vocab_size"),
    ({"vocab_size": 20, "seq_len": 10, "n_triggers": 3}, "seq_len"),
    ({"vocab_size": 20, "seq_len": 32, "n_triggers": 0}, "n_triggers"),
    ({"vocab_size": 20, "seq_len": 32}, "n_triggers"),
    ({"vocab_size": 20, "seq_len": 32, "n_triggers": 3, "bogus": 1}, "bogus"),
    ({"vocab_size": 20, "seq_len": 32, "n_triggers": 3, "occurrences": 1}, "occurrences"),
    ({"vocab_size": 20, "seq_len": 32, "n_triggers": 3, "occurrences": 6}, "seq_len"),
    ({"vocab_size": 20.5, "seq_len": 32, "n_triggers": 3}, "vocab_size"),
])
def test_bad_task_is_refused_by_name(values, named):
    with pytest.raises(ValueError, match=named):
        TaskConfig.from_dict(values)


def test_shortest_legal_sequence():
    tight = TaskConfig(vocab_size=5, seq_len=11, n_triggers=2, occurrences=3)  # 6 pairs fill all 12 tokens
    seqs = generate(tight, 20, torch.Generator().manual_seed(1))
    assert (seqs.recall_targets() != IGNORE_INDEX).sum(dim=1).eq(4).all()
    with pytest.raises(ValueError, match="seq_len"):
        TaskConfig(vocab_size=5, seq_len=10, n_triggers=2, occurrences=3).validate()


def test_model_config_and_held_out_seed_guards():
    section = {"model": {"n_head": 2, "n_embd": 16}, "arch_options": {"transformer": {"pos_encoding": "rope"}}}
    cfg = model_config(section, "transformer", 2, TASK)
    assert cfg == {"n_head": 2, "n_embd": 16, "pos_encoding": "rope", "n_layer": 2, "vocab_size": 20,
                   "block_size": 32, "pad_vocab_multiple": 1}
    assert "pos_encoding" not in model_config(section, "mosaic", 1, TASK)
    with pytest.raises(ValueError, match="n_layer"):
        model_config({"model": {"n_layer": 3}}, "mosaic", 1, TASK)
    assert run_name("pkg.mod:Cls", 2) == "pkg.mod__Cls_L2"
    train_cfg = {"seed": 1, "max_steps": 100, "eval_batches": 4}
    check_held_out(2024, train_cfg)
    with pytest.raises(ValueError, match="training batch 7"):
        check_held_out(1_000_003 + 7, train_cfg)
    with pytest.raises(ValueError, match="validation batch 3"):
        check_held_out(0x5EED_0000 + 3, train_cfg)


def test_config_files_pass_the_schema():
    for overlay in ([], ["config/smoke.yaml"], ["config/paper.yaml"]):
        merged = load_config(REPO / "config/config.yaml", *(REPO / o for o in overlay))
        check_section(merged["induction"], "induction")
    with pytest.raises(ValueError, match="model"):
        check_section({"model": {"n_layer": 2}}, "induction", partial=True)


# -- the CLI end to end ------------------------------------------------------------------------------
TINY = {
    "task": {"vocab_size": 12, "seq_len": 16, "n_triggers": 2},
    "architectures": ["mosaic", "transformer"], "depths": [1],
    "model": {"n_head": 2, "n_embd": 16, "dropout": 0.0},
    "arch_options": {"transformer": {"pos_encoding": "rope", "bias": False}},
    "batch_size": 4, "threads": 1,
    "train": {"max_steps": 6, "lr": 3.0e-3, "min_lr": 3.0e-4, "warmup_steps": 1, "eval_interval": 3,
              "eval_batches": 2, "checkpoint_interval": 3, "log_interval": 3, "seed": 1},
    "eval": {"sequences": 10, "seed": 2024, "batch_size": 4},
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Both architectures trained 6 steps at depth 1 and evaluated, through the CLI."""
    root = tmp_path_factory.mktemp("induction")
    cfg = json.dumps(TINY)
    runs = {}
    for arch in TINY["architectures"]:
        run = root / "runs" / run_name(arch, 1)
        assert main(["train", "--config-json", cfg, "--arch", arch, "--depth", "1", "--out", str(run),
                     "--device", "cpu", "--threads", "1", "--no-progress"]) == 0
        assert main(["evaluate", "--config-json", cfg, "--run", str(run), "--out", str(run / "eval.csv"),
                     "--device", "cpu"]) == 0
        runs[arch] = run
    return root, runs


def test_cli_trains_evaluates_and_reports(trained, capsys):
    root, runs = trained
    for arch, run in runs.items():
        done = json.loads((run / "done.json").read_text())
        assert done["step"] == 6
        curve = read_recall_curve(run)
        assert curve["step"].tolist() == [0, 3, 6] and curve["recall_accuracy"].between(0, 1).all()
        frame = pd.read_csv(run / "eval.csv")
        assert list(frame.columns) == EVAL_COLUMNS and len(frame) == 10
        assert (frame["recall_positions"] == 2).all() and (frame["correct"] <= 2).all()
        assert np.allclose(frame["accuracy"], frame["correct"] / frame["recall_positions"])
        assert frame["arch"].iloc[0] == arch and frame["chance"].iloc[0] == pytest.approx(1 / 10)
    a, b = (pd.read_csv(r / "eval.csv") for r in runs.values())
    assert a["eval_fingerprint"].iloc[0] == b["eval_fingerprint"].iloc[0]  # same held-out sequences

    table_base = root / "tables" / "induction_accuracy"
    assert main(["table", *sum((["--eval", str(r / "eval.csv")] for r in runs.values()), []),
                 "--out", f"{table_base}.csv"]) == 0
    table = pd.read_csv(f"{table_base}.csv")
    assert table["architecture"].tolist() == ["mosaic", "transformer"] and (table["depth"] == 1).all()
    assert (table["ci_low"] <= table["accuracy"]).all() and (table["accuracy"] <= table["ci_high"]).all()
    assert (table["steps"] == 6).all() and (table["params"] > 0).all() and (table["sequences"] == 10).all()
    assert table_base.with_suffix(".md").is_file()

    png = root / "figures" / "induction_heads.png"
    assert main(["figure", *sum((["--run", str(r)] for r in runs.values()), []), "--out", str(png)]) == 0
    assert png.is_file() and png.with_suffix(".pdf").is_file()
    plotted = pd.read_csv(png.with_suffix(".csv"))
    assert set(plotted["run"]) == {"mosaic_L1", "transformer_L1"} and len(plotted) == 6


def test_rerun_resumes_the_finished_run(trained):
    _, runs = trained
    run = runs["mosaic"]
    before = (run / WEIGHTS).stat().st_mtime_ns
    assert main(["train", "--config-json", json.dumps(TINY), "--arch", "mosaic", "--depth", "1",
                 "--out", str(run), "--device", "cpu", "--threads", "1", "--no-progress"]) == 0
    assert (run / WEIGHTS).stat().st_mtime_ns == before  # already trained: nothing redone
    assert read_recall_curve(run)["step"].tolist() == [0, 3, 6]


def test_evaluate_refuses_a_training_seed(trained, tmp_path):
    _, runs = trained
    bad = json.dumps({"eval": {**TINY["eval"], "seed": 1_000_003 + 2}})
    with pytest.raises(ValueError, match="training batch 2"):
        main(["evaluate", "--config-json", bad, "--run", str(runs["mosaic"]), "--out", str(tmp_path / "e.csv")])
    assert not (tmp_path / "e.csv").exists()


def test_bad_input_is_one_error_line(tmp_path):
    bad = json.dumps({**TINY, "task": {**TINY["task"], "n_triggers": 9}})  # 9 triggers in 16 tokens
    proc = subprocess.run([sys.executable, "-m", "mosaic", "induction", "train", "--config-json", bad,
                           "--arch", "mosaic", "--depth", "1", "--out", str(tmp_path / "run")],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()] and proc.stderr.startswith("error:")
    assert "seq_len" in proc.stderr and not (tmp_path / "run" / "checkpoint.pt").exists()
    with pytest.raises(ValueError, match="bogus"):
        main(["train", "--config-json", json.dumps({**TINY, "bogus": 1}), "--arch", "mosaic", "--depth", "1",
              "--out", str(tmp_path / "run2")])
    with pytest.raises(FileNotFoundError, match="eval.csv"):
        main(["table", "--eval", str(tmp_path / "missing" / "eval.csv"), "--out", str(tmp_path / "t.csv")])


# -- the scorecard row C12 ------------------------------------------------------------------------
def write_eval(results, run: str, accuracies, fingerprint: str = "f0") -> None:
    """A per-sequence evaluation file as `mosaic induction evaluate` writes it."""
    acc = np.asarray(accuracies, dtype=float)
    arch, depth = run.rsplit("_L", 1)
    frame = pd.DataFrame({"run": run, "arch": arch, "depth": int(depth), "num_params": 1000, "steps": 100,
                          "sequence": range(len(acc)), "recall_positions": 4, "correct": np.round(acc * 4),
                          "accuracy": acc, "chance": 0.02, "eval_fingerprint": fingerprint}, columns=EVAL_COLUMNS)
    path = eval_path(results, run)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)


def quarters(rng, n: int, mean: float) -> np.ndarray:
    """n per-sequence accuracies in {0, .25, .5, .75, 1} with about the given mean."""
    return rng.binomial(4, mean, size=n) / 4


@pytest.mark.parametrize("accuracies, verdict", [
    ({"mosaic_L1": 0.99, "transformer_L1": 0.05, "transformer_L2": 0.98}, HOLDS),
    ({"mosaic_L1": 0.30, "transformer_L1": 0.05, "transformer_L2": 0.98}, FAILS),  # (a) fails
    ({"mosaic_L1": 0.99, "transformer_L1": 0.05, "transformer_L2": 0.10}, FAILS),  # 2 blocks do not suffice
    ({"mosaic_L1": 0.99, "transformer_L1": 0.97, "transformer_L2": 0.98}, FAILS),  # 1 block suffices
    # the mosaic at exactly 0.9 (60% of sequences all right, 40% three in four): the CI straddles 0.9
    ({"mosaic_L1": [1.0] * 240 + [0.75] * 160, "transformer_L1": 0.05, "transformer_L2": 0.98}, INCONCLUSIVE),
])
def test_claim_verdicts_on_fabricated_evaluations(tmp_path, accuracies, verdict):
    rng = np.random.default_rng(0)
    for run, mean in accuracies.items():
        write_eval(tmp_path, run, mean if isinstance(mean, list) else quarters(rng, 400, mean))
    (row,) = claim_results(tmp_path)
    assert row.id == "C12" and row.verdict == verdict, row.note
    assert row.ci_low <= row.value <= row.ci_high and row.units == "400 held-out sequences"
    assert row.value == pytest.approx(pd.read_csv(eval_path(tmp_path, "mosaic_L1"))["accuracy"].mean())
    for run in accuracies:  # every model's numbers are in the note, whatever the verdict
        assert run in row.note
    assert len(row.sources) == 3


def test_claim_threshold_is_the_papers_handles():
    assert HANDLES == 0.9


def test_claim_not_run_and_mismatched_sequences(tmp_path):
    (row,) = claim_results(tmp_path)
    assert row.verdict == NOT_RUN and "mosaic_L1" in row.note
    write_eval(tmp_path, "mosaic_L1", np.ones(20))
    write_eval(tmp_path, "transformer_L1", np.zeros(20))
    (row,) = claim_results(tmp_path)
    assert row.verdict == NOT_RUN and "transformer_L2" in row.note and "mosaic_L1/" not in row.note
    write_eval(tmp_path, "transformer_L2", np.ones(20), fingerprint="other")
    with pytest.raises(ValueError, match="same held-out"):
        claim_results(tmp_path)


# -- the workflow ----------------------------------------------------------------------------------
INCLUDE_LINE = 'include: "workflow/rules/induction.smk"'


@pytest.mark.workflow
def test_snakemake_dry_run_of_the_induction_target(tmp_path):
    """`snakemake -n induction` at smoke scale resolves (in a copy; the include line added if the
    Snakefile lacks it) with one train and one evaluate job per architecture and depth."""
    import shutil

    from tests.conftest import NOT_COPIED, job_counts, snakemake

    work = tmp_path / "repo"
    shutil.copytree(REPO, work, ignore=NOT_COPIED, symlinks=True)
    snakefile = work / "Snakefile"
    text = snakefile.read_text()
    if INCLUDE_LINE not in text:
        anchor = 'include: "workflow/rules/report.smk"'
        snakefile.write_text(text.replace(anchor, f"{INCLUDE_LINE}\n{anchor}"))
    proc = snakemake("-n", "--cores", "1", "induction", "--configfile", "config/smoke.yaml", cwd=work)
    assert proc.returncode == 0, proc.stderr[-3000:]
    smoke = load_config(REPO / "config/config.yaml", REPO / "config/smoke.yaml")["induction"]
    n_runs = len(smoke["architectures"]) * len(smoke["depths"])
    counts = job_counts(proc.stdout + proc.stderr)
    assert counts["induction_train"] == counts["induction_evaluate"] == n_runs, counts
    assert counts["induction_table"] == counts["induction_figure"] == counts["induction"] == 1, counts
