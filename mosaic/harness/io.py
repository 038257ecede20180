"""Atomic file output: every file the project writes appears complete or not at all.

Writers go to a temporary file in the destination directory, fsync it, then ``os.replace`` it
over the target, so a killed job never leaves a half-written checkpoint, table or figure.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it is fsync'ed and renamed onto ``path``.

    Use it for writers that want a filename (``torch.save``, ``savefig``, ``np.memmap``).
    On an exception the temporary file is removed and ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_UMASK)  # mkstemp makes 0600; give outputs the usual mode
    try:
        yield tmp_path
        with open(tmp_path, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs: Any) -> Iterator[IO]:
    """``open()`` that writes to a temp file and renames it over ``path`` only on success."""
    if not any(m in mode for m in "wx"):
        raise ValueError(f"atomic_open is for writing, got mode {mode!r}")
    with atomic_path(path) as tmp:
        with open(tmp, mode, **kwargs) as fh:
            yield fh
            fh.flush()


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_open(path, "w", encoding="utf-8") as fh:
        fh.write(text)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def write_table(df, path_without_suffix: str | os.PathLike, float_format: str = "%.4f") -> None:
    """Write a pandas DataFrame as ``<path>.csv`` and a Markdown ``<path>.md`` side by side
    (missing cells: empty in the CSV, a dash in the Markdown)."""
    base = Path(path_without_suffix)
    with atomic_open(base.with_suffix(".csv"), "w", encoding="utf-8", newline="") as fh:
        df.to_csv(fh, index=False)
    write_text(base.with_suffix(".md"), _markdown(df, float_format) + "\n")


def _markdown(df, float_format: str) -> str:
    import pandas as pd  # noqa: PLC0415  (callers pass a DataFrame: pandas is loaded already)

    def fmt(v: Any) -> str:
        if pd.api.types.is_scalar(v) and pd.isna(v):
            return "–"  # a missing cell (None, NaN, pd.NA)
        if isinstance(v, float):
            return float_format % v
        return str(v).replace("|", "\\|").replace("\n", " ")

    header = "| " + " | ".join(str(c) for c in df.columns) + " |"
    sep = "| " + " | ".join("---" for _ in df.columns) + " |"
    rows = ["| " + " | ".join(fmt(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([header, sep, *rows])


def fingerprint(obj: Any) -> str:
    """A short sha256 of ``obj`` as canonical JSON: what run identities record of their data."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]
