"""The package's C kernels for x86-64 CPUs (``mosaic/kernels/csrc/*.c`` and its headers, fp32,
AVX2 + FMA, or AVX-512 where PyTorch runs it), their loader, and the autograd Functions that call
them:

* :func:`feature_kernel` — keys (leaky average + normalisation) or values (look-ahead mix +
  normalisation) of eq. 7 in one pass over time each way (``csrc/features.c``);
* :func:`slot_kernel` — the persistent memory's attention over its slot table: blocks of 48
  queries scored against the whole table while it sits in cache, exact one-pass softmax, FMA
  register tiles of 6×16 (AVX2) or 12×32 (AVX-512); backward from the log-sum-exp
  (``csrc/slot_attention.c``, vector width from ``csrc/simd.h``).

The instruction set is the one PyTorch's own kernels run here (``torch.backends.cpu.
get_cpu_capability()``: ``AVX512`` builds with ``-mavx512f -mavx512dq``, ``AVX2`` without), so that the slot
kernel competes with a PyTorch SDPA of the same vector width; ``$MOSAIC_CPU_ISA`` (``avx2`` or
``avx512``) overrides it, for tests and comparisons.

The library is built with the system C compiler on first use into ``$MOSAIC_KERNEL_DIR`` (default
``~/.cache/mosaic/kernels``), named by a hash of the sources and flags, written to a temporary file
and renamed into place (parallel jobs never load a partial file), and loaded with ctypes (the GIL
is released during a call). Each call runs on ``torch.get_num_threads()`` threads: PyTorch's own
OpenMP workers where PyTorch runs on GNU OpenMP (the library is then built with ``-fopenmp`` and
binds to the libgomp PyTorch loaded), else POSIX threads of its own. Not available (and the callers
in :mod:`mosaic.kernels` take their PyTorch paths) on other CPUs, without a compiler, or with
``MOSAIC_CPU_KERNELS=0``; a failed build logs one warning.
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
from torch.autograd.function import once_differentiable

log = logging.getLogger(__name__)

SOURCES = sorted((Path(__file__).with_name("csrc")).glob("*.c"))  # mosaic/kernels/csrc
HEADERS = sorted((Path(__file__).with_name("csrc")).glob("*.h"))  # in the hash: they are compiled in
CFLAGS = ["-O3", "-mavx2", "-mfma", "-shared", "-fPIC"]
# added to CFLAGS; PyTorch's AVX512 capability already requires F, BW, VL and DQ
# (pytorch/pytorch aten/src/ATen/native/DispatchStub.cpp, compute_cpu_capability)
ISA_FLAGS = {"avx2": [], "avx512": ["-mavx512f", "-mavx512dq"]}
ISA_ENV = "MOSAIC_CPU_ISA"
LIBS = ["-lpthread", "-lm"]
OPENMP = "-fopenmp"

_P, _L, _I, _F = ctypes.c_void_p, ctypes.c_long, ctypes.c_int, ctypes.c_float
SIGNATURES = {  # argument types of every exported function, in the order of its C prototype
    "slot_forward": [_P, _L, _L, _P, _P, _P, _L, _L, _P] + [_I] * 5,
    "slot_backward": [_P, _L, _L, _P, _L, _L, _P, _L, _L, _P, _P, _P, _P, _L, _L, _P, _P, _P] + [_I] * 5,
    "features_forward": [_I, _P, _L, _P, _P, _F, _P, _L, _L, _L, _P] + [_I] * 5,
    "features_backward": [_I, _P, _L, _P, _P, _F, _P, _P, _L, _L, _L, _P, _P, _P] + [_I] * 5,
    "slot_tile_width": [],
}
RESTYPES = {"slot_tile_width": ctypes.c_int}
_lib: ctypes.CDLL | None | bool = None  # None: not tried yet; False: unavailable
_parallelism = "none"
_isa = "none"
_slot_width = 0  # the column multiple of the slot kernel's tiles (16 with AVX2, 32 with AVX-512)


def kernel_dir() -> Path:
    return Path(os.environ.get("MOSAIC_KERNEL_DIR") or Path.home() / ".cache" / "mosaic" / "kernels")


def _cpu_has_avx2() -> bool:
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    return torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512")


def isa() -> str:
    """The instruction set the kernels are built for: ``$MOSAIC_CPU_ISA`` if set, else ``avx512``
    where PyTorch runs AVX-512 here, else ``avx2``."""
    want = os.environ.get(ISA_ENV)
    if want is not None and want not in ISA_FLAGS:
        raise ValueError(f"{ISA_ENV} must be one of {sorted(ISA_FLAGS)}, got {want!r}")
    torch_runs_avx512 = torch.backends.cpu.get_cpu_capability() == "AVX512"
    if want == "avx512" and not torch_runs_avx512:
        raise ValueError(f"{ISA_ENV}=avx512, but PyTorch does not run AVX-512 on this CPU")
    return want or ("avx512" if torch_runs_avx512 else "avx2")


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
    global _lib, _parallelism, _isa, _slot_width
    if _lib is None:
        _lib = False
        if os.environ.get("MOSAIC_CPU_KERNELS", "1") == "0" or not _cpu_has_avx2():
            return None
        target_isa = isa()
        flags = CFLAGS + ISA_FLAGS[target_isa]
        lib = None
        if _torch_uses_libgomp():  # join PyTorch's OpenMP workers (csrc/common.h says why)
            try:
                lib, how = _load(flags + [OPENMP]), "OpenMP (PyTorch's threads)"
            except (OSError, RuntimeError) as err:
                log.info("OpenMP build of the mosaic CPU kernels failed, using POSIX threads: %s", err)
        try:
            if lib is None:
                lib, how = _load(flags), "POSIX threads"
        except (OSError, RuntimeError) as err:
            log.warning("mosaic CPU kernels unavailable, using the PyTorch paths: %s", err)
            return None
        for name, argtypes in SIGNATURES.items():
            fn = getattr(lib, name)
            fn.argtypes, fn.restype = argtypes, RESTYPES.get(name)
        _lib, _parallelism, _isa, _slot_width = lib, how, target_isa, lib.slot_tile_width()
    return _lib or None


def parallelism() -> str:
    """How the loaded kernels run in parallel: PyTorch's OpenMP threads, POSIX threads, or none."""
    return _parallelism if library() is not None else "none"


