"""Incremental decoding of the Memory Mosaic (the cache protocol of :mod:`mosaic.interface`).

``prefill`` runs the prompt once; each ``decode_step`` then costs O(T) instead of recomputing
O(T²). Per block the cache holds:

* the leaky-average states ``k̄_{T-1}`` of both key extractors (eq. 7 is a recurrence, so the next
  key needs only the last state);
* the contextual keys ``k_0..k_{T-1}``, the completed values ``v_0..v_{T-2}`` and ``W_ψ x_{T-1}``:
  when ``x_T`` arrives, ``v_{T-1} = α_ψ (W_ψ x_{T-1} + λ_ψ W_ψ x_T)/‖·‖`` is completed *before*
  position T reads keys and values ``0..T-1`` (eq. 8);
* what is fixed while a sequence is generated, computed once: λ and α of every extractor,
  ``[W_φ; W_ψ]`` stacked (one matmul per token), ``α_o V`` of the persistent memory.

Cached decoding gives the logits of a full recompute to 1e-5 (tests/model/test_generation.py).
At one position per sequence every op costs its fixed overhead more than its work, hence the
few, plain ops per token below.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from mosaic.model.features import NORM_EPS, leaky_average, normalize, split_heads, value_features
from mosaic.model.memories import kernel_smoothing

# A decoding cache reserves room for this many more positions when it grows (then doubles).
MIN_GROWTH = 64


def _as_column(x: torch.Tensor) -> torch.Tensor:
    """(H,) -> (H, 1, 1), to broadcast against (B, H, 1, d)."""
    return x[:, None, None]


def _normalize_one(x: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """``α x / (‖x‖ + ε)`` at one position, ``x`` (B, H, 1, d), ``alpha`` (H, 1, 1)."""
    return x * (alpha / (torch.linalg.vector_norm(x, dim=-1, keepdim=True) + NORM_EPS))


def _retrieve(q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """``softmax(q kᵀ) v`` for queries ``q`` (B, H, T, d) against every key of (…, N, d): two
    batched matmuls around a softmax (for one query per sequence SDPA's CPU kernel costs several
    times more)."""
    weights = torch.softmax(q @ keys.transpose(-2, -1), dim=-1)
    return weights @ values  # (B, H, T, d)


def appended(seq: torch.Tensor, store: tuple | None, x: torch.Tensor) -> tuple[torch.Tensor, tuple]:
    """``seq`` (B, H, T, d) followed by ``x`` (B, H, 1, d), as a view of a buffer with room to grow,
    and the store ``(buffer, fill)`` to pass to the next call. Written in place while ``seq`` is
    the buffer's filled prefix, so a position costs O(1) amortised instead of the O(T) copy of a
    ``torch.cat``. ``fill`` is shared by every cache made from the buffer: when a cache that is not
    the latest is extended (two continuations of one prompt), its prefix is copied to a new buffer
    instead of overwriting the other continuation's positions."""
    B, H, T, d = seq.shape
    buffer, fill = store if store is not None else (None, None)
    if buffer is None or fill[0] != T or T == buffer.size(2) or seq.data_ptr() != buffer.data_ptr():
        buffer = seq.new_empty(B, H, T + max(T, MIN_GROWTH), d)  # capacity doubles
        buffer[:, :, :T] = seq
        fill = [T]
    buffer[:, :, T] = x[:, :, 0]
    fill[0] = T + 1
    return buffer[:, :, : T + 1], (buffer, fill)


def _key_states(extractor, x: torch.Tensor) -> torch.Tensor:
    """``k̄`` (B, H, T, d) of a key extractor for ``x`` (B, T, C): the leaky average before the
    normalisation (with the fast scan where the block has one)."""
    lam = extractor.lam()
    kbar = split_heads(extractor.W_phi(x), extractor.n_head)
    scan = extractor.kernels.leaky_average if extractor.kernels is not None else leaky_average
    return scan(kbar, lam)


