"""Live tracking (mosaic.harness.tracking) and progress lines of the trainer.

TensorBoard event files are read back with TensorBoard's own reader and compared, step by step,
with metrics.jsonl (the values are stored as float32 by the event format); a resumed run keeps
exactly the events up to its checkpoint. The W&B run is checked in offline mode, from the run
file W&B writes (skipped when wandb is not installed).
"""
from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mosaic.harness import tracking
from mosaic.harness.distributed import Dist
from mosaic.harness.tracking import METRIC_TAGS, active_tracker
from mosaic.harness.train import TrainConfig, train
from tests.conftest import REPO, TinyLM
from tests.conftest import tiny_batch as get_batch

pytestmark = pytest.mark.usefixtures("one_thread")
# The device the trainings of this file run on: benchmarks/gpu_check.sh sets cuda.
TEST_DEVICE = os.environ.get("MOSAIC_TEST_DEVICE", "cpu")
if TEST_DEVICE.startswith("cuda") and not torch.cuda.is_available():
    raise RuntimeError(f"MOSAIC_TEST_DEVICE={TEST_DEVICE} but torch sees no CUDA device")
EventAccumulator = pytest.importorskip(
    "tensorboard.backend.event_processing.event_accumulator").EventAccumulator


class Killed(Exception):
    """Raised by get_batch to stop a training as a kill would (no final checkpoint)."""


def make_model() -> TinyLM:
    torch.manual_seed(0)
    return TinyLM()


def cfg(**overrides) -> TrainConfig:
    base = dict(max_steps=10, lr=1e-2, min_lr=1e-3, warmup_steps=2, eval_interval=2, eval_batches=2,
                checkpoint_interval=5, log_interval=1, seed=3, device=TEST_DEVICE, threads=1, progress=False)
    return TrainConfig.from_dict({**base, **overrides})


def read_metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def tensorboard(run_dir: Path):
    """Every event of the run's event files, none merged or purged by the reader (so a
    duplicated step would show)."""
    acc = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0, "tensors": 0},
                           purge_orphaned_data=False)
    acc.Reload()
    return acc


def tb_scalars(acc, tag: str) -> list[tuple[int, float]]:
    return [(e.step, e.value) for e in acc.Scalars(tag)] if tag in acc.Tags()["scalars"] else []


def metric_series(records: list[dict], key: str) -> list[tuple[int, float]]:
    """What the events of ``key`` must hold: its values in metrics.jsonl, as float32."""
    return [(r["step"], float(np.float32(r[key]))) for r in records if r.get(key) is not None]


def tb_texts(acc, tag: str) -> list[tuple[int, str]]:
    """The texts logged with ``log_text(tag, ...)`` (TensorBoard's tag: ``<tag>/text_summary``)."""
    return [(e.step, e.tensor_proto.string_val[0].decode()) for e in acc.Tensors(f"{tag}/text_summary")]


def assert_events_match_metrics(run_dir: Path) -> None:
    acc, records = tensorboard(run_dir), read_metrics(run_dir)
    for key, tag in METRIC_TAGS.items():
        assert tb_scalars(acc, tag) == metric_series(records, key), tag


# -- TensorBoard ---------------------------------------------------------------------------------
def test_events_equal_metrics_step_by_step(tmp_path):
    train(make_model(), get_batch, tmp_path, cfg())
    assert len(list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))) == 1
    assert_events_match_metrics(tmp_path)
    records = read_metrics(tmp_path)
    acc = tensorboard(tmp_path)
    assert [s for s, _ in tb_scalars(acc, "loss/train")] == list(range(1, 11))
    assert [s for s, _ in tb_scalars(acc, "loss/val")] == [0, 2, 4, 6, 8, 10]
    # the gradient norm is the one clipping computed (before clipping: it may exceed grad_clip)
    assert all(r["grad_norm"] > 0 for r in records[1:]) and len(tb_scalars(acc, "grad_norm")) == 10


