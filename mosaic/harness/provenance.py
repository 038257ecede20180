"""Provenance: what produced a result (code version, environment, seed, command line).

:func:`collect_provenance` returns a JSON-ready dict; the trainer stores it in every run's
``config.json`` (key ``provenance``) and report writers may embed it next to their tables, so a
number in ``results/`` can be traced back to a git commit, package versions and a seed.
Everything degrades to ``None`` instead of failing: a copy of the code without git, or an
uninstalled package, still trains.
"""
from __future__ import annotations

import datetime as _dt
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

# Distributions whose versions can change a number (installed name as pip knows it).
PACKAGES = ("torch", "numpy", "pandas", "scipy", "matplotlib", "pyyaml", "tqdm", "tiktoken",
            "snakemake", "memory-mosaics")
_REPO = Path(__file__).resolve().parents[1]  # the checkout this package is imported from


def _git(*args: str) -> str | None:
    """Output of ``git args`` in the package's checkout, or None (no git, not a repo, ...)."""
    try:
        proc = subprocess.run(["git", "-C", str(_REPO), *args], capture_output=True, text=True,
                              timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def collect_provenance(seed: int | None = None) -> dict[str, Any]:
    """Code version, interpreter, platform, package versions, ``seed``, start time and argv.

    ``git_commit`` is the checked-out commit of the repository holding ``mosaic/`` and
    ``git_dirty`` whether tracked files differ from it (untracked files, e.g. ``results/``, do
    not count); both are None when git or the repository is unavailable."""
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no") if commit else None
    import torch  # noqa: PLC0415  (imported by every caller anyway; kept local for a light module)

    return {
        "git_commit": commit,
        "git_dirty": None if status is None else bool(status),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": package_versions(),
        "torch_cuda": torch.version.cuda,
        "seed": seed,
        "started_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "argv": list(sys.argv),
    }
