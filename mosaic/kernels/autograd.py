"""Fast paths written in PyTorch: autograd Functions with hand-written backward passes, and the
shifted-causal form of eq. 8 for PyTorch's fused attention. Device-agnostic (CPU and CUDA).

Each function here computes what a reference op of :mod:`mosaic.model` computes (same values up to
float round-off; tests/kernels compare values and gradients in float64):

* :func:`leaky_scan` — ``leaky_average``: a chunked scan, O(T·Q·d) instead of the reference's
  dense T×T decay matrix (O(T²·d)), exact (the recurrence re-associated);
* :func:`scaled_normalize` — ``normalize``: one Function instead of six tensor ops, keeping only the
  input and a (B, H, T, 1) norm for backward;
* :func:`lookahead_normalize` — ``value_features``: the look-ahead mix recomputed in backward
  instead of stored;
* :func:`shifted_smoothing` — ``kernel_smoothing``: eq. 8 as causal attention of queries
  ``k[1:]`` over keys ``k[:-1]`` (the diagonal-excluded mask is a causal mask on shifted
  sequences), so the fused SDPA kernel skips the masked half and no T×T matrix is stored; on CPU
  with gradients, PyTorch's flash kernel is called directly and the gradients of the overlapping
  slices are assembled in one pass (a private op: used only where :func:`private_flash_cpu` says it
  exists with the signature this code was written for).

Gradient of the scaled normalisation (n = ‖x‖, ε = ``NORM_EPS``, upstream gradient g)::

    out = α x / (n + ε)
    ∂L/∂x = α/(n+ε) · (g − x · s / (n (n+ε))),   s = Σ_i g_i x_i
    ∂L/∂α = Σ_{b,t} s / (n + ε)                   (per unit)

Gradient of the leaky average ``out_t = x_t + λ out_{t-1}``: the adjoint ``a_t = g_t + λ a_{t+1}``
is the same scan run backwards, ``∂L/∂x = a``, ``∂L/∂λ = Σ_t a_t · out_{t-1}``.
"""
from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

NORM_EPS = 1e-10  # the reference's ε (mosaic.model.features.NORM_EPS)
SCAN_CHUNK = 16  # Q of the chunked scan (fastest of 8…128 at the benchmark size, tied with 8)


