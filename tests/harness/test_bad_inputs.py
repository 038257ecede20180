"""The bad-input catalogue: every way a user can hand a step a wrong input, through the real CLI.

Each case runs ``python -m mosaic.<module> ...`` (or Snakemake's dry run) in a subprocess, offline,
and checks the contract of README "Reliability":

(a) one error line: the last non-empty stderr line starts with ``error:``, it is the only such
    line, there is no traceback, and it names the file, key or value at fault;
(b) a non-zero exit status;
(c) nothing left behind: the test directory's tree (temporary files included) is the same
    before and after the command.

Inputs are tiny (a 40-story corpus, 16-token models), so each case costs one interpreter start.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO
CONFIGS = ["--config", str(REPO / "config" / "config.yaml"), "--config", str(REPO / "config" / "smoke.yaml")]
TINY_DATA = {"source": "embedded", "n_train_stories": 40, "n_val_stories": 10, "seed": 3}


# -- harness -------------------------------------------------------------------------------------
def tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every file and directory under ``root`` (hidden and temporary ones too), with size and mtime."""
    return {str(p.relative_to(root)): (p.stat().st_size if p.is_file() else -1, p.stat().st_mtime_ns)
            for p in root.rglob("*")}


def expect_error(root: Path, module: str, *args: str, names: tuple[str, ...] = (),
                 cwd: Path | None = None, timeout: float = 120) -> str:
    """Run ``python -m <module> args`` and check (a), (b), (c); returns the error line."""
    before = tree(root)
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", PYTHONPATH=os.pathsep.join(
        p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p))
    proc = subprocess.run([sys.executable, "-m", module, *args], cwd=cwd or root, env=env,
                          capture_output=True, text=True, timeout=timeout)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode != 0, f"exit 0 for a bad input; stderr:\n{proc.stderr[-2000:]}"
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert lines and lines[-1].startswith("error: "), proc.stderr[-2000:]
    assert sum(line.startswith("error:") for line in lines) == 1, proc.stderr[-2000:]
    line = lines[-1]
    print(f"{module} {args[0]}: {line}")  # shown with -s: the catalogue's "what you see"
    for needle in names:
        assert needle in line, f"{needle!r} not named in: {line}"
    assert tree(root) == before, f"left behind: {sorted(set(tree(root)) ^ set(before))}"
    return line


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    """A prepared story data directory (train.bin, val.bin, vocab.json, meta.json), read-only use."""
    from mosaic.experiments.stories.tokens import prepare_story_data

    out = tmp_path_factory.mktemp("bad_inputs") / "data"
    prepare_story_data(TINY_DATA, out)
    return out


@pytest.fixture()
def data_copy(data_dir, tmp_path) -> Path:
    """A private copy of the data directory, for the cases that damage it."""
    return Path(shutil.copytree(data_dir, tmp_path / "data"))


def lm_train(tmp_path: Path, data: Path, *extra: str, arch: str = "mosaic") -> tuple[str, ...]:
    return ("mosaic", "stories", "train", *CONFIGS, "--arch", arch, "--set", "n_layer=1", "--data", str(data),
            "--out", str(tmp_path / "results" / "runs" / "x"), "--device", "cpu", "--threads", "1",
            "--no-progress", *extra)


def prepare(tmp_path: Path, cfg: dict, out: Path | None = None) -> tuple[str, ...]:
    return ("mosaic", "stories", "prepare", "--config-json", json.dumps(cfg),
            "--out", str(out or tmp_path / "results" / "data"))


def write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


# -- configuration files and values --------------------------------------------------------------
def test_malformed_yaml_names_file_and_line(tmp_path, data_dir):
    bad = write(tmp_path / "bad.yaml", "stories:\n  model: {n_head: 2\n  batch_size: 4\n")
    expect_error(tmp_path, *lm_train(tmp_path, data_dir, "--config", str(bad)),
                 names=(f"{bad}:3:", "malformed YAML"))


def test_config_file_not_utf8_names_file(tmp_path, data_dir):
    bad = write(tmp_path / "latin1.yaml", "stories:\n  data: {name: caf\xe9}\n".encode("latin-1"))
    expect_error(tmp_path, *lm_train(tmp_path, data_dir, "--config", str(bad)), names=(str(bad), "UTF-8"))


def test_unknown_section_key_names_key_and_section(tmp_path, data_dir):
    bad = write(tmp_path / "typo.yaml", "stories:\n  batch_sise: 4\n")
    expect_error(tmp_path, *lm_train(tmp_path, data_dir, "--config", str(bad)),
                 names=("stories", "'batch_sise' was unexpected"))


