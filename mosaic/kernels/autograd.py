"""Fused forward and backward passes of the feature extractors' elementwise steps (eq. 7).

Keys and values of a memory unit end in ``α · x / ‖x‖``; values first mix in their look-ahead,
``v̄_T = u_T + λ_ψ u_{T+1}`` with ``u = W_ψ x``. Written as separate tensor ops, autograd keeps
each intermediate and its backward walks through every one of them: about six passes over a
(B, H, T, d) tensor and three temporaries of that size per normalisation. Here each chain is one
autograd Function with its backward written out: two passes forward, three backward, and only the
input and a (B, H, T, 1) norm kept. The values' mix is recomputed in backward, not stored.

Both functions return the same values as the plain ops of ``mosaic.model.features`` (``tests/
test_fused_features.py`` compares values and gradients in float64 to 1e-10). Their outputs are
(B, H, T, d) tensors laid out for their consumer: contiguous for the contextual memory's attention
kernel, heads-major for the persistent memory (see ``heads_major``), which saves the copies that
re-laying a tensor out for the next op would cost.

Gradient of the scaled normalisation (n = ‖x‖, ε = ``NORM_EPS``, upstream gradient g)::

    out = α x / (n + ε)
    ∂L/∂x = α/(n+ε) · (g − x · s / (n (n+ε))),   s = Σ_i g_i x_i
    ∂L/∂α = Σ_{b,t} s / (n + ε)                   (per unit)
"""
from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from mosaic.kernels import cpu as cpu_kernels

NORM_EPS = 1e-10


def _empty_heads_major(shape: torch.Size, like: torch.Tensor) -> torch.Tensor:
    """An uninitialised (B, H, T, d) tensor stored as (H, B, T, d)."""
    B, H, T, d = shape
    return like.new_empty(H, B, T, d).transpose(0, 1)


def _normalize_backward(g, x, norm, alpha):
    """(∂L/∂x, s / (n+ε)) of ``α x / (n+ε)`` for ``x`` (..., d), ``norm`` (..., 1), ``alpha``
    broadcastable to ``norm``. ∂L/∂x is laid out like ``x``."""
    inv = 1.0 / (norm + NORM_EPS)
    s = torch.linalg.vecdot(g, x, dim=-1).unsqueeze(-1)  # Σ_i g_i x_i, (..., 1)
    factor = inv * alpha
    grad_x = torch.empty_like(x)
    torch.mul(g, factor, out=grad_x)
    # x = 0 gives s = 0: the clamp keeps 0/0 out of the coefficient
    grad_x.addcmul_(x, factor * inv * s / norm.clamp_min(torch.finfo(norm.dtype).tiny), value=-1.0)
    return grad_x, s * inv


class _ScaledNormalize(torch.autograd.Function):
    """``α_h · x / (‖x‖ + ε)`` for ``x`` (B, H, T, d) and ``alpha`` (H,)."""

    @staticmethod
    def forward(ctx, x, alpha, heads_major):
        norm = torch.linalg.vector_norm(x, dim=-1, keepdim=True)  # (B, H, T, 1)
        factor = alpha[:, None, None] / (norm + NORM_EPS)
        out = _empty_heads_major(x.shape, x) if heads_major else x.new_empty(x.shape)  # contiguous
        torch.mul(x, factor, out=out)
        ctx.save_for_backward(x, norm, alpha)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        x, norm, alpha = ctx.saved_tensors
        grad_x, per_row = _normalize_backward(g, x, norm, alpha[:, None, None])
        grad_alpha = per_row.sum(dim=(0, 2, 3)) if ctx.needs_input_grad[1] else None
        return grad_x, grad_alpha, None


def scaled_normalize(x: torch.Tensor, alpha: torch.Tensor, heads_major: bool = False) -> torch.Tensor:
    """``α_h · x / (‖x‖ + ε)`` over the last dim of ``x`` (B, H, T, d), ``alpha`` (H,).

    ``heads_major=True`` stores the result as (H, B, T, d), so that folding the batch into the
    query axis, ``out.transpose(0, 1).reshape(H, B·T, d)``, is a view (the persistent memory).
    """
    return _ScaledNormalize.apply(x, alpha, heads_major)


