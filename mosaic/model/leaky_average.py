"""The leaky average of the key feature extractor (paper eq. 7): ``k̄_T = x_T + λ k̄_{T-1}``.

Computed for every T at once, with no Python loop over time, by a *chunked scan*:

1. Split time into chunks of length Q. Inside a chunk the recurrence is a product with the
   lower-triangular Q×Q decay matrix ``D[i, j] = λ^(i-j)`` (j ≤ i): ``intra = D @ x_chunk``.
2. The state carried out of chunk c, ``S_c = intra_c[-1] + λ^Q S_{c-1}``, is itself a leaky
   average over the T/Q chunk ends with factor ``λ^Q``: solved by the same function, recursively.
3. Position i of chunk c adds ``λ^(i+1) S_{c-1}``.

The result is exact (it is the recurrence re-associated; ``tests/test_mosaic.py`` checks it
against the loop to 1e-10 in float64). Work is O(T·Q·D) and memory O(T·D + Q²) per sequence:
linear in T, unlike the official code's dense T×T decay matrix (O(T²·D)). The recursion depth
is ``log_Q(T)``: 3 levels at T = 4096 for the default Q = 16, the fastest of 8…128
at the default benchmark size, tied with Q = 8 (forward + backward at T = 512: 6.0 ms against
9.8 ms at Q = 64).

The backward pass is written by hand (:class:`_GroupedScan`): the gradient of a leaky average
is the same scan run backwards in time, so the backward costs about one forward.

Why not a cumulative sum of ``λ^{-s} x_s``: ``λ^{-T}`` overflows for small λ and long T.
Why not an FFT convolution: exact only up to float round-off that grows with T and λ → 1.
"""
from __future__ import annotations

import math

import torch
from torch.autograd.function import once_differentiable

DEFAULT_CHUNK = 16  # Q (measured fastest, see the module docstring)


def _decay_matrix(lam: torch.Tensor, n: int) -> torch.Tensor:
    """``lam`` (G, 1, 1) -> lower-triangular ``λ^(i-j)`` of shape (G, n, n)."""
    i = torch.arange(n, device=lam.device)
    diff = (i[:, None] - i[None, :]).to(lam.dtype)  # (n, n)
    causal = diff >= 0
    # clamp keeps the masked (j > i) exponents finite so gradients stay finite; they are zeroed below
    return (lam ** diff.clamp(min=0)).masked_fill(~causal, 0.0)


def leaky_average(x: torch.Tensor, lam: torch.Tensor | float, chunk: int = DEFAULT_CHUNK) -> torch.Tensor:
    """``out_T = x_T + λ · out_{T-1}`` along dim -2 (``out_{-1} = 0``).

    Args:
        x: ``(..., T, D)``, e.g. ``(B, H, T, d)`` keys of H units.
        lam: λ, broadcastable to ``x.shape[:-2]`` (e.g. ``(H,)`` against
            ``(B, H, T, d)``: one factor per unit, shared by its channels), or a float.
            Values in [0, 1] (the model uses ``λ_φ = exp(-β) ∈ (0, 1)``).
        chunk: the chunk length Q (a speed knob; the result does not depend on it).
    """
    if chunk < 2:  # each recursion level must shrink T by the chunk factor
        raise ValueError(f"chunk must be >= 2, got {chunk}")
    lead, T = x.shape[:-2], x.shape[-2]
    lam = torch.as_tensor(lam, dtype=x.dtype, device=x.device)
    if lam.dim() > len(lead):
        raise ValueError(f"lam of shape {tuple(lam.shape)} does not broadcast to {tuple(lead)}")
    lam = lam.reshape((1,) * (len(lead) - lam.dim()) + tuple(lam.shape))
    # Group the sequences by their λ: dims along which λ is shared join the channel dim, so that
    # one (G, Q, Q) decay matrix multiplies a (G, Q, N) block with no broadcast copies.
    own = [i for i in range(len(lead)) if lam.shape[i] != 1]
    shared = [i for i in range(len(lead)) if lam.shape[i] == 1]
    n = len(lead)
    xg = x.permute(*own, n, *shared, n + 1)  # (own..., T, shared..., D)
    G = math.prod(lead[i] for i in own)
    out = _GroupedScan.apply(xg.reshape(G, T, -1), lam.reshape(-1) if own else lam.reshape(1), chunk)
    out = out.reshape(xg.shape)
    inverse = [0] * (n + 2)
    for pos, dim in enumerate([*own, n, *shared, n + 1]):
        inverse[dim] = pos
    return out.permute(*inverse)


