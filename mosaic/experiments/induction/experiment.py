"""Induction heads in one block (paper footnote 5): training runs, held-out evaluation, the table.

Every architecture of the config's ``architectures`` list is trained at every depth of ``depths``
(``n_layer``) on the recall task of :mod:`mosaic.experiments.induction.data`, with the same
width, heads, batch, steps and learning rate; models come from the architecture registry
(:func:`mosaic.build_model`), so a plug-in named in the config runs like the built-ins. Training
goes through the shared trainer (:func:`mosaic.harness.train.train`: resume, run identity,
locks); an ``on_eval`` hook (:class:`RecallCurve`) adds the recall accuracy on the trainer's
validation batches to the run directory at every evaluation (``recall.jsonl``, the figure's curve).

The held-out evaluation scores each trained model on ``eval.sequences`` fresh sequences drawn with
``eval.seed`` (never a seed of a training or validation batch), **per sequence**: the fraction of
its recall positions whose argmax prediction is the output token. Every model is scored on the
same sequences, so the scorecard (:mod:`mosaic.experiments.induction.claims`) can bootstrap over
sequences and pair models sequence by sequence.
"""
from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from mosaic.experiments.induction.data import DATA_VERSION, TaskConfig, generate, make_get_batch
from mosaic.harness.claims import bootstrap_ci
from mosaic.harness.io import atomic_open, fingerprint
from mosaic.harness.progress import Progress
from mosaic.harness.runs import load_run_model, run_spec
from mosaic.harness.train import BATCH_SEED_STRIDE, CONFIG, DONE, EVAL_SEED, TrainConfig, train
from mosaic.interface import IGNORE_INDEX
from mosaic.registry import build_model

EXPERIMENT = "induction"
RECALL_CURVE = "recall.jsonl"  # per run: recall accuracy at every evaluation step (the figure)
EVAL_COLUMNS = ["run", "arch", "depth", "num_params", "steps", "sequence", "recall_positions", "correct",
                "accuracy", "chance", "eval_fingerprint"]
TABLE_COLUMNS = ["architecture", "depth", "accuracy", "ci_low", "ci_high", "sequences", "params", "steps",
                 "chance"]
# model keys the experiment sets itself: depth from `depths`, sizes from the task
DERIVED_MODEL_KEYS = ("n_layer", "vocab_size", "block_size", "pad_vocab_multiple")


# -- configuration -----------------------------------------------------------------------------
def arch_slug(arch: str) -> str:
    """A directory-safe name of architecture ``arch`` (plug-in paths ``pkg.mod:Class`` included)."""
    return arch.replace(":", "__").replace("/", "_")


def run_name(arch: str, depth: int) -> str:
    """The run directory name of ``arch`` at ``depth`` blocks, e.g. ``mosaic_L1``."""
    return f"{arch_slug(arch)}_L{depth}"


def _need(section: dict[str, Any], key: str) -> Any:
    if key not in section:
        raise ValueError(f"induction config lacks key '{key}'")
    return section[key]


def model_config(section: dict[str, Any], arch: str, depth: int, task: TaskConfig) -> dict[str, Any]:
    """The keyword config of :func:`mosaic.build_model`: ``model`` < ``arch_options[arch]``, then
    the derived keys (``n_layer = depth``, vocabulary and context from the task, no vocabulary
    padding: with a few dozen tokens padding to 64 would double the output layer)."""
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise ValueError(f"induction depth must be an integer >= 1, got {depth!r}")
    common = dict(_need(section, "model"))
    options = (section.get("arch_options") or {}).get(arch) or {}
    if not isinstance(options, dict):
        raise ValueError(f"induction.arch_options.{arch} must be a mapping, got {options!r}")
    derived = sorted((set(common) | set(options)) & set(DERIVED_MODEL_KEYS))
    if derived:
        raise ValueError(f"induction model key(s) {derived} are set by the experiment (n_layer from depths, "
                         "vocab_size and block_size from task); remove them from model / arch_options")
    return {**common, **options, "n_layer": depth, "vocab_size": task.vocab_size, "block_size": task.seq_len,
            "pad_vocab_multiple": 1}


def train_config(section: dict[str, Any], runtime: dict[str, Any], progress: bool) -> TrainConfig:
    return TrainConfig.from_dict({**_need(section, "train"), "device": runtime.get("device", "auto"),
                                  "threads": runtime.get("threads"), "progress": progress})


def data_fingerprint(task: TaskConfig, batch_size: int) -> str:
    """What the run identity records of the data: the task, the batch and the generator's version
    (a change of any of them trains afresh instead of resuming)."""
    return fingerprint({"task": task.to_dict(), "batch_size": batch_size, "generator": DATA_VERSION})


