"""The package's C kernels for x86-64 CPUs (``mosaic/kernels/csrc/*.c`` and ``common.h``, AVX2 +
FMA, fp32), their loader, and the autograd Functions that call them:

* :func:`feature_kernel` — keys (leaky average + normalisation) or values (look-ahead mix +
  normalisation) of eq. 7 in one pass over time each way (``csrc/features.c``);
* :func:`slot_kernel` — the persistent memory's attention over its slot table: blocks of 48
  queries scored against the whole table while it sits in cache, exact one-pass softmax, 6×16 FMA
  register tiles; backward from the log-sum-exp (``csrc/slot_attention.c``).

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


# -- eligibility --------------------------------------------------------------------------------
# Fewer query rows than this per unit (incremental decoding) are not worth the kernel's table
# transpose and thread start.
SLOT_KERNEL_MIN_ROWS = 256
# The slot kernel is written for AVX2. Where PyTorch's own kernels run AVX-512, its SDPA flash
# kernel over the slot table is faster: forward + backward at batch 8, 8 units, ctx 512, d 32, 896
# slots, 52 ms against the kernel's 75 ms on a Xeon with AVX-512 (5 Dec 2026); on an AVX2 EPYC
# the kernel was the faster (docs/performance.md, "Fast paths").
SLOT_KERNEL_BEATS_SDPA = getattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")() not in ("AVX512",)


def feature_kernel_applies(u: torch.Tensor, n_head: int) -> bool:
    """Whether :func:`feature_kernel` takes ``u = W x`` (B, T, C)."""
    d = u.size(-1) // n_head
    return u.device.type == "cpu" and u.dtype == torch.float32 and d % 8 == 0 and d <= 256 and available()


def slot_kernel_applies(q: torch.Tensor, K: torch.Tensor, V: torch.Tensor, dropout_p: float) -> bool:
    """Whether :func:`slot_kernel` takes queries ``q`` (H, M, d) over slots ``K``, ``V`` (H, N, d)."""
    return (dropout_p == 0.0 and q.device.type == "cpu" and q.dtype == K.dtype == V.dtype == torch.float32
            and q.size(-1) % 16 == 0 and q.stride(-1) == 1 and q.size(1) >= SLOT_KERNEL_MIN_ROWS and available())


# -- the feature kernels (csrc/features.c) ---------------------------------------------------------
class _FeatureKernel(torch.autograd.Function):
    """Keys (``kind="key"``: ``α k̄_t/(‖k̄_t‖+ε)``, ``k̄_t = u_t + λ k̄_{t-1}``) or values
    (``kind="value"``: ``α v̄_t/(‖v̄_t‖+ε)``, ``v̄_t = u_t + λ u_{t+1}``, 0 after the end) of
    ``u`` (B, T, C): one pass over time forward, one each way backward; only the (B, H, T) norms
    are kept. Returns (B, H, T, d), contiguous."""

    @staticmethod
    def forward(ctx, u, lam, alpha, n_head, kind, eps):
        B, T, C = u.shape
        d = C // n_head
        u = u.contiguous()
        lam, alpha = lam.detach().float().contiguous(), alpha.detach().float().contiguous()
        out = u.new_empty(B, n_head, T, d)
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
def _padded_transpose(x: torch.Tensor, n_pad: int) -> torch.Tensor:
    """(H, N, d) -> (H, d, n_pad), zeros past N."""
    H, N, d = x.shape
    out = x.new_zeros(H, d, n_pad)
    out[:, :, :N] = x.transpose(1, 2)
    return out


class _SlotAttention(torch.autograd.Function):
    """``softmax(q Kᵀ) V`` per unit; forward keeps the output and each row's log-sum-exp (H, M)."""

    @staticmethod
    def forward(ctx, q, K, V):
        H, M, d = q.shape
        N = K.size(1)
        n_pad = -(-N // 16) * 16
        K, V = K.contiguous(), V.contiguous()
        Kt = _padded_transpose(K, n_pad)  # held in a name: the kernel reads it through a pointer
        out = q.new_empty(M, H, d)  # units concatenated: (M, H·d) is a view
        lse = q.new_empty(H, M)
        library().slot_forward(q.data_ptr(), q.stride(0), q.stride(1), Kt.data_ptr(), V.data_ptr(),
                               out.data_ptr(), d, H * d, lse.data_ptr(), H, M, N, n_pad, d, torch.get_num_threads())
        ctx.save_for_backward(q, K, Kt, V, out, lse)  # Kt is small (H, d, N): kept, not rebuilt
        return out.view(M, H * d)

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        q, K, Kt, V, out, lse = ctx.saved_tensors
        H, M, d = q.shape
        N, n_pad = K.size(1), Kt.size(2)
        g = g.contiguous()
        threads = torch.get_num_threads()
        Vt = _padded_transpose(V, n_pad)
        grad_q = torch.empty_like(q)
        grad_K = q.new_zeros(threads, H, N, d)  # one accumulator per thread, summed below
        grad_V = q.new_zeros(threads, H, N, d)
        library().slot_backward(q.data_ptr(), q.stride(0), q.stride(1), g.data_ptr(), d, H * d,
                                out.data_ptr(), d, H * d, lse.data_ptr(), K.data_ptr(), Kt.data_ptr(), Vt.data_ptr(),
                                grad_q.data_ptr(), grad_q.stride(0), grad_q.stride(1), grad_K.data_ptr(),
                                grad_V.data_ptr(), H, M, N, n_pad, d, threads)
        return grad_q, grad_K.sum(0), grad_V.sum(0)


def slot_kernel(q: torch.Tensor, K: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    """``softmax(q Kᵀ) V`` per unit for ``q`` (H, M, d) and ``K``, ``V`` (H, N, d): (M, H·d)."""
    return _SlotAttention.apply(q, K, V)