def _prefill_block(block, x: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """The block's output for every position of ``x`` (B, T, C) and its cache."""
    ctx, per = block.contextual, block.persistent
    h = block.ln_1(x)
    kbar = _key_states(ctx.key, h)  # (B, H, T, d)
    keys = normalize(kbar, ctx.key.alpha())
    u_value = ctx.value.W_psi(h)  # (B, T, C)
    values = value_features(u_value, ctx.value.lam(), ctx.value.alpha(), ctx.n_head)  # v_{T-1}: not cached
    smoothing = ctx.kernels.kernel_smoothing if ctx.kernels is not None else kernel_smoothing
    x = x + ctx.W_z(smoothing(keys, values, 1.0, 0.0))
    h = block.ln_2(x)
    pbar = _key_states(per.key, h)
    slot_values = per.scaled_values()
    q = normalize(pbar, per.key.alpha())
    y = _retrieve(q, per.slot_keys, slot_values)  # (B, H, T, d)
    x = x + per.W_o(y.transpose(1, 2).flatten(2))
    stacked = torch.cat([ctx.key.W_phi.weight, ctx.value.W_psi.weight])  # [W_φ; W_ψ] (2C, C)
    bias = None if ctx.key.W_phi.bias is None else torch.cat([ctx.key.W_phi.bias, ctx.value.W_psi.bias])
    cache = {
        "kbar": kbar[:, :, -1:], "keys": keys, "values": values[:, :, :-1], "u_last": u_value[:, -1:],
        "projection": (stacked, bias), "stores": (None, None),
        "key_lam": _as_column(ctx.key.lam()), "key_alpha": _as_column(ctx.key.alpha()),
        "value_lam": _as_column(ctx.value.lam()), "value_alpha": _as_column(ctx.value.alpha()),
        "p_kbar": pbar[:, :, -1:], "p_lam": _as_column(per.key.lam()), "p_alpha": _as_column(per.key.alpha()),
        "slot_values": slot_values,
    }
    return x, cache


def _step_block(block, x: torch.Tensor, c: dict) -> tuple[torch.Tensor, dict]:
    """The block at the new position T, ``x`` (B, 1, C), given the cache ``c`` of positions < T."""
    ctx, per = block.contextual, block.persistent
    H = ctx.n_head
    u_key, u_value = F.linear(block.ln_1(x), *c["projection"]).chunk(2, dim=-1)  # (B, 1, C) each
    kbar = split_heads(u_key, H) + c["key_lam"] * c["kbar"]  # eq. 7's recurrence, one step
    k = _normalize_one(kbar, c["key_alpha"])  # (B, H, 1, d)
    # eq. 7's look-ahead: W_ψ x_T completes the value of position T-1
    v_last = _normalize_one(split_heads(c["u_last"], H) + c["value_lam"] * split_heads(u_value, H), c["value_alpha"])
    key_store, value_store = c["stores"]
    values, value_store = appended(c["values"], value_store, v_last)  # v_0..v_{T-1}
    y = _retrieve(k, c["keys"], values)  # eq. 8: position T reads keys and values 0..T-1
    keys, key_store = appended(c["keys"], key_store, k)
    x = x + ctx.W_z(y.transpose(1, 2).flatten(2))
    pbar = split_heads(per.key.W_phi(block.ln_2(x)), H) + c["p_lam"] * c["p_kbar"]
    y = _retrieve(_normalize_one(pbar, c["p_alpha"]), per.slot_keys, c["slot_values"])
    x = x + per.W_o(y.transpose(1, 2).flatten(2))
    return x, {**c, "kbar": kbar, "keys": keys, "values": values, "u_last": u_value, "p_kbar": pbar,
               "stores": (key_store, value_store)}


def _last_logits(model, x: torch.Tensor) -> torch.Tensor:
    return model.logits_and_loss(model.lm_head(model.ln_f(x[:, -1])), None)[0]  # (B, V)


def prefill(model, idx: torch.Tensor) -> tuple[torch.Tensor, list]:
    """Logits (B, V) after the prompt ``idx`` (B, T) and the cache (one dict per block)."""
    x = model.drop(model.wte(idx))  # (B, T, C)
    cache = []
    for block in model.blocks:
        x, layer = _prefill_block(block, x)
        cache.append(layer)
    return _last_logits(model, x), cache


def decode_step(model, idx_next: torch.Tensor, cache: list) -> tuple[torch.Tensor, list]:
    """Logits (B, V) after one more token ``idx_next`` (B, 1), and the updated cache."""
    x = model.drop(model.wte(idx_next))  # (B, 1, C)
    new_cache = []
    for block, layer in zip(model.blocks, cache):
        x, layer = _step_block(block, x, layer)
        new_cache.append(layer)
    return _last_logits(model, x), new_cache
