"""Configuration: YAML files deep-merged, one section per experiment, and the shared CLI plumbing.

The whole project reads one configuration tree (``config/config.yaml``, the default scale,
optionally overlaid by ``config/smoke.yaml`` or ``config/paper.yaml``). Snakemake deep-merges the
same files, validates them and hands each step its experiment's section as JSON
(``--config-json``); by hand one passes the YAML files instead (``--config``). Both paths give the
step the same dict::

    python -m mosaic three-moons train --config config/config.yaml --config config/smoke.yaml
    python -m mosaic three-moons train --config-json '{"train": {"max_steps": 20}, ...}'

Top-level runtime settings (``device``, ``threads``) are not part of a section; steps read them
with :func:`runtime_from_args` (flags ``--device``/``--threads`` win over the files).

Every CLI wraps its ``main`` in :func:`run_cli`, so a bad input ends in one line
``error: ...`` and exit status 2 instead of a traceback.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from mosaic.interface import reject_unknown_keys  # noqa: F401  (re-exported: configs use it)

DEFAULT_CONFIG = Path("config/config.yaml")
RUNTIME_KEYS = ("device", "threads")  # top-level keys every step may need


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``base`` updated by ``override``; nested mappings merge, everything else replaces.

    This is the rule Snakemake applies to ``--configfile`` overlays, so a step run by hand sees
    exactly the config a Snakemake job sees."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def read_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """Read one YAML mapping; errors name the file (and line for syntax errors)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: config file is not UTF-8 text (byte {exc.start})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ValueError(f"{where}: malformed YAML: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: top level must be a mapping of keys, got {type(data).__name__}")
    return data


def load_config(*paths: str | os.PathLike) -> dict[str, Any]:
    """Deep-merge the YAML files ``paths`` in order (later files override earlier ones)."""
    if not paths:
        raise ValueError("load_config needs at least one YAML file")
    merged: dict[str, Any] = {}
    for path in paths:
        merged = deep_merge(merged, read_yaml(path))
    return merged


def get_section(config: Mapping[str, Any], section: str, source: str = "config") -> dict[str, Any]:
    """``config[section]`` as a dict, or a clear error listing the sections that exist."""
    if section not in config:
        sections = sorted(k for k, v in config.items() if isinstance(v, Mapping))
        raise ValueError(f"{source} has no section '{section}'; sections present: {sections}")
    value = config[section]
    if not isinstance(value, Mapping):
        raise ValueError(f"{source}: section '{section}' must be a mapping, got {value!r}")
    return dict(value)


SCHEMA_DIR = Path(__file__).resolve().with_name("schemas")  # package data: always present


def check_section(section: Mapping[str, Any], name: str, partial: bool = False) -> None:
    """Check experiment section ``name`` against ``mosaic/harness/schemas/<name>.schema.yaml``,
    the schema Snakemake applies, so a step run by hand rejects the same unknown keys and values.
    ``partial``: the step is handed only the keys it reads (top-level required keys may be absent).

    One ValueError names the key path and the rule broken. The schemas are package data: a
    section without one is a programming error, never a silent pass."""
    schema_file = SCHEMA_DIR / f"{name}.schema.yaml"
    if not schema_file.is_file():
        raise ValueError(f"no schema for config section {name!r} ({schema_file} is missing)")

    schema = yaml.safe_load(schema_file.read_text(encoding="utf-8"))
    if partial:
        schema.pop("required", None)
    errors = jsonschema.Draft202012Validator(schema).iter_errors(dict(section))
    error = jsonschema.exceptions.best_match(errors)
    if error is not None:
        where = ".".join(str(p) for p in error.absolute_path)
        raise ValueError(f"config {name}{'.' + where if where else ''}: {error.message}")


