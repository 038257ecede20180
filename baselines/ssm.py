"""Selective state-space language model (Mamba; Gu & Dao 2023), in pure PyTorch.

Model: token embedding -> n_layer residual blocks ``x + mixer(RMSNorm(x))`` -> RMSNorm -> output
layer tied to the embedding (no MLP, as in Mamba). The mixer (Gu & Dao, Algorithm 2):

    (x, z) = in_proj(u)                         two streams of width d_inner = expand * n_embd
    x = SiLU(causal depthwise conv1d(x))        kernel d_conv
    Δ = softplus(dt_proj(W_Δ x))                input-dependent step, low rank dt_rank
    B, C = W_B x, W_C x                         input-dependent, d_state wide
    h_t = exp(Δ_t A) h_{t-1} + Δ_t B_t x_t      A = -exp(A_log), diagonal (d_inner, d_state)
    y_t = C_t h_t + D x_t
    out = out_proj(y * SiLU(z))

The official model runs the recurrence in a fused CUDA kernel. Here :func:`selective_scan` computes
it exactly with tensor ops and a parallel (recursive doubling) scan over time, and
:func:`selective_scan_sequential` is the plain step-by-step recurrence the tests compare it with.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from mosaic.interface import LanguageModel, LMConfig
from mosaic.registry import register_model


@dataclass
class SSMConfig(LMConfig):
    d_state: int = 16  # N, state size per channel
    d_conv: int = 4  # depthwise causal convolution width
    expand: int = 2  # d_inner = expand * n_embd
    dt_rank: int | str = "auto"  # rank of the Δ projection; "auto" = ceil(n_embd / 16)
    dt_min: float = 0.001  # Δ is initialised log-uniformly in [dt_min, dt_max]
    dt_max: float = 0.1
    bias: bool = False  # biases of in_proj/out_proj (Mamba: False); the conv always has one

    def validate(self) -> None:
        super().validate()
        for key in ("d_state", "d_conv", "expand"):
            if getattr(self, key) < 1:
                raise ValueError(f"SSMConfig.{key} must be >= 1, got {getattr(self, key)}")
        if not (self.dt_rank == "auto" or (isinstance(self.dt_rank, int) and self.dt_rank >= 1)):
            raise ValueError(f"SSMConfig.dt_rank must be 'auto' or an int >= 1, got {self.dt_rank!r}")
        if not 0.0 < self.dt_min <= self.dt_max:
            raise ValueError(
                f"SSMConfig needs 0 < dt_min <= dt_max, got dt_min={self.dt_min}, dt_max={self.dt_max}"
            )

    @property
    def resolved_dt_rank(self) -> int:
        return math.ceil(self.n_embd / 16) if self.dt_rank == "auto" else int(self.dt_rank)


# -- the selective scan ---------------------------------------------------------------------------
def linear_recurrence(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """All states of h_t = a_t * h_{t-1} + b_t (h_{-1} = 0) along dim 1, by recursive doubling.

    Step (a_t, b_t) composes associatively: applying step 2t then 2t+1 is the single step
    (a_{2t+1} a_{2t}, a_{2t+1} b_{2t} + b_{2t+1}). So the states at odd positions solve a
    recurrence of half the length (recursive call), and each even position is one step after
    the odd position before it. log2(T) levels of elementwise tensor ops, O(T) work in all; no
    loop over time. Only products of decays a_t in [0, 1] appear: nothing can overflow (a product
    may underflow to 0, which is its value to float precision). An odd length is padded with the
    identity step (a=1, b=0) and cropped.
    """
    T = a.size(1)
    if T == 1:
        return b
    if T % 2:
        pad = (0, 0) * (a.dim() - 2) + (0, 1)  # one step at the end of dim 1
        a, b = F.pad(a, pad, value=1.0), F.pad(b, pad, value=0.0)
    a_even, a_odd = a[:, 0::2], a[:, 1::2]  # (Bsz, T/2, ...)
    b_even, b_odd = b[:, 0::2], b[:, 1::2]
    h_odd = linear_recurrence(a_odd * a_even, a_odd * b_even + b_odd)  # states 1, 3, 5, ...
    h_before = F.pad(h_odd[:, :-1], (0, 0) * (a.dim() - 2) + (1, 0))  # states -1, 1, 3, ...
    h_even = a_even * h_before + b_even  # states 0, 2, 4, ...
    h = torch.stack([h_even, h_odd], dim=2).flatten(1, 2)  # interleave: (Bsz, T(+1), ...)
    return h[:, :T]


def selective_scan(x, dt, A, B, C):
    """Exact y_t = C_t h_t with h_t = exp(Δ_t A) h_{t-1} + Δ_t B_t x_t, h_0 = 0 (Gu & Dao
    2023, eq. 2a-2b with zero-order-hold A and Euler B), computed in parallel over time.

    Shapes: x, dt (Bsz, T, D); A (D, N), negative; B, C (Bsz, T, N). Returns y (Bsz, T, D) in
    float32 (float64 if given float64). Materialises the states (Bsz, T, D, N) a few times over,
    as any unfused implementation must; the official CUDA kernel keeps them in SRAM.

    Why not the chunked (Q x Q) form of Mamba-2: with Mamba-1's per-(channel, state) decays it
    needs Bsz*T*D*N*Q exponentials; measured on CPU (Bsz 8, T 256, D 256, N 16, forward+backward)
    it was 4-10x slower than this for Q = 8-16, and slower than the sequential loop, while this
    costs a few elementwise passes over the states (about 5x faster than the loop).
    """
    work = torch.promote_types(x.dtype, torch.float32)  # at least float32 (float64 stays)
    x, dt, A, B, C = (t.to(work) for t in (x, dt, A, B, C))
    decay = torch.exp(dt[..., None] * A)  # (Bsz, T, D, N), in (0, 1]
    drive = (dt * x)[..., None] * B[:, :, None, :]  # (Bsz, T, D, N): Δ_t B_t x_t
    h = linear_recurrence(decay, drive)  # (Bsz, T, D, N)
    return torch.einsum("btdn,btn->btd", h, C)  # (Bsz, T, D)


def selective_scan_sequential(x, dt, A, B, C):
    """Reference recurrence, one step at a time (slow; for tests). Same shapes as selective_scan."""
    Bsz, T, D = x.shape
    h = x.new_zeros(Bsz, D, A.size(1))  # (Bsz, D, N)
    ys = []
    for t in range(T):
        decay = torch.exp(dt[:, t, :, None] * A)  # (Bsz, D, N)
        h = decay * h + dt[:, t, :, None] * B[:, t, None, :] * x[:, t, :, None]  # (Bsz, D, N)
        ys.append((h * C[:, t, None, :]).sum(-1))  # (Bsz, D)
    return torch.stack(ys, dim=1)  # (Bsz, T, D)


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


class MambaMixer(nn.Module):
    def __init__(self, config: SSMConfig):
        super().__init__()
        d, N = config.n_embd, config.d_state
        d_inner = config.expand * d
        r = config.resolved_dt_rank
        self.d_inner, self.d_state, self.dt_rank = d_inner, N, r
        self.in_proj = nn.Linear(d, 2 * d_inner, bias=config.bias)
        self.conv1d = nn.Conv1d(
            d_inner, d_inner, kernel_size=config.d_conv, groups=d_inner, padding=config.d_conv - 1
        )
        self.x_proj = nn.Linear(d_inner, r + 2 * N, bias=False)  # -> (Δ low rank, B, C)
        self.dt_proj = nn.Linear(r, d_inner, bias=True)
        # S4D-real: A_n = -(n + 1) for every channel, stored as log for positivity.
        A = torch.arange(1, N + 1, dtype=torch.float32).repeat(d_inner, 1)  # (d_inner, N)
        self.A_log = nn.Parameter(torch.log(A))
        self.D = nn.Parameter(torch.ones(d_inner))
        self.A_log._no_weight_decay = True  # Mamba's marker; the trainer may honour it
        self.D._no_weight_decay = True
        self.out_proj = nn.Linear(d_inner, d, bias=config.bias)
        self.out_proj.is_residual_projection = True  # scaled init, one residual add per block
        self.reset_dt_parameters(config)
        self.dt_proj.keep_init = True  # the model-wide GPT-2 init skips it

    @torch.no_grad()
    def reset_dt_parameters(self, config: SSMConfig) -> None:
        """Mamba's Δ init: dt_proj weight U(+-r^-1/2); bias = softplus^-1(Δ0) with Δ0 log-uniform
        in [dt_min, dt_max] (floored at 1e-4), so softplus(bias) starts at Δ0."""
        nn.init.uniform_(self.dt_proj.weight, -self.dt_rank**-0.5, self.dt_rank**-0.5)
        u = torch.rand(self.d_inner, device=self.dt_proj.bias.device)
        dt0 = torch.exp(u * (math.log(config.dt_max) - math.log(config.dt_min)) + math.log(config.dt_min))
        dt0 = dt0.clamp(min=1e-4)
        self.dt_proj.bias.copy_(dt0 + torch.log(-torch.expm1(-dt0)))  # inverse softplus

    def forward(self, u):  # (B, T, d) -> (B, T, d)
        T = u.size(1)
        x, z = self.in_proj(u).chunk(2, dim=-1)  # (B, T, d_inner) each
        x = self.conv1d(x.transpose(1, 2))[..., :T].transpose(1, 2)  # causal: (B, T, d_inner)
        x = F.silu(x)
        dt, B, C = self.x_proj(x).split([self.dt_rank, self.d_state, self.d_state], dim=-1)
        dt = F.softplus(self.dt_proj(dt))  # (B, T, d_inner), > 0
        A = -torch.exp(self.A_log.float())  # (d_inner, N), < 0
        with torch.autocast(device_type=u.device.type, enabled=False):  # scan in float32
            y = selective_scan(x, dt, A, B, C)  # (B, T, d_inner)
        y = y.to(x.dtype) + x * self.D.to(x.dtype)
        return self.out_proj(y * F.silu(z))  # (B, T, d)


class MambaBlock(nn.Module):
    def __init__(self, config: SSMConfig):
        super().__init__()
        self.norm = RMSNorm(config.n_embd)
        self.mixer = MambaMixer(config)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):  # (B, T, C)
        return x + self.dropout(self.mixer(self.norm(x)))


@register_model("ssm")
class SSM(LanguageModel):
    """Mamba-style selective SSM LM. No attention, hence no attention maps (the base raises)."""

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
        """GPT-2 style (std 0.02, residual outputs 0.02/sqrt(n_layer)); dt_proj keeps its own."""
        if isinstance(module, nn.Linear) and not getattr(module, "keep_init", False):
            std = 0.02
            if getattr(module, "is_residual_projection", False):
                std = 0.02 / math.sqrt(self.config.n_layer)
            nn.init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        x = self.drop(self.wte(idx))  # (B, T, C)
        for block in self.blocks:
            x = block(x)  # (B, T, C)
        logits = self.lm_head(self.norm_f(x))  # (B, T, padded_vocab)
        return self.logits_and_loss(logits, targets)