def slot_width() -> int:
    """The slot kernel's column multiple (16 with AVX2, 32 with AVX-512): the head dimension must
    be a multiple of it, and the slot table is padded to one. 0 where the kernels are unavailable."""
    return _slot_width if library() is not None else 0


def built_isa() -> str:
    """The instruction set of the loaded kernels (``avx2``, ``avx512``), or ``none``."""
    return _isa if library() is not None else "none"


def available() -> bool:
    """Whether the kernels are built and loaded (building them if needed)."""
    return library() is not None


# -- eligibility --------------------------------------------------------------------------------
# Fewer query rows than this per unit (incremental decoding) are not worth the kernel's table
# transpose and thread start.
SLOT_KERNEL_MIN_ROWS = 256
# The slot kernel is built for the vector width PyTorch runs (see isa()): an AVX2-only kernel lost
# to the AVX-512 SDPA flash kernel on a Xeon with AVX-512 (75 against 52 ms forward + backward at
# batch 8, 8 units, ctx 512, d 32, 896 slots); built for AVX-512 it takes 51 against SDPA's 56-58
# ms there, and the AVX2 build beat SDPA on an AVX2 EPYC (docs/performance.md, "Fast paths").


def feature_kernel_applies(u: torch.Tensor, n_head: int) -> bool:
    """Whether :func:`feature_kernel` takes ``u = W x`` (B, T, C)."""
    d = u.size(-1) // n_head
    return u.device.type == "cpu" and u.dtype == torch.float32 and d % 8 == 0 and d <= 256 and available()


def slot_kernel_applies(q: torch.Tensor, K: torch.Tensor, V: torch.Tensor, dropout_p: float) -> bool:
    """Whether :func:`slot_kernel` takes queries ``q`` (H, M, d) over slots ``K``, ``V`` (H, N, d)."""
    return (dropout_p == 0.0 and q.device.type == "cpu" and q.dtype == K.dtype == V.dtype == torch.float32
            and q.stride(-1) == 1 and q.size(1) >= SLOT_KERNEL_MIN_ROWS and available()
            and q.size(-1) % _slot_width == 0)  # _slot_width is set once available() has loaded the library