def test_unknown_data_key_names_key(tmp_path):
    expect_error(tmp_path, *prepare(tmp_path, {**TINY_DATA, "n_train_storys": 5}),
                 names=("data.n_train_storys",))


def test_negative_lr_in_config_file(tmp_path):
    bad = write(tmp_path / "lr.yaml", "three_moons:\n  train: {lr: -0.01}\n")
    expect_error(tmp_path, "mosaic", "three-moons", "train", "--heads", "1", *CONFIGS, "--config", str(bad),
                 "--out", str(tmp_path / "results" / "run"), names=("three_moons.train.lr", "-0.01"))


def test_negative_lr_override(tmp_path, data_dir):
    expect_error(tmp_path, *lm_train(tmp_path, data_dir, "--set-train", "lr=-0.001"),
                 names=("TrainConfig.lr", "-0.001"))


def test_leaky_average_lambda_outside_unit_interval(tmp_path, data_dir):
    # λ_φ = exp(-β) with β spread over [beta_min, beta_max]: beta_min = 0 gives λ_φ = 1 (no decay).
    expect_error(tmp_path, *lm_train(tmp_path, data_dir, "--set", "beta_min=0.0"), names=("beta_min",))


def test_block_size_zero(tmp_path, data_dir):
    expect_error(tmp_path, *lm_train(tmp_path, data_dir, "--set", "block_size=0"),
                 names=("block_size must be >= 1", "got 0"))


@pytest.mark.parametrize("raw, named", [("[1, 2]", "must be a JSON object, got list"),
                                        ("{steps: 3}", "not valid JSON")], ids=["list", "not_json"])
def test_config_json_not_an_object_or_not_json(tmp_path, raw, named):
    expect_error(tmp_path, "mosaic", "three-moons", "train", "--heads", "1", "--config-json", raw,
                 "--out", str(tmp_path / "results" / "run"), names=("--config-json", named))


# -- architectures and plug-ins ------------------------------------------------------------------
@pytest.mark.parametrize("arch, named", [
    ("mosaik", "unknown architecture 'mosaik' (did you mean 'mosaic'?)"),
    ("no_such_pkg.models:MyLM", "cannot import plugin module 'no_such_pkg.models'"),
    ("tests.fixtures.plugin_models:Missing", "has no attribute 'Missing'"),
    ("tests.fixtures.plugin_models:NotAModel", "not a mosaic.interface.LanguageModel subclass"),
    ("tests.fixtures.bad_plugin_models:NoTargetsLM", "forward(idx, targets) failed"),
    ("tests.fixtures.bad_plugin_models:LastPositionLM", "expected (B, T, vocab_size)"),
], ids=["unknown_name", "module_missing", "attribute_missing", "not_a_language_model",
        "forward_signature", "logits_shape"])
def test_bad_architecture_or_plugin(tmp_path, data_dir, arch, named):
    expect_error(tmp_path, *lm_train(tmp_path, data_dir, arch=arch), names=(named,))


# -- corpora -------------------------------------------------------------------------------------
@pytest.mark.parametrize("content, named", [
    (None, "file not found"),
    ("", "file is empty"),
    ("Once upon a time \xff\xfe a cat.\n".encode("latin-1"), "UnicodeDecodeError"),
], ids=["missing", "empty", "not_utf8"])
def test_bad_corpus_file(tmp_path, content, named):
    train = tmp_path / "train.txt"
    if content is not None:
        write(train, content)
    val = write(tmp_path / "val.txt", "A dog ran home.\n")
    cfg = {"source": "files", "files": {"train": str(train), "val": str(val)}}
    expect_error(tmp_path, *prepare(tmp_path, cfg), names=("data.files.train", str(train), named))


def test_hub_dataset_unreachable_offline(tmp_path):
    cfg = {"source": "hub", "n_train_stories": 5, "n_val_stories": 5,
           "hub": {"id": "roneneldan/TinyStories"}}
    expect_error(tmp_path, *prepare(tmp_path, cfg), names=("roneneldan/TinyStories", "source: files"))


def test_corpus_smaller_than_one_context_window(tmp_path, data_dir):
    n_val = json.loads((data_dir / "meta.json").read_text())["splits"]["val"]["n_tokens"]
    expect_error(tmp_path, *lm_train(tmp_path, data_dir, "--set", f"block_size={n_val}"),
                 names=(f"val.bin has {n_val} tokens", f"block_size {n_val} + 1"))


