"""RegBench experiment (paper Fig. 11 and Table 4): train, select on validation loss, evaluate.

One *run* trains one architecture on the first ``N`` training automata with one point of the
hyper-parameter grid, following Akyürek et al.'s recipe (notes/regbench.md §3): AdamW
(betas and weight decay from the config), batch 32, ``epochs`` passes over the ``N`` sequences
(``max_steps = epochs · ceil(N / batch_size)``), linear warm-up over ``warmup_fraction`` of the
steps then cosine decay to ``min_lr_fraction · lr``. The validation loss is computed every
``eval_every_epochs`` epochs on the whole validation pool and the weights with the lowest one
are kept as ``best_val.pt`` (the reference's ``save_top_k=1`` on ``val/loss``). A run at the
IID size also keeps ``best_iid_val.pt``, the best weights by the loss on ``iid_val``.

*Selection* takes every grid point of one (architecture, N), picks the run with the lowest best
validation loss and evaluates its best weights on the test pool with the exact metrics
(``val`` -> ``test``; ``iid_val`` -> ``iid_test`` for Table 4). ``report.py`` draws Fig. 11 and
writes Table 4 from the selections.

Config: the ``regbench`` section. ``model`` holds the common model keys, ``arch_options`` the
keys of one architecture (model keys and trainer keys such as ``lr`` or ``grad_clip``, told
apart by name: ``TrainConfig`` fields go to the trainer), ``train`` the trainer keys shared by
all; a grid point overrides both. Nothing here depends on which architecture runs.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from mosaic.experiments.regbench.automaton import VOCAB_SIZE
from mosaic.experiments.regbench.dataset import RegBenchSplit, data_fingerprint, load_pools, make_batch, make_get_batch
from mosaic.experiments.regbench.metrics import MetricAccumulator, score_model
from mosaic.harness.io import atomic_path, write_json
from mosaic.harness.runs import load_run_model, run_spec
from mosaic.harness.train import DONE, TrainConfig, train
from mosaic.registry import build_model

TRAIN_KEYS = {f.name for f in dataclasses.fields(TrainConfig)}
# Trainer keys the experiment derives from epochs / N / the validation pool: not settable.
DERIVED_TRAIN_KEYS = {"max_steps", "warmup_steps", "min_lr", "eval_interval", "eval_batches",
                      "checkpoint_interval", "log_interval"}
SELECTION_TO_EVAL = {"val": "test", "iid_val": "iid_test"}  # checkpoint chosen on -> scored on


# -- configuration -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Schedule:
    """Step arithmetic of the recipe: epochs over ``n_train`` sequences at ``batch_size``."""

    n_train: int
    batch_size: int
    epochs: int
    steps_per_epoch: int
    max_steps: int
    warmup_steps: int
    eval_interval: int

    @classmethod
    def of(cls, n_train: int, batch_size: int, epochs: int, warmup_fraction: float = 0.1,
           eval_every_epochs: int = 1) -> Schedule:
        for key, v in [("n_train", n_train), ("batch_size", batch_size), ("epochs", epochs),
                       ("eval_every_epochs", eval_every_epochs)]:
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"regbench {key} must be an integer >= 1, got {v!r}")
        if not 0 <= warmup_fraction < 1:
            raise ValueError(f"regbench warmup_fraction must be in [0, 1), got {warmup_fraction!r}")
        spe = math.ceil(n_train / batch_size)  # the last partial batch is kept (as the reference)
        max_steps = epochs * spe
        return cls(n_train, batch_size, epochs, spe, max_steps,
                   warmup_steps=round(warmup_fraction * max_steps),
                   eval_interval=min(eval_every_epochs * spe, max_steps))

    def epoch(self, step: int) -> float:
        return step / self.steps_per_epoch


def split_keys(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(trainer keys, model keys)`` of a mapping: TrainConfig field names go to the trainer."""
    return ({k: v for k, v in values.items() if k in TRAIN_KEYS},
            {k: v for k, v in values.items() if k not in TRAIN_KEYS})


def _need(section: dict, key: str) -> Any:
    if key not in section:
        raise ValueError(f"regbench config lacks key '{key}'")
    return section[key]


