"""The three-moons predictor (section 3, Fig. 3): one layer of contextual memory units.

Unit h: key ``k_t = W_φ x_t``, value ``v_t = W_ψ x_{t+1}``, output (eq. 8)
``y_t = Σ_{s<t} softmax_s(β k_t·k_s) v_s`` with a fixed β = 50 and no leaky average,
normalisation or learned scale; the units' outputs are combined by ``W_z``. ``y_t`` predicts
``x_{t+1}``. W_φ, W_ψ, W_z are 3×3 *complex* matrices acting on the three moons' complex numbers
z_j = s_j + i·c_j (:class:`ComplexLinear`). With 3 units of dimension 2, unit h reads complex
channel h; with 1 unit of dimension 6, the unit sees all three moons at once.

Retrieval is the model's eq. 8, :func:`mosaic.model.memories.kernel_smoothing`; this module adds the
pointwise keys and look-ahead values of section 3, the complex layer, the clipped loss and
incremental decoding (:meth:`ThreeMoonsModel.forecast`).

**Decoding convention.** The value of position t needs ``x_{t+1}``. When the next input arrives
(a true observation or a generated prediction fed back), we fill in ``v_t = W_ψ x_{t+1}`` in the
cache before computing the next output, so cached decoding equals recomputing the model on the
growing sequence. (The official MLX code, facebookresearch/MemoryMosaics ``ThreeMoons/model.py``
``ContextMemory`` and its cached ``generate``, leaves the value of the last context position and
of every generated step at zero, since ``x_{t+1}`` never reaches the cache; those zeros still take
part in the softmax, which inflates the forecast error.)
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from mosaic.model.features import merge_heads, split_heads
from mosaic.model.memories import kernel_smoothing

N_MOONS = 3
OBS_DIM = 2 * N_MOONS  # [s1, c1, s2, c2, s3, c3]


class ComplexLinear(nn.Module):
    """A complex matrix W (out × in) acting on interleaved reals ``[re_1, im_1, re_2, im_2, ...]``.

    As a real layer it is ``2·out × 2·in`` made of 2×2 blocks ``[[a, -b], [b, a]]`` for
    ``W_jk = a_jk + i·b_jk``, i.e. the paper's ``[[a, c], [-c, a]]`` blocks with c = -b. Storing
    (a, b) keeps the structure exact without the official per-call projection. Init: a, b
    uniform in ±1/√(2·in) (the official ±1/√6 for the 6-dim observations). Optional complex bias.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = False):
        super().__init__()
        if in_features % 2 or out_features % 2:
            raise ValueError(f"ComplexLinear needs even sizes (interleaved re/im), got {in_features}->{out_features}")
        self.in_complex, self.out_complex = in_features // 2, out_features // 2
        bound = 1.0 / math.sqrt(in_features)
        self.real = nn.Parameter(torch.empty(self.out_complex, self.in_complex).uniform_(-bound, bound))
        self.imag = nn.Parameter(torch.empty(self.out_complex, self.in_complex).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None

    def complex_weight(self) -> torch.Tensor:
        """W as a complex (out, in) tensor."""
        return torch.complex(self.real, self.imag)

    def real_weight(self) -> torch.Tensor:
        """The equivalent (2·out, 2·in) real matrix with [[a, -b], [b, a]] blocks."""
        a, b = self.real, self.imag
        blocks = torch.stack([torch.stack([a, -b], dim=-1), torch.stack([b, a], dim=-1)], dim=-2)
        # blocks[j, k] is the 2×2 block (out j, in k): index (j, r, k, c) -> (2j + r, 2k + c)
        return blocks.permute(0, 2, 1, 3).reshape(2 * self.out_complex, 2 * self.in_complex)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.real_weight(), self.bias)

    def extra_repr(self) -> str:
        return f"in_complex={self.in_complex}, out_complex={self.out_complex}, bias={self.bias is not None}"


class MoonKeys(nn.Module):
    """``k_t = W_φ x_t`` per unit, (B, H, T, d): no leaky average, no normalisation (section 3)."""

    def __init__(self, n_head: int):
        super().__init__()
        self.n_head = n_head
        self.W_phi = ComplexLinear(OBS_DIM, OBS_DIM)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return split_heads(self.W_phi(x), self.n_head)


class MoonValues(nn.Module):
    """``v_t = W_ψ x_{t+1}`` per unit, (B, H, T, d); the last value is 0 unless ``x_next`` (B, 1, 6),
    the input after the last position, is given (incremental decoding)."""

    def __init__(self, n_head: int):
        super().__init__()
        self.n_head = n_head
        self.W_psi = ComplexLinear(OBS_DIM, OBS_DIM)

    def forward(self, x: torch.Tensor, x_next: torch.Tensor | None = None) -> torch.Tensor:
        following = torch.cat([x[:, 1:], torch.zeros_like(x[:, :1]) if x_next is None else x_next], dim=1)
        return split_heads(self.W_psi(following), self.n_head)


