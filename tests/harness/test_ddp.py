"""Data-parallel training (mosaic.harness.distributed) under torchrun, on CPU with Gloo.

The test starts ``python -m torch.distributed.run --standalone --nproc_per_node 2
tests/harness/test_ddp.py OUT`` (this file is also the worker), stops the two processes with a
SIGTERM to rank 0 after 4 of 8 steps, and checks that they followed the loss trajectory of one
process on the same global batch, that only rank 0 wrote files, and that their checkpoint resumes
in a single process and ends where one process ends.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from mosaic.harness.train import TrainConfig, TrainingInterrupted, train
from tests.conftest import REPO

VOCAB, T, B = 11, 8, 8  # B: the global batch, 4 rows per process
STOP_AFTER = 4  # rank 0 is sent SIGTERM during this update: both ranks checkpoint and stop


class TinyLM(nn.Module):
    """No dropout: the two processes draw other masks than one process would."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, 16)
        self.head = nn.Linear(16, VOCAB)

    def forward(self, x, y=None):
        logits = self.head(torch.tanh(self.emb(x)))
        loss = None if y is None else F.cross_entropy(logits.reshape(-1, VOCAB), y.reshape(-1))
        return logits, loss


def get_batch(split: str, step: int, generator: torch.Generator):
    start = torch.randint(0, VOCAB, (B, 1), generator=generator)
    x = (start + torch.arange(T)) % VOCAB
    y = torch.where(torch.rand(B, T, generator=generator) < 0.8, (x + 1) % VOCAB, x)  # a noisy target
    return x, y


def cfg(max_steps: int) -> TrainConfig:
    # grad_accum exercises no_sync
    return TrainConfig.from_dict(dict(
        max_steps=max_steps, lr=3e-2, lr_schedule="constant", grad_accum=2, eval_interval=2,
        eval_batches=3, checkpoint_interval=2, log_interval=1, seed=5, device="cpu", threads=1,
        progress=False))


def make_model() -> TinyLM:
    torch.manual_seed(0)
    return TinyLM()


def read_metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_two_processes_match_one_and_resume_in_one(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    # own session: on a timeout the whole group (torchrun and both workers) is killed, so no
    # orphaned worker is left waiting in a collective
    proc = subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         __file__, str(tmp_path / "ddp")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env, cwd=REPO, start_new_session=True)
    try:
        _, stderr = proc.communicate(timeout=170)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _, stderr = proc.communicate()
        pytest.fail(f"torchrun with 2 processes did not finish in 170 s: {stderr[-3000:]}")
    assert proc.returncode == 0, stderr[-3000:]
    config = json.loads((tmp_path / "ddp" / "config.json").read_text())
    assert config["provenance"]["world_size"] == 2
    # both ranks returned the same (all-reduced) metrics and hold the same weights
    rank0, rank1 = (json.loads((tmp_path / "ddp" / f"rank{r}.json").read_text()) for r in (0, 1))
    assert rank0 == rank1

    ref = make_model()
    train(ref, get_batch, tmp_path / "one", cfg(8))
    one, two = read_metrics(tmp_path / "one"), read_metrics(tmp_path / "ddp")
    assert [r["step"] for r in two] == list(range(5))  # rank 0 alone wrote the metrics
    for a, b in zip(one, two):
        assert a["tokens"] == b["tokens"]  # tokens of the global batch
        for key in ("train_loss", "val_loss"):
            if key in a:
                assert b[key] == pytest.approx(a[key], abs=1e-5), (a["step"], key)

    # the checkpoint of 2 processes (step 4 of 8) resumes in 1 process and ends where 1 process ends
    resumed = TinyLM()
    train(resumed, get_batch, tmp_path / "ddp", cfg(8))
    for (name, a), (_, b) in zip(ref.state_dict().items(), resumed.state_dict().items()):
        torch.testing.assert_close(b, a, atol=1e-5, rtol=0, msg=name)
    assert read_metrics(tmp_path / "ddp")[-1]["val_loss"] == pytest.approx(one[-1]["val_loss"], abs=1e-5)


def _worker(out_dir: str) -> None:
    """What each of the two torchrun processes runs (train() reads RANK/WORLD_SIZE itself)."""
    assert int(os.environ["WORLD_SIZE"]) == 2
    model = make_model()
    train_rows, calls = set(), [0]

    def loss_fn(m, batch):
        if m.training:
            train_rows.add(batch[0].shape[0])
            calls[0] += 1
            if calls[0] == STOP_AFTER * 2 and os.environ["RANK"] == "0":  # last micro-batch of update 4
                os.kill(os.getpid(), signal.SIGTERM)
        return m(*batch)[1]

    try:
        train(model, get_batch, out_dir, cfg(8), loss_fn=loss_fn)
        raise AssertionError("the SIGTERM to rank 0 did not stop both ranks")
    except TrainingInterrupted:
        pass
    assert train_rows == {B // 2}, train_rows  # each rank trains on its half of the global batch
    weights = {k: v.tolist() for k, v in model.state_dict().items()}
    Path(out_dir, f"rank{os.environ['RANK']}.json").write_text(json.dumps({"weights": weights}))


if __name__ == "__main__":
    _worker(sys.argv[1])
