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
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

from mosaic import build_model
from mosaic.harness.train import resolve_device
from mosaic.interface import LanguageModel
from mosaic.kernels import FAST_OPS
from mosaic.model import features as reference_features
from mosaic.model import memories as reference_memories

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


# name[variant]: extra config keys (the mosaic's kernel paths); "+compile" variants are compiled
VARIANTS = {"reference": {"kernels": "reference"}, "reference+compile": {"kernels": "reference"},
            "auto+compile": {"kernels": "auto"}, "compile": {}}


def split_variant(name: str) -> tuple[str, str | None]:
    """``"mosaic[reference+compile]"`` -> ``("mosaic", "reference+compile")``."""
    if name.endswith("]") and "[" in name:
        base, variant = name[:-1].split("[", 1)
        if variant not in VARIANTS:
            raise ValueError(f"unknown model variant {variant!r} in {name!r}; variants: {sorted(VARIANTS)}")
        return base, variant
    return name, None


def build(name: str, model_cfg: dict, ctx: int, arch_options: dict | None, device) -> LanguageModel:
    """Model ``name`` at context ``ctx``: common keys, then the architecture's own options. A name
    ``arch[variant]`` adds the variant's keys (:data:`VARIANTS`); ``+compile`` variants are wrapped
    in ``torch.compile`` (their first steps compile)."""
    base, variant = split_variant(name)
    torch.manual_seed(0)
    cfg = {**model_cfg, "block_size": ctx, **((arch_options or {}).get(base) or {}), **VARIANTS.get(variant, {})}
    model = build_model(base, **cfg).to(device)
    if variant is not None and variant.endswith("compile"):
        compiled = torch.compile(model)
        compiled.config, compiled.num_params = model.config, model.num_params  # what callers read
        return compiled
    return model


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
    folded into B·T queries against its slots, through the switch's ``slot_attention``: the C
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
    q, K, V = randn(batch, H, ctx, d), randn(H, N, d), randn(H, N, d)
    sdpa = torch.nn.functional.scaled_dot_product_attention
    projection = torch.nn.Linear(C, C, bias=False).to(device)  # W_φ, W_ψ, W_z, persistent W_φ, W_o
    return {
        "mosaic contextual memory": lambda: mosaic.contextual(x).backward(g),
        "  its SDPA kernel alone": lambda: sdpa(k[:, :, 1:], k[:, :, :-1], v[:, :, :-1], is_causal=True,
                                                scale=1.0).backward(gk),
        "mosaic persistent memory": lambda: mosaic.persistent(x).backward(g),
        f"  its slot attention alone ({N} slots)": lambda: FAST_OPS.slot_attention(q, K, V).backward(g),
        "  one of its d x d projections alone": lambda: projection(x).backward(g),
        "transformer attention": lambda: gpt.attn(x)[0].backward(g),
        "transformer MLP": lambda: gpt.mlp(x).backward(g),
    }


# -- the fast paths against the reference ops ------------------------------------------------------
def fast_path_fns(model_cfg: dict, batch: int, ctx: int, device) -> dict[str, dict[str, Callable[[], None]]]:
    """Forward + backward of each op of the switch on the shapes one mosaic block gives it, on both
    paths: ``{op: {"reference": fn, "auto": fn}}``."""
    C, H = model_cfg["n_embd"], model_cfg["n_head"]
    d, N = C // H, round(3.5 * C)
    gen = torch.Generator().manual_seed(0)

    def randn(*shape, scale=1.0):
        return (torch.randn(*shape, generator=gen) * scale).to(device).requires_grad_(True)

    u, x = randn(batch, ctx, C), randn(batch, H, ctx, d)
    lam, alpha = torch.full((H,), 0.5, device=device, requires_grad=True), torch.full((H,), 2.0, device=device,
                                                                                        requires_grad=True)
    k, v = randn(batch, H, ctx, d, scale=0.3), randn(batch, H, ctx, d)
    K, V = randn(H, N, d), randn(H, N, d)
    reference = {"leaky_average": reference_features.leaky_average, "key_features": reference_features.key_features,
                 "value_features": reference_features.value_features,
                 "kernel_smoothing": reference_memories.kernel_smoothing,
                 "slot_attention": reference_memories.slot_attention}
    calls = {
        "leaky_average": lambda ops: ops["leaky_average"](x, lam),
        "key_features": lambda ops: ops["key_features"](u, lam, alpha, H),
        "value_features": lambda ops: ops["value_features"](u, lam, alpha, H),
        "kernel_smoothing": lambda ops: ops["kernel_smoothing"](k, v, 1.0, 0.0),
        "slot_attention": lambda ops: ops["slot_attention"](k, K, V, 0.0),
    }
    fast = {name: getattr(FAST_OPS, name) for name in reference}
    return {op: {path: (lambda call=call, ops=ops: call(ops).sum().backward())
                 for path, ops in (("reference", reference), ("auto", fast))}
            for op, call in calls.items()}


def fast_path_times(model_cfg: dict, batch: int, ctx: int, rounds: int, device) -> dict[str, dict[str, float]]:
    """Best forward + backward time (s) of each op on each path, all interleaved."""
    fns = fast_path_fns(model_cfg, batch, ctx, device)
    flat = {(op, path): fn for op, paths in fns.items() for path, fn in paths.items()}
    best = best_times(flat, rounds=rounds, warmup=1, device=device)
    return {op: {path: best[op, path] for path in paths} for op, paths in fns.items()}


# -- the leaky average: inside the keys' feature pass -----------------------------------------------
def key_pass_fn(batch: int, ctx: int, C: int, H: int, device) -> Callable[[], None]:
    """Forward + backward of one key extractor's feature pass (leaky average and normalisation,
    one C kernel pass where it applies) on ``u = W_φ x`` of shape (B, T, C)."""
    u = torch.randn(batch, ctx, C, device=device, requires_grad=True)
    lam = torch.full((H,), 0.5, device=device, requires_grad=True)
    alpha = torch.full((H,), 2.0, device=device, requires_grad=True)
    return lambda: FAST_OPS.key_features(u, lam, alpha, H).sum().backward()


def leaky_share(model_cfg: dict, arch_options: dict | None, batch: int, ctx: int, rounds: int, device) -> dict:
    """Share of the leaky averages in one mosaic block's forward + backward at context ``ctx``: the
    block's two key passes (contextual and persistent memory), each timed whole with its
    normalisation (an upper bound), interleaved with the whole block."""
    model = build("mosaic", model_cfg, ctx, arch_options, device)
    block, C, H = model.blocks[0], model.config.n_embd, model.config.n_head
    x = torch.randn(batch, ctx, C, device=device, requires_grad=True)  # (B, T, C)
    best = best_times({"block": lambda: block(x).sum().backward(), "keys": key_pass_fn(batch, ctx, C, H, device)},
                      rounds=rounds, warmup=1, device=device)
    leaky_s = 2 * best["keys"]  # two key extractors per block
    return {"shape": (batch, ctx, C), "block_s": best["block"], "leaky_s": leaky_s, "share": leaky_s / best["block"]}


def leaky_scaling(batch: int, C: int, H: int, contexts: list[int], rounds: int, device) -> dict[int, float]:
    """Best forward + backward time (s) of one key pass at each of ``contexts``, interleaved."""
    fns = {T: key_pass_fn(batch, T, C, H, device) for T in contexts}
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