# -- recall accuracy -----------------------------------------------------------------------------
@torch.no_grad()
def recall_correct(model: torch.nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per sequence, the number of recall positions (targets not :data:`IGNORE_INDEX`) whose
    argmax prediction is the target; ``inputs``/``targets`` (n, T) on the model's device."""
    logits = model(inputs)[0]  # (n, T, V)
    scored = targets != IGNORE_INDEX
    return ((logits.argmax(dim=-1) == targets) & scored).sum(dim=1)


class RecallCurve:
    """``on_eval`` hook of :func:`mosaic.harness.train.train`: at every evaluation, the recall
    accuracy on the trainer's validation batches (the same sequences at every evaluation and for
    every model: batch i is drawn with seed ``EVAL_SEED + i``), appended to ``run_dir/recall.jsonl``
    with the trainer's validation loss; also a progress line for logs.

    Called only once the trainer holds the run lock. At its first call it keeps only the lines of
    earlier steps: lines after the checkpoint a run resumes from belong to the interrupted run (the
    trainer deletes the file with the run when a run starts afresh: :data:`RECALL_CURVE` is passed
    as one of its ``run_files``)."""

    def __init__(self, run_dir: str | Path, get_batch: Callable, eval_batches: int, max_steps: int,
                 desc: str, report: bool = True):
        self.path = Path(run_dir) / RECALL_CURVE
        self.get_batch, self.eval_batches, self.max_steps = get_batch, eval_batches, max_steps
        self.desc, self.report = desc, report
        self.progress: Progress | None = None

    def _start(self, step: int) -> None:
        kept = []
        if self.path.is_file():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                if line.strip() and json.loads(line)["step"] < step:
                    kept.append(line)
        with atomic_open(self.path, "w", encoding="utf-8") as fh:
            fh.writelines(line + "\n" for line in kept)
        self.progress = Progress(self.max_steps, f"train {self.desc}", "steps", initial=step, enabled=self.report)

    def accuracy(self, model: torch.nn.Module) -> float:
        device = next(model.parameters()).device
        was_training = model.training
        model.eval()
        correct = total = 0
        try:
            for i in range(self.eval_batches):
                inputs, targets = self.get_batch("val", i, torch.Generator().manual_seed(EVAL_SEED + i))
                correct += int(recall_correct(model, inputs.to(device), targets.to(device)).sum())
                total += int((targets != IGNORE_INDEX).sum())
        finally:
            model.train(was_training)
        return correct / total

    def __call__(self, step: int, val_loss: float, model: torch.nn.Module) -> None:
        if self.progress is None:
            self._start(step)
        acc = self.accuracy(model)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"step": step, "recall_accuracy": acc, "val_loss": val_loss}) + "\n")
        self.progress.update(step - self.progress.done, recall_accuracy=acc)
        if step >= self.max_steps:
            self.progress.close()


def read_recall_curve(run_dir: str | Path) -> pd.DataFrame:
    """``step, recall_accuracy, val_loss`` of a run, one row per evaluation step (the last line of
    a step wins: a resumed run re-evaluates the same weights)."""
    path = Path(run_dir) / RECALL_CURVE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: {run_dir} is not a finished induction run")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not rows:
        raise ValueError(f"{path} holds no evaluation (was the run trained with eval_batches = 0?)")
    curve = pd.DataFrame(rows).drop_duplicates("step", keep="last").sort_values("step")
    return curve[["step", "recall_accuracy", "val_loss"]].reset_index(drop=True)


# -- training --------------------------------------------------------------------------------------
def train_run(section: dict[str, Any], arch: str, depth: int, out_dir: str | Path,
              runtime: dict[str, Any] | None = None, progress: bool = True) -> dict[str, Any]:
    """Train ``arch`` with ``depth`` blocks into ``out_dir``; returns the trainer's ``done.json``."""
    runtime = runtime or {}
    task = TaskConfig.from_dict(_need(section, "task"))
    batch_size = _need(section, "batch_size")
    cfg = train_config(section, runtime, progress)
    if cfg.eval_batches < 1:
        raise ValueError("induction.train.eval_batches must be >= 1: the recall curve is measured at evaluations")
    model_cfg = model_config(section, arch, depth, task)
    torch.manual_seed(cfg.seed)  # the initial weights depend only on the seed
    model = build_model(arch, **model_cfg)
    get_batch = make_get_batch(task, batch_size)
    run = {"experiment": EXPERIMENT, "arch": arch, "depth": depth, "model": model_cfg, "task": task.to_dict(),
           "batch_size": batch_size, "data_fingerprint": data_fingerprint(task, batch_size)}
    # progress lines for log files; at a terminal the trainer draws its own bar
    curve = RecallCurve(out_dir, get_batch, cfg.eval_batches, cfg.max_steps, run_name(arch, depth),
                        report=not sys.stderr.isatty())
    return train(model, get_batch, out_dir, cfg, run_config=run, on_eval=curve, run_files=(RECALL_CURVE,))


