"""Selective state-space language model, Mamba-2 style (SSD; Dao & Gu 2024), in pure PyTorch.

Model: token embedding -> n_layer residual blocks ``x + mixer(RMSNorm(x))`` -> RMSNorm -> output
layer tied to the embedding (no MLP, as in Mamba). The mixer (Dao & Gu 2024, Fig. 6, "Mamba-2
block"), with d_inner = expand * n_embd channels split into H = d_inner / headdim heads of P =
headdim channels, and B, C shared by the heads of each of n_groups groups:

    (z, x, B, C, Δ) = in_proj(u)               in parallel from the block input
    (x, B, C) = SiLU(causal depthwise conv1d(x, B, C))    kernel d_conv
    Δ_{t,h} = softplus(Δ_{t,h} + dt_bias_h)     input-dependent step, one per head
    h_t = exp(Δ_t A_h) h_{t-1} + Δ_t x_t B_tᵀ   A_h = -exp(A_log_h) < 0: ONE scalar per head
    y_t = h_t C_t + D_h x_t                    h_t is (P, N) per head, N = d_state
    out = out_proj(RMSNorm(y * SiLU(z)))

Why Mamba-2 and not Mamba-1 (whose decay exp(Δ_t A) is a (channel, state) matrix): with a scalar
decay per head, the map from a chunk's inputs to its outputs is, for every head, ONE Q×Q
lower-triangular matrix ``L[t, s] = exp(Σ_{r=s+1..t} Δ_r A_h)`` shared by all P·N (channel, state)
pairs, so the scan becomes batched matmuls ("state space duality", SSD; eq. (16) / Listing 1 of
Dao & Gu): the intra-chunk outputs are ``(L ∘ C Bᵀ) (Δ x)`` and chunks exchange one (P, N) state
per head. Mamba-1 instead needs its (B, T, d_inner, d_state) states materialised (a parallel scan
over them, or Q times more exponentials for a chunked form): on CPU that made it ~20x slower than
a same-size transformer, where the official Mamba fuses it in a CUDA kernel.

:func:`ssd_scan` computes the recurrence exactly by chunks (:func:`decay_scan` carries the state
from chunk to chunk, by the same chunking applied recursively); :func:`ssd_scan_sequential` is the
plain step-by-step recurrence the tests compare it with. Two hand-written backward passes (the
decay matrix, the depthwise convolution) replace autograd graphs that were a third of a CPU
training step. ``n_head`` is ignored: the head count is d_inner / headdim, as in Mamba-2.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from mosaic.interface import LanguageModel, LMConfig

DEFAULT_CHUNK = 32


@dataclass
class SSMConfig(LMConfig):
    """Common keys plus Mamba-2's. ``n_head`` is ignored: H = expand * n_embd / headdim heads."""

    d_state: int = 16  # N, state size per channel (Mamba-2 uses 64-128 at scale; cheap with SSD)
    d_conv: int = 4  # depthwise causal convolution width
    expand: int = 2  # d_inner = expand * n_embd
    headdim: int = 32  # P, channels per head; must divide d_inner
    n_groups: int = 1  # groups of heads sharing B and C; must divide the head count
    dt_min: float = 0.001  # Δ is initialised log-uniformly in [dt_min, dt_max]
    dt_max: float = 0.1
    A_init_range: tuple = (1.0, 16.0)  # -A_h is initialised uniformly in this range (Mamba-2)
    chunk: int = DEFAULT_CHUNK  # Q of the chunked scan: a speed knob, the result does not depend on it
    bias: bool = False  # biases of in_proj/out_proj (Mamba: False); the conv always has one

    def validate(self) -> None:
        super().validate()
        for key in ("d_state", "d_conv", "expand", "headdim", "n_groups"):
            if getattr(self, key) < 1:
                raise ValueError(f"SSMConfig.{key} must be >= 1, got {getattr(self, key)}")
        if self.chunk < 2:
            raise ValueError(f"SSMConfig.chunk must be >= 2, got {self.chunk}")
        d_inner = self.expand * self.n_embd
        if d_inner % self.headdim:
            raise ValueError(
                f"SSMConfig.headdim={self.headdim} must divide d_inner = expand * n_embd = {d_inner}"
            )
        if (d_inner // self.headdim) % self.n_groups:
            raise ValueError(
                f"SSMConfig.n_groups={self.n_groups} must divide the head count {d_inner // self.headdim}"
            )
        if not 0.0 < self.dt_min <= self.dt_max:
            raise ValueError(
                f"SSMConfig needs 0 < dt_min <= dt_max, got dt_min={self.dt_min}, dt_max={self.dt_max}"
            )
        if len(self.A_init_range) != 2 or not 0.0 < self.A_init_range[0] <= self.A_init_range[1]:
            raise ValueError(f"SSMConfig.A_init_range must satisfy 0 < low <= high, got {self.A_init_range}")


# -- the chunked scan -----------------------------------------------------------------------------
class _DecayMatrix(torch.autograd.Function):
    """``a`` (..., Q) log-decays <= 0 -> L (..., Q, Q), ``L[t, s] = exp(Σ_{r=s+1..t} a_r)`` for
    s <= t and 0 above the diagonal: the decay from step s to step t.

    Forward: each exponent is summed over its own segment (a cumulative sum, down the rows, of the
    entries masked below the diagonal), not taken as a difference of two running totals: after a
    step of -4000 such a difference would lose every digit of a short segment's sum. The entries
    above the diagonal are -inf before exp, so no exponent is ever positive and nothing overflows.
    Backward: with c = cumsum(a), L[t, s] = exp(c_t - c_s), so dloss/dc = row sums minus column
    sums of G = dloss/dL ∘ L, and dloss/da_r = Σ_{t >= r} dloss/dc_t. That is exact, and costs two
    reductions of G instead of autograd's pass back through the masked cumulative sum.
    """

    @staticmethod
    def forward(ctx, a):
        Q = a.size(-1)
        strictly_lower = torch.ones(Q, Q, dtype=torch.bool, device=a.device).tril(-1)
        sums = a[..., :, None].expand(*a.shape, Q).masked_fill(~strictly_lower, 0.0)
        sums.cumsum_(dim=-2)  # [t, s] = Σ_{s < r <= t} a_r below the diagonal
        future = torch.ones(Q, Q, dtype=torch.bool, device=a.device).triu(1)
        L = sums.masked_fill_(future, -math.inf).exp_()
        ctx.save_for_backward(L)
        return L

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_L):
        (L,) = ctx.saved_tensors
        G = grad_L * L
        grad_c = G.sum(-1) - G.sum(-2)  # (..., Q)
        return grad_c.sum(-1, keepdim=True) - grad_c.cumsum(-1) + grad_c  # reverse cumsum


