"""Fast paths of the Memory Mosaic's ops, behind one switch.

The paper's model (:mod:`mosaic.model`) is plain PyTorch. Every op that has a faster path here
has the same signature and the same values as its reference (up to float round-off; the tests of
``tests/kernels`` compare values and gradients, parametrised over both paths):

==================  ==========================================  ===========================================
reference op        fast path (``auto``)                        where
==================  ==========================================  ===========================================
``leaky_average``   chunked scan with a written-out backward    any device (:mod:`.autograd`)
``key_features``    one C kernel pass (leaky average + norm.)   x86-64 CPU, fp32, d % 8 == 0 (:mod:`.cpu`)
                    else chunked scan + fused normalisation     elsewhere (:mod:`.autograd`)
``value_features``  one C kernel pass (look-ahead + norm.)      x86-64 CPU, fp32, d % 8 == 0 (:mod:`.cpu`)
                    else fused look-ahead + normalisation       elsewhere (:mod:`.autograd`)
``kernel_smoothing``  causal SDPA on shifted sequences;         any device; on CPU with gradients the
                    no T×T matrix stored                        flash kernel is called directly
``slot_attention``  C kernel over the slot table                x86-64 CPU, fp32, >= 256 rows, d % 16 == 0
                                                                (AVX2) or d % 32 == 0 (AVX-512)
                    else SDPA (two matmuls for <= 16 queries)   elsewhere
==================  ==========================================  ===========================================

Which path runs is chosen in one place, :func:`select`: the model's config key ``kernels`` if set,
else the environment variable ``MOSAIC_KERNELS`` (``reference`` or ``auto``; default ``auto``).
``reference`` runs only :mod:`mosaic.model`'s code. ``MOSAIC_CPU_KERNELS=0`` keeps ``auto`` off
the compiled kernels (the PyTorch fast paths remain). Why each path is kept, with its measured
gain over the reference: docs/performance.md ("Fast paths").
"""
from __future__ import annotations

import os

import torch
import torch.nn.functional as F

from mosaic.kernels import autograd, cpu

MODES = ("reference", "auto")
ENV = "MOSAIC_KERNELS"
NORM_EPS = autograd.NORM_EPS
FEW_SLOT_QUERIES = 16  # at most this many queries per unit: two matmuls beat SDPA's CPU kernel


def check_mode(mode: str | None) -> None:
    """Refuse an unknown ``kernels`` setting by name (None is the environment's choice)."""
    if mode is not None and mode not in MODES:
        raise ValueError(f"kernels must be one of {MODES} (or null for ${ENV}), got {mode!r}")


def resolve_mode(mode: str | None = None) -> str:
    """``mode`` if given, else ``$MOSAIC_KERNELS``, else ``auto``."""
    mode = mode if mode is not None else os.environ.get(ENV) or "auto"
    if mode not in MODES:
        raise ValueError(f"{ENV} must be one of {MODES}, got {mode!r}")
    return mode


def select(mode: str | None = None) -> FastOps | None:
    """The fast ops for ``mode`` (see :func:`resolve_mode`), or None for the reference path."""
    return None if resolve_mode(mode) == "reference" else FAST_OPS


class FastOps:
    """The ``auto`` path: each op takes the fastest implementation that applies to its inputs.
    Stateless (a model holds one and deep-copies, pickles and moves between devices with it)."""

    def __repr__(self) -> str:
        return "FastOps()"

    def __deepcopy__(self, memo) -> FastOps:
        return self

    def __reduce__(self):
        return (select, ("auto",))

    @staticmethod
    def leaky_average(x: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
        return autograd.leaky_scan(x, lam)

    @staticmethod
    def key_features(u: torch.Tensor, lam: torch.Tensor, alpha: torch.Tensor, n_head: int) -> torch.Tensor:
        if cpu.feature_kernel_applies(u, n_head):
            return cpu.feature_kernel(u, lam, alpha, n_head, "key", NORM_EPS)
        return autograd.scaled_normalize(autograd.leaky_scan(autograd.split_heads(u, n_head), lam), alpha)

    @staticmethod
    def value_features(u: torch.Tensor, lam: torch.Tensor, alpha: torch.Tensor, n_head: int) -> torch.Tensor:
        if cpu.feature_kernel_applies(u, n_head):
            return cpu.feature_kernel(u, lam, alpha, n_head, "value", NORM_EPS)
        return autograd.lookahead_normalize(u, lam, alpha, n_head)

    @staticmethod
    def kernel_smoothing(k: torch.Tensor, v: torch.Tensor, scale: float = 1.0, dropout_p: float = 0.0) -> torch.Tensor:
        return autograd.shifted_smoothing(k, v, scale, dropout_p)

    @staticmethod
    def slot_attention(q: torch.Tensor, K: torch.Tensor, V: torch.Tensor, dropout_p: float = 0.0) -> torch.Tensor:
        B, H, T, d = q.shape
        # the slots are the same for every sequence: fold the batch into the query axis, so one
        # (H, B·T, d) x (H, N, d) attention runs instead of B copies of the table
        rows = q.transpose(0, 1).reshape(H, B * T, d)  # (H, B·T, d)
        if cpu.slot_kernel_applies(rows, K, V, dropout_p):
            return cpu.slot_kernel(rows, K, V).view(B, T, H * d)
        if dropout_p == 0.0 and B * T <= FEW_SLOT_QUERIES:
            y = torch.softmax(torch.bmm(rows, K.transpose(1, 2)), dim=-1).bmm(V)  # (H, B·T, d)
        else:
            y = F.scaled_dot_product_attention(rows[None], K[None], V[None], dropout_p=dropout_p, scale=1.0)[0]
        return y.transpose(0, 1).reshape(B, T, H * d)


FAST_OPS = FastOps()
