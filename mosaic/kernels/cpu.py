"""The package's C kernels for x86-64 CPUs (``mosaic/csrc/*.c`` and their ``common.h``, AVX2 + FMA,
fp32): built with the system C compiler on first use and loaded with ctypes. Who uses them:
``mosaic.kernels.slot_attention`` (the persistent memory's attention over its slots) and
``mosaic.kernels.autograd`` (the keys' leaky average and the values' look-ahead mix, each with its
normalisation). Every caller keeps a PyTorch path with the same values, taken
on CUDA, in float64, on other CPUs, without a compiler, or with ``MOSAIC_CPU_KERNELS=0``.

The library goes to ``$MOSAIC_KERNEL_DIR`` (default ``~/.cache/mosaic/kernels``), named by a hash
of the sources and flags; it is written to a temporary file and renamed into place, so parallel
jobs that build it at once never load a partial file. A failed build logs one warning and the
callers fall back. ctypes releases the GIL during a call; each call runs on
``torch.get_num_threads()`` threads: PyTorch's own OpenMP workers where PyTorch runs on GNU
OpenMP (the library is then built with ``-fopenmp`` and binds to the libgomp PyTorch loaded),
else POSIX threads of its own (``parallelism()`` says which).
"""
from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

import torch

log = logging.getLogger(__name__)

SOURCES = sorted((Path(__file__).with_name("csrc")).glob("*.c"))
HEADERS = sorted((Path(__file__).with_name("csrc")).glob("*.h"))  # in the hash: they are compiled in
CFLAGS = ["-O3", "-mavx2", "-mfma", "-shared", "-fPIC"]
LIBS = ["-lpthread", "-lm"]
OPENMP = "-fopenmp"

_P, _L, _I, _F = ctypes.c_void_p, ctypes.c_long, ctypes.c_int, ctypes.c_float
SIGNATURES = {  # argument types of every exported function, in the order of its C prototype
    "slot_forward": [_P, _L, _L, _P, _P, _P, _L, _L, _P] + [_I] * 6,
    "slot_backward": [_P, _L, _L, _P, _L, _L, _P, _L, _L, _P, _P, _P, _P, _P, _L, _L, _P, _P] + [_I] * 6,
    "features_forward": [_I, _P, _L, _P, _P, _F, _P, _L, _L, _L, _P] + [_I] * 5,
    "features_backward": [_I, _P, _L, _P, _P, _F, _P, _P, _L, _L, _L, _P, _P, _P] + [_I] * 5,
}
_lib: ctypes.CDLL | None | bool = None  # None: not tried yet; False: unavailable
_parallelism = "none"


def kernel_dir() -> Path:
    return Path(os.environ.get("MOSAIC_KERNEL_DIR") or Path.home() / ".cache" / "mosaic" / "kernels")


def _cpu_has_avx2() -> bool:
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    return torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512")


def _torch_uses_libgomp() -> bool:
    """Whether this process has GNU OpenMP loaded (PyTorch's CPU wheels bring and load it)."""
    try:
        return "libgomp" in Path("/proc/self/maps").read_text()
    except OSError:
        return False


def _compile(target: Path, flags: list[str]) -> None:
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise RuntimeError("no C compiler (cc, gcc or $CC) found")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=target.parent)
    os.close(fd)
    try:
        subprocess.run([compiler, *flags, "-o", tmp, *map(str, SOURCES), *LIBS],
                       check=True, capture_output=True, text=True)
        os.replace(tmp, target)
    except subprocess.CalledProcessError as err:
        raise RuntimeError(f"compiling {[s.name for s in SOURCES]} failed: {err.stderr.strip()[-500:]}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _load(flags: list[str]) -> ctypes.CDLL:
    digest = hashlib.sha256(b"".join(s.read_bytes() for s in SOURCES + HEADERS)
                            + " ".join(flags + LIBS).encode()).hexdigest()[:16]
    target = kernel_dir() / f"mosaic_kernels-{digest}.so"
    if not target.exists():
        _compile(target, flags)
    return ctypes.CDLL(str(target))


def library() -> ctypes.CDLL | None:
    """The loaded kernels (building them if needed), or None where they are not available."""
    global _lib, _parallelism
    if _lib is None:
        _lib = False
        if os.environ.get("MOSAIC_CPU_KERNELS", "1") == "0" or not _cpu_has_avx2():
            return None
        lib = None
        if _torch_uses_libgomp():  # join PyTorch's OpenMP workers (csrc/common.h says why)
            try:
                lib, how = _load(CFLAGS + [OPENMP]), "OpenMP (PyTorch's threads)"
            except (OSError, RuntimeError) as err:
                log.info("OpenMP build of the mosaic CPU kernels failed, using POSIX threads: %s", err)
        try:
            if lib is None:
                lib, how = _load(CFLAGS), "POSIX threads"
        except (OSError, RuntimeError) as err:
            log.warning("mosaic CPU kernels unavailable, using the PyTorch paths: %s", err)
            return None
        for name, argtypes in SIGNATURES.items():
            fn = getattr(lib, name)
            fn.argtypes, fn.restype = argtypes, None
        _lib, _parallelism = lib, how
    return _lib or None


def parallelism() -> str:
    """How the loaded kernels run in parallel: PyTorch's OpenMP threads, POSIX threads, or none."""
    return _parallelism if library() is not None else "none"


def available() -> bool:
    """Whether the kernels are built and loaded (building them if needed)."""
    return library() is not None
