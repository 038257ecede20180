"""Shareable models (mosaic.harness.hub): self-contained run directories, model.safetensors with a
verified SHA-256, LanguageModel.save_pretrained / from_pretrained / push_to_hub, legacy model.pt.

The Hub is never contacted: push_to_hub's two network calls (create_repo, upload_folder) are
replaced by a fake that files the uploaded folder in a Hugging Face cache laid out as a download
leaves it, and from_pretrained(hub id) reads it back with local_files_only (huggingface_hub's
real resolution code, offline).
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
import torch

from mosaic import LanguageModel, build_model, registry
from mosaic.baselines.transformer import Transformer
from mosaic.harness.checkpoint import CheckpointError
from mosaic.harness.runs import load_run_model
from mosaic.harness.train import TrainConfig, _default_loss, evaluate, load_trained, train
from mosaic.harness.weights import LEGACY_WEIGHTS, WEIGHTS, WEIGHTS_SHA256
from mosaic.interface import LMConfig, class_path
from mosaic.model import MemoryMosaic
from tests.conftest import TINY_T, TINY_VOCAB
from tests.conftest import tiny_batch as get_batch

pytestmark = pytest.mark.usefixtures("one_thread")
# The device the trainings of this file run on: benchmarks/gpu_check.sh sets cuda.
TEST_DEVICE = os.environ.get("MOSAIC_TEST_DEVICE", "cpu")
if TEST_DEVICE.startswith("cuda") and not torch.cuda.is_available():
    raise RuntimeError(f"MOSAIC_TEST_DEVICE={TEST_DEVICE} but torch sees no CUDA device")
TINY = {"vocab_size": TINY_VOCAB, "n_layer": 1, "n_head": 2, "n_embd": 16, "block_size": TINY_T}


def cfg(**overrides) -> TrainConfig:
    base = dict(max_steps=6, lr=1e-2, min_lr=1e-3, eval_interval=3, eval_batches=3, checkpoint_interval=3,
                log_interval=1, seed=1, device=TEST_DEVICE, threads=1, progress=False, tracking=[])
    return TrainConfig.from_dict({**base, **overrides})


def train_run(run_dir: Path, arch: str = "mosaic", **kwargs) -> dict:
    torch.manual_seed(0)
    model = build_model(arch, **TINY)
    return train(model, get_batch, run_dir, cfg(), run_config={"arch": arch, "model": TINY}, **kwargs)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A finished training of a tiny Memory Mosaic (read-only: tests copy it to change it)."""
    path = tmp_path_factory.mktemp("runs") / "mosaic_tiny"
    train_run(path)
    return path


def copy_run(run_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(run_dir, tmp_path / run_dir.name))


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# -- a run directory is self-contained and reloads exactly ----------------------------------------
def test_reloaded_run_reproduces_its_validation_loss_exactly(run_dir):
    done = json.loads((run_dir / "done.json").read_text())
    files = {p.name for p in run_dir.iterdir()}
    assert {WEIGHTS, WEIGHTS_SHA256, "config.json", "done.json"} <= files and LEGACY_WEIGHTS not in files
    device = torch.device(TEST_DEVICE)  # where it was trained
    model = LanguageModel.from_pretrained(run_dir, device=device)
    assert type(model) is MemoryMosaic and not model.training and next(model.parameters()).device.type == device.type
    val = evaluate(model, get_batch, _default_loss, cfg(), device, lambda: torch.autocast(device.type, enabled=False))
    assert val == done["val_loss"]  # the same validation batches, bit for bit
    assert same_weights(MemoryMosaic.from_pretrained(run_dir), model)
    assert same_weights(load_run_model(run_dir), model)


def test_a_class_loads_only_runs_of_itself(run_dir):
    with pytest.raises(ValueError, match=r"is a run of 'mosaic' \(mosaic.model.network:MemoryMosaic\), not of Transformer"):
        Transformer.from_pretrained(run_dir)


def test_every_builtin_architecture_round_trips_save_pretrained(tmp_path):
    x = torch.randint(0, TINY_VOCAB, (2, TINY_T))
    for arch in registry.BUILTINS:
        torch.manual_seed(0)
        model = build_model(arch, **TINY).eval()
        model.save_pretrained(tmp_path / arch)
        saved = json.loads((tmp_path / arch / "config.json").read_text())
        assert saved["run"]["arch"] == arch and (tmp_path / arch / "README.md").is_file()  # + the model card
        loaded = LanguageModel.from_pretrained(tmp_path / arch)
        assert type(loaded) is type(model) and same_weights(loaded, model), arch
        assert torch.equal(loaded(x)[0], model(x)[0]), arch