def run_settings(section: dict, arch: str, n_train: int, point: dict[str, Any], n_val: int,
                 runtime: dict[str, Any] | None = None, progress: bool = False):
    """``(model config, TrainConfig, Schedule)`` of one run: ``model`` < ``arch_options[arch]``
    < ``point`` for model keys, ``train`` < ``arch_options[arch]`` < ``point`` for trainer keys;
    steps, warm-up, ``min_lr`` and evaluation cadence derived from the recipe."""
    runtime = runtime or {}
    options = (section.get("arch_options") or {}).get(arch) or {}
    if not isinstance(options, dict):
        raise ValueError(f"regbench.arch_options.{arch} must be a mapping, got {options!r}")
    opt_train, opt_model = split_keys(options)
    point_train, point_model = split_keys(point)
    base_train = dict(section.get("train") or {})
    derived = sorted((set(base_train) | set(opt_train) | set(point_train)) & DERIVED_TRAIN_KEYS)
    if derived:
        raise ValueError(f"regbench trainer key(s) {derived} are derived from epochs, N and the "
                         "validation pool; set regbench.epochs / eval_every_epochs instead")
    model_cfg = {**_need(section, "model"), **opt_model, **point_model, "vocab_size": VOCAB_SIZE}
    sched = Schedule.of(n_train, _need(section, "batch_size"), _need(section, "epochs"),
                        section.get("warmup_fraction", 0.1), section.get("eval_every_epochs", 1))
    values = {**base_train, **opt_train, **point_train}
    lr = TrainConfig.from_dict({"max_steps": 1, **values, "min_lr": 0.0}).lr  # validated, coerced
    min_lr_fraction = section.get("min_lr_fraction", 0.1)
    if not 0 <= min_lr_fraction <= 1:
        raise ValueError(f"regbench min_lr_fraction must be in [0, 1], got {min_lr_fraction!r}")
    cfg = TrainConfig.from_dict({
        **values, "max_steps": sched.max_steps, "warmup_steps": sched.warmup_steps,
        "min_lr": min_lr_fraction * lr, "eval_interval": sched.eval_interval,
        "eval_batches": math.ceil(n_val / sched.batch_size),
        "checkpoint_interval": sched.eval_interval, "log_interval": sched.steps_per_epoch,
        "device": runtime.get("device", values.get("device", "auto")),
        "threads": runtime.get("threads", values.get("threads")), "progress": progress,
    })
    return model_cfg, cfg, sched


# -- batches and losses --------------------------------------------------------------------------
def fixed_batch(split: RegBenchSplit, i: int, batch_size: int):
    """Validation batch ``i``: sequences ``i·B .. (i+1)·B - 1`` (the whole pool in order)."""
    lo = i * batch_size
    if not 0 <= lo < len(split):
        raise IndexError(f"batch {i} is past the end of split {split.name!r} ({len(split)} sequences)")
    return make_batch(split, range(lo, min(lo + batch_size, len(split))))


def make_run_batches(splits: dict[str, RegBenchSplit], train_split: str, batch_size: int, seed: int):
    """``get_batch`` for :func:`mosaic.harness.train.train`: epoch-shuffled batches of ``train_split``;
    ``"val"`` batches walk the whole validation pool in order (so the trainer's ``val_loss``,
    with ``eval_batches = ceil(n_val / B)``, is the mean batch loss over every val sequence)."""
    train_batch, batcher = make_get_batch(splits, batch_size, seed, train=train_split)

    def get_batch(split: str, step: int, generator):
        if split == "train":
            return train_batch(split, step, generator)
        return fixed_batch(splits[split], step, batch_size)

    return get_batch, batcher


@torch.no_grad()
def split_loss(model, split: RegBenchSplit, batch_size: int) -> float:
    """Mean over the split's consecutive batches of the batch cross-entropy (the trainer's
    validation-loss definition, here for any split)."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        losses = [float(model(*(t.to(device) for t in fixed_batch(split, i, batch_size)))[1])
                  for i in range(math.ceil(len(split) / batch_size))]
    finally:
        model.train(was_training)
    return sum(losses) / len(losses)


def tracked_splits(splits: dict[str, RegBenchSplit], train_split: str) -> list[str]:
    """``val``, plus ``iid_val`` when it was drawn from this run's training automata."""
    tracked = ["val"]
    if "iid_val" in splits and splits["iid_val"].meta.get("automata_from") == train_split:
        tracked.append("iid_val")
    return tracked