# -- held-out evaluation ---------------------------------------------------------------------------
def induction_spec(run_dir: str | Path) -> dict[str, Any]:
    """The run entry of an induction run's ``config.json`` (arch, depth, model, task, ...)."""
    spec = run_spec(run_dir)
    if spec.get("experiment") != EXPERIMENT:
        raise ValueError(f"{Path(run_dir) / CONFIG} is not an induction run (run.experiment="
                         f"{spec.get('experiment')!r})")
    return spec


def check_held_out(seed: int, train_cfg: dict[str, Any]) -> None:
    """Refuse an evaluation seed that some training or validation batch of the run was drawn with
    (the held-out sequences must be fresh)."""
    base = int(train_cfg["seed"]) * BATCH_SEED_STRIDE
    if base <= seed < base + int(train_cfg["max_steps"]):
        raise ValueError(f"induction eval.seed={seed} is the seed of training batch {seed - base}; "
                         "choose a seed no training batch uses")
    if EVAL_SEED <= seed < EVAL_SEED + int(train_cfg["eval_batches"]):
        raise ValueError(f"induction eval.seed={seed} is the seed of validation batch {seed - EVAL_SEED}")


def evaluate_run(run_dir: str | Path, eval_section: dict[str, Any], device: str = "cpu") -> pd.DataFrame:
    """Per held-out sequence: the recall positions, how many are predicted right, the accuracy.

    The sequences come from the run's own task (``config.json``), ``eval.sequences`` of them drawn
    with ``eval.seed``; ``eval_fingerprint`` identifies them, so models are paired only on
    identical sequences."""
    run_dir = Path(run_dir)
    spec = induction_spec(run_dir)
    done_path = run_dir / DONE
    if not done_path.is_file():
        raise FileNotFoundError(f"{done_path} not found: training of {run_dir} has not finished")
    done = json.loads(done_path.read_text(encoding="utf-8"))
    train_cfg = json.loads((run_dir / CONFIG).read_text(encoding="utf-8"))["train"]
    n, seed, batch_size = (int(_need(eval_section, k)) for k in ("sequences", "seed", "batch_size"))
    if n < 2 or batch_size < 1:
        raise ValueError(f"induction eval needs sequences >= 2 and batch_size >= 1, got {n}, {batch_size}")
    check_held_out(seed, train_cfg)
    task = TaskConfig.from_dict(spec["task"])
    model = load_run_model(run_dir, device)
    seqs = generate(task, n, torch.Generator().manual_seed(seed))
    inputs, targets = seqs.inputs(), seqs.recall_targets()
    correct = torch.cat([recall_correct(model, inputs[i:i + batch_size].to(device),
                                        targets[i:i + batch_size].to(device)).cpu()
                         for i in range(0, n, batch_size)])
    positions = (targets != IGNORE_INDEX).sum(dim=1)
    return pd.DataFrame({
        "run": run_dir.name, "arch": spec["arch"], "depth": int(spec["depth"]), "num_params": int(done["num_params"]),
        "steps": int(done["step"]), "sequence": range(n), "recall_positions": positions.numpy(),
        "correct": correct.numpy(), "accuracy": (correct.double() / positions.double()).numpy(),
        "chance": task.chance_accuracy,
        "eval_fingerprint": fingerprint({"task": task.to_dict(), "sequences": n, "seed": seed,
                                         "generator": DATA_VERSION}),
    }, columns=EVAL_COLUMNS)


def read_eval(path: str | Path) -> pd.DataFrame:
    """A per-sequence evaluation CSV written by ``evaluate``, checked."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"evaluation file not found: {path}")
    frame = pd.read_csv(path)
    missing = [c for c in EVAL_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{path} lacks column(s) {missing}: not written by `mosaic induction evaluate`")
    if frame.empty:
        raise ValueError(f"{path} holds no sequences")
    return frame


def accuracy_table(evals: list[pd.DataFrame]) -> pd.DataFrame:
    """One row per model: mean recall accuracy over the held-out sequences with its 95% bootstrap
    interval over sequences (:func:`mosaic.harness.claims.bootstrap_ci`), parameters and steps."""
    rows = []
    for frame in evals:
        acc, low, high = bootstrap_ci(frame["accuracy"].to_numpy())
        first = frame.iloc[0]
        rows.append({"architecture": first["arch"], "depth": int(first["depth"]), "accuracy": acc,
                     "ci_low": low, "ci_high": high, "sequences": len(frame),
                     "params": int(first["num_params"]), "steps": int(first["steps"]),
                     "chance": float(first["chance"])})
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    return table.sort_values(["architecture", "depth"], kind="stable").reset_index(drop=True)
