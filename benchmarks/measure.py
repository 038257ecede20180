"""The measurements behind ``benchmarks/bench_models.py``: training steps, the matmul peak, the
leaky average's cost, cached against recomputing generation, and the log-log fit.

Timing rule (the machine is shared and noisy): things that are compared are timed *interleaved*
in one process, round after round in rotating order, and each keeps its best (smallest) time:
the best of several rounds estimates the uncontended cost, and a ratio of two bests taken side
by side is what the targets compare. Nothing here asserts a time; callers print the numbers.
"""
from __future__ import annotations

import contextlib
import inspect
import math
import sys
import statistics
import time
from typing import Callable

import numpy as np
import torch

import mosaic.kernels.autograd as fused_module
import mosaic.model.leaky_average as leaky_module
from mosaic import build_model
from mosaic.interface import LanguageModel
from mosaic.kernels.slot_attention import slot_attention
from mosaic.harness.train import resolve_device

PRECISIONS = ("fp32", "bf16")


def pick_device(name: str) -> torch.device:
    """``auto`` | ``cpu`` | ``cuda[:N]``, resolved as the trainer does (clear error without CUDA)."""
    return resolve_device(name)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def autocast(device: torch.device, precision: str):
    """bf16 autocast (CUDA only), or nothing for fp32."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {list(PRECISIONS)}, got {precision!r}")
    if precision == "fp32":
        return contextlib.nullcontext()
    if device.type != "cuda":
        raise ValueError("precision bf16 is for CUDA devices; on CPU use fp32")
    return torch.autocast(device_type="cuda", dtype=torch.bfloat16)


def build(name: str, model_cfg: dict, ctx: int, arch_options: dict | None, device) -> LanguageModel:
    """Model ``name`` at context ``ctx``: common keys, then the architecture's own options."""
    torch.manual_seed(0)
    cfg = {**model_cfg, "block_size": ctx, **((arch_options or {}).get(name) or {})}
    return build_model(name, **cfg).to(device)


def train_step_fn(model: LanguageModel, batch: int, ctx: int, device, precision: str) -> Callable[[], None]:
    """One forward + backward + AdamW step on fixed random tokens (B, T)."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    vocab = model.config.vocab_size
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, vocab, (batch, ctx), generator=gen).to(device)
    y = torch.randint(0, vocab, (batch, ctx), generator=gen).to(device)
    model.train()

    def step() -> None:
        with autocast(device, precision):
            _, loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def round_times(fns: dict[str, Callable[[], None]], rounds: int, warmup: int, device) -> dict[str, list[float]]:
    """Wall time (s) of each callable in each of ``rounds`` interleaved rounds (order rotated
    every round), after ``warmup`` untimed calls of each."""
    names = list(fns)
    for _ in range(warmup):
        for name in names:
            fns[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:
            synchronize(device)
            start = time.perf_counter()
            fns[name]()
            synchronize(device)
            times[name].append(time.perf_counter() - start)
    return times


def best_times(fns: dict[str, Callable[[], None]], rounds: int, warmup: int, device) -> dict[str, float]:
    """Best wall time (s) of each callable over the interleaved rounds of :func:`round_times`."""
    return {name: min(ts) for name, ts in round_times(fns, rounds, warmup, device).items()}


def paired_ratios(numerator: list[float], denominator: list[float]) -> dict[str, float]:
    """Median, min and max over rounds of ``numerator[r] / denominator[r]``: a ratio of two
    callables timed in the same round, so that the machine's slow drifts (other tenants,
    clocks) cancel, which a ratio of each one's best time over all rounds does not."""
    ratios = sorted(a / b for a, b in zip(numerator, denominator))
    return {"median": statistics.median(ratios), "min": ratios[0], "max": ratios[-1], "rounds": len(ratios)}


def matmul_fns(device, sizes: list[int], precision: str) -> dict[int, Callable[[], None]]:
    """Square ``a @ b`` of each size n (fp32, or bf16 when the models run under bf16 autocast)."""
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    fns = {}
    for n in sizes:
        gen = torch.Generator().manual_seed(n)
        a = torch.randn(n, n, generator=gen).to(device, dtype)
        b = torch.randn(n, n, generator=gen).to(device, dtype)
        fns[n] = lambda a=a, b=b: a @ b
    return fns


