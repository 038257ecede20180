"""Live tracking of a training: TensorBoard event files (always available) and Weights & Biases.

The trainer (:func:`mosaic.harness.train.train`) opens one :class:`Tracker` per run on the main
process (under torchrun, rank 0 alone writes) with the trackers named by ``TrainConfig.tracking``
(default ``["tensorboard"]``; ``[]`` turns tracking off):

* ``tensorboard``: event files in ``<run>/tensorboard/``, read by ``tensorboard --logdir
  results/runs`` (one TensorBoard run per run directory);
* ``wandb``: a Weights & Biases run (``pip install 'memory-mosaics[wandb]'``) whose local files go
  to ``<run>/wandb/``; ``WANDB_MODE=offline`` works without an account (``wandb sync`` uploads
  later), ``WANDB_PROJECT`` names the project (default ``memory-mosaics``).

Every line of ``metrics.jsonl`` becomes scalars under the tags of :data:`METRIC_TAGS` at its step
(train and validation loss, learning rate, tokens/s, gradient norm before clipping), so the
curves are the file's values. An experiment adds its own scalars or texts (e.g. sampled
continuations at each validation) through :func:`active_tracker`, which is the running training's
tracker (a no-op one outside a training and on other ranks)::

    def on_eval(step, val_loss, model):
        active_tracker().log_text("samples/once_upon", sample(model, "Once upon"), step)

**Resume.** A resumed run keeps exactly the events of steps <= the checkpoint's step: the event
directory is rebuilt on resume, its scalars from the kept lines of ``metrics.jsonl`` (which are
what the events were written from) and its texts and other tags from the old event files; the old
files are deleted once the new one holds them. Steps redone after the checkpoint are therefore
never duplicated, whatever order a reader loads files in. Weights & Biases resumes the same run
(its id is derived from the run directory and the run identity); W&B drops steps it has already
seen, which on one process carry the same values (a resumed run is bitwise identical).
"""
from __future__ import annotations

import contextlib
import hashlib
import html
import importlib.util
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

TRACKERS = ("tensorboard", "wandb")
DEFAULT_TRACKING = ("tensorboard",)
TENSORBOARD_DIR, WANDB_DIR = "tensorboard", "wandb"  # under the run directory
# metrics.jsonl key -> scalar tag. "loss/*" puts train and validation loss in one section.
METRIC_TAGS = {
    "train_loss": "loss/train",
    "val_loss": "loss/val",
    "lr": "lr",
    "tokens_per_s": "throughput/tokens_per_s",
    "grad_norm": "grad_norm",  # global norm before clipping, of the logged step's update
}
_PACKAGES = {"tensorboard": ("tensorboard", "pip install tensorboard"),
             "wandb": ("wandb", "pip install 'memory-mosaics[wandb]'")}
EVENT_GLOB = "events.out.tfevents.*"
TEXT_SUFFIX = "/text_summary"  # torch's add_text(tag) writes the tag "<tag>/text_summary"


def check_tracking(names: Sequence[str]) -> None:
    """Refuse (one ValueError) unknown or repeated tracker names and trackers whose package is
    not installed, before anything is written."""
    if isinstance(names, str) or not all(isinstance(n, str) for n in names):
        raise ValueError(f"tracking must be a list of tracker names from {list(TRACKERS)}, got {names!r}")
    unknown = [n for n in names if n not in TRACKERS]
    if unknown:
        raise ValueError(f"tracking: unknown tracker(s) {unknown}; accepted: {list(TRACKERS)}")
    if len(set(names)) != len(names):
        raise ValueError(f"tracking: a tracker is named twice in {list(names)}")
    for name in names:
        package, install = _PACKAGES[name]
        if importlib.util.find_spec(package) is None:
            raise ValueError(f"tracking: {name} needs the {package} package ({install}), or remove it "
                             "from the train section's tracking list")


def metric_scalars(record: Mapping[str, Any]) -> dict[str, float]:
    """The scalars (tag -> value) of one ``metrics.jsonl`` record; missing values (null) are skipped."""
    return {tag: float(record[key]) for key, tag in METRIC_TAGS.items() if record.get(key) is not None}


