"""The benchmark suite (benchmarks/): the report runs end to end and ends with its targets, the FLOP
formulas give hand-computed counts, the exponent fit recovers a known slope, memory is measured
in fresh processes, and the workflow's runtime table is built from Snakemake benchmark files."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from tests.conftest import REPO

sys.path.insert(0, str(REPO))

from benchmarks import bench_models, dag_time, flops  # noqa: E402
from benchmarks.measure import generation_times, loglog_slope, paired_ratios, supports_cache  # noqa: E402
from benchmarks.memory import peak_step_memory  # noqa: E402
from mosaic import build_model  # noqa: E402
from mosaic.harness.config import deep_merge  # noqa: E402

TARGET_LINE = re.compile(r"^.+: .+ \((pass|short|n/a)\)$")


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py: tiny ops, no threads


def test_smoke_preset_prints_every_section_and_the_targets(capsys):
    assert bench_models.main(["--preset", "smoke", "--device", "cpu", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    for header in ("[1] training throughput", "[2] matmul peak", "[3] MFU", "[3b] where a block's time",
                   "[4] leaky average", "[5] generation", "[6] peak memory"):
        assert header in out, header
    for part in ("mosaic contextual memory", "mosaic persistent memory", "its SDPA kernel alone",
                 "transformer attention", "transformer MLP"):
        assert re.search(rf"{part}.*\d ms$", out, re.M), part
    block = out.split("\ntargets (")[1].splitlines()[1:]
    assert block and all(TARGET_LINE.match(line) for line in block), block
    kinds = " ".join(block)
    for target in ("training tokens/s", "MFU mosaic", "MFU transformer", "leaky average share",
                   "leaky average cost exponent", "generation speedup", "peak step memory"):
        assert target in kinds, target
    for model in ("mosaic", "transformer", "lstm", "gru", "ssm"):  # every registered model is timed
        assert re.search(rf"^\s+\d+\s+\d+\s+{model}\s", out, re.M), model
    assert re.search(r"tokens/s at ctx 32 >= 0.9: [\d.]+ median of 1 paired rounds \(range", out)


def test_paired_ratios_take_each_round_on_its_own():
    # the second model is 2x faster in every round but one, where the machine was quiet for it
    # alone: the ratio of the best times says 4, the median of the rounds says 2
    slow, fast = [2.0, 2.0, 2.0], [1.0, 1.0, 0.5]
    assert min(slow) / min(fast) == 4.0
    assert paired_ratios(slow, fast) == {"median": 2.0, "min": 2.0, "max": 4.0, "rounds": 3}
    assert paired_ratios([1.0, 3.0, 2.0], [1.0, 1.0, 1.0])["median"] == 2.0


# -- FLOP formulas (hand-computed; docs/performance.md) -----------------------------------------------
# vocab 100 is padded to 128 rows: the head multiplies all of them (128·8 = 1024 weights).
SMALL = dict(vocab_size=100, n_layer=1, n_head=2, n_embd=8, block_size=16)


@pytest.mark.parametrize("name, options, n_matmul, train_flops", [
    # 12·d² per block + head: 768 + 1024; 6N + 12·L·T·d = 10752 + 1536
    ("transformer", {"bias": False}, 1792, 12288),
    ("transformer", {"bias": True, "pos_encoding": "rope"}, 1792, 12288),  # biases: not matmuls
    # W_φ, W_ψ, W_z, persistent W_φ, W_o: 5·64; slots 2·28·8 = 448; head 1024.
    # mixing: 4·T·d = 512, two leaky averages 2·2·8 = 32, value mix 2·8 = 16 -> 6N + 3·560
    ("mosaic", {}, 1792, 12432),
    ("lstm", {}, 512 + 1024, 9216),  # W_ih, W_hh: 2·4·d²
    ("gru", {}, 384 + 1024, 8448),  # 2·3·d²
    # in_proj 8·(16 + 48 + 2) = 528, conv 48·4 = 192, out_proj 16·8 = 128, head 1024;
    # recurrence 5·d_inner·d_state = 5·16·16 = 1280 -> 6N + 3·1280
    ("ssm", {"headdim": 8}, 1872, 15072),
])
def test_flop_formulas_give_hand_computed_counts(name, options, n_matmul, train_flops):
    model = build_model(name, **SMALL, **options)
    assert flops.matmul_params(model) == n_matmul
    assert flops.train_flops_per_token(model, 16) == train_flops


def test_a_compiled_model_is_counted_as_the_model_it_wraps():
    """The benchmark's ``name[...+compile]`` variants are torch.compile wrappers (not compiled
    until called): same N, same mixing term and formula as the model itself."""
    model = build_model("mosaic", **SMALL)
    compiled = torch.compile(model)
    assert flops.train_flops_per_token(compiled, 16) == flops.train_flops_per_token(model, 16) == 12432
    assert flops.formula(compiled) == flops.formula(model)


def test_absolute_positions_and_an_untied_lookup_are_not_counted():
    absolute = build_model("transformer", **SMALL, bias=False)
    # left out: the position table (16·8) and the three LayerNorm weights (3·8)
    assert absolute.num_params() - flops.matmul_params(absolute) == 16 * 8 + 3 * 8
    bigram = build_model("tests.fixtures.plugin_models:BigramLM", **SMALL)  # a plug-in: one lookup table
    assert flops.matmul_params(bigram) == 0
    assert "no mixing term" in flops.formula(bigram)


def test_attention_term_grows_with_the_context():
    model = build_model("transformer", **SMALL, bias=False)
    assert flops.train_flops_per_token(model, 32) - flops.train_flops_per_token(model, 16) == 12 * 16 * 8


# -- fits and measurements ----------------------------------------------------------------------------
@pytest.mark.parametrize("exponent", [1.0, 1.5, 2.0])
def test_loglog_slope_recovers_a_known_exponent(exponent):
    xs = np.array([256, 512, 1024, 2048, 4096], dtype=float)
    assert loglog_slope(xs, 3e-6 * xs**exponent) == pytest.approx(exponent, abs=1e-9)
    noise = np.random.default_rng(0).uniform(0.95, 1.05, xs.size)  # +-5% timing noise
    assert loglog_slope(xs, 3e-6 * xs**exponent * noise) == pytest.approx(exponent, abs=0.05)


def test_loglog_slope_refuses_too_few_or_non_positive_points():
    with pytest.raises(ValueError):
        loglog_slope([1.0], [2.0])
    with pytest.raises(ValueError):
        loglog_slope([1.0, 2.0], [0.0, 1.0])


def test_peak_memory_grows_with_the_batch():
    cfg = {"vocab_size": 512, "n_layer": 1, "n_head": 2, "n_embd": 32}
    small, large = (peak_step_memory("transformer", cfg, None, b, 256, 1, "cpu", "fp32", 1)["peak_bytes"]
                    for b in (1, 16))
    # logits alone: 16·256·512 floats = 8 MiB, and their gradient
    assert large > small + 8 * 2**20, (small, large)


def test_generation_is_skipped_for_a_model_without_a_cache():
    bigram = build_model("tests.fixtures.plugin_models:BigramLM", **SMALL)  # no prefill/decode_step
    assert not supports_cache(bigram)
    assert generation_times(bigram, 4, 4, torch.device("cpu")) == {}


def test_scaling_figure_from_a_config_section(tmp_path, capsys):
    cfg = {"architectures": ["mosaic", "lstm"], "model": {"vocab_size": 64, "n_layer": 1, "n_head": 2, "n_embd": 16},
           "arch_options": {}, "batch_size": 1, "contexts": [16, 32], "warmup_steps": 0, "rounds": 1,
           "memory_steps": 1, "precision": "fp32"}
    png = tmp_path / "perf_scaling.png"
    assert bench_models.main(["--config-json", json.dumps(cfg), "--scaling-figure", str(png),
                              "--device", "cpu", "--threads", "1"]) == 0
    assert png.is_file() and png.with_suffix(".pdf").is_file()
    df = pd.read_csv(png.with_suffix(".csv"))
    assert sorted(zip(df["arch"], df["context"])) == [("lstm", 16), ("lstm", 32), ("mosaic", 16), ("mosaic", 32)]
    assert (df["tokens_per_s"] > 0).all() and df["peak_mib"].notna().all()


def test_performance_sections_match_their_schema():
    schema = yaml.safe_load((REPO / "mosaic/harness/schemas/performance.schema.yaml").read_text())
    base = yaml.safe_load((REPO / "config/config.yaml").read_text())
    for overlay in ("smoke", "paper"):
        merged = deep_merge(base, yaml.safe_load((REPO / f"config/{overlay}.yaml").read_text()))
        jsonschema.validate(merged["performance"], schema)
    bad = dict(base["performance"], contexts=[])
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


# -- the workflow's runtime table ---------------------------------------------------------------------
HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def write_tsv(path: Path, seconds: float, rss: float, cpu: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + f"{seconds}\t0:00:{int(seconds):02d}\t{rss}\t1\t1\t1\t0\t0\t50\t{cpu}\n")


def test_dag_time_builds_the_table_from_benchmark_files(tmp_path):
    bench = tmp_path / "results" / "benchmarks"
    write_tsv(bench / "regbench/train_mosaic_N100_weight_decay~0.1.tsv", 30.0, 400.0, 55.0)
    write_tsv(bench / "regbench/train_pkg.bigram__BigramLM_N100_weight_decay~0.1.tsv", 10.0, 300.0, 9.0)
    write_tsv(bench / "regbench/data.tsv", 2.0, 100.0, 1.5)
    write_tsv(bench / "three_moons/train_one_head.tsv", 5.0, 200.0, 5.0)
    write_tsv(bench / "three_moons/fig04_one_head.tsv", 1.0, 150.0, 1.0)
    write_tsv(bench / "analyses/train_fig13_rope.tsv", 7.0, 250.0, 7.0)
    # as Snakemake gives them: wildcard constraints inline, braces nested in a constraint
    rules = {"regbench_train": r"results/benchmarks/regbench/train_{arch,[A-Za-z0-9_.\-]+}_N{n,\d+}_{point}.tsv",
             "regbench_data": "results/benchmarks/regbench/data.tsv",
             "three_moons_train": "results/benchmarks/three_moons/train_{tm_run}.tsv",
             "three_moons_figure": r"results/benchmarks/three_moons/{fig,fig\d{2}}_{tm_run}.tsv",
             "analyses_train": "results/benchmarks/analyses/train_{name}.tsv"}
    config = {"regbench": {"architectures": ["mosaic", "pkg.bigram:BigramLM", "ssm"]},
              "analyses": {"extra_models": {"fig13_rope": {"arch": "transformer"}}}}
    out = tmp_path / "results" / "tables" / "runtime"
    assert dag_time.main(["--benchmarks", str(bench), "--out", str(out), "--rules-json", json.dumps(rules),
                          "--config-json", json.dumps(config)]) == 0
    df = pd.read_csv(out.with_suffix(".csv"))
    jobs = df[~df["rule"].str.startswith("(")].set_index("job")
    assert jobs.loc["train_one_head", "rule"] == "three_moons_train"  # the more specific pattern
    assert jobs.loc["fig04_one_head", "rule"] == "three_moons_figure"
    assert jobs.loc["train_mosaic_N100_weight_decay~0.1", "architecture"] == "mosaic"
    assert jobs.loc["train_pkg.bigram__BigramLM_N100_weight_decay~0.1", "architecture"] == "pkg.bigram:BigramLM"
    assert jobs.loc["train_fig13_rope", "architecture"] == "transformer"
    assert pd.isna(jobs.loc["data", "architecture"]) and jobs.loc["data", "experiment"] == "regbench"

    totals = df[df["rule"] == "(experiment total)"].set_index("experiment")
    assert totals.loc["regbench", "wall_s"] == pytest.approx(42.0)
    assert totals.loc["regbench", "max_rss_mb"] == pytest.approx(400.0)
    by_arch = df[df["rule"] == "(architecture total)"].set_index("architecture")
    assert set(by_arch.index) == {"mosaic", "pkg.bigram:BigramLM", "ssm", "transformer"}  # ssm: no job
    assert by_arch.loc["ssm", "wall_s"] == 0 and by_arch.loc["ssm", "job"] == "0 jobs"
    grand = df.iloc[-1]
    assert grand["rule"] == "(total)" and grand["wall_s"] == pytest.approx(55.0) and grand["job"] == "6 jobs"
    assert grand["cpu_s"] == pytest.approx(78.5)
    md = out.with_suffix(".md").read_text()
    assert md.startswith("| experiment | rule | job |") and "| (all) | (total) | 6 jobs |" in md


def test_dag_time_refuses_a_file_that_is_not_a_benchmark(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "bad.tsv").write_text("a\tb\n1\t2\n")
    with pytest.raises(ValueError, match="not a Snakemake benchmark"):
        dag_time.main(["--benchmarks", str(tmp_path), "--out", str(tmp_path / "runtime")])
    with pytest.raises(FileNotFoundError):
        dag_time.main(["--benchmarks", str(tmp_path / "missing"), "--out", str(tmp_path / "runtime")])


def test_architecture_names_are_whole_tokens():
    names = dag_time.architectures_from_config({"s": {"architectures": ["gru", "mosaic", "mosaic_small"]}})
    assert dag_time.architecture_of("train_mosaic_small_L2", names) == "mosaic_small"  # longest wins
    assert dag_time.architecture_of("train_mosaic_L2", names) == "mosaic"
    assert dag_time.architecture_of("train_agrumosaicx", names) is None


def test_every_architecture_of_the_default_config_gets_a_row(tmp_path):
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    names = dag_time.architectures_from_config(config)
    configured = {a for section in config.values() if isinstance(section, dict)
                  for a in section.get("architectures", [])}
    assert configured and configured <= set(names.values())
    (tmp_path / "bench").mkdir()
    table = dag_time.runtime_table(tmp_path / "bench", {}, names)
    assert configured <= set(table.loc[table["rule"] == "(architecture total)", "architecture"])
