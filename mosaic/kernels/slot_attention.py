"""Attention of queries over a persistent memory's slot table (paper section 5, Fig. 8)::

    y[h, m] = Σ_n softmax_n(q[h, m] · K[h, n]) V[h, n]          (no 1/√d: the scale is in q)

for queries ``q`` (H, M, d) (the batch folded into M = B·T) and slots ``K``, ``V`` (H, N, d);
returned with the units concatenated, (M, H·d), the input of the persistent memory's ``W_o``.

Three paths with the same values (``tests/test_cpu_kernels.py``):

* a fused CPU kernel (``mosaic/csrc/slot_attention.c``, AVX2 + FMA, fp32). At the
  parameter-matched sizes (N = 3.5·C slots, d = 32) PyTorch's CPU flash-attention kernel runs
  these products at about half the machine's matmul rate; scoring a block of queries against the
  whole table while it sits in cache is exact in one pass and faster (docs/performance.md,
  "The slot kernel").
* for at most ``FEW_ROWS`` queries per unit without dropout (incremental decoding: one query
  per sequence), two batched matmuls around a softmax: SDPA's CPU kernel took about 250 µs for
  one query against 896 slots of 8 units, these 60-100 µs, four times per token at the default
  size;
* PyTorch's ``scaled_dot_product_attention`` everywhere else: CUDA, float64 or bf16, dropout on
  the weights, d not a multiple of 16, fewer than ``KERNEL_MIN_ROWS`` queries, a CPU without
  AVX2/FMA, no compiler, or ``MOSAIC_CPU_KERNELS=0``.

The kernel is built and loaded by ``mosaic.kernels.cpu``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from mosaic.kernels import cpu as cpu_kernels

# Fewer query rows than this (incremental decoding: one row per sequence) go to SDPA: transposing
# the table and starting threads would cost more than the kernel saves.
KERNEL_MIN_ROWS = 256
FEW_ROWS = 16  # at most this many queries per unit: explicit matmuls (see the module docstring)


def uses_kernel(q: torch.Tensor, K: torch.Tensor, V: torch.Tensor, dropout_p: float = 0.0) -> bool:
    """Whether :func:`slot_attention` takes the fused kernel for these inputs."""
    return (dropout_p == 0.0 and q.device.type == "cpu" and q.dtype == K.dtype == V.dtype == torch.float32
            and q.size(-1) % 16 == 0 and q.stride(-1) == 1 and q.size(1) >= KERNEL_MIN_ROWS
            and cpu_kernels.available())


def _padded_transpose(x: torch.Tensor, n_pad: int) -> torch.Tensor:
    """(H, N, d) -> (H, d, n_pad), zeros past N."""
    H, N, d = x.shape
    out = x.new_zeros(H, d, n_pad)
    out[:, :, :N] = x.transpose(1, 2)
    return out


class _SlotAttention(torch.autograd.Function):
    """The fused kernel: forward keeps the output and each row's log-sum-exp (H, M)."""

    @staticmethod
    def forward(ctx, q, K, V):
        H, M, d = q.shape
        N = K.size(1)
        n_pad = -(-N // 16) * 16
        K, V = K.contiguous(), V.contiguous()
        Kt = _padded_transpose(K, n_pad)  # held in a name: the kernel reads it through a pointer
        out = q.new_empty(M, H, d)  # units concatenated: (M, H·d) is a view
        lse = q.new_empty(H, M)
        cpu_kernels.library().slot_forward(q.data_ptr(), q.stride(0), q.stride(1), Kt.data_ptr(), V.data_ptr(),
                          out.data_ptr(), d, H * d, lse.data_ptr(), H, M, N, n_pad, d, torch.get_num_threads())
        ctx.save_for_backward(q, K, Kt, V, out, lse)  # Kt is small (H, d, N): kept, not rebuilt
        return out.view(M, H * d)

    @staticmethod
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
        cpu_kernels.library().slot_backward(q.data_ptr(), q.stride(0), q.stride(1), g.data_ptr(), d, H * d,
                           out.data_ptr(), d, H * d, lse.data_ptr(), K.data_ptr(), Kt.data_ptr(), Vt.data_ptr(),
                           grad_q.data_ptr(), grad_q.stride(0), grad_q.stride(1), grad_K.data_ptr(),
                           grad_V.data_ptr(), H, M, N, n_pad, d, threads)
        return grad_q, grad_K.sum(0), grad_V.sum(0)


def slot_attention_sdpa(q: torch.Tensor, K: torch.Tensor, V: torch.Tensor, dropout_p: float = 0.0) -> torch.Tensor:
    """The reference path: PyTorch's fused attention on (1, H, M, d) against (1, H, N, d)."""
    H, M, d = q.shape
    y = F.scaled_dot_product_attention(q[None], K[None], V[None], dropout_p=dropout_p, scale=1.0)[0]
    return y.transpose(0, 1).reshape(M, H * d)  # (M, H·d)


def slot_attention_few_queries(q: torch.Tensor, K: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    """The decoding path: ``softmax(q Kᵀ) V`` as two batched matmuls, for few queries (H, M, d)."""
    H, M, d = q.shape
    y = torch.softmax(torch.bmm(q, K.transpose(1, 2)), dim=-1).bmm(V)  # (H, M, N) weights, (H, M, d)
    return y.transpose(0, 1).reshape(M, H * d)


def slot_attention(q: torch.Tensor, K: torch.Tensor, V: torch.Tensor, dropout_p: float = 0.0) -> torch.Tensor:
    """``softmax(q Kᵀ) V`` per unit for ``q`` (H, M, d), ``K``, ``V`` (H, N, d): (M, H·d).
    ``dropout_p`` drops attention weights (training); it takes the SDPA path."""
    if uses_kernel(q, K, V, dropout_p):
        return _SlotAttention.apply(q, K, V)
    if dropout_p == 0.0 and q.size(1) <= FEW_ROWS:
        return slot_attention_few_queries(q, K, V)
    return slot_attention_sdpa(q, K, V, dropout_p)
