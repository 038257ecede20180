"""Progress of long steps, for a person at a terminal and for a log file alike.

On a terminal (stderr is a TTY) :class:`Progress` draws a tqdm bar. Anywhere else (a Snakemake
job's log, a SLURM output file, a pipe) it writes one plain line to stderr at most every
``interval`` seconds (default 30; ``MOSAIC_PROGRESS_INTERVAL`` overrides it), and a last line when
it closes::

    [progress] train mosaic_L2: 1200/4000 steps (30%), 3.1 steps/s, elapsed 6m27s, ETA 15m03s, loss 2.3410

Every step that can take more than about 30 seconds (data preparation, training, evaluation,
measurements, generation) reports through here, so a job's log always says how far it is.
"""
from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Iterable, Iterator
from typing import IO, Any, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")
DEFAULT_INTERVAL_S = 30.0


def default_interval() -> float:
    """Seconds between two log lines: ``MOSAIC_PROGRESS_INTERVAL`` or 30."""
    raw = os.environ.get("MOSAIC_PROGRESS_INTERVAL")
    if raw is None:
        return DEFAULT_INTERVAL_S
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"MOSAIC_PROGRESS_INTERVAL must be a number of seconds, got {raw!r}") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"MOSAIC_PROGRESS_INTERVAL must be >= 0 seconds, got {raw!r}")
    return value


def format_duration(seconds: float) -> str:
    """``3725.0`` -> ``"1h02m05s"``; ``42.3`` -> ``"42s"``."""
    if not math.isfinite(seconds):
        return "?"
    s = int(round(seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h}h{m:02d}m{s:02d}s"
    return f"{m}m{s:02d}s" if m else f"{s}s"


def _format_value(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


class Progress:
    """Progress of ``total`` units of work (None when unknown), started at ``initial``.

    ``update(n, **values)`` adds ``n`` done units and sets the values shown beside the count (e.g.
    ``loss=2.31``). ``enabled=False`` reports nothing (workers of a distributed run). Use it as a
    context manager so the last line is written however the block ends."""

    def __init__(self, total: int | None, desc: str, unit: str = "it", *, initial: int = 0,
                 enabled: bool = True, interval: float | None = None, stream: IO[str] | None = None):
        self.total, self.desc, self.unit = total, desc, unit
        self.done = self.initial = initial
        self.values: dict[str, Any] = {}
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.interval = default_interval() if interval is None else interval
        self.start = self.last_line = time.monotonic()
        self.closed = False
        use_bar = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.bar = tqdm(total=total, initial=initial, desc=desc, unit=unit, file=self.stream,
                        dynamic_ncols=True) if use_bar else None

    # -- reporting ---------------------------------------------------------------------------------
    def update(self, n: int = 1, **values: Any) -> None:
        self.done += n
        self.values.update(values)
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.update(n)
            if values:
                self.bar.set_postfix({k: _format_value(v) for k, v in self.values.items()}, refresh=False)
            return
        now = time.monotonic()
        if now - self.last_line >= self.interval:
            self.last_line = now
            self.write_line()

    def line(self, final: bool = False) -> str:
        """The log line for the current state."""
        elapsed = time.monotonic() - self.start
        rate = (self.done - self.initial) / elapsed if elapsed > 0 else 0.0
        count = f"{self.done}/{self.total}" if self.total is not None else f"{self.done}"
        parts = [f"{count} {self.unit}"]
        if self.total:
            parts[0] += f" ({100.0 * self.done / self.total:.0f}%)"
        parts.append(f"{rate:.3g} {self.unit}/s")
        parts.append(f"elapsed {format_duration(elapsed)}")
        if self.total is not None and not final:
            remaining = (self.total - self.done) / rate if rate > 0 else math.inf
            parts.append(f"ETA {format_duration(remaining)}")
        parts += [f"{k} {_format_value(v)}" for k, v in self.values.items()]
        return f"[progress] {self.desc}: " + ", ".join(parts) + (" (done)" if final else "")

    def write_line(self, final: bool = False) -> None:
        print(self.line(final), file=self.stream, flush=True)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.close()
        elif self.done > self.initial:
            self.write_line(final=self.total is not None and self.done >= self.total)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def progress(iterable: Iterable[T], desc: str, total: int | None = None, unit: str = "it",
             enabled: bool = True) -> Iterator[T]:
    """Iterate over ``iterable`` reporting progress (``total`` defaults to ``len(iterable)``)."""
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    with Progress(total, desc, unit, enabled=enabled) as bar:
        for item in iterable:
            yield item
            bar.update(1)
