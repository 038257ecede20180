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

import torch

DEFAULT_CHUNK = 64


def _decay_matrix(lam: torch.Tensor, n: int) -> torch.Tensor:
    """``lam`` (..., 1, 1) -> lower-triangular ``λ^(i-j)`` of shape (..., n, n)."""
    i = torch.arange(n, device=lam.device)
    diff = (i[:, None] - i[None, :]).to(lam.dtype)  # (n, n)
    causal = diff >= 0
    # clamp keeps the masked (j > i) exponents finite so gradients stay finite; they are zeroed below
    return (lam ** diff.clamp(min=0)).masked_fill(~causal, 0.0)


def leaky_average(x: torch.Tensor, lam: torch.Tensor | float, chunk: int = DEFAULT_CHUNK) -> torch.Tensor:
    """``out_T = x_T + λ · out_{T-1}`` along dim -2 (``out_{-1} = 0``).

    Args:
        x: ``(..., T, D)``, e.g. ``(B, H, T, d)`` keys of H units.
        lam: λ, broadcastable to ``x.shape[:-2]`` (one factor per unit, shared by its D channels),
            or a float. Values in [0, 1] (the model uses ``λ_φ = exp(-β) ∈ (0, 1)``).
        chunk: the chunk length Q (a speed knob; the result does not depend on it).
    """
    if chunk < 2:  # each recursion level must shrink T by the chunk factor
        raise ValueError(f"chunk must be >= 2, got {chunk}")
    lam = torch.as_tensor(lam, dtype=x.dtype, device=x.device)
    lam = lam.reshape(lam.shape + (1, 1))  # (..., 1, 1) against (..., T, D)
    T = x.size(-2)
    if T <= chunk:
        return _decay_matrix(lam, T) @ x  # (..., T, T) @ (..., T, D)

    n_chunks = -(-T // chunk)
    pad = n_chunks * chunk - T
    if pad:
        # zeros appended at the end never influence earlier positions (causal recurrence)
        x = torch.nn.functional.pad(x, (0, 0, 0, pad))
    xc = x.unflatten(-2, (n_chunks, chunk))  # (..., nC, Q, D)
    lam_c = lam.unsqueeze(-3)  # (..., 1, 1, 1)
    intra = _decay_matrix(lam_c, chunk) @ xc  # (..., nC, Q, D): sums restricted to each chunk

    # step 2: carried state S_c = intra_c[-1] + λ^Q S_{c-1}, a leaky average over chunk ends
    ends = intra[..., -1, :]  # (..., nC, D)
    carried = leaky_average(ends, lam.squeeze(-1).squeeze(-1) ** chunk, chunk)  # (..., nC, D)
    previous = torch.nn.functional.pad(carried[..., :-1, :], (0, 0, 1, 0))  # S_{c-1}, S_{-1} = 0

    # step 3: position i inside a chunk sees the previous state decayed by λ^(i+1)
    powers = lam_c ** torch.arange(1, chunk + 1, device=x.device, dtype=x.dtype)[:, None]  # (..., 1, Q, 1)
    out = intra + powers * previous.unsqueeze(-2)  # (..., nC, Q, D)
    return out.flatten(-3, -2)[..., :T, :]


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