def test_resume_keeps_events_up_to_the_checkpoint_once(tmp_path):
    """Killed at step 7 (checkpoint at 5), resumed: the events of steps 6-7 of the first session
    are gone, those of steps <= 5 kept once, texts too; one event file remains."""
    session = ["first"]

    def on_eval(step, val_loss, model):
        active_tracker().log_text("samples/demo", f"{session[0]} session, step {step}", step)
        active_tracker().log_scalars({"demo/session": len(session[0])}, step)  # an experiment's own scalar

    with pytest.raises(Killed):  # a job killed between checkpoints
        train(make_model(), _dies_at(7), tmp_path, cfg(), on_eval=on_eval)
    before = tensorboard(tmp_path)
    assert [s for s, _ in tb_scalars(before, "loss/train")] == list(range(1, 8))  # flushed up to the kill
    assert [s for s, _ in tb_texts(before, "samples/demo")] == [0, 2, 4, 6]

    session[0] = "second"
    train(make_model(), get_batch, tmp_path, cfg(), on_eval=on_eval)
    assert len(list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))) == 1
    assert_events_match_metrics(tmp_path)
    assert [r["step"] for r in read_metrics(tmp_path)] == list(range(11))
    texts = tb_texts(tensorboard(tmp_path), "samples/demo")
    assert texts == [(0, "first session, step 0"), (2, "first session, step 2"), (4, "first session, step 4"),
                     (6, "second session, step 6"), (8, "second session, step 8"),
                     (10, "second session, step 10")]
    first, second = float(len("first")), float(len("second"))
    assert tb_scalars(tensorboard(tmp_path), "demo/session") == [(0, first), (2, first), (4, first), (6, second),
                                                                 (8, second), (10, second)]


def test_resume_with_tensorboard_newly_on_backfills_from_metrics(tmp_path):
    """tracking changes no result: a run resumes with it changed, and the event files then hold
    every step metrics.jsonl holds, the earlier ones included."""
    with pytest.raises(Killed):
        train(make_model(), _dies_at(7), tmp_path, cfg(tracking=[]))
    assert not (tmp_path / "tensorboard").exists()
    train(make_model(), get_batch, tmp_path, cfg())
    assert_events_match_metrics(tmp_path)
    assert tb_scalars(tensorboard(tmp_path), "loss/val")[0][0] == 0


def test_fresh_start_discards_the_old_events(tmp_path, capfd):
    train(make_model(), get_batch, tmp_path, cfg(max_steps=6))
    train(make_model(), get_batch, tmp_path, cfg(max_steps=6, lr=2e-2))  # other settings: afresh
    assert "starting afresh" in capfd.readouterr().err
    assert_events_match_metrics(tmp_path)


def test_tracking_off_writes_no_event_files(tmp_path):
    train(make_model(), get_batch, tmp_path, cfg(max_steps=3, tracking=[]))
    assert not (tmp_path / "tensorboard").exists() and (tmp_path / "done.json").is_file()


def test_only_the_main_process_tracks(tmp_path, monkeypatch):
    """Ranks other than 0 open no tracker: their active_tracker logs nothing."""
    import mosaic.harness.train as train_module

    monkeypatch.setattr(train_module.distributed, "setup", lambda device: (Dist(rank=1, world_size=1), device))
    seen = []

    def loss_fn(model, batch):  # runs on every rank (on_eval runs on rank 0 only)
        seen.append(type(active_tracker()))
        return model(*batch)[1]

    train(make_model(), get_batch, tmp_path, cfg(max_steps=2), loss_fn=loss_fn)
    assert seen and all(t is tracking.Tracker for t in seen) and not (tmp_path / "tensorboard").exists()
    assert type(active_tracker()) is tracking.Tracker  # none left active after the training


def test_bad_tracking_settings_fail_before_anything_is_written(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match=r"TrainConfig.tracking must be a list of distinct trackers"):
        cfg(tracking=["tensorbord"])
    with pytest.raises(ValueError, match=r"TrainConfig.tracking: expected list\[str\]"):
        cfg(tracking="tensorboard")
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real_find_spec(name, *a))
    with pytest.raises(ValueError, match=r"tracking: wandb needs the wandb package \(pip install 'memory-mosaics\[wandb\]'\)"):
        train(make_model(), get_batch, tmp_path / "run", cfg(tracking=["tensorboard", "wandb"]))
    assert not (tmp_path / "run").exists()


def _dies_at(kill_step: int):
    def get(split, step, generator):
        if split == "train" and step == kill_step:
            raise Killed
        return get_batch(split, step, generator)
    return get