def matmul_peak(device, sizes: list[int], repeats: int, precision: str,
                earlier: dict[int, float] | None = None) -> tuple[float, dict[int, float]]:
    """The machine's matmul peak in FLOP/s: the best ``2·n³ / t`` over ``sizes``, from
    ``repeats`` timings now and the best times ``earlier`` ({n: s}, e.g. taken interleaved with
    the training steps, so that a busy moment of a shared machine does not set the peak).
    Returns (peak, {n: FLOP/s})."""
    best = best_times({n: fn for n, fn in matmul_fns(device, sizes, precision).items()},
                      rounds=repeats, warmup=1, device=device)
    per_size = {n: 2.0 * n**3 / min(t, (earlier or {}).get(n, math.inf)) for n, t in best.items()}
    return max(per_size.values()), per_size


# -- where a block's time goes --------------------------------------------------------------------
def block_part_fns(model_cfg: dict, arch_options: dict | None, batch: int, ctx: int, device) -> dict:
    """Forward + backward callables of the two layers of a mosaic block and of a transformer
    block, and of the fused SDPA kernel each mosaic layer calls, alone, on random inputs of the
    shapes it sees (the contextual memory's T-1 shifted queries; the persistent memory's batch
    folded into B·T queries against its slots, through ``mosaic.kernels.slot_attention``: the fused
    kernel where it is available, else SDPA), and of one of the block's five d×d projections."""
    mosaic = build("mosaic", model_cfg, ctx, arch_options, device).blocks[0]
    gpt = build("transformer", model_cfg, ctx, arch_options, device).blocks[0]
    C, H = mosaic.ln_1.normalized_shape[0], mosaic.contextual.n_head
    d, N = C // H, mosaic.persistent.slot_keys.size(1)
    gen = torch.Generator().manual_seed(0)

    def randn(*shape, grad=True):
        return torch.randn(*shape, generator=gen).to(device).requires_grad_(grad)

    x, g = randn(batch, ctx, C), randn(batch, ctx, C, grad=False)
    k, v, gk = randn(batch, H, ctx, d), randn(batch, H, ctx, d), randn(batch, H, ctx - 1, d, grad=False)
    q, K, V = randn(H, batch * ctx, d), randn(H, N, d), randn(H, N, d)
    gq = randn(batch * ctx, C, grad=False)
    sdpa = torch.nn.functional.scaled_dot_product_attention
    projection = torch.nn.Linear(C, C, bias=False).to(device)  # W_φ, W_ψ, W_z, persistent W_φ, W_o
    return {
        "mosaic contextual memory": lambda: mosaic.contextual(x).backward(g),
        "  its SDPA kernel alone": lambda: sdpa(k[:, :, 1:], k[:, :, :-1], v[:, :, :-1], is_causal=True,
                                                scale=1.0).backward(gk),
        "mosaic persistent memory": lambda: mosaic.persistent(x).backward(g),
        f"  its slot attention alone ({N} slots)": lambda: slot_attention(q, K, V).backward(gq),
        "  one of its d x d projections alone": lambda: projection(x).backward(g),
        "transformer attention": lambda: gpt.attn(x)[0].backward(g),
        "transformer MLP": lambda: gpt.mlp(x).backward(g),
    }