class MoonMemory(nn.Module):
    """``n_head`` contextual memory units with a fixed inverse temperature β and ``W_z``."""

    def __init__(self, n_head: int, attn_scale: float):
        super().__init__()
        self.n_head, self.attn_scale = n_head, attn_scale
        self.key, self.value = MoonKeys(n_head), MoonValues(n_head)
        self.W_z = ComplexLinear(OBS_DIM, OBS_DIM)

    def keys(self, x: torch.Tensor) -> torch.Tensor:
        return self.key(x)

    def values(self, x: torch.Tensor, x_next: torch.Tensor | None = None) -> torch.Tensor:
        return self.value(x, x_next)

    def combine(self, y: torch.Tensor) -> torch.Tensor:
        """``W_z`` of the units' outputs (B, H, T, d): (B, T, 6)."""
        return self.W_z(merge_heads(y))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.W_z(kernel_smoothing(self.keys(x), self.values(x), self.attn_scale))  # eq. 8, eq. 3


class ThreeMoonsModel(nn.Module):
    """One contextual-memory layer over the 6-dim observations; ``forward(x)[:, t]`` predicts x_{t+1}."""

    def __init__(self, n_head: int = 3, attn_scale: float = 50.0):
        super().__init__()
        if n_head not in (1, 3):
            raise ValueError(f"n_head must be 1 or 3 for three moons (3 complex channels), got {n_head}")
        self.n_head = n_head
        self.memory = MoonMemory(n_head, attn_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, 6) -> predictions (B, T, 6) of x_1..x_T (position 0 predicts 0: empty memory)."""
        return self.memory(x)

    def complex_weights(self) -> dict[str, torch.Tensor]:
        """The learned 3×3 complex matrices W_φ, W_ψ, W_z (Fig. 6)."""
        m = self.memory
        return {"W_phi": m.key.W_phi.complex_weight().detach(),
                "W_psi": m.value.W_psi.complex_weight().detach(),
                "W_z": m.W_z.complex_weight().detach()}

    def set_identity(self) -> ThreeMoonsModel:
        """W_φ = W_ψ = W_z = identity: the analytic solution (each unit copies what followed the
        most similar past state). Used by tests."""
        with torch.no_grad():
            for layer in (self.memory.key.W_phi, self.memory.value.W_psi, self.memory.W_z):
                layer.real.copy_(torch.eye(N_MOONS))
                layer.imag.zero_()
        return self

    # -- incremental decoding ------------------------------------------------------------------

    @torch.no_grad()
    def precompute(self, window: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values of true observations (B, N, 6), each (B, H, N, d).

        Both are causal in the sense decoding needs: the keys of a prefix of length L are the
        first L keys, and values[:, :, s] = W_ψ x_{s+1} is exact for s ≤ N-2.
        """
        return self.memory.keys(window), self.memory.values(window)

    @torch.no_grad()
    def rollout(self, keys: torch.Tensor, values: torch.Tensor, last_input: torch.Tensor,
                horizon: int) -> torch.Tensor:
        """Predict ``horizon`` steps after a context of L observations, feeding predictions back.

        ``keys`` (B, H, L, d): keys of x_0..x_{L-1}; ``values`` (B, H, L-1, d): v_s = W_ψ x_{s+1}
        for s ≤ L-2; ``last_input`` (B, 1, 6) = x_{L-1}. Returns (B, horizon, 6), row j the
        prediction of x_{L+j}. Each step is one query over the cache (eq. 8), then the cache gains
        the new key and the now-known look-ahead value of the previous position.
        """
        mem = self.memory
        B, H, L, d = keys.shape
        if L < 1 or values.shape[2] != L - 1:
            raise ValueError(f"need L >= 1 keys and L-1 values, got {L} keys and {values.shape[2]} values")
        K = keys.new_empty(B, H, L + horizon, d)
        V = values.new_empty(B, H, L + horizon, d)
        K[:, :, :L] = keys
        V[:, :, : L - 1] = values
        x_prev, n, preds = last_input, L, []  # n = number of positions in the cache
        for _ in range(horizon):
            query = K[:, :, n - 1 : n]  # the newest position reads all strictly earlier ones
            if n == 1:
                y = torch.zeros_like(query)  # empty memory
            else:
                # eq. 8 for one query, written as kernel_smoothing computes it
                weights = torch.softmax(mem.attn_scale * query @ K[:, :, : n - 1].transpose(-2, -1), dim=-1)
                y = weights @ V[:, :, : n - 1]
            x_new = mem.combine(y)  # (B, 1, 6): prediction of the next observation
            preds.append(x_new)
            V[:, :, n - 1 : n] = mem.values(x_prev, x_next=x_new)  # fill v_{n-1} = W_ψ x_n
            K[:, :, n : n + 1] = mem.keys(x_new)
            x_prev, n = x_new, n + 1
        return torch.cat(preds, dim=1)

    @torch.no_grad()
    def forecast(self, context: torch.Tensor, horizon: int) -> torch.Tensor:
        """Predictions (B, horizon, 6) of the ``horizon`` observations after ``context`` (B, L, 6)."""
        keys, values = self.precompute(context)
        return self.rollout(keys, values[:, :, :-1], context[:, -1:], horizon)

    @torch.no_grad()
    def forecast_full_recompute(self, context: torch.Tensor, horizon: int) -> torch.Tensor:
        """Reference for :meth:`forecast`: rerun the whole model on the growing sequence each step."""
        seq = context
        for _ in range(horizon):
            seq = torch.cat([seq, self(seq)[:, -1:]], dim=1)
        return seq[:, context.shape[1]:]


def clipped_squared_error(pred: torch.Tensor, target: torch.Tensor, clip: float = 0.5) -> torch.Tensor:
    """Mean over (B, T, 6) of clip(pred - target, ±clip)² (the official three-moons loss)."""
    return (pred - target).clamp(-clip, clip).square().mean()