def split_heads(x: torch.Tensor, n_head: int) -> torch.Tensor:
    """(B, T, C) -> (B, H, T, d)."""
    B, T, C = x.shape
    return x.view(B, T, n_head, C // n_head).transpose(1, 2)


# -- the leaky average: a chunked scan ------------------------------------------------------------
def _decay_matrix(lam: torch.Tensor, n: int) -> torch.Tensor:
    """``lam`` (G, 1, 1) -> lower-triangular ``λ^(i-j)`` of shape (G, n, n)."""
    i = torch.arange(n, device=lam.device)
    diff = (i[:, None] - i[None, :]).to(lam.dtype)
    return (lam ** diff.clamp(min=0)).masked_fill(diff < 0, 0.0)


def _scan(x: torch.Tensor, lam: torch.Tensor, chunk: int, reverse: bool = False) -> torch.Tensor:
    """``out_t = x_t + λ out_{t-1}`` (or ``out_{t+1}`` when ``reverse``) along dim 1 of ``x``
    (G, T, N), one λ per group (G,), no autograd graph. Inside a chunk of length Q the recurrence is
    a product with the Q×Q decay matrix; the state carried between chunks is itself a leaky
    average over the chunk ends with factor λ^Q, solved by the same function (depth log_Q T)."""
    G, T, N = x.shape
    lam3 = lam.reshape(G, 1, 1)
    if T <= chunk:
        D = _decay_matrix(lam3, T)
        return (D.transpose(-1, -2) if reverse else D) @ x
    n_chunks = -(-T // chunk)
    if n_chunks * chunk > T:  # zeros at the end never reach earlier positions, either way
        x = F.pad(x, (0, 0, 0, n_chunks * chunk - T))
    D = _decay_matrix(lam3, chunk)
    if reverse:
        D = D.transpose(-1, -2)
    intra = D.unsqueeze(1) @ x.view(G, n_chunks, chunk, N)  # (G, nC, Q, N)
    ends = intra[:, :, 0 if reverse else -1].contiguous()  # (G, nC, N)
    carried = _scan(ends, lam**chunk, chunk, reverse)
    steps = torch.arange(1, chunk + 1, device=x.device, dtype=x.dtype)
    if reverse:
        incoming = F.pad(carried[:, 1:], (0, 0, 0, 1))  # S_{c+1}, zero at the end
        powers = lam3 ** steps.flip(0)[:, None]  # λ^(Q-i)
    else:
        incoming = F.pad(carried[:, :-1], (0, 0, 1, 0))  # S_{c-1}, zero at the start
        powers = lam3 ** steps[:, None]  # λ^(i+1)
    intra.addcmul_(powers.unsqueeze(1), incoming.unsqueeze(2))
    return intra.view(G, n_chunks * chunk, N)[:, :T]


class _LeakyScan(torch.autograd.Function):
    """The scan of ``x`` (H, T, N) with one λ per unit, and its backward (the reverse scan)."""

    @staticmethod
    def forward(ctx, x, lam, chunk):
        out = _scan(x, lam, chunk)
        ctx.save_for_backward(out, lam)
        ctx.chunk = chunk
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        out, lam = ctx.saved_tensors
        G = out.size(0)
        adjoint = _scan(grad_out.contiguous(), lam, ctx.chunk, reverse=True)
        grad_lam = None
        if ctx.needs_input_grad[1]:  # Σ_t a_t · out_{t-1} per unit, as one dot product each
            grad_lam = torch.linalg.vecdot(adjoint[:, 1:].reshape(G, -1), out[:, :-1].reshape(G, -1))
        return adjoint, grad_lam, None


def leaky_scan(x: torch.Tensor, lam: torch.Tensor, chunk: int = SCAN_CHUNK) -> torch.Tensor:
    """``leaky_average`` of ``x`` (B, H, T, d) with ``lam`` (H,) by the chunked scan. The batch
    joins the channels, so each unit's Q×Q decay matrix multiplies one (Q, B·d) block."""
    B, H, T, d = x.shape
    xs = x.permute(1, 2, 0, 3).reshape(H, T, B * d)  # (H, T, B·d)
    out = _LeakyScan.apply(xs, lam, chunk)
    return out.view(H, T, B, d).permute(2, 0, 1, 3)


# -- normalisations ------------------------------------------------------------------------------
def _normalize_backward(g, x, norm, alpha):
    """(∂L/∂x, s / (n+ε)) of ``α x / (n+ε)`` for ``x`` (..., d), ``norm`` (..., 1), ``alpha``
    broadcastable to ``norm``."""
    inv = 1.0 / (norm + NORM_EPS)
    s = torch.linalg.vecdot(g, x, dim=-1).unsqueeze(-1)  # Σ_i g_i x_i
    factor = inv * alpha
    grad_x = torch.mul(g, factor)
    # x = 0 gives s = 0: the clamp keeps 0/0 out of the coefficient
    grad_x.addcmul_(x, factor * inv * s / norm.clamp_min(torch.finfo(norm.dtype).tiny), value=-1.0)
    return grad_x, s * inv


class _ScaledNormalize(torch.autograd.Function):
    """``α_h · x / (‖x‖ + ε)`` for ``x`` (B, H, T, d) and ``alpha`` (H,)."""

    @staticmethod
    def forward(ctx, x, alpha):
        norm = torch.linalg.vector_norm(x, dim=-1, keepdim=True)  # (B, H, T, 1)
        ctx.save_for_backward(x, norm, alpha)
        return x * (alpha[:, None, None] / (norm + NORM_EPS))

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        x, norm, alpha = ctx.saved_tensors
        grad_x, per_row = _normalize_backward(g, x, norm, alpha[:, None, None])
        grad_alpha = per_row.sum(dim=(0, 2, 3)) if ctx.needs_input_grad[1] else None
        return grad_x, grad_alpha


def scaled_normalize(x: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """``normalize``: ``α_h · x / (‖x‖ + ε)`` over the last dim of ``x`` (B, H, T, d)."""
    return _ScaledNormalize.apply(x, alpha)


class _LookaheadNormalize(torch.autograd.Function):
    """Values of eq. 7 from ``u = W_ψ x`` (B, T, H, d): ``v̄_t = u_t + λ_h u_{t+1}`` (0 after the
    end), ``v_t = α_h v̄_t / (‖v̄_t‖ + ε)``; returned as a (B, T, H, d) view of a contiguous
    (B, H, T, d) tensor."""

    @staticmethod
    def forward(ctx, u, lam, alpha):
        vbar = _mix(u, lam[:, None])
        norm = torch.linalg.vector_norm(vbar, dim=-1, keepdim=True)  # (B, T, H, 1)
        B, T, H, d = u.shape
        out = u.new_empty(B, H, T, d).transpose(1, 2)
        torch.mul(vbar, alpha[:, None] / (norm + NORM_EPS), out=out)  # v̄ is recomputed in backward
        ctx.save_for_backward(u, lam, alpha, norm)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        u, lam, alpha, norm = ctx.saved_tensors
        lam_b = lam[:, None]
        vbar = _mix(u, lam_b)
        grad_vbar, per_row = _normalize_backward(g, vbar, norm, alpha[:, None])  # (B, T, H, d)
        # v̄_t = u_t + λ u_{t+1}: u_t receives its own gradient and λ × that of v̄_{t-1}
        grad_u = torch.empty_like(u)
        grad_u[:, 0] = grad_vbar[:, 0]
        torch.addcmul(grad_vbar[:, 1:], grad_vbar[:, :-1], lam_b, out=grad_u[:, 1:])
        grad_lam = (grad_vbar[:, :-1] * u[:, 1:]).sum(dim=(0, 1, 3)) if ctx.needs_input_grad[1] else None
        grad_alpha = per_row.sum(dim=(0, 1, 3)) if ctx.needs_input_grad[2] else None
        return grad_u, grad_lam, grad_alpha


def _mix(u: torch.Tensor, lam_b: torch.Tensor) -> torch.Tensor:
    """``v̄_t = u_t + λ u_{t+1}`` for ``u`` (B, T, H, d), ``u_T`` = 0."""
    vbar = torch.empty_like(u)
    torch.addcmul(u[:, :-1], u[:, 1:], lam_b, out=vbar[:, :-1])
    vbar[:, -1] = u[:, -1]
    return vbar


def lookahead_normalize(u: torch.Tensor, lam: torch.Tensor, alpha: torch.Tensor, n_head: int) -> torch.Tensor:
    """``value_features``: values (B, H, T, d) of eq. 7 from ``u = W_ψ x`` (B, T, C)."""
    B, T, C = u.shape
    return _LookaheadNormalize.apply(u.reshape(B, T, n_head, C // n_head), lam, alpha).transpose(1, 2)


# -- eq. 8 through fused attention ---------------------------------------------------------------
@functools.cache
def private_flash_cpu() -> bool:
    """Whether PyTorch's CPU flash-attention forward and backward ops exist with the signature
    :class:`_ShiftedSmoothingCPU` calls (private ops: checked by version and presence, and the
    public SDPA path is taken otherwise)."""
    version = tuple(int(p) for p in torch.__version__.split("+")[0].split(".")[:2])
    ops = torch.ops.aten
    return version >= (2, 3) and hasattr(ops, "_scaled_dot_product_flash_attention_for_cpu") \
        and hasattr(ops, "_scaled_dot_product_flash_attention_for_cpu_backward")


def behind_empty_row(y: torch.Tensor) -> torch.Tensor:
    """The outputs ``y`` (B, H, T-1, d) of positions 1..T-1, units concatenated, behind the zero
    row of position 0: (B, T, H·d), one copy."""
    B, H, Tm1, d = y.shape
    out = y.new_empty(B, Tm1 + 1, H * d)
    out[:, 0].zero_()
    out[:, 1:].view(B, Tm1, H, d).copy_(y.transpose(1, 2))
    return out


class _ShiftedSmoothingCPU(torch.autograd.Function):
    """:func:`shifted_smoothing` through PyTorch's CPU flash kernel called directly, on T queries:
    ``k_1 … k_{T-1}`` and a zero query behind them, over all T keys and values. Causally, query
    ``i`` (``k_{i+1}``) reads keys ``0 … i``, as eq. 8 wants; the extra query alone reads
    ``k_{T-1}``, ``v_{T-1}``, and its output is dropped and its upstream gradient is 0, so it adds
    nothing to any gradient (exactly: its ∂S row is P·(0 - 0)). Why not the T-1 slices: the flash
    kernel blocks a T-long sequence better than a (T-1)-long one (docs/performance.md, "The
    contextual memory's T-long queries"), and with full-length keys and
    values ``∂L/∂v`` is the kernel's own output and ``∂L/∂k`` one in-place add (the key gradient
    plus the query gradient shifted by one), where autograd on slices would zero-fill a full-size
    gradient per slice and add them."""

    @staticmethod
    def forward(ctx, k, v, scale):
        B, H, T, d = k.shape
        q = k.new_empty(B, T, H, d).transpose(1, 2)  # (B, H, T, d) in the keys' (B, T, H, d) layout
        q[:, :, :-1] = k[:, :, 1:]
        q[:, :, -1] = 0.0
        y, lse = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(q, k, v, 0.0, True, scale=scale)
        ctx.save_for_backward(q, k, v, y, lse)
        ctx.scale = scale
        return behind_empty_row(y[:, :, :-1])

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        q, k, v, y, lse = ctx.saved_tensors
        B, H, T, d = v.shape
        grad_y = g.new_empty(B, T, H, d)  # query i answers position i + 1; the extra query: 0
        grad_y[:, :-1] = g[:, 1:].view(B, T - 1, H, d)
        grad_y[:, -1] = 0.0
        gq, grad_k, grad_v = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward(
            grad_y.transpose(1, 2), q, k, v, y, lse, 0.0, True, scale=ctx.scale)
        grad_k[:, :, 1:] += gq[:, :, :-1]  # k_t is the key t and the query of position t (t >= 1)
        return grad_k, grad_v, None


def shifted_smoothing(k: torch.Tensor, v: torch.Tensor, scale: float = 1.0, dropout_p: float = 0.0) -> torch.Tensor:
    """``kernel_smoothing``: eq. 8 for keys and values (B, H, T, d) as causal fused attention of
    the shifted sequences; (B, T, H·d)."""
    B, H, T, d = v.shape
    if T == 1:  # nothing to remember: zeros, with both inputs in the graph as in the reference
        return (v * 0 + k.sum() * 0).transpose(1, 2).reshape(B, T, H * d)
    if (dropout_p == 0.0 and k.device.type == "cpu" and torch.is_grad_enabled() and private_flash_cpu()
            and (k.requires_grad or v.requires_grad)):
        return _ShiftedSmoothingCPU.apply(k, v, scale)
    y = F.scaled_dot_product_attention(k[:, :, 1:], k[:, :, :-1], v[:, :, :-1], is_causal=True,
                                       dropout_p=dropout_p, scale=scale)  # (B, H, T-1, d)
    return behind_empty_row(y)