# -- command-line plumbing ------------------------------------------------------------------------
def add_config_args(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add ``--config FILE`` (repeatable), ``--config-json STR``, ``--device`` and ``--threads``."""
    group = parser.add_argument_group("configuration")
    group.add_argument(
        "--config", dest="config_files", action="append", default=[], metavar="FILE",
        help="YAML config file; repeat to overlay (e.g. config/config.yaml config/smoke.yaml). "
        f"Default: {DEFAULT_CONFIG} when no --config-json is given",
    )
    group.add_argument(
        "--config-json", dest="config_json", default=None, metavar="JSON",
        help="the experiment's section as a JSON object (what Snakemake passes); "
        "applied on top of --config files if both are given",
    )
    group.add_argument("--device", default=None, help="cpu | cuda | cuda:N | auto (default: config)")
    group.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: config)")
    return parser


def _config_files(args: argparse.Namespace) -> list[str]:
    files = list(getattr(args, "config_files", None) or [])
    if not files and getattr(args, "config_json", None) is None:
        if not DEFAULT_CONFIG.is_file():
            raise FileNotFoundError(
                f"no --config or --config-json given and {DEFAULT_CONFIG} not found "
                "(run from the repository root or pass --config FILE)"
            )
        files = [str(DEFAULT_CONFIG)]
    return files


def config_from_args(args: argparse.Namespace, section: str) -> dict[str, Any]:
    """The ``section`` dict from ``--config`` files and/or ``--config-json`` (JSON wins)."""
    files = _config_files(args)
    result: dict[str, Any] = {}
    if files:
        result = get_section(load_config(*files), section, source=" + ".join(files))
    raw = getattr(args, "config_json", None)
    if raw is not None:
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValueError(f"--config-json is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ValueError(f"--config-json must be a JSON object, got {type(data).__name__}")
        result = deep_merge(result, data)
    return result


def runtime_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """``{"device": str, "threads": int | None}``: flags, else top-level keys of the files."""
    runtime: dict[str, Any] = {"device": "auto", "threads": None}
    files = list(getattr(args, "config_files", None) or [])
    if files:
        top = load_config(*files)
        runtime.update({k: top[k] for k in RUNTIME_KEYS if k in top})
    for key in RUNTIME_KEYS:
        if getattr(args, key, None) is not None:
            runtime[key] = getattr(args, key)
    if runtime["threads"] is not None and int(runtime["threads"]) < 1:
        raise ValueError(f"threads must be >= 1, got {runtime['threads']}")
    return runtime


def parse_overrides(pairs: list[str] | None, numbers_first: bool = False) -> dict[str, Any]:
    """``["n_layer=2", "pos_encoding=rope"]`` (``--set`` values) -> dict; values are YAML (``[1, 2]``,
    ``.inf``, ...). ``numbers_first``: try ``int`` then ``float`` before YAML, so ``1e-05`` is a float
    (YAML 1.1 keeps it a string). A value YAML cannot read (``n_layer=[1,``) is one ValueError
    naming the override."""
    parsers = (int, float, yaml.safe_load) if numbers_first else (yaml.safe_load,)
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set expects key=value, got {pair!r}")
        for parse in parsers:
            try:
                out[key.strip()] = parse(value)
                break
            except ValueError:  # not an int / float: the next parser
                continue
            except yaml.YAMLError as exc:  # (the last parser) e.g. "n_layer=[1,"
                problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
                raise ValueError(f"override {pair!r}: the value is not valid YAML ({problem})") from None
    return out


def run_cli(main: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """Call ``main`` and exit; our input errors become one line ``error: ...`` and exit code 2.

    ValueError, FileNotFoundError and TypeError are what our code raises for bad configs, missing
    files or wrong types; any other OSError is the file system refusing a path (an output under a
    regular file, a read-only or full disk) and is reported with that path. An allocation that
    fails (a model or batch too large for the machine: torch's allocator RuntimeError, CUDA's
    OutOfMemoryError, numpy's or Python's MemoryError) is one ``error: out of memory: ...`` line.
    Anything else is a bug and keeps its traceback."""
    try:
        status = main(*args, **kwargs)
    except (ValueError, FileNotFoundError, TypeError) as exc:
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        sys.exit(2)
    except OSError as exc:
        print(f"error: {describe_os_error(exc)}", file=sys.stderr)
        sys.exit(2)
    except (MemoryError, RuntimeError) as exc:
        message = describe_out_of_memory(exc)
        if message is None:
            raise  # a bug
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt as exc:  # Ctrl-C, or TrainingInterrupted (SIGTERM/SIGINT after a checkpoint)
        print(f"error: {str(exc).strip() or 'interrupted'}", file=sys.stderr)
        sys.exit(getattr(exc, "exit_code", 130))
    sys.exit(status if isinstance(status, int) else 0)


# What torch's allocators say when an allocation fails (CPU, CUDA, MPS, cuBLAS workspaces).
_OUT_OF_MEMORY = re.compile(r"can't allocate memory|out of memory|CUBLAS_STATUS_ALLOC_FAILED", re.IGNORECASE)


def describe_out_of_memory(exc: BaseException) -> str | None:
    """One line for a failed allocation, None if ``exc`` is not one: ``out of memory: tried to
    allocate 17.9 TiB (DefaultCPUAllocator); use a smaller batch_size, block_size or model``."""
    oom_class = any(c.__name__ == "OutOfMemoryError" for c in type(exc).__mro__)
    if not (isinstance(exc, MemoryError) or oom_class or _OUT_OF_MEMORY.search(str(exc))):
        return None
    text = _one_line(exc)
    text = re.sub(r"^\[enforce fail at [^\]]*\]\s*(err == 0\.\s*)?", "", text)  # torch's C++ location
    tried = re.search(r"you tried to allocate (\d+) bytes", text)
    if tried:
        allocator = text.split(":", 1)[0] if "Allocator" in text.split(":", 1)[0] else "allocator"
        text = f"tried to allocate {_bytes(int(tried.group(1)))} ({allocator})"
    elif len(text) > 240:
        text = text[:237] + "..."
    return f"out of memory: {text}; use a smaller batch_size, block_size or model"


def _bytes(n: int) -> str:
    size, unit = float(n), "B"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if size < 1024 or unit == "PiB":
            break
        size /= 1024
    return f"{size:.1f} {unit}"


def _one_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return " ".join(lines) or type(exc).__name__


def describe_os_error(exc: OSError) -> str:
    """``OSError`` as one line naming the path(s): ``results/x: Not a directory (NotADirectoryError)``."""
    reason = exc.strerror or _one_line(exc)
    paths = [p for p in (exc.filename, exc.filename2) if p is not None]
    if not paths:
        return f"{type(exc).__name__}: {reason}"
    return f"{' -> '.join(map(str, paths))}: {reason} ({type(exc).__name__})"