# -- the feature kernels (csrc/features.c) ---------------------------------------------------------
class _FeatureKernel(torch.autograd.Function):
    """Keys (``kind="key"``: ``α k̄_t/(‖k̄_t‖+ε)``, ``k̄_t = u_t + λ k̄_{t-1}``) or values
    (``kind="value"``: ``α v̄_t/(‖v̄_t‖+ε)``, ``v̄_t = u_t + λ u_{t+1}``, 0 after the end) of
    ``u`` (B, T, C): one pass over time forward, one each way backward; only the (B, H, T) norms
    are kept. Returns (B, H, T, d), a view of a contiguous (B, T, H, d) tensor."""

    @staticmethod
    def forward(ctx, u, lam, alpha, n_head, kind, eps):
        B, T, C = u.shape
        d = C // n_head
        u = u.contiguous()
        lam, alpha = lam.detach().float().contiguous(), alpha.detach().float().contiguous()
        # (B, H, T, d) as a view of a (B, T, H, d) tensor: the layout the CPU flash kernel reads
        # without a copy, and in which the persistent memory's (H, B·T, d) queries are a view
        out = u.new_empty(B, T, n_head, d).transpose(1, 2)
        norm = u.new_empty(B, n_head, T)
        library().features_forward(kind == "value", u.data_ptr(), C, lam.data_ptr(), alpha.data_ptr(), eps,
                                   out.data_ptr(), out.stride(0), out.stride(1), out.stride(2), norm.data_ptr(),
                                   B, n_head, T, d, torch.get_num_threads())
        ctx.save_for_backward(u, lam, alpha, norm)
        ctx.n_head, ctx.kind, ctx.eps = n_head, kind, eps
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        u, lam, alpha, norm = ctx.saved_tensors
        B, T, C = u.shape
        H = ctx.n_head
        threads = torch.get_num_threads()
        g = g.contiguous() if g.stride(-1) != 1 else g
        grad_u = torch.empty_like(u)
        grad_lam, grad_alpha = u.new_zeros(threads, H), u.new_zeros(threads, H)  # one row per thread
        library().features_backward(ctx.kind == "value", u.data_ptr(), C, lam.data_ptr(), alpha.data_ptr(),
                                    ctx.eps, norm.data_ptr(), g.data_ptr(), g.stride(0), g.stride(1), g.stride(2),
                                    grad_u.data_ptr(), grad_lam.data_ptr(), grad_alpha.data_ptr(),
                                    B, H, T, C // H, threads)
        return grad_u, grad_lam.sum(0), grad_alpha.sum(0), None, None, None


def feature_kernel(u: torch.Tensor, lam: torch.Tensor, alpha: torch.Tensor, n_head: int, kind: str,
                   eps: float) -> torch.Tensor:
    """Keys or values (B, H, T, d) of eq. 7 from ``u`` (B, T, C) (see :class:`_FeatureKernel`)."""
    if kind not in ("key", "value"):
        raise ValueError(f"kind must be 'key' or 'value', got {kind!r}")
    return _FeatureKernel.apply(u, lam, alpha, n_head, kind, eps)


# -- the slot kernel (csrc/slot_attention.c) -------------------------------------------------------
class _SlotAttention(torch.autograd.Function):
    """``softmax(q Kᵀ) V`` per unit; forward keeps the output and each row's log-sum-exp (H, M)."""

    @staticmethod
    def forward(ctx, q, K, V):
        H, M, d = q.shape
        N = K.size(1)
        K, V = K.contiguous(), V.contiguous()
        out = q.new_empty(M, H, d)  # units concatenated: (M, H·d) is a view
        lse = q.new_empty(H, M)
        library().slot_forward(q.data_ptr(), q.stride(0), q.stride(1), K.data_ptr(), V.data_ptr(),
                               out.data_ptr(), d, H * d, lse.data_ptr(), H, M, N, d, torch.get_num_threads())
        ctx.save_for_backward(q, K, V, out, lse)
        return out.view(M, H * d)

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        q, K, V, out, lse = ctx.saved_tensors
        H, M, d = q.shape
        N = K.size(1)
        g = g.contiguous()
        threads = torch.get_num_threads()
        grad_q, grad_K, grad_V = torch.empty_like(q), torch.empty_like(K), torch.empty_like(V)
        scratch = q.new_empty(threads, 2, H, N, d)  # the threads' dK, dV accumulators (zeroed in C)
        library().slot_backward(q.data_ptr(), q.stride(0), q.stride(1), g.data_ptr(), d, H * d,
                                out.data_ptr(), d, H * d, lse.data_ptr(), K.data_ptr(), V.data_ptr(),
                                grad_q.data_ptr(), grad_q.stride(0), grad_q.stride(1), grad_K.data_ptr(),
                                grad_V.data_ptr(), scratch.data_ptr(), H, M, N, d, threads)
        return grad_q, grad_K, grad_V


def slot_kernel(q: torch.Tensor, K: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    """``softmax(q Kᵀ) V`` per unit for ``q`` (H, M, d) and ``K``, ``V`` (H, N, d): (M, H·d)."""
    return _SlotAttention.apply(q, K, V)