class _LookaheadNormalize(torch.autograd.Function):
    """Values of eq. 7 from ``u = W_ψ x`` (B, T, H, d): ``v̄_t = u_t + λ_h u_{t+1}`` (``u_T`` =
    ``u_next`` or 0), ``v_t = α_h v̄_t / (‖v̄_t‖ + ε)``; returned as a (B, T, H, d) view of a
    contiguous (B, H, T, d) tensor."""

    @staticmethod
    def forward(ctx, u, u_next, lam, alpha):
        lam_b = lam[:, None]  # (H, 1) against (..., H, d)
        vbar = _mix(u, u_next, lam_b)
        norm = torch.linalg.vector_norm(vbar, dim=-1, keepdim=True)  # (B, T, H, 1)
        B, T, H, d = u.shape
        out = u.new_empty(B, H, T, d).transpose(1, 2)  # (B, T, H, d) view of (B, H, T, d) storage
        torch.mul(vbar, alpha[:, None] / (norm + NORM_EPS), out=out)  # v̄ is recomputed in backward
        ctx.save_for_backward(u, u_next, lam, alpha, norm)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        u, u_next, lam, alpha, norm = ctx.saved_tensors
        lam_b = lam[:, None]
        vbar = _mix(u, u_next, lam_b)
        grad_vbar, per_row = _normalize_backward(g, vbar, norm, alpha[:, None])  # (B, T, H, d)
        # v̄_t = u_t + λ u_{t+1}: u_t receives its own gradient and λ × that of v̄_{t-1}
        grad_u = torch.empty_like(u)
        grad_u[:, 0] = grad_vbar[:, 0]
        torch.addcmul(grad_vbar[:, 1:], grad_vbar[:, :-1], lam_b, out=grad_u[:, 1:])
        grad_lam = grad_alpha = grad_next = None
        if ctx.needs_input_grad[2]:
            # Σ over b, t, d per unit (einsum would route this through a slow bmm)
            grad_lam = (grad_vbar[:, :-1] * u[:, 1:]).sum(dim=(0, 1, 3))
            if u_next is not None:
                grad_lam = grad_lam + (grad_vbar[:, -1:] * u_next).sum(dim=(0, 1, 3))
        if ctx.needs_input_grad[3]:
            grad_alpha = per_row.sum(dim=(0, 1, 3))
        if u_next is not None and ctx.needs_input_grad[1]:
            grad_next = grad_vbar[:, -1:] * lam_b
        return grad_u, grad_next, grad_lam, grad_alpha


def _mix(u: torch.Tensor, u_next: torch.Tensor | None, lam_b: torch.Tensor) -> torch.Tensor:
    """``v̄_t = u_t + λ u_{t+1}`` for ``u`` (B, T, H, d), ``u_{T}`` = ``u_next`` (B, 1, H, d) or 0."""
    vbar = torch.empty_like(u)
    torch.addcmul(u[:, :-1], u[:, 1:], lam_b, out=vbar[:, :-1])
    if u_next is None:
        vbar[:, -1] = u[:, -1]
    else:
        torch.addcmul(u[:, -1:], u_next, lam_b, out=vbar[:, -1:])
    return vbar