class BestCheckpoints:
    """``on_eval`` hook of :func:`mosaic.harness.train.train`: keeps ``best_<split>.pt`` (weights) and
    ``best_<split>.json`` (``loss``, ``step``, ``epoch``) with the lowest loss seen on each
    tracked split. ``val`` uses the trainer's validation loss; other splits are computed here.

    It never deletes anything: the trainer removes the ``best_*`` files (:data:`RUN_FILES`) of an
    earlier run once it holds the run lock and knows the run starts afresh, so the files it finds
    belong to the run being resumed (resumes are deterministic, so re-evaluated steps give the
    same losses and strict ``<`` keeps the earliest best)."""

    RUN_FILES = ("best_*.pt", "best_*.json")

    def __init__(self, run_dir: str | Path, splits: dict[str, RegBenchSplit], batch_size: int,
                 schedule: Schedule):
        self.run_dir, self.splits, self.batch_size, self.schedule = Path(run_dir), splits, batch_size, schedule
        self.best: dict[str, float] | None = None  # read at the first call, under the lock

    def _load_best(self) -> dict[str, float]:
        best = {}
        for name in self.splits:
            meta = self.run_dir / f"best_{name}.json"
            if meta.is_file():
                best[name] = json.loads(meta.read_text(encoding="utf-8"))["loss"]
        return best

    def __call__(self, step: int, val_loss: float, model) -> None:
        if self.best is None:
            self.best = self._load_best()
        for name, split in self.splits.items():
            loss = val_loss if name == "val" else split_loss(model, split, self.batch_size)
            if math.isfinite(loss) and loss < self.best.get(name, math.inf):
                self.best[name] = loss
                with atomic_path(self.run_dir / f"best_{name}.pt") as tmp:
                    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, tmp)
                write_json(self.run_dir / f"best_{name}.json",
                           {"split": name, "loss": loss, "step": step, "epoch": self.schedule.epoch(step)})


# -- train ---------------------------------------------------------------------------------------
def train_run(section: dict, arch: str, n_train: int, point: dict[str, Any], data_dir: str | Path,
              out_dir: str | Path, runtime: dict[str, Any] | None = None, progress: bool = False) -> dict:
    """Train one (architecture, N, grid point) run into ``out_dir``; returns ``done.json``."""
    splits = load_pools(data_dir)
    train_split = f"train_{n_train}"
    if train_split not in splits:
        raise ValueError(f"{data_dir} has no split {train_split} (generated: {sorted(splits)}); "
                         "add N to regbench.data.train_sizes")
    model_cfg, cfg, sched = run_settings(section, arch, n_train, point, len(splits["val"]), runtime, progress)
    get_batch, _ = make_run_batches(splits, train_split, sched.batch_size, cfg.seed)
    torch.manual_seed(cfg.seed)
    model = build_model(arch, **model_cfg)  # a bad architecture stops before the run dir exists
    out_dir = Path(out_dir)  # made by the trainer once the run lock is held (removed if the run fails first)
    tracked = tracked_splits(splits, train_split)
    hook = BestCheckpoints(out_dir, {s: splits[s] for s in tracked}, sched.batch_size, sched)
    run = {"arch": arch, "model": model_cfg, "n_train": n_train, "point": point,
           "data": str(data_dir), "data_fingerprint": data_fingerprint(data_dir), "tracked": tracked,
           "schedule": dataclasses.asdict(sched)}
    done = train(model, get_batch, out_dir, cfg, run_config=run, on_eval=hook, run_files=BestCheckpoints.RUN_FILES,
                 identity_ignore=("data",))  # the path as typed; data_fingerprint identifies the data
    missing = [s for s in tracked if not (out_dir / f"best_{s}.pt").is_file()]
    if missing:
        raise ValueError(f"{out_dir}: no finite {missing} loss was ever seen, no best checkpoint")
    return done


# -- evaluate and select -------------------------------------------------------------------------
def load_best_model(run_dir: str | Path, selected_on: str = "val", device: str = "cpu"):
    """The run's architecture with its ``best_<selected_on>.pt`` weights, in eval mode."""
    return load_run_model(run_dir, device, weights=f"best_{selected_on}.pt")


def score_run(run_dir: str | Path, splits: dict[str, RegBenchSplit], names: list[str],
              selected_on: str = "val", batch_size: int = 32, device: str = "cpu") -> dict[str, MetricAccumulator]:
    """The :class:`~mosaic.experiments.regbench.metrics.MetricAccumulator` of the run's best
    checkpoint on each split in ``names`` (progress: sequences scored per split)."""
    missing = [n for n in names if n not in splits]
    if missing:
        raise ValueError(f"no split(s) {missing} in the data (have {sorted(splits)})")
    model = load_best_model(run_dir, selected_on, device)
    run = "/".join(Path(run_dir).parts[-3:])  # <arch>/N<n>/<point> in the workflow's layout
    return {n: score_model(model, splits[n], batch_size, device, desc=f"score {run} best_{selected_on} on {n}")
            for n in names}