# -- Weights & Biases (offline) ------------------------------------------------------------------
def wandb_history(run_dir: Path) -> list[dict]:
    """The history rows of the W&B offline run files under ``run_dir/wandb`` (W&B's run file: a
    ':W&B' header, then LevelDB-log records of 32 KiB blocks holding protobuf Records)."""
    from wandb.proto import wandb_internal_pb2  # noqa: PLC0415

    rows = []
    for path in sorted((run_dir / "wandb").glob("offline-run-*/run-*.wandb")):
        data = path.read_bytes()
        assert data[:4] == b":W&B", path
        pos, block, chunks = 7, 32768, []
        while pos + 7 <= len(data):
            if block - pos % block < 7:  # a block's tail too short for a header is padding
                pos += block - pos % block
                continue
            length, kind = int.from_bytes(data[pos + 4:pos + 6], "little"), data[pos + 6]
            chunks.append(data[pos + 7:pos + 7 + length])
            pos += 7 + length
            if kind in (1, 4):  # FULL or LAST fragment
                record = wandb_internal_pb2.Record()
                record.ParseFromString(b"".join(chunks))
                chunks = []
                if record.WhichOneof("record_type") == "history":
                    rows.append({item.key or "/".join(item.nested_key): json.loads(item.value_json)
                                 for item in record.history.item})
    return rows


@pytest.mark.skipif(importlib.util.find_spec("wandb") is None,
                    reason="wandb is not installed (optional extra: pip install 'memory-mosaics[wandb]')")
def test_wandb_offline_run_logs_the_metrics_and_texts(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")

    def on_eval(step, val_loss, model):
        if step == 4:
            active_tracker().log_text("samples/demo", "once upon a time <b>", step)

    train(make_model(), get_batch, tmp_path, cfg(max_steps=4, tracking=["tensorboard", "wandb"]), on_eval=on_eval)
    rows = wandb_history(tmp_path)
    records = read_metrics(tmp_path)
    for key, tag in METRIC_TAGS.items():
        logged = [(row["_step"], row[tag]) for row in rows if tag in row]
        assert logged == [(r["step"], r[key]) for r in records if r.get(key) is not None], tag
    texts = [row for row in rows if row.get("samples/demo/_type") == "html-file"]  # (a media file: nested keys)
    assert len(texts) == 1 and texts[0]["_step"] == 4
    html_file = next((tmp_path / "wandb").glob(f"offline-run-*/files/{texts[0]['samples/demo/path']}"))
    assert "<pre>once upon a time &lt;b&gt;</pre>" in html_file.read_text()
    assert_events_match_metrics(tmp_path)  # both trackers at once


# -- progress lines ------------------------------------------------------------------------------
PROGRESS_SCRIPT = """
import sys, torch
from mosaic.harness.train import TrainConfig, train
from tests.conftest import TinyLM, tiny_batch
torch.manual_seed(0)
cfg = TrainConfig.from_dict(dict(max_steps=6, eval_interval=3, eval_batches=1, log_interval=1, device="cpu",
                                 threads=1, tracking=[]))
train(TinyLM(), tiny_batch, sys.argv[1], cfg)
"""


def test_training_writes_progress_lines_to_a_log_file(tmp_path):
    """A job's log (stderr to a file, not a terminal) gets periodic [progress] lines with
    done/total, loss, rate and ETA."""
    log = tmp_path / "job.log"
    env = {**os.environ, "MOSAIC_PROGRESS_INTERVAL": "0", "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    with open(log, "w") as err:
        subprocess.run([sys.executable, "-c", PROGRESS_SCRIPT, str(tmp_path / "run")],
                       stderr=err, env=env, cwd=REPO, check=True, timeout=120)
    lines = [line for line in log.read_text().splitlines() if line.startswith("[progress]")]
    assert len(lines) >= 6, log.read_text()
    first = lines[0]
    assert first.startswith("[progress] train run: 1/6 steps (17%), ") and " steps/s, " in first
    assert ", ETA " in first and ", loss " in first
    assert "val_loss" in lines[3]  # shown once the step-3 validation is done
    assert lines[-1].startswith("[progress] train run: 6/6 steps (100%)") and lines[-1].endswith("(done)")


def test_progress_false_writes_no_progress_lines(tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("MOSAIC_PROGRESS_INTERVAL", "0")
    train(make_model(), get_batch, tmp_path / "on", cfg(max_steps=3, progress=True))
    assert capfd.readouterr().err.count("[progress] train on: ") >= 3  # stderr is not a terminal here
    train(make_model(), get_batch, tmp_path / "off", cfg(max_steps=3, progress=False))
    assert "[progress]" not in capfd.readouterr().err


def test_tracking_config_round_trips():
    c = cfg(tracking=["wandb", "tensorboard"])
    assert TrainConfig.from_dict(c.to_dict()).tracking == ["wandb", "tensorboard"]
    assert dataclasses.replace(c).to_dict()["tracking"] == ["wandb", "tensorboard"]
    assert TrainConfig(max_steps=1).tracking == ["tensorboard"]