# -- verification ---------------------------------------------------------------------------------
def test_one_flipped_byte_is_refused_in_one_line(run_dir, tmp_path):
    run = copy_run(run_dir, tmp_path)
    data = bytearray((run / WEIGHTS).read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit of one weight: the file still parses
    (run / WEIGHTS).write_bytes(bytes(data))
    with pytest.raises(CheckpointError) as err:
        LanguageModel.from_pretrained(run)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"{run / WEIGHTS} is corrupt (sha256 ") and "does not match model.safetensors.sha256" in message
    with pytest.raises(CheckpointError, match="is corrupt"):
        load_trained(build_model("mosaic", **TINY), run)
    (run / WEIGHTS_SHA256).unlink()
    with pytest.raises(CheckpointError, match=r"has no model.safetensors.sha256: its integrity cannot be checked"):
        LanguageModel.from_pretrained(run)


def test_a_bad_weights_file_is_an_error_line_on_the_command_line(run_dir, tmp_path):
    import subprocess

    run = copy_run(run_dir, tmp_path)
    (run / WEIGHTS).write_bytes((run / WEIGHTS).read_bytes()[:-1])  # truncated
    proc = subprocess.run([sys.executable, "-c", "import sys; from mosaic.harness.config import run_cli; "
                           "from mosaic import LanguageModel; "
                           "run_cli(lambda argv: LanguageModel.from_pretrained(argv[0]) and 0, sys.argv[1:])", str(run)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1, proc.stderr


# -- legacy model.pt ------------------------------------------------------------------------------
def test_a_legacy_run_with_model_pt_still_loads(run_dir, tmp_path):
    run = copy_run(run_dir, tmp_path)
    reference = LanguageModel.from_pretrained(run)
    torch.save(reference.state_dict(), run / LEGACY_WEIGHTS)  # what the trainer wrote before
    (run / WEIGHTS).unlink()
    (run / WEIGHTS_SHA256).unlink()
    assert same_weights(LanguageModel.from_pretrained(run), reference)
    assert same_weights(load_trained(build_model("mosaic", **TINY), run), reference)


def test_training_a_legacy_run_again_converts_it_without_retraining(run_dir, tmp_path):
    """What Snakemake does once its rules ask for model.safetensors: rerun the finished job.
    The trainer finishes from the final checkpoint (no step redone), writes model.safetensors,
    and removes model.pt."""
    run = copy_run(run_dir, tmp_path)
    reference = LanguageModel.from_pretrained(run)
    torch.save(reference.state_dict(), run / LEGACY_WEIGHTS)
    (run / WEIGHTS).unlink()
    (run / WEIGHTS_SHA256).unlink()
    metrics = (run / "metrics.jsonl").read_text()
    done = train_run(run)
    assert done == json.loads((run_dir / "done.json").read_text())
    assert (run / "metrics.jsonl").read_text() == metrics  # nothing retrained
    assert not (run / LEGACY_WEIGHTS).exists() and same_weights(LanguageModel.from_pretrained(run), reference)


# -- run directories are data ---------------------------------------------------------------------
class PluginLM(LanguageModel):
    """A user's architecture, known only by its plug-in path."""

    def __init__(self, config: LMConfig):
        super().__init__(config)
        self.emb = torch.nn.Embedding(config.vocab_size, config.n_embd)
        self.head = torch.nn.Linear(config.n_embd, config.vocab_size)

    def forward(self, idx, targets=None):
        return self.logits_and_loss(self.head(self.emb(idx)), targets)


def test_a_plugin_path_is_built_only_when_trusted(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "_TRUSTED_PLUGINS", set())
    torch.manual_seed(0)
    model = PluginLM(LMConfig(**TINY))
    model.save_pretrained(tmp_path / "plugin")
    path = class_path(PluginLM)
    assert json.loads((tmp_path / "plugin" / "config.json").read_text())["run"]["arch"] == path
    with pytest.raises(ValueError, match=rf"names architecture '{path}'.*--allow-plugin"):
        LanguageModel.from_pretrained(tmp_path / "plugin")
    assert same_weights(PluginLM.from_pretrained(tmp_path / "plugin"), model)  # the caller named the class
    registry.trust_plugins([path])
    assert same_weights(LanguageModel.from_pretrained(tmp_path / "plugin"), model)


def test_a_module_named_by_a_directory_is_never_imported(run_dir, tmp_path):
    run = copy_run(run_dir, tmp_path)
    config = json.loads((run / "config.json").read_text())
    config["run"]["arch"] = "evil_payload_module:Model"
    (run / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="a run directory is data and never imports the code it names"):
        LanguageModel.from_pretrained(run)
    assert "evil_payload_module" not in sys.modules


# -- the Hub (offline) ----------------------------------------------------------------------------
def fake_hub(monkeypatch, cache: Path) -> list[str]:
    """Replace the Hub's two write calls; an upload lands in ``cache`` as a download would."""
    from huggingface_hub import HfApi

    uploads: list[str] = []

    def create_repo(self, repo_id, **kwargs):
        class Url(str):
            pass
        url = Url(f"https://huggingface.co/{repo_id}")
        url.repo_id = repo_id
        return url

    def upload_folder(self, *, repo_id, folder_path, **kwargs):
        repo = cache / f"models--{repo_id.replace('/', '--')}"
        commit = f"{len(uploads) + 1:040d}"
        shutil.copytree(folder_path, repo / "snapshots" / commit)
        (repo / "refs").mkdir(parents=True, exist_ok=True)
        (repo / "refs" / "main").write_text(commit)
        uploads.append(repo_id)
        return f"https://huggingface.co/{repo_id}/commit/{commit}"

    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    return uploads


def test_push_to_hub_then_from_pretrained_by_hub_id(run_dir, tmp_path, monkeypatch):
    cache = tmp_path / "hf_cache"
    uploads = fake_hub(monkeypatch, cache)
    model = LanguageModel.from_pretrained(run_dir)
    model.push_to_hub("me/tiny-mosaic")
    assert uploads == ["me/tiny-mosaic"]
    snapshot = next((cache / "models--me--tiny-mosaic" / "snapshots").iterdir())
    assert {p.name for p in snapshot.iterdir()} == {"config.json", WEIGHTS, WEIGHTS_SHA256, "README.md"}
    assert 'LanguageModel.from_pretrained("me/tiny-mosaic")' in (snapshot / "README.md").read_text()
    loaded = LanguageModel.from_pretrained("me/tiny-mosaic", cache_dir=cache, local_files_only=True)
    assert type(loaded) is MemoryMosaic and same_weights(loaded, model)
    # the checksum is checked on what the Hub served too
    weights = snapshot / WEIGHTS
    weights.write_bytes(weights.read_bytes()[:-8] + bytes(8))
    with pytest.raises(CheckpointError, match="is corrupt"):
        LanguageModel.from_pretrained("me/tiny-mosaic", cache_dir=cache, local_files_only=True)


def test_unknown_sources_are_one_line_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such run directory"):
        LanguageModel.from_pretrained(str(tmp_path / "missing" / "run"))
    with pytest.raises(FileNotFoundError, match="me/absent: not a local directory, and not available from the Hub"):
        LanguageModel.from_pretrained("me/absent", cache_dir=tmp_path, local_files_only=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError):
        LanguageModel.from_pretrained(tmp_path / "file")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="not a finished training run"):
        LanguageModel.from_pretrained(tmp_path / "empty")


# -- artifacts: the files an experiment adds -------------------------------------------------------
def test_artifacts_are_copied_into_the_run_directory(tmp_path):
    vocab = tmp_path / "vocab.json"
    vocab.write_text('{"format": "demo"}\n')
    run = tmp_path / "run"
    train_run(run, artifacts={"vocab.json": vocab, "tokenizer.json": b'{"name": "demo"}'})
    assert (run / "vocab.json").read_bytes() == vocab.read_bytes()
    assert (run / "tokenizer.json").read_bytes() == b'{"name": "demo"}'
    (run / "vocab.json").unlink()  # a finished run missing an artifact finishes again, retraining nothing
    metrics = (run / "metrics.jsonl").read_text()
    train_run(run, artifacts={"vocab.json": vocab, "tokenizer.json": b'{"name": "demo"}'})
    assert (run / "vocab.json").is_file() and (run / "metrics.jsonl").read_text() == metrics


@pytest.mark.parametrize("artifacts, error, match", [
    ({"sub/vocab.json": b"x"}, ValueError, "must be a plain file name"),
    ({".hidden": b"x"}, ValueError, "must be a plain file name"),
    ({"done.json": b"x"}, ValueError, "is a file the trainer writes itself"),
    ({WEIGHTS: b"x"}, ValueError, "is a file the trainer writes itself"),
    ({"vocab.json": "/nonexistent/vocab.json"}, FileNotFoundError, "no such file /nonexistent/vocab.json"),
])
def test_bad_artifacts_fail_before_anything_is_written(tmp_path, artifacts, error, match):
    with pytest.raises(error, match=match):
        train_run(tmp_path / "run", artifacts=artifacts)
    assert not (tmp_path / "run").exists()
