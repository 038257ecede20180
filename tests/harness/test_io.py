"""Atomic writes (mosaic.harness.io): a write that fails is one OSError naming the target, the
target keeps its previous content and no temporary file stays, whichever writer failed.

A full disk is reproduced with the file-size limit (``RLIMIT_FSIZE``): Python ignores SIGXFSZ, so
a write past the limit fails with EFBIG in the kernel, inside torch's C++ zip writer, safetensors'
Rust writer or Python's own file object, as ENOSPC does on a full disk.
"""
from __future__ import annotations

import contextlib
import errno
import os
import resource
import signal
import stat
from pathlib import Path

import pytest
import torch

from mosaic.harness.checkpoint import save_torch_file
from mosaic.harness.io import atomic_path, write_failure, write_json
from mosaic.harness.weights import save_weights

LIMIT = 4096


@contextlib.contextmanager
def file_size_limit(limit: int = LIMIT):
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    assert signal.getsignal(signal.SIGXFSZ) == signal.SIG_IGN
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def big() -> dict[str, torch.Tensor]:
    return {"w": torch.arange(4 * LIMIT, dtype=torch.float32)}  # 64 kB: past the limit


def torch_save_by_name(path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(big(), tmp)  # torch's own file writer: RuntimeError("unexpected pos ...")


def safetensors_weights(path: Path) -> None:
    model = torch.nn.Linear(64, 64)
    save_weights(model, path)


@pytest.mark.parametrize("writer, expected_errno", [
    (save_torch_file.__name__, errno.EFBIG),  # through a Python file object: the errno survives
    (torch_save_by_name.__name__, errno.EIO),  # torch given a file name loses it: "write failed"
    (safetensors_weights.__name__, errno.EFBIG),  # SafetensorError "... (os error 27)"
    (write_json.__name__, errno.EFBIG),
])
def test_a_failed_write_names_the_target_and_keeps_its_old_content(tmp_path, writer, expected_errno):
    target = tmp_path / ("model.safetensors" if writer == "safetensors_weights" else "out.bin")
    target.write_bytes(b"previous content")
    write = {"save_torch_file": lambda p: save_torch_file(p, big()), "torch_save_by_name": torch_save_by_name,
             "safetensors_weights": safetensors_weights,
             "write_json": lambda p: write_json(p, list(range(LIMIT)))}[writer]
    with file_size_limit(), pytest.raises(OSError) as failure:
        write(target)
    assert failure.value.errno == expected_errno and failure.value.filename == str(target), failure.value
    assert target.read_bytes() == b"previous content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin" if writer != "safetensors_weights" else
                                                           "model.safetensors"]  # no temporary file
    if expected_errno == errno.EIO:
        assert failure.value.strerror.startswith("write failed (torch: unexpected pos")


def test_write_failure_keeps_other_errors_as_they_are(tmp_path):
    target, tmp = tmp_path / "x.pt", tmp_path / ".x.pt.abc.tmp.pt"
    assert write_failure(ValueError("a bad value"), target, tmp) is None
    assert write_failure(RuntimeError("mat1 and mat2 shapes cannot be multiplied"), target, tmp) is None
    source = FileNotFoundError(errno.ENOENT, "No such file or directory", "/data/vocab.json")
    assert write_failure(source, target, tmp) is None  # names another file: a source, not the output
    named = write_failure(OSError(errno.ENOSPC, "No space left on device"), target, tmp)
    assert (named.errno, named.filename) == (errno.ENOSPC, str(target))
    renamed = write_failure(OSError(errno.ENOSPC, "No space left on device", str(tmp)), target, tmp)
    assert renamed.filename == str(target)  # the temporary name means nothing to the user
    rust = type("SafetensorError", (Exception,), {})(
        "Error while serializing: I/O error: No space left on device (os error 28)")
    assert (write_failure(rust, target, tmp).errno, write_failure(rust, target, tmp).strerror) == (
        errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_outputs_get_the_usual_mode_whatever_the_writer(tmp_path):
    """mkstemp makes 0600 files, and safetensors replaces the file it is given: the renamed output
    has the mode any new file gets (0666 less the umask), so a shared run directory is readable."""
    safetensors_weights(tmp_path / "model.safetensors")
    save_torch_file(tmp_path / "checkpoint.pt", big())
    umask = os.umask(0)
    os.umask(umask)
    for name in ("model.safetensors", "model.safetensors.sha256", "checkpoint.pt"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~umask, name