class _GroupedScan(torch.autograd.Function):
    """The scan of ``x`` (G, T, N) with one λ per group, ``lam`` (G,), with its exact backward.

    With ``out_t = x_t + λ out_{t-1}`` and upstream gradient ``g``, the adjoint
    ``a_t = g_t + λ a_{t+1}`` is the same scan run backwards in time, ``∂L/∂x = a`` and
    ``∂L/∂λ = Σ_t a_t · out_{t-1}``. One reverse scan and one dot product replace autograd's
    pass back through every reshape, power and product of the chunked forward (which cost twice
    the forward).
    """

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
        G, T, N = out.shape
        adjoint = _scan(grad_out.contiguous(), lam, ctx.chunk, reverse=True)  # (G, T, N)
        grad_lam = None
        if ctx.needs_input_grad[1]:
            # Σ_t a_t · out_{t-1} per group (a (G, 1, K) @ (G, K, 1) bmm would be 10x slower)
            grad_lam = torch.linalg.vecdot(adjoint[:, 1:].reshape(G, -1), out[:, :-1].reshape(G, -1))
        return adjoint, grad_lam, None


def _scan(x: torch.Tensor, lam: torch.Tensor, chunk: int, reverse: bool = False) -> torch.Tensor:
    """Forward (``out_t = x_t + λ out_{t-1}``) or reverse (``out_t = x_t + λ out_{t+1}``) scan
    of ``x`` (G, T, N) along T, one λ per group (G,). No autograd graph is built here."""
    G, T, N = x.shape
    lam3 = lam.reshape(G, 1, 1)
    if T <= chunk:
        D = _decay_matrix(lam3, T)
        return (D.transpose(-1, -2) if reverse else D) @ x  # (G, T, T) @ (G, T, N)

    n_chunks = -(-T // chunk)
    pad = n_chunks * chunk - T
    if pad:
        # zeros appended at the end never influence earlier positions in either direction
        x = torch.nn.functional.pad(x, (0, 0, 0, pad))
    D = _decay_matrix(lam3, chunk)
    if reverse:
        D = D.transpose(-1, -2)  # upper-triangular λ^(j-i)
    # every chunk of a group shares the group's decay matrix: (G, 1, Q, Q) @ (G, nC, Q, N)
    intra = D.unsqueeze(1) @ x.view(G, n_chunks, chunk, N)  # (G, nC, Q, N)

    # the state carried between chunks is itself a leaky average over chunk ends (starts when
    # reversed) with factor λ^Q; position i then adds that state decayed by its distance to it
    ends = intra[:, :, 0 if reverse else -1].contiguous()  # (G, nC, N)
    carried = _scan(ends, lam**chunk, chunk, reverse)  # (G, nC, N)
    steps = torch.arange(1, chunk + 1, device=x.device, dtype=x.dtype)
    if reverse:
        incoming = torch.nn.functional.pad(carried[:, 1:], (0, 0, 0, 1))  # S_{c+1}, zero at the end
        powers = lam3 ** steps.flip(0)[:, None]  # λ^(Q-i), (G, Q, 1)
    else:
        incoming = torch.nn.functional.pad(carried[:, :-1], (0, 0, 1, 0))  # S_{c-1}, S_{-1} = 0
        powers = lam3 ** steps[:, None]  # λ^(i+1), (G, Q, 1)
    intra.addcmul_(powers.unsqueeze(1), incoming.unsqueeze(2))  # (G, nC, Q, N)
    return intra.view(G, n_chunks * chunk, N)[:, :T]


def leaky_average_reference(x: torch.Tensor, lam: torch.Tensor | float) -> torch.Tensor:
    """The recurrence as a plain loop over time: the definition tests compare against."""
    lam = torch.as_tensor(lam, dtype=x.dtype, device=x.device)
    lam = lam.reshape(lam.shape + (1,))
    out = torch.empty_like(x)
    state = torch.zeros_like(x[..., 0, :])
    for t in range(x.size(-2)):
        state = x[..., t, :] + lam * state
        out[..., t, :] = state
    return out