# -- trackers ------------------------------------------------------------------------------------
class Tracker:
    """What the trainer and experiments log to. This base class logs nothing: it is the tracker of
    a run with ``tracking: []``, of ranks other than 0 and outside a training."""

    def log_scalars(self, values: Mapping[str, float], step: int) -> None:
        """Log scalars (tag -> value) at ``step`` (optimizer updates done)."""

    def log_text(self, tag: str, text: str, step: int) -> None:
        """Log a text (e.g. a sampled continuation) at ``step``. TensorBoard renders it as
        Markdown (indent it by four spaces to show it verbatim); W&B shows it preformatted."""

    def log_metrics(self, record: Mapping[str, Any]) -> None:
        """Log one ``metrics.jsonl`` record (``step`` and the keys of :data:`METRIC_TAGS`)."""
        scalars = metric_scalars(record)
        if scalars:
            self.log_scalars(scalars, int(record["step"]))

    def close(self, failed: bool = False) -> None:
        """Flush and release; ``failed`` marks a training that ended with an exception."""


class TensorBoardTracker(Tracker):
    """Event files in ``log_dir`` written with ``torch.utils.tensorboard`` (the ``tensorboard``
    package). ``resume_step``: the checkpoint step a resumed run continues from (None: a fresh
    run); ``history``: the ``metrics.jsonl`` records kept up to it."""

    def __init__(self, log_dir: str | os.PathLike, resume_step: int | None = None,
                 history: Iterable[Mapping[str, Any]] = ()):
        from torch.utils.tensorboard import SummaryWriter  # noqa: PLC0415  (imports tensorboard: only when tracking)

        self.log_dir = Path(log_dir)
        old_files = sorted(self.log_dir.glob(EVENT_GLOB)) if self.log_dir.is_dir() else []
        old_events = _read_events(old_files, resume_step) if resume_step is not None else []
        # max_queue 1000 / flush_secs 30: the writer's thread writes in the background; every
        # log call flushes anyway, so a killed job's events reach its last log line.
        self.writer = SummaryWriter(log_dir=str(self.log_dir), max_queue=1000, flush_secs=30)
        if resume_step is not None:
            self._restore(history, old_events, resume_step)
        self.writer.flush()
        for path in old_files:  # only now: the new file holds everything kept
            path.unlink(missing_ok=True)

    def _restore(self, history: Iterable[Mapping[str, Any]], old_events: list[tuple], resume_step: int) -> None:
        written: set[tuple[str, int]] = set()
        for record in history:  # the scalars the events were written from
            step = int(record["step"])
            if step > resume_step:
                continue
            for tag, value in metric_scalars(record).items():
                self.writer.add_scalar(tag, value, step, new_style=False)
                written.add((tag, step))
        for kind, tag, step, value, wall_time in old_events:  # texts, an experiment's own scalars
            if (tag, step) in written:
                continue
            written.add((tag, step))
            if kind == "scalar":
                self.writer.add_scalar(tag, value, step, walltime=wall_time, new_style=False)
            else:  # add_text stores "<tag>/text_summary"; given that tag again it would add the suffix twice
                self.writer.add_text(tag.removesuffix(TEXT_SUFFIX), value, step, walltime=wall_time)

    def log_scalars(self, values: Mapping[str, float], step: int) -> None:
        for tag, value in values.items():
            self.writer.add_scalar(tag, float(value), step, new_style=False)
        self.writer.flush()

    def log_text(self, tag: str, text: str, step: int) -> None:
        self.writer.add_text(tag, text, step)
        self.writer.flush()

    def close(self, failed: bool = False) -> None:
        self.writer.close()


def _read_events(paths: Sequence[Path], up_to: int) -> list[tuple]:
    """(kind, tag, step, value, wall_time) of the scalar and text events of ``paths`` with step
    <= ``up_to``. A file cut short by a killed process yields the events before the cut."""
    # The legacy loader yields the events as written (the other one rewrites scalars as tensors).
    from tensorboard.backend.event_processing.event_file_loader import LegacyEventFileLoader  # noqa: PLC0415

    events = []
    for path in paths:
        for event in LegacyEventFileLoader(str(path)).Load():
            if not event.HasField("summary") or event.step > up_to:
                continue
            for value in event.summary.value:
                plugin = value.metadata.plugin_data.plugin_name
                if value.HasField("simple_value"):
                    events.append(("scalar", value.tag, event.step, value.simple_value, event.wall_time))
                elif plugin == "text" and value.tensor.string_val:
                    text = value.tensor.string_val[0].decode("utf-8", errors="replace")
                    events.append(("text", value.tag, event.step, text, event.wall_time))
    return events