def evaluate_run(run_dir: str | Path, splits: dict[str, RegBenchSplit], names: list[str],
                 selected_on: str = "val", batch_size: int = 32, device: str = "cpu") -> dict:
    """Exact metrics (``metrics.py``) of the run's best checkpoint on each split in ``names``."""
    return {n: acc.result() for n, acc in score_run(run_dir, splits, names, selected_on, batch_size, device).items()}


def per_sequence_record(split: RegBenchSplit, acc: MetricAccumulator) -> dict[str, list]:
    """Per-sequence sums of ``acc`` with each sequence's index and automaton: ``automaton`` is the
    index of the sequence's automaton in its seed stream (``source_index``): one sequence per
    automaton on the test pool, several per training automaton on ``iid_test``."""
    return {"sequence": list(range(len(split))), "automaton": [int(i) for i in split.source_index],
            **acc.per_sequence()}


def read_best(run_dir: str | Path, split: str) -> dict | None:
    path = Path(run_dir) / f"best_{split}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def select_best(losses: list[float | None]) -> int:
    """Index of the lowest finite loss (ties: the first); ``None``/NaN never win."""
    finite = [(loss, i) for i, loss in enumerate(losses) if loss is not None and math.isfinite(loss)]
    if not finite:
        raise ValueError("no run has a finite validation loss to select on")
    return min(finite)[1]


def select_runs(run_dirs: list[str | Path], data_dir: str | Path, batch_size: int = 32,
                device: str = "cpu") -> dict:
    """Pick, among the grid points of one (architecture, N), the run with the lowest best loss on
    each selection split (``val``; ``iid_val`` when every run tracked it) and score its best
    checkpoint on the paired evaluation split. Returns the ``selection.json`` content: per
    selection split the chosen run, its metrics in every convention and ``per_sequence``, the
    per-sequence sums behind them (what the scorecard's bootstrap resamples)."""
    if not run_dirs:
        raise ValueError("select: no runs given")
    specs = [run_spec(d) for d in run_dirs]
    for d in run_dirs:
        if not (Path(d) / DONE).is_file():
            raise FileNotFoundError(f"{d}/{DONE} not found: the run has not finished")
    groups = {(s["arch"], s["n_train"]) for s in specs}
    if len(groups) != 1:
        raise ValueError(f"select: runs mix (arch, N) groups {sorted(groups)}; select one group at a time")
    (arch, n_train), = groups
    splits = load_pools(data_dir)
    out: dict[str, Any] = {"arch": arch, "n_train": n_train, "selections": {}, "points": []}
    bests = {s: [read_best(d, s) for d in run_dirs] for s in SELECTION_TO_EVAL}
    for d, spec, i in zip(run_dirs, specs, range(len(run_dirs))):
        config = json.loads((Path(d) / "config.json").read_text(encoding="utf-8"))
        out["points"].append({"run": str(d), "point": spec.get("point", {}), "num_params": config.get("num_params"),
                              **{f"best_{s}_loss": (b[i] or {}).get("loss") for s, b in bests.items()}})
    for sel_split, eval_split in SELECTION_TO_EVAL.items():
        found = bests[sel_split]
        if all(b is None for b in found):
            continue
        if any(b is None for b in found):
            raise ValueError(f"select: only some runs of {arch} N={n_train} kept best_{sel_split}.json")
        i = select_best([b["loss"] for b in found])
        acc = score_run(run_dirs[i], splits, [eval_split], sel_split, batch_size, device)[eval_split]
        out["selections"][sel_split] = {
            "run": str(run_dirs[i]), "point": specs[i].get("point", {}), "loss": found[i]["loss"],
            "step": found[i]["step"], "epoch": found[i]["epoch"], "eval_split": eval_split,
            "metrics": acc.result(), "num_params": out["points"][i]["num_params"],
            "per_sequence": per_sequence_record(splits[eval_split], acc),
        }
    if "val" not in out["selections"]:
        raise ValueError(f"select: no run of {arch} N={n_train} kept best_val.json")
    return out
