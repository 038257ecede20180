"""Atomic file output: every file the project writes appears complete or not at all.

Writers go to a temporary file in the destination directory, fsync it, then ``os.replace`` it
over the target, so a killed job never leaves a half-written checkpoint, table or figure.

A write that fails (a full disk, a file-size limit, an I/O error) raises one ``OSError`` naming
the target, whatever the writer reported it as: Python's own ``OSError`` without a file name,
torch's ``RuntimeError`` from its zip writer (``unexpected pos 576 vs 534``; the errno is in its
context when torch wrote through a Python file object, lost when it was given a file name),
safetensors' ``SafetensorError`` (``... (os error 28)``). :func:`mosaic.harness.config.run_cli`
prints it as ``error: PATH: No space left on device (OSError)``; the temporary file is removed and
the target keeps its previous content.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
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
        try:
            yield tmp_path
            os.chmod(tmp_path, 0o666 & ~_UMASK)  # again: some writers replace the file (safetensors)
            with open(tmp_path, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp_path, path)
        except Exception as exc:
            failure = write_failure(exc, path, tmp_path)
            if failure is None:
                raise
            raise failure from exc
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


# torch.save given a file name writes through its C++ zip writer, which reports a failed write as
# a RuntimeError without errno ("[enforce fail at inline_container.cc:672] . unexpected pos ...").
_TORCH_WRITE_FAILURE = re.compile(r"inline_container\.cc|PytorchStreamWriter|unexpected pos")
_OS_ERROR_NUMBER = re.compile(r"\(os error (\d+)\)")  # how safetensors (Rust) quotes an errno
_NEARLY_FULL_BYTES = 1 << 20


def write_failure(exc: BaseException, path: str | os.PathLike, tmp: str | os.PathLike | None = None) -> OSError | None:
    """The ``OSError`` naming ``path`` that a failed write of ``path`` (through the temporary file
    ``tmp``) should raise, or None when ``exc`` is not a write failure (a bug, a bad value: raise it
    as it is). An ``OSError`` that already names another file (a source being copied) is kept."""
    target = str(path)
    if isinstance(exc, OSError):
        if exc.filename not in (None, str(tmp)) and exc.filename != target:
            return None
        return OSError(exc.errno, exc.strerror or str(exc).strip() or type(exc).__name__, target)
    text = str(exc).strip()
    if type(exc).__name__ == "SafetensorError" and (match := _OS_ERROR_NUMBER.search(text)):
        number = int(match.group(1))
        return OSError(number, os.strerror(number), target)
    if isinstance(exc, RuntimeError) and _TORCH_WRITE_FAILURE.search(text):
        cause = exc.__cause__ or exc.__context__  # written through a Python file object: its OSError
        if isinstance(cause, OSError) and cause.errno is not None:
            return OSError(cause.errno, cause.strerror or os.strerror(cause.errno), target)
        try:  # torch lost the errno; a (nearly) full file system is by far the commonest cause
            full = shutil.disk_usage(Path(target).parent).free < _NEARLY_FULL_BYTES
        except OSError:
            full = False
        if full:
            return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), target)
        detail = text.splitlines()[0].split("] ", 1)[-1].strip(" .")
        return OSError(errno.EIO, f"write failed (torch: {detail})", target)
    return None


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