# -- token files ---------------------------------------------------------------------------------
def _rewrite_split(data: Path, split: str, tokens: np.ndarray, update_meta: bool) -> None:
    import hashlib

    tokens.astype(np.uint16).tofile(data / f"{split}.bin")
    if update_meta:  # a consistent directory whose ids come from another vocabulary
        meta = json.loads((data / "meta.json").read_text())
        meta["splits"][split].update(sha256=hashlib.sha256(tokens.astype(np.uint16).tobytes()).hexdigest(),
                                     max_id=int(tokens.max()), n_tokens=int(tokens.size))
        (data / "meta.json").write_text(json.dumps(meta))


def test_token_id_outside_vocabulary(tmp_path, data_copy):
    vocab = json.loads((data_copy / "meta.json").read_text())["tokenizer"]["vocab_size"]
    tokens = np.fromfile(data_copy / "train.bin", dtype=np.uint16)
    tokens[7] = vocab + 12
    _rewrite_split(data_copy, "train", tokens, update_meta=True)
    expect_error(tmp_path, *lm_train(tmp_path, data_copy),
                 names=("train.bin", f"token id {vocab + 12} >= vocab_size {vocab}", "position 7"))


def test_token_file_size_not_matching_meta(tmp_path, data_copy):
    raw = (data_copy / "val.bin").read_bytes()
    write(data_copy / "val.bin", raw[:-1])  # half a uint16 missing: a torn copy
    expect_error(tmp_path, *lm_train(tmp_path, data_copy),
                 names=("val.bin", f"has {len(raw) - 1} bytes", "meta.json says"))


def test_token_file_content_not_matching_meta_hash(tmp_path, data_copy):
    tokens = np.fromfile(data_copy / "train.bin", dtype=np.uint16)
    _rewrite_split(data_copy, "train", tokens[::-1].copy(), update_meta=False)  # same size, same ids
    expect_error(tmp_path, *lm_train(tmp_path, data_copy),
                 names=("train.bin", "does not match its meta.json entry", "SHA-256"))


def test_data_meta_not_json(tmp_path, data_copy):
    meta = data_copy / "meta.json"
    write(meta, meta.read_text()[:100])  # a torn copy
    expect_error(tmp_path, *lm_train(tmp_path, data_copy), names=(str(meta), "is not valid JSON"))


# -- context length ------------------------------------------------------------------------------
def test_context_beyond_absolute_positions(tmp_path, data_dir):
    import torch

    from mosaic import build_model

    vocab = json.loads((data_dir / "meta.json").read_text())["tokenizer"]["vocab_size"]
    model_cfg = {"vocab_size": vocab, "n_layer": 1, "n_head": 2, "n_embd": 16, "block_size": 16,
                 "pos_encoding": "absolute"}
    run = tmp_path / "run"
    run.mkdir()
    torch.save(build_model("transformer", **model_cfg).state_dict(), run / "model.pt")
    (run / "config.json").write_text(json.dumps({"run": {"arch": "transformer", "model": model_cfg,
                                                         "data": str(data_dir)}}))
    expect_error(tmp_path, "mosaic", "analyses", "position-loss", "--run", str(run), "--data", str(data_dir),
                 "--context-factor", "3", "--windows", "2", "--device", "cpu",
                 "--out", str(tmp_path / "results" / "loss.csv"),
                 names=("block_size=16", "absolute positions", "sequence of 48"))


# -- outputs -------------------------------------------------------------------------------------
def test_output_under_a_regular_file_data_cli(tmp_path):
    blocker = write(tmp_path / "results", "not a directory\n")
    expect_error(tmp_path, *prepare(tmp_path, TINY_DATA, out=blocker / "data"),
                 names=(str(blocker / "data"), "Not a directory"))


def test_output_under_a_regular_file_run_cli(tmp_path):
    blocker = write(tmp_path / "results", "not a directory\n")
    cfg = {"data": {"n_test": 4, "n_val": 4, "train_sizes": [4],
                    "pfa": {"min_strings": 2, "max_strings": 3, "max_string_len": 6}}}
    expect_error(tmp_path, "mosaic", "regbench", "generate", "--config-json", json.dumps(cfg),
                 "--out", str(blocker / "regbench"), names=(str(blocker / "regbench"), "Not a directory"))


# -- RegBench automata ---------------------------------------------------------------------------
@pytest.mark.parametrize("pfa, named", [
    ({"min_states": 0}, "PFA parameter min_states must be >= 1, got 0"),
    ({"min_alphabet": 2, "max_alphabet": 2}, "max_out_degree=3 needs that many distinct letters"),
], ids=["zero_states", "alphabet_too_small"])
def test_regbench_automata_that_cannot_produce_strings(tmp_path, pfa, named):
    cfg = {"data": {"n_test": 4, "n_val": 4, "train_sizes": [4], "pfa": pfa}}
    expect_error(tmp_path, "mosaic", "regbench", "generate", "--config-json", json.dumps(cfg),
                 "--out", str(tmp_path / "results" / "regbench"), names=(named,))


