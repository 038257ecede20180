"""The bad-input catalogue: every way a user can hand a step a wrong input, through the real CLI.

Each case runs ``python -m mosaic <experiment> <step> ...`` (or Snakemake's dry run), offline, and
checks the contract of docs/reliability.md:

(a) one error line: the last non-empty stderr line starts with ``error:``, it is the only such
    line, there is no traceback, and it names the file, key or value at fault;
(b) a non-zero exit status;
(c) nothing left behind: the test directory's tree (temporary files included: names, sizes and
    modification times) is the same before and after the command.

Inputs are tiny (a 40-story corpus, 16-token models). A fresh interpreter costs about 4 s (torch's
import), so the cases run in processes forked from one warm interpreter that has imported the
CLI modules (:class:`WarmInterpreter`): each child runs ``python -m mosaic ARGS`` exactly as the
command line does (``runpy``, its own working directory, environment, stdout and stderr, resource
limits for the out-of-memory and full-disk cases). ``MOSAIC_FRESH_INTERPRETER=1`` runs every
case in a fresh interpreter instead (the two must print the same lines). The catalogue's size: :func:`test_the_catalogue_holds_at_least_60_bad_inputs`.
"""
from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
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


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    path = os.pathsep.join(p for p in ((extra or {}).get("PYTHONPATH"), str(REPO), os.environ.get("PYTHONPATH", ""))
                           if p)
    return {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", **(extra or {}), "PYTHONPATH": path}


# The server: imports the CLI modules once, then for each request (a JSON line) forks a child that
# runs `python -m MODULE ARGS` as the interpreter would, and answers with the child's exit status.
SERVER = r"""
import atexit, importlib, json, os, resource, runpy, sys, time, traceback

def limit_resources(limits):
    # file_size: bytes a file may reach (a write past it fails with EFBIG, as on a full disk);
    # extra_memory: address space this process may still map (an allocation past it fails)
    if "file_size" in limits:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits["file_size"], resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
    if "extra_memory" in limits:
        with open("/proc/self/status") as fh:
            used = next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmSize:"))
        resource.setrlimit(resource.RLIMIT_AS, (used + limits["extra_memory"], resource.getrlimit(resource.RLIMIT_AS)[1]))

for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except Exception:  # the child will meet the same failure, and report it
        pass
for line in sys.stdin:
    request = json.loads(line)
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.chdir(request["cwd"])
            os.environ.clear()
            os.environ.update(request["env"])
            extra = [p for p in request["env"].get("PYTHONPATH", "").split(os.pathsep) if p and p not in sys.path]
            sys.path[:1] = [request["cwd"], *extra]  # as `python -m` from that directory
            for fd, name, flags in ((0, os.devnull, os.O_RDONLY), (1, request["stdout"], os.O_WRONLY),
                                    (2, request["stderr"], os.O_WRONLY)):
                os.dup2(os.open(name, flags), fd)
            limit_resources(request["limits"])
            sys.argv = [request["module"], *request["args"]]
            try:
                runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
                code = 0
            except SystemExit as exc:
                if exc.code is None or isinstance(exc.code, int):
                    code = exc.code or 0
                else:
                    print(exc.code, file=sys.stderr)
            except BaseException:
                traceback.print_exc()
            atexit._run_exitfuncs()
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)
    deadline = time.monotonic() + request["timeout"]
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            code = os.waitstatus_to_exitcode(status)
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            code = "timeout"
            break
        time.sleep(0.002)
    sys.stdout.write(json.dumps({"returncode": code}) + "\n")
    sys.stdout.flush()
"""
PRELOAD = ("torch", "numpy", "pandas", "yaml", "jsonschema", "mosaic.cli", "mosaic.harness.train",
           "mosaic.harness.runs", "mosaic.experiments.stories", "mosaic.experiments.stories.cli",
           "mosaic.experiments.three_moons.cli", "mosaic.experiments.regbench.cli",
           "mosaic.experiments.analyses.cli")


class WarmInterpreter:
    """One interpreter with the CLI modules imported; :meth:`run` forks it per command. It never
    runs a torch operation itself, so its children start with no thread pool to inherit."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", SERVER, *PRELOAD], cwd=REPO, env=cli_env(),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def run(self, module: str, args: tuple[str, ...], cwd: Path, env: dict[str, str],
            timeout: float, limits: dict[str, int]) -> subprocess.CompletedProcess:
        with tempfile.TemporaryDirectory() as outputs:
            stdout, stderr = Path(outputs) / "stdout", Path(outputs) / "stderr"
            stdout.touch()
            stderr.touch()
            request = {"module": module, "args": list(args), "cwd": str(cwd), "env": env, "timeout": timeout,
                       "stdout": str(stdout), "stderr": str(stderr), "limits": limits}
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
            reply = json.loads(self.proc.stdout.readline())
            assert reply["returncode"] != "timeout", f"timed out after {timeout} s: {stderr.read_text()[-2000:]}"
            return subprocess.CompletedProcess(args, reply["returncode"], stdout.read_text(), stderr.read_text())

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


@pytest.fixture(scope="session")
def warm() -> WarmInterpreter | None:
    if os.environ.get("MOSAIC_FRESH_INTERPRETER") == "1" or not hasattr(os, "fork"):
        yield None
        return
    server = WarmInterpreter()
    yield server
    server.close()


_WARM: list[WarmInterpreter | None] = []  # the session's server, set by the autouse fixture below
CASES: list[str] = []  # every command checked by expect_error in this session


@pytest.fixture(autouse=True)
def _use_warm(warm):
    _WARM[:] = [warm]


FRESH_INTERPRETER_MEMORY = 6 << 30  # address space torch's import may take, beyond which "extra_memory" counts


def _fresh_limits(limits: dict[str, int]):
    def apply() -> None:
        if "file_size" in limits:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limits["file_size"], resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
        if "extra_memory" in limits:
            resource.setrlimit(resource.RLIMIT_AS, (FRESH_INTERPRETER_MEMORY + limits["extra_memory"],
                                                    resource.getrlimit(resource.RLIMIT_AS)[1]))
    return apply


def run_command(root: Path, module: str, *args: str, cwd: Path | None = None, timeout: float = 120,
                env: dict[str, str] | None = None, limits: dict[str, int] | None = None) -> subprocess.CompletedProcess:
    """``python -m <module> args`` in ``cwd`` (default ``root``), in a child of the warm interpreter
    (or a fresh one), under resource ``limits``: ``file_size`` (bytes a file may reach: a write past
    it fails as on a full disk), ``extra_memory`` (bytes of address space the command may add)."""
    environment = cli_env(env)
    server = _WARM[0] if _WARM else None
    if server is not None:
        return server.run(module, args, cwd or root, environment, timeout, limits or {})
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd or root, env=environment,
                          capture_output=True, text=True, timeout=timeout,
                          preexec_fn=_fresh_limits(limits) if limits else None)


def expect_error(root: Path, module: str, *args: str, names: tuple[str, ...] = (),
                 cwd: Path | None = None, timeout: float = 120, env: dict[str, str] | None = None,
                 limits: dict[str, int] | None = None) -> str:
    """Run ``python -m <module> args`` and check (a), (b), (c); returns the error line."""
    before = tree(root)
    proc = run_command(root, module, *args, cwd=cwd, timeout=timeout, env=env, limits=limits)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode != 0, f"exit 0 for a bad input; stderr:\n{proc.stderr[-2000:]}"
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert lines and lines[-1].startswith("error: "), proc.stderr[-2000:]
    assert sum(line.startswith("error:") for line in lines) == 1, proc.stderr[-2000:]
    line = lines[-1]
    print(f"{module} {args[0]}: {line}")  # shown with -s: the catalogue's "what you see"
    for needle in names:
        assert needle in line, f"{needle!r} not named in: {line}"
    assert tree(root) == before, f"left behind or changed: {sorted(set(tree(root).items()) ^ set(before.items()))}"
    CASES.append(" ".join(args[:2]))
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


# -- --set / --set-train values and trainer settings ----------------------------------------------
@pytest.mark.parametrize("experiment, flag", [("stories", "--set"), ("stories", "--set-train"),
                                              ("regbench", "--set")],
                         ids=["stories_set", "stories_set_train", "regbench_set"])
def test_override_value_that_is_not_yaml(tmp_path, data_dir, regbench_dir, experiment, flag):
    if experiment == "stories":
        args = lm_train(tmp_path, data_dir, flag, "n_layer=[1,")
    else:
        args = ("mosaic", "regbench", "train", *CONFIGS, "--arch", "mosaic", "--n-train", "4", "--set", "n_layer=[1,",
                "--data", str(regbench_dir), "--out", str(tmp_path / "results" / "run"), "--no-progress")
    expect_error(tmp_path, *args, names=("override 'n_layer=[1,'", "not valid YAML"))


@pytest.mark.parametrize("override, named", [
    ("lr=.inf", "TrainConfig.lr must be finite, got inf"),  # passed "lr > 0"; NaN weights two steps later
    ("min_lr=.nan", "TrainConfig.min_lr must be finite, got nan"),
    ("weight_decay=.inf", "TrainConfig.weight_decay must be finite, got inf"),
    ("grad_clip=.nan", "TrainConfig.grad_clip must be finite, got nan"),
    ("betas=[0.9, .inf]", "TrainConfig.betas must be finite, got (0.9, inf)"),
], ids=["lr", "min_lr", "weight_decay", "grad_clip", "betas"])
def test_non_finite_trainer_value(tmp_path, data_dir, override, named):
    expect_error(tmp_path, *lm_train(tmp_path, data_dir, "--set-train", override), names=(named,))


@pytest.mark.parametrize("source", ["config_file", "config_json"])
def test_infinite_lr_for_three_moons(tmp_path, source):
    if source == "config_file":
        extra = ("--config", str(write(tmp_path / "lr.yaml", "three_moons:\n  train: {lr: .inf}\n")))
    else:
        extra = ("--config-json", '{"train": {"lr": Infinity}}')  # what json.dumps writes for inf
    expect_error(tmp_path, "mosaic", "three-moons", "train", "--heads", "1", *CONFIGS, *extra,
                 "--out", str(tmp_path / "results" / "run"), names=("TrainConfig.lr must be finite, got inf",))


@pytest.mark.parametrize("override, named", [
    ("max_steps=0", "TrainConfig.max_steps must be >= 1, got 0"),
    ("lr_schedule=exp", "TrainConfig.lr_schedule must be one of ('cosine', 'linear', 'constant'), got 'exp'"),
    ("tracking=[mlflow]", "TrainConfig.tracking must be a list of distinct trackers"),
    ("seed=-1", "TrainConfig.seed must be >= 0, got -1"),
    ("warmup_steps=100000", "TrainConfig.warmup_steps must be in [0, max_steps], got 100000"),
    ("max_stepz=3", "unknown TrainConfig key(s) ['max_stepz']"),
], ids=["max_steps", "lr_schedule", "tracking", "seed", "warmup", "unknown_key"])
def test_trainer_setting_out_of_range_or_unknown(tmp_path, data_dir, override, named):
    expect_error(tmp_path, *lm_train(tmp_path, data_dir, "--set-train", override), names=(named,))


def test_unknown_model_config_key(tmp_path, data_dir):
    expect_error(tmp_path, *lm_train(tmp_path, data_dir, "--set", "n_layerz=2"),
                 names=("unknown MemoryMosaicConfig config key(s) ['n_layerz']",))


# -- runtime settings, config files and data directories -----------------------------------------
@pytest.mark.parametrize("extra, named", [
    (("--threads", "0"), "threads must be >= 1, got 0"),
    (("--device", "tpu"), "TrainConfig.device must be auto, cpu, cuda or cuda:N, got 'tpu'"),
    (("--config", "/no/such/config.yaml"), "config file not found: /no/such/config.yaml"),
], ids=["threads_zero", "unknown_device", "config_file_missing"])
def test_bad_runtime_setting_or_missing_config(tmp_path, data_dir, extra, named):
    expect_error(tmp_path, *lm_train(tmp_path, data_dir, *extra), names=(named,))


def test_cuda_requested_without_cuda(tmp_path, data_dir):
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    # train() has made the run directory when it finds out: it must remove it
    expect_error(tmp_path, *lm_train(tmp_path, data_dir, "--device", "cuda"),
                 names=("device 'cuda' requested but CUDA is not available",))


def test_config_file_whose_top_level_is_a_list(tmp_path, data_dir):
    bad = write(tmp_path / "list.yaml", "- stories\n- three_moons\n")
    expect_error(tmp_path, *lm_train(tmp_path, data_dir, "--config", str(bad)),
                 names=(str(bad), "top level must be a mapping of keys, got list"))


def test_config_without_the_experiment_section(tmp_path):
    only = write(tmp_path / "only.yaml", "three_moons:\n  attn_scale: 50.0\n")
    expect_error(tmp_path, "mosaic", "stories", "train", "--config", str(only), "--arch", "mosaic",
                 "--data", str(tmp_path / "data"), "--out", str(tmp_path / "results" / "x"),
                 names=("has no section 'stories'", "sections present: ['three_moons']"))


def test_data_directory_missing(tmp_path):
    expect_error(tmp_path, *lm_train(tmp_path, tmp_path / "no_data"),
                 names=(f"{tmp_path / 'no_data' / 'meta.json'} not found", "not a prepared data directory"))


def test_bad_supervisor_setting(tmp_path, data_dir):
    expect_error(tmp_path, *lm_train(tmp_path, data_dir), env={"MOSAIC_SUPERVISOR": "sometimes"},
                 names=("MOSAIC_SUPERVISOR must be auto, parent, off or a pid, got 'sometimes'",))


# -- out of memory, full disk: one line, and the run directory goes --------------------------------
MEMORY = 3 << 30  # address space a command may add: enough for these tiny runs, not for the bad sizes


def test_model_too_large_for_memory(tmp_path, data_dir):
    """``n_embd=10**9``: the allocator's RuntimeError (a 37-line traceback before)."""
    expect_error(tmp_path, *lm_train(tmp_path, data_dir, "--set", "n_embd=1000000000"), limits={"extra_memory": MEMORY},
                 names=("out of memory: tried to allocate", "TiB", "use a smaller batch_size, block_size or model"))


def test_batch_too_large_for_memory_in_the_first_step(tmp_path, data_dir):
    """``batch_size=10**8``: fails in the first step, after config.json, metrics.jsonl and .lock were
    written (they were left behind before); the run directory and its parents go."""
    expect_error(tmp_path, *lm_train(tmp_path, data_dir, "--config-json", '{"batch_size": 100000000}'),
                 limits={"extra_memory": MEMORY}, names=("out of memory:", "use a smaller batch_size"))


def test_three_moons_batch_too_large_for_memory(tmp_path):
    expect_error(tmp_path, "mosaic", "three-moons", "train", "--heads", "1", *CONFIGS,
                 "--config-json", '{"train": {"batch_size": 100000000}}', "--threads", "1",
                 "--out", str(tmp_path / "results" / "run"), limits={"extra_memory": MEMORY},
                 names=("out of memory: tried to allocate", "GiB"))


@pytest.mark.parametrize("experiment", ["stories", "three_moons"])
def test_disk_full_at_the_first_checkpoint(tmp_path, data_dir, experiment):
    """The first checkpoint does not fit: one line naming it (a RuntimeError traceback before),
    and nothing of the run stays (the checkpoint is its only resumable state)."""
    if experiment == "stories":
        args = lm_train(tmp_path, data_dir, "--set-train", "checkpoint_interval=1")
    else:
        args = ("mosaic", "three-moons", "train", "--heads", "1", *CONFIGS, "--threads", "1",
                "--config-json", '{"train": {"checkpoint_interval": 1}}', "--out", str(tmp_path / "results" / "runs" / "x"))
    expect_error(tmp_path, *args, limits={"file_size": 8192},
                 names=(str(tmp_path / "results" / "runs" / "x" / "checkpoint.pt"), "File too large"))


# -- run directories that loading refuses ------------------------------------------------------------
@pytest.fixture(scope="session")
def stories_run(tmp_path_factory, data_dir) -> Path:
    """A finished two-step stories run (one mosaic block), read-only use."""
    from mosaic.experiments.stories.cli import main

    out = tmp_path_factory.mktemp("stories_run") / "run"
    assert main(["train", *CONFIGS, "--arch", "mosaic", "--set", "n_layer=1", "--set-train", "max_steps=2",
                 "--data", str(data_dir), "--out", str(out), "--device", "cpu", "--threads", "1",
                 "--no-progress"]) == 0
    return out


@pytest.fixture(scope="session")
def three_moons_run(tmp_path_factory) -> Path:
    """A finished one-head three-moons run (smoke scale), read-only use."""
    from mosaic.experiments.three_moons.cli import main

    out = tmp_path_factory.mktemp("three_moons_run") / "one_head"
    main(["train", "--heads", "1", *CONFIGS, "--config-json", '{"train": {"max_steps": 4}}',
          "--out", str(out), "--device", "cpu", "--threads", "1"])
    return out


def copy_run(run: Path, tmp_path: Path, flip_byte: bool = False) -> Path:
    copy = Path(shutil.copytree(run, tmp_path / "run"))
    if flip_byte:
        weights = copy / "model.safetensors"
        data = bytearray(weights.read_bytes())
        data[len(data) // 2] ^= 0x01  # one bit of one weight
        weights.write_bytes(bytes(data))
    return copy


def three_moons_evaluate(tmp_path: Path, run: Path) -> tuple[str, ...]:
    return ("mosaic", "three-moons", "evaluate", "--run", str(run), *CONFIGS, "--device", "cpu",
            "--out", str(tmp_path / "results" / "eval.csv"))


def test_flipped_byte_in_the_final_weights_three_moons_evaluate(tmp_path, three_moons_run):
    run = copy_run(three_moons_run, tmp_path, flip_byte=True)
    expect_error(tmp_path, *three_moons_evaluate(tmp_path, run),
                 names=(f"{run / 'model.safetensors'} is corrupt (sha256", "does not match model.safetensors.sha256"))


def test_flipped_byte_in_the_final_weights_stories_continuations(tmp_path, data_dir, stories_run):
    run = copy_run(stories_run, tmp_path, flip_byte=True)
    expect_error(tmp_path, "mosaic", "stories", "continuations", *CONFIGS, "--runs", str(run), "--data", str(data_dir),
                 "--title", "t", "--out", str(tmp_path / "results" / "table1.md"),
                 names=(f"{run / 'model.safetensors'} is corrupt (sha256",))


def test_flipped_byte_in_the_final_weights_position_loss(tmp_path, data_dir, stories_run):
    run = copy_run(stories_run, tmp_path, flip_byte=True)
    expect_error(tmp_path, "mosaic", "analyses", "position-loss", "--run", str(run), "--data", str(data_dir),
                 "--windows", "2", "--device", "cpu", "--out", str(tmp_path / "results" / "loss.csv"),
                 names=(f"{run / 'model.safetensors'} is corrupt (sha256",))


def test_final_weights_without_their_checksum(tmp_path, three_moons_run):
    run = copy_run(three_moons_run, tmp_path)
    (run / "model.safetensors.sha256").unlink()
    expect_error(tmp_path, *three_moons_evaluate(tmp_path, run),
                 names=("has no model.safetensors.sha256: its integrity cannot be checked",))


def test_run_whose_training_has_not_finished(tmp_path, three_moons_run):
    run = copy_run(three_moons_run, tmp_path)
    for name in ("model.safetensors", "model.safetensors.sha256", "done.json"):
        (run / name).unlink()
    expect_error(tmp_path, *three_moons_evaluate(tmp_path, run),
                 names=("no trained weights", "training has not finished: only a checkpoint exists"))


def test_run_of_another_experiment(tmp_path, stories_run):
    expect_error(tmp_path, *three_moons_evaluate(tmp_path, stories_run),
                 names=("is not a three-moons run (run.experiment=None)",))


def test_run_directory_missing(tmp_path):
    expect_error(tmp_path, *three_moons_evaluate(tmp_path, tmp_path / "no_run"),
                 names=(f"{tmp_path / 'no_run' / 'config.json'} not found",))


def test_figure_six_of_a_one_head_run(tmp_path, three_moons_run):
    expect_error(tmp_path, "mosaic", "three-moons", "weights", "--run", str(three_moons_run), *CONFIGS,
                 "--out", str(tmp_path / "results" / "fig06.png"), "--table", str(tmp_path / "results" / "t.csv"),
                 names=("Fig. 6 shows the 3-head model", "has 1 head(s)"))


def test_evaluation_file_missing(tmp_path):
    expect_error(tmp_path, "mosaic", "three-moons", "transitions", "--eval", str(tmp_path / "eval.csv"), *CONFIGS,
                 "--out", str(tmp_path / "results" / "t.csv"), names=(f"evaluation file not found: {tmp_path}",))


def test_table3_of_a_directory_that_is_not_a_run(tmp_path):
    (tmp_path / "not_a_run").mkdir()
    expect_error(tmp_path, "mosaic", "stories", "table3", "--runs", str(tmp_path / "not_a_run"),
                 "--out", str(tmp_path / "results" / "table3"), names=("is not a finished training run",))


PAYLOAD = """from pathlib import Path
Path({marker!r}).write_text("imported")  # what a hostile run directory would do on import
from mosaic.interface import LanguageModel
class M(LanguageModel):
    pass
"""


@pytest.mark.parametrize("step", ["continuations", "position-loss"])
def test_run_directory_naming_unregistered_code(tmp_path, data_dir, stories_run, step):
    """A run directory is data: its config.json naming ``evil_pkg.payload:M`` (importable here)
    must not import it; the step refuses in one line and the payload's marker never appears."""
    marker = tmp_path / "payload_ran"
    package = tmp_path / "site" / "evil_pkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "payload.py").write_text(PAYLOAD.format(marker=str(marker)))
    run = copy_run(stories_run, tmp_path)
    config = json.loads((run / "config.json").read_text())
    config["run"]["arch"] = "evil_pkg.payload:M"
    (run / "config.json").write_text(json.dumps(config))
    if step == "continuations":
        args = ("stories", "continuations", *CONFIGS, "--runs", str(run), "--data", str(data_dir), "--title", "t",
                "--out", str(tmp_path / "results" / "table1.md"))
    else:
        args = ("analyses", "position-loss", "--run", str(run), "--data", str(data_dir), "--windows", "2",
                "--device", "cpu", "--out", str(tmp_path / "results" / "loss.csv"))
    expect_error(tmp_path, "mosaic", *args, env={"PYTHONPATH": str(tmp_path / "site")},
                 names=("names architecture 'evil_pkg.payload:M'", "never imports the code it names",
                        "--allow-plugin evil_pkg.payload:M"))
    assert not marker.exists()


# -- a directory being trained ---------------------------------------------------------------------
def test_training_a_directory_another_process_is_training(tmp_path, data_dir, stories_run):
    """Refused in one line naming the holder, and the live run's directory is not touched (a
    refused three-moons run used to delete it as stale when its settings differed)."""
    from mosaic.harness.checkpoint import RunLock

    run = copy_run(stories_run, tmp_path)
    (run / "done.json").unlink()  # a run in progress, as far as anybody can tell
    with RunLock(run):
        expect_error(tmp_path, "mosaic", "stories", "train", *CONFIGS, "--arch", "mosaic", "--set", "n_layer=1",
                     "--set-train", "lr=0.02", "--data", str(data_dir), "--out", str(run), "--device", "cpu",
                     "--no-progress", names=(f"{run} is being trained by another process (pid {os.getpid()})",))


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


def test_the_catalogue_holds_at_least_60_bad_inputs(request):
    """Counts the cases collected in this module that run a command (each parametrization is one
    bad input) and the Snakemake ones; the catalogue promised at least 60."""
    in_process = {"test_run_cli_reports_os_errors_and_keeps_tracebacks_for_bugs",
                  "test_forward_probe_leaves_the_random_stream_alone", "test_the_catalogue_holds_at_least_60_bad_inputs"}
    cases = [item for item in request.session.items
             if item.module is request.module and item.originalname not in in_process]
    assert len(cases) >= 60, len(cases)
