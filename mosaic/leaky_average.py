"""The leaky average of the key feature extractor (paper eq. 7): ``k̄_T = x_T + λ k̄_{T-1}``.

Computed for every T at once, with no Python loop over time, by a *chunked scan*:

1. Split time into chunks of length Q. Inside a chunk the recurrence is a product with the
   lower-triangular Q×Q decay matrix ``D[i, j] = λ^(i-j)`` (j ≤ i): ``intra = D @ x_chunk``.
2. The state carried out of chunk c, ``S_c = intra_c[-1] + λ^Q S_{c-1}``, is itself a leaky
   average over the T/Q chunk ends with factor ``λ^Q``: solved by the same function, recursively.
3. Position i of chunk c adds ``λ^(i+1) S_{c-1}``.

The result is exact (it is the recurrence re-associated; ``tests/test_leaky_average.py`` checks
it against the loop to 1e-10 in float64). Work is O(T·Q·D) and memory O(T·D + Q²) per sequence:
linear in T, unlike the official code's dense T×T decay matrix (O(T²·D)). The recursion depth
is ``log_Q(T)``, 2 levels up to T = Q³ = 262k for Q = 64.

Why not a cumulative sum of ``λ^{-s} x_s``: ``λ^{-T}`` overflows for small λ and long T.
Why not an FFT convolution: exact only up to float round-off that grows with T and λ → 1.
"""
from __future__ import annotations

import math

import torch

DEFAULT_CHUNK = 64


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
    out = _grouped(xg.reshape(G, T, -1), lam.reshape(-1) if own else lam.reshape(1), chunk)
    out = out.reshape(xg.shape)
    inverse = [0] * (n + 2)
    for pos, dim in enumerate([*own, n, *shared, n + 1]):
        inverse[dim] = pos
    return out.permute(*inverse)


def _grouped(x: torch.Tensor, lam: torch.Tensor, chunk: int) -> torch.Tensor:
    """The scan for ``x`` (G, T, N) with one λ per group, ``lam`` (G,)."""
    G, T, N = x.shape
    lam3 = lam.reshape(G, 1, 1)
    if T <= chunk:
        return _decay_matrix(lam3, T) @ x  # (G, T, T) @ (G, T, N)

    n_chunks = -(-T // chunk)
    pad = n_chunks * chunk - T
    if pad:
        # zeros appended at the end never influence earlier positions (causal recurrence)
        x = torch.nn.functional.pad(x, (0, 0, 0, pad))
    # (G, nC, Q, N) -> (G, Q, nC·N): every chunk of a group shares the group's decay matrix
    xc = x.view(G, n_chunks, chunk, N).transpose(1, 2).reshape(G, chunk, n_chunks * N)
    intra = (_decay_matrix(lam3, chunk) @ xc).view(G, chunk, n_chunks, N).transpose(1, 2)  # (G, nC, Q, N)

    # step 2: carried state S_c = intra_c[-1] + λ^Q S_{c-1}, a leaky average over chunk ends
    carried = _grouped(intra[:, :, -1, :], lam**chunk, chunk)  # (G, nC, N)
    previous = torch.nn.functional.pad(carried[:, :-1], (0, 0, 1, 0))  # S_{c-1}, S_{-1} = 0

    # step 3: position i inside a chunk sees the previous state decayed by λ^(i+1)
    powers = lam3 ** torch.arange(1, chunk + 1, device=x.device, dtype=x.dtype)[:, None]  # (G, Q, 1)
    out = intra + powers.unsqueeze(1) * previous.unsqueeze(2)  # (G, nC, Q, N)
    return out.reshape(G, n_chunks * chunk, N)[:, :T]


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