@pytest.fixture(scope="session")
def regbench_dir(tmp_path_factory) -> Path:
    """Generated RegBench pools: 4 test / 4 val automata, one training pool of N = 4."""
    from mosaic.experiments.regbench.dataset import DataConfig, write_pools

    out = tmp_path_factory.mktemp("bad_inputs_regbench") / "data"
    write_pools(DataConfig.from_dict({"n_test": 4, "n_val": 4, "train_sizes": [4],
                                      "pfa": {"min_strings": 2, "max_strings": 3, "max_string_len": 6}}), out)
    return out


@pytest.mark.parametrize("extra, arch, named", [
    ((), "transformr", "unknown architecture 'transformr' (did you mean 'transformer'?)"),
    (("--config-json", '{"epochz": 3}'), "mosaic", "config regbench: Additional properties are not allowed ('epochz'"),
], ids=["unknown_arch", "unknown_key"])
def test_regbench_train_bad_arch_or_key_leaves_no_run_dir(tmp_path, regbench_dir, extra, arch, named):
    expect_error(tmp_path, "mosaic", "regbench", "train", *CONFIGS, *extra, "--arch", arch, "--n-train", "4",
                 "--data", str(regbench_dir), "--out", str(tmp_path / "results" / "run"),
                 "--device", "cpu", "--no-progress", names=(named,))


# -- prompts -------------------------------------------------------------------------------------
def test_prompts_file_empty(tmp_path, data_dir):
    prompts = write(tmp_path / "prompts.txt", "\n  \n")
    expect_error(tmp_path, "mosaic", "stories", "continuations", *CONFIGS,
                 "--config-json", json.dumps({"prompts_file": str(prompts)}),
                 "--runs", str(tmp_path / "no_run"), "--data", str(data_dir), "--title", "t",
                 "--out", str(tmp_path / "results" / "table1.md"),
                 names=("prompts file holds no prompts", str(prompts)))


# -- in-process: the contract's edges -------------------------------------------------------------
def test_run_cli_reports_os_errors_and_keeps_tracebacks_for_bugs(tmp_path, capsys):
    from mosaic.harness.config import run_cli

    def refuses_path():
        (tmp_path / "file").write_text("x")
        (tmp_path / "file" / "out.csv").write_text("y")

    with pytest.raises(SystemExit) as exit_info:
        run_cli(refuses_path)
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip() == f"error: {tmp_path / 'file' / 'out.csv'}: Not a directory (NotADirectoryError)"

    def bug():
        raise RuntimeError("an internal bug")

    with pytest.raises(RuntimeError, match="an internal bug"):
        run_cli(bug)


def test_forward_probe_leaves_the_random_stream_alone():
    import torch

    from mosaic.registry import build_model, resolve_model

    cfg = {"vocab_size": 50, "n_layer": 1, "n_head": 2, "n_embd": 16, "block_size": 8, "dropout": 0.5}
    torch.manual_seed(0)
    probed = build_model("mosaic", **cfg)
    after_probe = torch.get_rng_state()
    torch.manual_seed(0)
    plain = resolve_model("mosaic").from_config(**cfg)
    assert torch.equal(after_probe, torch.get_rng_state())
    assert probed.training and all(torch.equal(a, b) for a, b in zip(probed.parameters(), plain.parameters()))


# -- Snakemake: the same files enter through --configfile ----------------------------------------
def _snakemake_dry_run(tmp_path: Path, configfile: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    return subprocess.run([sys.executable, "-m", "snakemake", "-n", "--configfile", str(configfile)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=180)


def test_snakemake_unknown_section_key(tmp_path):
    bad = write(tmp_path / "typo.yaml", "regbench:\n  epochz: 3\n")
    proc = _snakemake_dry_run(tmp_path, bad)
    assert proc.returncode != 0
    assert "epochz" in proc.stderr + proc.stdout


def test_snakemake_out_of_range_section_value(tmp_path):
    bad = write(tmp_path / "lr.yaml", "stories:\n  train: {lr: -1.0e-3}\n")
    proc = _snakemake_dry_run(tmp_path, bad)
    assert proc.returncode != 0
    assert "lr" in proc.stderr + proc.stdout and "-0.001" in proc.stderr + proc.stdout
