"""The final weights of a run: ``model.safetensors`` and its SHA-256 (``model.safetensors.sha256``,
in ``sha256sum`` format), checked at every load; a copy damaged by one byte is refused with one
line, never half-loaded. safetensors holds tensors and a JSON header only: loading never unpickles.
Run directories written before this format hold ``model.pt`` (:data:`LEGACY_WEIGHTS`), still read
with ``torch.load(weights_only=True)``. Sharing (the Hugging Face Hub) is :mod:`mosaic.harness.hub`.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch.nn as nn

from mosaic.harness.checkpoint import CheckpointError, torch_load
from mosaic.harness.io import atomic_path, write_text

WEIGHTS = "model.safetensors"  # the final weights of a run: the one name for them
WEIGHTS_SHA256 = WEIGHTS + ".sha256"
LEGACY_WEIGHTS = "model.pt"  # the final weights before model.safetensors (still loaded)
_CHUNK = 1 << 20


# -- the weights file and its checksum ------------------------------------------------------------
def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def checksum_path(weights_path: str | os.PathLike) -> Path:
    """``model.safetensors`` -> ``model.safetensors.sha256`` (beside it)."""
    path = Path(weights_path)
    return path.with_name(path.name + ".sha256")


def save_weights(model: nn.Module, path: str | os.PathLike) -> str:
    """Write ``model``'s state dict to ``path`` (safetensors) and its SHA-256 beside it, both
    atomically; returns the digest. Tied tensors (e.g. an embedding shared with the output
    layer) are stored once and restored as tied by :func:`load_weights`."""
    from safetensors.torch import save_model  # noqa: PLC0415

    path = Path(path)
    with atomic_path(path) as tmp:
        save_model(model, str(tmp), metadata={"format": "pt"}, force_contiguous=True)
        digest = sha256_file(tmp)
    write_text(checksum_path(path), f"{digest}  {path.name}\n")  # sha256sum's format
    return digest


def verify_weights(path: str | os.PathLike, hint: str = "") -> None:
    """Check ``path`` against its ``.sha256`` file; any mismatch or a missing checksum raises one
    CheckpointError line naming the file."""
    path = Path(path)
    record = checksum_path(path)
    if not record.is_file():
        raise CheckpointError(f"{path} has no {record.name}: its integrity cannot be checked "
                              f"(write one with `sha256sum {path.name} > {record.name}` if you trust it){hint}")
    fields = record.read_text(encoding="utf-8", errors="replace").split()
    recorded = fields[0].lower() if fields else ""
    actual = sha256_file(path)
    if recorded != actual:
        raise CheckpointError(f"{path} is corrupt (sha256 {actual[:16]}... does not match {record.name}: "
                              f"{recorded[:16] or 'empty'}...){hint}")


def load_weights(model: nn.Module, path: str | os.PathLike, hint: str = "") -> nn.Module:
    """Load the weights file ``path`` into ``model`` (same architecture and config), strictly.
    ``.safetensors`` files are checked against their checksum first; any other file (a legacy
    ``model.pt``, an experiment's own ``.pt``) is read with ``torch.load(weights_only=True)``.
    A key or shape mismatch raises RuntimeError (as ``load_state_dict`` does)."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError  # noqa: PLC0415
        from safetensors.torch import load_model  # noqa: PLC0415

        verify_weights(path, hint)
        try:
            load_model(model, str(path), strict=True)
        except SafetensorError as exc:  # unreadable although its checksum matches: written wrongly
            raise CheckpointError(f"{path} is unreadable ({exc}){hint}") from None
        return model
    model.load_state_dict(torch_load(path, hint=hint))
    return model