# -- the leaky average (mosaic/leaky_average.py, or fused in mosaic/csrc/features.c) -----------------
# The block computes its leaky averages either with ``leaky_average`` (the PyTorch path) or, where
# the CPU kernels run, inside ``leaky_normalize``: the leaky average and the keys' normalisation
# in one pass. Both are recorded; the kernel's calls are timed whole, normalisation included (an
# upper bound on the leaky average's own share). The contextual memory's ``key_value_features``
# (keys and values of its fused projection in one call) is recorded as the ``leaky_normalize``
# call of its key half: the same kernel pass on the same data.
LEAKY_FUNCTIONS = {"leaky_average": (leaky_module, -2), "leaky_normalize": (fused_module, 1)}  # module, T dim
LEAKY_PARTS = {  # function holding a leaky average -> (shape, args) of that part as a LEAKY_FUNCTIONS call
    "key_value_features": lambda shape, args: (
        "leaky_normalize", torch.Size([*shape[:-1], shape[-1] // 2]), (args[0], args[1], args[4])),
}


@contextlib.contextmanager
def recording_leaky_calls():
    """Record every leaky-average call made inside the block as ``(function name, input shape,
    the other arguments)``, by rebinding the functions wherever a loaded ``mosaic`` module
    imported them by name."""
    calls: list[tuple[str, torch.Size, tuple]] = []
    patched = []
    for fname in [*LEAKY_FUNCTIONS, *LEAKY_PARTS]:
        original = getattr(fused_module if fname in LEAKY_PARTS else LEAKY_FUNCTIONS[fname][0], fname)

        def recorder(x, *args, _original=original, _name=fname, **kwargs):
            kept = tuple(a.detach().clone() if torch.is_tensor(a) else a for a in args)
            calls.append(LEAKY_PARTS[_name](x.shape, kept) if _name in LEAKY_PARTS else (_name, x.shape, kept))
            return _original(x, *args, **kwargs)

        for name, m in list(sys.modules.items()):
            if name.split(".")[0] == "mosaic" and getattr(m, fname, None) is original:
                setattr(m, fname, recorder)
                patched.append((m, fname, original))
    try:
        yield calls
    finally:
        for m, fname, original in patched:
            setattr(m, fname, original)


def leaky_fwd_bwd_fn(call: tuple[str, torch.Size, tuple], device, T: int | None = None) -> Callable[[], None]:
    """Forward + backward of one recorded call on random input of its shape (T replaced by ``T``
    if given), with gradients for the input and every tensor argument (λ, α), as in training."""
    fname, shape, args = call
    home, t_dim = LEAKY_FUNCTIONS[fname]
    shape = list(shape)
    if T is not None:
        shape[t_dim] = T
    x = torch.randn(shape, device=device, requires_grad=True)
    args = tuple(a.to(device).clone().requires_grad_(True) if torch.is_tensor(a) else a for a in args)
    fn = getattr(home, fname)

    def run() -> None:
        fn(x, *args).sum().backward()

    return run


def leaky_share(model_cfg: dict, arch_options: dict | None, batch: int, ctx: int, rounds: int, device) -> dict:
    """Share of the leaky averages in one mosaic block's forward + backward at context ``ctx``:
    the block's calls, recorded, then timed alone, interleaved with the whole block."""
    model = build("mosaic", model_cfg, ctx, arch_options, device)
    block = model.blocks[0]
    x = torch.randn(batch, ctx, model.config.n_embd, device=device, requires_grad=True)  # (B, T, C)
    with recording_leaky_calls() as calls:
        block(x)
    fns = {"block": lambda: block(x).sum().backward()}
    for i, call in enumerate(calls):
        fns[f"leaky{i}"] = leaky_fwd_bwd_fn(call, device)
    best = best_times(fns, rounds=rounds, warmup=1, device=device)
    leaky_s = sum(t for name, t in best.items() if name != "block")
    return {"calls": calls, "shapes": [tuple(c[1]) for c in calls], "block_s": best["block"],
            "leaky_s": leaky_s, "share": leaky_s / best["block"] if calls else float("nan")}


def leaky_scaling(call: tuple[str, torch.Size, tuple], contexts: list[int], rounds: int, device) -> dict[int, float]:
    """Best forward + backward time (s) of one recorded leaky-average call with T replaced by
    each of ``contexts``, all sizes interleaved."""
    fns = {T: leaky_fwd_bwd_fn(call, device, T) for T in contexts}
    return best_times(fns, rounds=rounds, warmup=1, device=device)


def loglog_slope(xs, ys) -> float:
    """Exponent ``p`` of the least-squares fit ``y = c·x^p`` (slope in log-log)."""
    xs, ys = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    if xs.size < 2 or np.any(xs <= 0) or np.any(ys <= 0):
        raise ValueError("loglog_slope needs at least two positive (x, y) points")
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


# -- generation ------------------------------------------------------------------------------------
def supports_cache(model: LanguageModel) -> bool:
    """Whether ``model.generate`` takes ``use_cache`` and the model implements the cache
    protocol (``supports_cache()``, where the interface has it); without it ``use_cache=True``
    would quietly recompute and the comparison would be meaningless."""
    if "use_cache" not in inspect.signature(model.generate).parameters:
        return False
    implemented = getattr(model, "supports_cache", None)
    return bool(implemented()) if callable(implemented) else True


def generation_times(model: LanguageModel, prompt_tokens: int, new_tokens: int, device) -> dict:
    """Seconds to generate ``new_tokens`` greedily after a random prompt (batch 1), with the
    cache and with full recompute at every step. ``{}`` if the model has no ``use_cache``."""
    if not supports_cache(model):
        return {}
    gen = torch.Generator().manual_seed(0)
    idx = torch.randint(0, model.config.vocab_size, (1, prompt_tokens), generator=gen).to(device)
    out = {}
    for use_cache in (True, False):
        model.generate(idx, 2, temperature=0.0, use_cache=use_cache)  # warm-up
        synchronize(device)
        start = time.perf_counter()
        model.generate(idx, new_tokens, temperature=0.0, use_cache=use_cache)
        synchronize(device)
        out["cached_s" if use_cache else "full_s"] = time.perf_counter() - start
    return out