def decay_matrix(a: torch.Tensor) -> torch.Tensor:
    """``a`` (..., Q) -> (..., Q, Q) lower-triangular ``exp(Σ_{r=s+1..t} a_r)`` (see _DecayMatrix)."""
    return _DecayMatrix.apply(a)


def _to_chunks(x: torch.Tensor, chunk: int) -> torch.Tensor:
    """(b, T, ...) -> (b, T/Q, Q, ...), zero-padding T at the end (padding never reaches earlier
    positions: the recurrence is causal; a zero log-decay step is the identity)."""
    T = x.size(1)
    pad = -T % chunk
    if pad:
        x = F.pad(x, (0, 0) * (x.dim() - 2) + (0, pad))
    return x.unflatten(1, (x.size(1) // chunk, chunk))


def decay_scan(log_decay: torch.Tensor, values: torch.Tensor, chunk: int = DEFAULT_CHUNK) -> torch.Tensor:
    """All states of ``h_t = exp(a_t) h_{t-1} + v_t`` (h_{-1} = 0) along dim 1, a_t <= 0.

    ``log_decay`` (b, T), ``values`` (b, T, F): one scalar decay per sequence and step, shared by
    the F features. Chunked as in ``mosaic/leaky_average.py``, with a time-varying decay: inside a
    chunk ``decay_matrix(a) @ v``; the states at chunk ends obey the same recurrence over
    T/Q steps (solved recursively, depth log_Q T); position t of a chunk adds the previous chunk's
    end state decayed by exp(a_0 + ... + a_t).
    """
    if chunk < 2:  # each recursion level must shrink T by the chunk factor
        raise ValueError(f"chunk must be >= 2, got {chunk}")
    T = values.size(1)
    if T <= chunk:
        return decay_matrix(log_decay) @ values  # (b, T, T) @ (b, T, F)
    a = _to_chunks(log_decay[..., None], chunk)[..., 0]  # (b, nC, Q)
    v = _to_chunks(values, chunk)  # (b, nC, Q, F)
    intra = decay_matrix(a) @ v  # (b, nC, Q, F)
    carried = decay_scan(a.sum(-1), intra[:, :, -1], chunk)  # state at each chunk end (b, nC, F)
    previous = F.pad(carried[:, :-1], (0, 0, 1, 0))  # state entering each chunk
    out = intra + torch.exp(a.cumsum(-1))[..., None] * previous[:, :, None]
    return out.flatten(1, 2)[:, :T]


def ssd_scan(x, dt, A, B, C, chunk: int = DEFAULT_CHUNK) -> torch.Tensor:
    """Exact ``y_t = h_t C_t`` with ``h_t = exp(Δ_t A_h) h_{t-1} + Δ_t x_t B_tᵀ`` (h_{-1} = 0) for
    every head, by chunks of length ``chunk`` (Dao & Gu 2024, Sec. 6 / Listing 1).

    Shapes: x (b, T, H, P); dt (b, T, H), >= 0; A (H,), < 0; B, C (b, T, G, N) with G dividing H
    (head h uses group h // (H/G)). Returns y (b, T, H, P) in at least float32. Per chunk c:

    1. intra-chunk: ``y = (L ∘ C Bᵀ) (Δ x)`` with the head's decay matrix L (Q, Q);
    2. the chunk's own end state ``S_c = Σ_s L[Q-1, s] Δ_s x_s B_sᵀ`` (P, N);
    3. states carried across chunks by :func:`decay_scan` with one decay per chunk;
    4. position t adds ``exp(Σ_{r<=t} Δ_r A) · (incoming state) C_t``.

    Cost O(T·Q·(N + P)) per head: the (T, P, N) states are never materialised per step.
    """
    if chunk < 2:
        raise ValueError(f"chunk must be >= 2, got {chunk}")
    work = torch.promote_types(x.dtype, torch.float32)  # at least float32 (float64 stays)
    x, dt, A, B, C = (t.to(work) for t in (x, dt, A, B, C))
    b, T, H, P = x.shape
    G, N = B.shape[-2:]
    Q = min(chunk, T)
    # chunked, heads first: (b, H, nC, Q, ...); groups: (b, G, 1, nC, Q, N) broadcast over heads
    xdt = _to_chunks(x * dt[..., None], Q).permute(0, 3, 1, 2, 4)  # (b, H, nC, Q, P)
    a = _to_chunks(dt * A, Q).permute(0, 3, 1, 2)  # (b, H, nC, Q), log-decays <= 0
    Bc = _to_chunks(B, Q).permute(0, 3, 1, 2, 4)[:, :, None]  # (b, G, 1, nC, Q, N)
    Cc = _to_chunks(C, Q).permute(0, 3, 1, 2, 4)[:, :, None]
    nC = a.size(2)

    def per_head(t):  # (b, G, H/G, nC, ...) -> (b, H, nC, ...)
        return t.flatten(1, 2)

    def per_group(t):  # (b, H, nC, ...) -> (b, G, H/G, nC, ...)
        return t.unflatten(1, (G, H // G))

    L = decay_matrix(a)  # (b, H, nC, Q, Q)
    scores = Cc @ Bc.transpose(-1, -2)  # (b, G, 1, nC, Q, Q): C_t · B_s
    y = per_head(per_group(L) * scores) @ xdt  # 1. (b, H, nC, Q, P)
    if nC > 1:
        to_end = L[..., -1, :, None] * xdt  # (b, H, nC, Q, P): Δ_s x_s decayed to the chunk end
        own = per_head(per_group(to_end).transpose(-1, -2) @ Bc)  # 2. (b, H, nC, P, N)
        carried = decay_scan(  # 3. heads folded into the batch: one scalar decay per chunk
            a.sum(-1).reshape(b * H, nC), own.reshape(b * H, nC, P * N), chunk
        ).view(b, H, nC, P, N)
        incoming = F.pad(carried[:, :, :-1], (0, 0, 0, 0, 1, 0))  # (b, H, nC, P, N)
        from_past = Cc @ per_group(incoming).transpose(-1, -2)  # 4. (b, G, H/G, nC, Q, P)
        y = y + torch.exp(a.cumsum(-1))[..., None] * per_head(from_past)
    return y.permute(0, 2, 3, 1, 4).flatten(1, 2)[:, :T]  # (b, T, H, P)


def ssd_scan_sequential(x, dt, A, B, C) -> torch.Tensor:
    """Reference recurrence, one step at a time (slow; for tests). Same shapes as ssd_scan."""
    b, T, H, P = x.shape
    G, N = B.shape[-2:]
    head_group = torch.arange(H, device=x.device) // (H // G)
    h = x.new_zeros(b, H, P, N)
    ys = []
    for t in range(T):
        Bt, Ct = B[:, t, head_group], C[:, t, head_group]  # (b, H, N)
        decay = torch.exp(dt[:, t] * A)[..., None, None]  # (b, H, 1, 1)
        h = decay * h + (dt[:, t, :, None] * x[:, t])[..., None] * Bt[:, :, None, :]  # (b, H, P, N)
        ys.append((h * Ct[:, :, None, :]).sum(-1))  # (b, H, P)
    return torch.stack(ys, dim=1)  # (b, T, H, P)


class _CausalDepthwiseConv(torch.autograd.Function):
    """``y_t = bias + Σ_j w[:, K-1-j] · x_{t-j}`` (j = 0..K-1, x_{<0} = 0) on x (b, T, C), w (C, K).

    The K shifted products are written in place, and the backward is the same sum with the
    shifts reversed plus K reductions for the weight: ~3x faster on CPU than autograd through the
    shifted products. (``nn.Conv1d``'s CPU backward for the depthwise weight, on the transposed
    slice of in_proj's output, took 60% of a whole training step.)"""

    @staticmethod
    def forward(ctx, x, w, bias):
        K, T = w.size(1), x.size(1)
        y = torch.addcmul(bias, x, w[:, K - 1])  # j = 0: the current step
        for j in range(1, min(K, T)):  # K is the kernel width (4), not time
            y[:, j:].addcmul_(x[:, : T - j], w[:, K - 1 - j])
        ctx.save_for_backward(x, w)
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_y):
        x, w = ctx.saved_tensors
        K, T = w.size(1), x.size(1)
        grad_x = grad_y * w[:, K - 1]
        grad_w = torch.zeros_like(w)
        grad_w[:, K - 1] = (grad_y * x).sum((0, 1))
        for j in range(1, min(K, T)):
            grad_x[:, : T - j].addcmul_(grad_y[:, j:], w[:, K - 1 - j])
            grad_w[:, K - 1 - j] = (grad_y[:, j:] * x[:, : T - j]).sum((0, 1))
        return grad_x, grad_w, grad_y.sum((0, 1))


def causal_depthwise_conv(x: torch.Tensor, conv: nn.Conv1d) -> torch.Tensor:
    """``conv`` (a depthwise ``nn.Conv1d(C, C, K, groups=C)``, with bias) applied causally to
    x (b, T, C): output t sees inputs t-K+1..t, as in Mamba. Computed in x's dtype."""
    w, bias = conv.weight[:, 0].to(x.dtype), conv.bias.to(x.dtype)
    return _CausalDepthwiseConv.apply(x.contiguous(), w, bias)


# -- blocks ---------------------------------------------------------------------------------------
class RMSNorm(nn.Module):
    """x / rms(x) * weight (Zhang & Sennrich 2019); Mamba's default norm."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):  # (..., dim)
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).to(x.dtype) * self.weight


class Mamba2Mixer(nn.Module):
    def __init__(self, config: SSMConfig):
        super().__init__()
        d, N, G = config.n_embd, config.d_state, config.n_groups
        d_inner = config.expand * d
        self.d_inner, self.d_state, self.n_groups = d_inner, N, G
        self.headdim, self.n_heads, self.chunk = config.headdim, d_inner // config.headdim, config.chunk
        conv_dim = d_inner + 2 * G * N  # x, B and C go through the convolution (Mamba-2)
        self.in_proj = nn.Linear(d, d_inner + conv_dim + self.n_heads, bias=config.bias)  # z, xBC, Δ
        # parameters only (weight (conv_dim, 1, d_conv), bias): applied by causal_depthwise_conv
        self.conv1d = nn.Conv1d(conv_dim, conv_dim, kernel_size=config.d_conv, groups=conv_dim)
        self.dt_bias = nn.Parameter(torch.empty(self.n_heads))
        self.A_log = nn.Parameter(torch.empty(self.n_heads))  # A_h = -exp(A_log_h), one per head
        self.D = nn.Parameter(torch.ones(self.n_heads))
        for p in (self.A_log, self.D, self.dt_bias):
            p._no_weight_decay = True  # Mamba's marker; the trainer may honour it
        self.norm = RMSNorm(d_inner)  # Mamba-2's gated norm: RMSNorm(y * SiLU(z))
        self.out_proj = nn.Linear(d_inner, d, bias=config.bias)
        self.out_proj.is_residual_projection = True  # scaled init, one residual add per block
        self.reset_ssm_parameters(config)

    @torch.no_grad()
    def reset_ssm_parameters(self, config: SSMConfig) -> None:
        """Mamba-2's init: softplus(dt_bias) = Δ0 log-uniform in [dt_min, dt_max] (floored at
        1e-4), -A uniform in A_init_range."""
        H = self.n_heads
        u = torch.rand(H, device=self.dt_bias.device)
        dt0 = torch.exp(u * (math.log(config.dt_max) - math.log(config.dt_min)) + math.log(config.dt_min))
        dt0 = dt0.clamp(min=1e-4)
        self.dt_bias.copy_(dt0 + torch.log(-torch.expm1(-dt0)))  # inverse softplus
        lo, hi = config.A_init_range
        self.A_log.copy_(torch.log(torch.empty(H, device=self.A_log.device).uniform_(lo, hi)))

    def _split_conv_input(self, u):
        """in_proj of the block input ``u`` (b, T, d): z (b, T, d_inner), the convolution's
        input xBC (b, T, d_inner + 2 G N) and the raw step Δ (b, T, H)."""
        GN = self.n_groups * self.d_state
        return self.in_proj(u).split([self.d_inner, self.d_inner + 2 * GN, self.n_heads], dim=-1)

    def _ssm_inputs(self, xBC, dt):
        """The convolved, activated xBC and raw Δ -> x (b, T, H, P), Δ (b, T, H) and A (H,)
        (both float32), B and C (b, T, G, N)."""
        GN = self.n_groups * self.d_state
        x, B, C = xBC.split([self.d_inner, GN, GN], dim=-1)
        x = x.unflatten(-1, (self.n_heads, self.headdim))  # (b, T, H, P)
        B = B.unflatten(-1, (self.n_groups, self.d_state))  # (b, T, G, N)
        C = C.unflatten(-1, (self.n_groups, self.d_state))
        with torch.autocast(device_type=xBC.device.type, enabled=False):  # scan in float32
            dt = F.softplus(dt.float() + self.dt_bias.float())  # (b, T, H), > 0
            A = -torch.exp(self.A_log.float())  # (H,), < 0
        return x, dt, A, B, C

    def _output(self, y, x, z):
        """SSM output y (b, T, H, P) -> block output (b, T, d): skip D x, gate, norm, out_proj."""
        y = y.to(x.dtype) + x * self.D.to(x.dtype)[:, None]
        y = self.norm(y.flatten(2) * F.silu(z))  # (b, T, d_inner)
        return self.out_proj(y)  # (b, T, d)

    def forward(self, u):  # (b, T, d) -> (b, T, d)
        z, xBC, dt = self._split_conv_input(u)
        xBC = F.silu(causal_depthwise_conv(xBC, self.conv1d))  # (b, T, d_inner + 2 G N)
        x, dt, A, B, C = self._ssm_inputs(xBC, dt)
        with torch.autocast(device_type=u.device.type, enabled=False):
            y = ssd_scan(x, dt, A, B, C, self.chunk)  # (b, T, H, P)
        return self._output(y, x, z)

    # -- incremental decoding: the convolution's last inputs and the SSM state h ---------------
    def _head_groups(self, t):  # (b, ..., G, N) -> (b, ..., H, N): the group each head reads
        return t.repeat_interleave(self.n_heads // self.n_groups, dim=-2)

    def prefill(self, u):
        """:meth:`forward` on ``u`` (b, T, d), plus the cache: the last d_conv - 1 inputs of the
        convolution (zeros before the start) and the state ``h_{T-1}`` (b, H, P, N)."""
        z, xBC, dt = self._split_conv_input(u)
        K = self.conv1d.kernel_size[0]
        conv_state = F.pad(xBC, (0, 0, K - 1, 0))[:, xBC.size(1) :]  # (b, K-1, conv_dim)
        x, dt, A, B, C = self._ssm_inputs(F.silu(causal_depthwise_conv(xBC, self.conv1d)), dt)
        with torch.autocast(device_type=u.device.type, enabled=False):
            y = ssd_scan(x, dt, A, B, C, self.chunk)  # (b, T, H, P)
            work = y.dtype
            a = dt.to(work) * A.to(work)  # (b, T, H) log-decays
            # h_{T-1} = Σ_s exp(Σ_{r=s+1..T-1} a_r) Δ_s x_s B_sᵀ; suffix sums, no differences
            after = F.pad(a.flip(1).cumsum(1).flip(1)[:, 1:], (0, 0, 0, 1))  # (b, T, H)
            weight = torch.exp(after) * dt.to(work)
            h = torch.einsum("bth,bthp,bthn->bhpn", weight, x.to(work), self._head_groups(B).to(work))
        return self._output(y, x, z), (conv_state, h)

    def step(self, u, cache):
        """The mixer at one new position, ``u`` (b, 1, d), from the cache of :meth:`prefill`."""
        conv_state, h = cache
        z, xBC, dt = self._split_conv_input(u)
        window = torch.cat([conv_state, xBC], dim=1)  # (b, K, conv_dim): inputs t-K+1..t
        w = self.conv1d.weight[:, 0].to(xBC.dtype)  # (conv_dim, K); w[:, K-1] weighs step t
        conv = (window * w.t()).sum(1, keepdim=True) + self.conv1d.bias.to(xBC.dtype)  # (b, 1, conv_dim)
        x, dt, A, B, C = self._ssm_inputs(F.silu(conv), dt)
        with torch.autocast(device_type=u.device.type, enabled=False):
            work = h.dtype
            dt0 = dt[:, 0].to(work)  # (b, H)
            B0, C0 = self._head_groups(B)[:, 0].to(work), self._head_groups(C)[:, 0].to(work)  # (b, H, N)
            # h_t = exp(Δ_t A) h_{t-1} + Δ_t x_t B_tᵀ, y_t = h_t C_t
            h = torch.exp(dt0 * A.to(work))[..., None, None] * h
            h = h + (dt0[..., None] * x[:, 0].to(work))[..., None] * B0[:, :, None, :]  # (b, H, P, N)
            y = (h @ C0[..., None]).squeeze(-1)[:, None]  # (b, 1, H, P)
        return self._output(y, x, z), (window[:, 1:], h)


class MambaBlock(nn.Module):
    def __init__(self, config: SSMConfig):
        super().__init__()
        self.norm = RMSNorm(config.n_embd)
        self.mixer = Mamba2Mixer(config)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):  # (b, T, C)
        return x + self.dropout(self.mixer(self.norm(x)))

    def prefill(self, x):
        y, cache = self.mixer.prefill(self.norm(x))
        return x + self.dropout(y), cache

    def step(self, x, cache):
        y, cache = self.mixer.step(self.norm(x), cache)
        return x + self.dropout(y), cache


class SSM(LanguageModel):
    """Mamba-2-style selective SSM LM. No attention, hence no attention maps (the base raises)."""

    config_class = SSMConfig

    def __init__(self, config: SSMConfig):
        super().__init__(config)
        self.wte = nn.Embedding(config.padded_vocab_size, config.n_embd)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList([MambaBlock(config) for _ in range(config.n_layer)])
        self.norm_f = RMSNorm(config.n_embd)
        self.lm_head = nn.Linear(config.n_embd, config.padded_vocab_size, bias=False)
        self.wte.weight = self.lm_head.weight  # weight tying
        self.apply(self._init_weights)

    def _init_weights(self, module: nn.Module) -> None:
        """GPT-2 style (std 0.02, residual outputs 0.02/sqrt(n_layer)); the SSM's own parameters
        (A_log, D, dt_bias) keep the init of :meth:`Mamba2Mixer.reset_ssm_parameters`."""
        if isinstance(module, nn.Linear):
            std = 0.02
            if getattr(module, "is_residual_projection", False):
                std = 0.02 / math.sqrt(self.config.n_layer)
            nn.init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        x = self.drop(self.wte(idx))  # (b, T, C)
        for block in self.blocks:
            x = block(x)  # (b, T, C)
        logits = self.lm_head(self.norm_f(x))  # (b, T, padded_vocab)
        return self.logits_and_loss(logits, targets)

    # -- incremental decoding: the cache protocol of mosaic.interface ---------------------------
    @torch.no_grad()
    def prefill(self, idx: torch.Tensor):
        """Logits (B, V) after ``idx`` (B, T); the cache is, per block, the convolution's last
        inputs and the SSM state: O(1) memory and work per new token."""
        x = self.drop(self.wte(idx))  # (b, T, C)
        cache = []
        for block in self.blocks:
            x, layer = block.prefill(x)
            cache.append(layer)
        return self.logits_and_loss(self.lm_head(self.norm_f(x[:, -1])), None)[0], cache

    @torch.no_grad()
    def decode_step(self, idx_next: torch.Tensor, cache: list):
        x = self.drop(self.wte(idx_next))  # (b, 1, C)
        new_cache = []
        for block, layer in zip(self.blocks, cache):
            x, layer = block.step(x, layer)
            new_cache.append(layer)
        return self.logits_and_loss(self.lm_head(self.norm_f(x[:, -1])), None)[0], new_cache