def lookahead_normalize(u: torch.Tensor, u_next: torch.Tensor | None, lam: torch.Tensor,
                        alpha: torch.Tensor, n_head: int) -> torch.Tensor:
    """Values ``v_t = α_ψ · (u_t + λ_ψ u_{t+1}) / ‖·‖`` (eq. 7) for every position of the
    projection ``u = W_ψ x`` (B, T, C), with ``u_T = u_next`` (B, 1, C) when the input after the
    last position is known, else 0. ``lam``, ``alpha``: (H,). Returns (B, H, T, d), contiguous."""
    if u_next is None and uses_feature_kernel(u, n_head):  # one CPU kernel pass (features.c)
        return _FeatureKernel.apply(u, n_head, ("value",), (False,), lam, alpha)
    B, T, C = u.shape
    uh = u.reshape(B, T, n_head, C // n_head)
    nh = None if u_next is None else u_next.reshape(B, 1, n_head, C // n_head)
    return _LookaheadNormalize.apply(uh, nh, lam, alpha).transpose(1, 2)


# -- keys and values in one pass each (CPU kernels, mosaic/csrc/features.c) ------------------------
def uses_feature_kernel(u: torch.Tensor, n_head: int) -> bool:
    """Whether the feature extractors take the CPU kernels for ``u = W x`` (B, T, C)."""
    d = u.size(-1) // n_head
    return (u.device.type == "cpu" and u.dtype == torch.float32 and d % 8 == 0 and d <= 256
            and cpu_kernels.available())


class _FeatureKernel(torch.autograd.Function):
    """Keys and/or values from column blocks of one projection ``u`` (B, T, P·C): part i reads
    columns ``[i·C, (i+1)·C)`` and is ``kinds[i]``:

    * ``"key"``: ``α_h k̄_t / (‖k̄_t‖ + ε)``, ``k̄_t = u_t + λ_h k̄_{t-1}`` (leaky average);
    * ``"value"``: ``α_h v̄_t / (‖v̄_t‖ + ε)``, ``v̄_t = u_t + λ_h u_{t+1}`` (look-ahead, 0 after the
      end).

    ``params`` = λ, α of part 0, λ, α of part 1, ... (each (H,)). One pass over time forward per
    part, one each way backward, every part's gradient written into one ``∂L/∂u``; only the
    (B, H, T) norms are kept. Returns one (B, H, T, d) tensor per part (heads-major storage
    where ``heads_major[i]``)."""

    @staticmethod
    def forward(ctx, u, n_head, kinds, heads_major, *params):
        B, T, PC = u.shape
        C = PC // len(kinds)
        d = C // n_head
        u = u.contiguous()
        params = [p.detach().float().contiguous() for p in params]
        lib, outs, norms = cpu_kernels.library(), [], []
        for i, kind in enumerate(kinds):
            lam, alpha = params[2 * i], params[2 * i + 1]
            out = _empty_heads_major((B, n_head, T, d), u) if heads_major[i] else u.new_empty(B, n_head, T, d)
            norm = u.new_empty(B, n_head, T)
            lib.features_forward(
                kind == "value", u.data_ptr() + i * C * u.element_size(), PC, lam.data_ptr(), alpha.data_ptr(),
                NORM_EPS, out.data_ptr(), out.stride(0), out.stride(1), out.stride(2), norm.data_ptr(),
                B, n_head, T, d, torch.get_num_threads())
            outs.append(out)
            norms.append(norm)
        ctx.save_for_backward(u, *params, *norms)
        ctx.n_head, ctx.kinds = n_head, kinds
        return tuple(outs) if len(outs) > 1 else outs[0]

    @staticmethod
    @once_differentiable
    def backward(ctx, *grads):
        P = len(ctx.kinds)
        u, params, norms = ctx.saved_tensors[0], ctx.saved_tensors[1:1 + 2 * P], ctx.saved_tensors[1 + 2 * P:]
        B, T, PC = u.shape
        H, C = ctx.n_head, PC // P
        threads = torch.get_num_threads()
        grad_u = torch.empty_like(u)
        grad_params = []
        for i, (kind, g) in enumerate(zip(ctx.kinds, grads)):
            if g is None:  # this part is not in the graph: its gradient is 0
                g = u.new_zeros(B, H, T, C // H)
            elif g.stride(-1) != 1:
                g = g.contiguous()
            lam, alpha = params[2 * i], params[2 * i + 1]
            grad_lam = u.new_zeros(threads, H)  # one row per kernel thread
            grad_alpha = u.new_zeros(threads, H)
            cpu_kernels.library().features_backward(
                kind == "value", u.data_ptr() + i * C * u.element_size(), PC, lam.data_ptr(), alpha.data_ptr(),
                NORM_EPS, norms[i].data_ptr(), g.data_ptr(), g.stride(0), g.stride(1), g.stride(2),
                grad_u.data_ptr() + i * C * grad_u.element_size(), grad_lam.data_ptr(), grad_alpha.data_ptr(),
                B, H, T, C // H, threads)
            grad_params += [grad_lam.sum(0), grad_alpha.sum(0)]
        return (grad_u, None, None, None, *grad_params)


def key_value_features(u: torch.Tensor, key_lam: torch.Tensor, key_alpha: torch.Tensor,
                       value_lam: torch.Tensor, value_alpha: torch.Tensor,
                       n_head: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A contextual memory's keys and values (eq. 7) from one fused projection
    ``u = [W_φ x, W_ψ x]`` (B, T, 2C): what :func:`leaky_normalize` of the first half and
    :func:`lookahead_normalize` of the second compute, each (B, H, T, d) contiguous, with one
    gradient tensor for ``u`` (two separate functions would have autograd zero-fill and add two
    full-size ones). Callers check :func:`uses_feature_kernel` first."""
    return _FeatureKernel.apply(u, n_head, ("key", "value"), (False, False),
                                key_lam, key_alpha, value_lam, value_alpha)


def leaky_normalize(u: torch.Tensor, lam: torch.Tensor, alpha: torch.Tensor, n_head: int,
                    heads_major: bool = False) -> torch.Tensor:
    """Keys of eq. 7, ``α_φ · k̄ / ‖k̄‖`` with ``k̄`` the leaky average of ``u = W_φ x`` (B, T, C),
    as (B, H, T, d) (stored heads-major if asked, see :func:`scaled_normalize`), in one CPU
    kernel pass. ``lam``, ``alpha``: (H,). Callers check :func:`uses_feature_kernel` first; the
    plain path is ``leaky_average`` then :func:`scaled_normalize` (same values)."""
    return _FeatureKernel.apply(u, n_head, ("key",), (heads_major,), lam, alpha)