class WandbTracker(Tracker):
    """A Weights & Biases run; its files go to ``run_dir/wandb``. ``run_id`` makes a resumed
    training continue the same W&B run."""

    def __init__(self, run_dir: str | os.PathLike, run_id: str, name: str, group: str | None,
                 config: Mapping[str, Any] | None = None):
        import wandb  # noqa: PLC0415  (an optional extra)

        self._wandb = wandb
        try:
            self.run = wandb.init(
                project=os.environ.get("WANDB_PROJECT", "memory-mosaics"), id=run_id, name=name, group=group,
                resume="allow", dir=str(run_dir), config=dict(config or {}),
                settings=wandb.Settings(console="off"),  # the job's stdout/stderr stay the job's
            )
        except Exception as exc:  # noqa: BLE001  (W&B raises its own types; one line is what a job needs)
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ValueError(f"tracking: wandb could not start ({first}); log in (wandb login / "
                             "WANDB_API_KEY), set WANDB_MODE=offline, or drop wandb from tracking") from None

    def log_scalars(self, values: Mapping[str, float], step: int) -> None:
        self.run.log({k: float(v) for k, v in values.items()}, step=step)

    def log_text(self, tag: str, text: str, step: int) -> None:
        self.run.log({tag: self._wandb.Html(f"<pre>{html.escape(text)}</pre>")}, step=step)

    def close(self, failed: bool = False) -> None:
        self.run.finish(exit_code=1 if failed else 0)


class Trackers(Tracker):
    """Several trackers as one."""

    def __init__(self, trackers: Sequence[Tracker]):
        self.trackers = list(trackers)

    def log_scalars(self, values: Mapping[str, float], step: int) -> None:
        for t in self.trackers:
            t.log_scalars(values, step)

    def log_text(self, tag: str, text: str, step: int) -> None:
        for t in self.trackers:
            t.log_text(tag, text, step)

    def close(self, failed: bool = False) -> None:
        for t in self.trackers:
            t.close(failed)


def wandb_run_id(run_dir: str | os.PathLike, identity_digest: str) -> str:
    """A W&B run id that a resumed training finds again and a retrained one (other settings) does
    not: the run directory's absolute path and the run identity, hashed."""
    key = f"{Path(run_dir).resolve()}\n{identity_digest}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def open_tracker(names: Sequence[str], run_dir: str | os.PathLike, *, resume_step: int | None = None,
                 history: Iterable[Mapping[str, Any]] = (), identity_digest: str = "",
                 config: Mapping[str, Any] | None = None) -> Tracker:
    """The tracker of a training in ``run_dir`` (call on the main process only)."""
    check_tracking(names)
    run_dir = Path(run_dir)
    opened: list[Tracker] = []
    try:
        for name in names:
            if name == "tensorboard":
                opened.append(TensorBoardTracker(run_dir / TENSORBOARD_DIR, resume_step, history))
            else:
                opened.append(WandbTracker(run_dir, wandb_run_id(run_dir, identity_digest), run_dir.name,
                                           run_dir.parent.name or None, config))
    except BaseException:
        for t in opened:
            t.close(failed=True)
        raise
    if not opened:
        return Tracker()
    return opened[0] if len(opened) == 1 else Trackers(opened)


# -- the running training's tracker --------------------------------------------------------------
_ACTIVE: list[Tracker] = []


def active_tracker() -> Tracker:
    """The tracker of the training running in this process (a no-op tracker outside a training,
    on ranks other than 0, or with ``tracking: []``)."""
    return _ACTIVE[-1] if _ACTIVE else Tracker()


@contextlib.contextmanager
def activate(tracker: Tracker) -> Iterator[Tracker]:
    """Make ``tracker`` the :func:`active_tracker` for the block; closes it at the end (marked
    failed if the block raised)."""
    _ACTIVE.append(tracker)
    failed = True
    try:
        yield tracker
        failed = False
    finally:
        _ACTIVE.remove(tracker)
        tracker.close(failed=failed)

