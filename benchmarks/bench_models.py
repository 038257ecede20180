"""Performance of every registered model at one named size, ending with the targets of issue #9.

    python benchmarks/bench_models.py --preset default [--device cpu|cuda|auto] [--precision bf16]
    python benchmarks/bench_models.py --preset default --scaling-figure results/figures/perf_scaling.png
    python benchmarks/bench_models.py --config-json '{...performance section...}' --scaling-figure PATH

What is measured (sizes in ``benchmarks/presets.yaml``; nothing is asserted, every number printed):

1. training throughput, forward + backward + AdamW, tokens/s of every model at several contexts
   (batch x ctx kept about constant), all models interleaved round by round in one process; the
   mosaic/transformer ratio both of the best steps and as the median of the rounds' paired
   ratios (the target is judged on the latter: see ``measure.paired_ratios``);
2. the machine's matmul peak, square ``a @ b``, measured in the same run;
3. MFU = model FLOPs per token (``benchmarks/flops.py``, ``docs/performance.md``) x tokens/s / peak;
   and where a block's time goes: each layer of a mosaic and of a transformer block, and the
   fused attention kernel of each mosaic layer alone;
4. the leaky average (eq. 7): its share of one mosaic block's forward + backward, and its cost
   against T with the fitted log-log exponent;
5. generation: cached incremental decoding against full recompute (batch 1, greedy);
6. peak memory of a training step, each measurement in a fresh process (``benchmarks/memory.py``);

then a block of ``target: measured (pass/short)`` lines. ``--scaling-figure`` runs only the
context sweep of ``benchmarks/scaling.py`` instead and writes the figure (+ .pdf/.csv).
"""
from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path

import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks import flops  # noqa: E402
from benchmarks.measure import (  # noqa: E402
    PRECISIONS,
    best_times,
    block_part_fns,
    build,
    fast_path_times,
    generation_times,
    leaky_scaling,
    leaky_share,
    loglog_slope,
    matmul_fns,
    matmul_peak,
    paired_ratios,
    pick_device,
    round_times,
    split_variant,
    train_step_fn,
)
from benchmarks.memory import peak_step_memory  # noqa: E402
from benchmarks.scaling import MIB, plot_scaling, run_scaling  # noqa: E402
from mosaic import available_models, kernels  # noqa: E402
from mosaic.harness.config import run_cli  # noqa: E402
from mosaic.kernels import cpu as cpu_kernels  # noqa: E402

PRESETS = Path(__file__).with_name("presets.yaml")
SECTIONS = ("throughput", "breakdown", "fastpaths", "leaky", "generation", "memory")
# The targets of issue #9 (not sizes: the sizes are in presets.yaml).
TARGET_SPEED_RATIO = 0.9  # mosaic tokens/s >= 0.9 x the parameter-matched transformer's
TARGET_LEAKY_SHARE = 0.05  # leaky averages <= 5% of a mosaic block's forward + backward
TARGET_LEAKY_EXPONENT = 1.2  # cost ~ T^p with p about 1 (linear); quadratic would give ~2
TARGET_MFU = 0.40  # mosaic and transformer
TARGET_GEN_SPEEDUP = 5.0  # cached vs full recompute
TARGET_MEMORY_RATIO = 1.1  # mosaic peak step memory <= 1.1 x the transformer's


def machine_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def batch_for(tokens_per_step: int, ctx: int) -> int:
    return max(1, round(tokens_per_step / ctx))


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("pass" if ok else "short")


# -- the sections ------------------------------------------------------------------------------------
def throughput(preset: dict, names: list[str], device, precision: str) -> tuple[list[dict], dict, dict]:
    """Rows per (model, ctx); the best time of each peak matmul size, timed in the same
    interleaved rounds as the models (the MFU's peak is taken under the same conditions); and per
    ctx the mosaic/transformer speed ratio of each round (:func:`paired_ratios`)."""
    cfg = preset["throughput"]
    print(f"\n[1] training throughput (forward + backward + AdamW, random tokens), batch x ctx ~ "
          f"{cfg['tokens_per_step']} tokens per step at every context (keeps the run short); best of "
          f"{cfg['rounds']} rounds, all models (and the peak matmuls) interleaved")
    print(f"{'ctx':>6}{'batch':>6}  {'model':<14}{'params (M)':>11}{'N matmul (M)':>13}{'ms/step':>10}"
          f"{'tokens/s':>10}")
    rows, matmul_best, paired = [], {}, {}
    matmuls = {("matmul", n): fn for n, fn in matmul_fns(device, preset["peak"]["sizes"], precision).items()}
    variants = [v for v in cfg.get("variants", []) if split_variant(v)[0] in names]
    if variants:
        print(f"at ctx {preset['target_context']} also {variants} (mosaic.kernels paths; +compile: torch.compile, "
              "whose first steps compile during the warm-up)")
    for ctx in cfg["contexts"]:
        B = batch_for(cfg["tokens_per_step"], ctx)
        extra = variants if ctx == preset["target_context"] else []
        models = {n: build(n, preset["model"], ctx, preset["arch_options"], device) for n in [*names, *extra]}
        steps = {n: train_step_fn(m, B, ctx, device, precision) for n, m in models.items()}
        times = round_times({**steps, **matmuls}, rounds=cfg["rounds"], warmup=cfg["warmup_steps"], device=device)
        best = {k: min(v) for k, v in times.items()}
        for (_, n), t in ((k, v) for k, v in best.items() if isinstance(k, tuple)):
            matmul_best[n] = min(t, matmul_best.get(n, math.inf))
        if "mosaic" in steps and "transformer" in steps:  # tokens/s ratio = inverse time ratio
            paired[ctx] = paired_ratios(times["transformer"], times["mosaic"])
            for v in extra:
                paired[ctx, v] = paired_ratios(times["transformer"], times[v])
        for n, m in models.items():
            rows.append({"model": n, "ctx": ctx, "batch": B, "params": m.num_params(),
                         "n_matmul": flops.matmul_params(m), "formula": flops.formula(m),
                         "flops_per_token": flops.train_flops_per_token(m, ctx),
                         "seconds": best[n], "tokens_per_s": B * ctx / best[n]})
            r = rows[-1]
            print(f"{ctx:>6}{B:>6}  {n:<14}{r['params'] / 1e6:>11.2f}{r['n_matmul'] / 1e6:>13.2f}"
                  f"{1e3 * r['seconds']:>10.1f}{r['tokens_per_s']:>10.0f}")
        del models, steps
    speed = {(r["model"], r["ctx"]): r["tokens_per_s"] for r in rows}
    if paired:
        plain = [c for c in paired if not isinstance(c, tuple)]
        ratios = ", ".join(f"ctx {c}: {speed['mosaic', c] / speed['transformer', c]:.3f}" for c in plain)
        print(f"mosaic/transformer tokens/s ratio of the best steps: {ratios}")
        ratios = ", ".join(f"ctx {c}: {paired[c]['median']:.3f} ({paired[c]['min']:.2f}-{paired[c]['max']:.2f})"
                           for c in plain)
        print(f"median (range) of the {cfg['rounds']} rounds' paired ratios, both models timed in the same "
              f"round: {ratios}")
        for (c, v), p in ((k, p) for k, p in paired.items() if isinstance(k, tuple)):
            print(f"{v}/transformer at ctx {c}: {p['median']:.3f} ({p['min']:.2f}-{p['max']:.2f}) paired median")
    return rows, matmul_best, paired


def peak_and_mfu(preset: dict, rows: list[dict], matmul_best: dict, device, precision: str) -> tuple[float, dict]:
    cfg = preset["peak"]
    peak, per_size = matmul_peak(device, cfg["sizes"], cfg["repeats"], precision, earlier=matmul_best)
    sizes = ", ".join(f"n={n}: {f / 1e9:.1f}" for n, f in per_size.items())
    print(f"\n[2] matmul peak ({precision}, square a @ b, best of {cfg['repeats']} now and of the rounds "
          f"interleaved with [1]): {sizes} GFLOP/s; peak {peak / 1e9:.1f} GFLOP/s")
    ctx = preset["target_context"]
    print(f"\n[3] MFU at ctx {ctx}: model FLOPs per trained token x tokens/s / peak "
          "(N = matmul weights incl. the tied head; docs/performance.md)")
    print(f"{'model':<14}{'MFLOP/token':>12}{'GFLOP/s':>10}{'MFU':>8}  formula")
    mfu = {}
    for r in rows:
        if r["ctx"] != ctx:
            continue
        achieved = r["flops_per_token"] * r["tokens_per_s"]
        mfu[r["model"]] = achieved / peak
        print(f"{r['model']:<14}{r['flops_per_token'] / 1e6:>12.2f}{achieved / 1e9:>10.1f}"
              f"{100 * mfu[r['model']]:>7.1f}%  {r['formula']}")
    return peak, mfu


def breakdown(preset: dict, device) -> dict:
    """Forward + backward of each layer of a block, mosaic and transformer, interleaved."""
    cfg, ctx = preset["leaky"], preset["target_context"]
    fns = block_part_fns(preset["model"], preset["arch_options"], cfg["batch_size"], ctx, device)
    best = best_times(fns, rounds=cfg["rounds"], warmup=1, device=device)
    print(f"\n[3b] where a block's time goes, batch {cfg['batch_size']}, ctx {ctx}: forward + backward of "
          f"each layer on random input, best of {cfg['rounds']} interleaved rounds")
    for name, t in best.items():
        print(f"  {name:<38}{1e3 * t:9.1f} ms")
    slots = next(t for name, t in best.items() if name.strip().startswith("its slot attention alone ("))
    mosaic = best["mosaic contextual memory"] + best["mosaic persistent memory"]
    gpt = best["transformer attention"] + best["transformer MLP"]
    kernels = slots + best["  its SDPA kernel alone"]
    floor = kernels + 5 * best["  one of its d x d projections alone"]  # if nothing else cost anything
    print(f"the persistent memory's slot attention kernel alone takes {slots / best['transformer MLP']:.2f}x "
          f"the transformer's whole MLP; speed of the layers alone, mosaic / transformer: {gpt / mosaic:.2f}; "
          f"at most {gpt / floor:.2f} if everything but the two kernels and the five projections were free")
    return best


def fastpaths(preset: dict, device) -> dict:
    """Each op of the mosaic.kernels switch, reference against auto, on one block's shapes."""
    cfg, ctx = preset["leaky"], preset["target_context"]
    times = fast_path_times(preset["model"], cfg["batch_size"], ctx, cfg["rounds"], device)
    print(f"\n[3c] the fast paths (mosaic.kernels, MOSAIC_KERNELS=auto) against the reference ops of "
          f"mosaic.model, forward + backward on one block's shapes, batch {cfg['batch_size']}, ctx {ctx}, best of "
          f"{cfg['rounds']} interleaved rounds")
    print(f"  {'op':<18}{'reference (ms)':>15}{'auto (ms)':>11}{'speedup':>9}")
    for op, t in times.items():
        print(f"  {op:<18}{1e3 * t['reference']:>15.2f}{1e3 * t['auto']:>11.2f}{t['reference'] / t['auto']:>8.2f}x")
    return times


def leaky(preset: dict, device) -> dict:
    cfg = preset["leaky"]
    ctx, C, H = preset["target_context"], preset["model"]["n_embd"], preset["model"]["n_head"]
    share = leaky_share(preset["model"], preset["arch_options"], cfg["batch_size"], ctx, cfg["rounds"], device)
    print(f"\n[4] leaky average (inside the keys' feature pass of mosaic.kernels, timed with the keys' "
          f"normalisation: an upper bound), forward + backward, best of {cfg['rounds']} interleaved rounds")
    print(f"one mosaic block at batch {cfg['batch_size']}, ctx {ctx}: {1e3 * share['block_s']:.2f} ms; its 2 key "
          f"passes of shape {share['shape']} alone: {1e3 * share['leaky_s']:.2f} ms = "
          f"{100 * share['share']:.1f}% of the block")
    times = leaky_scaling(cfg["batch_size"], C, H, cfg["contexts"], cfg["rounds"], device)
    exponent = loglog_slope(list(times), list(times.values()))
    print(f"cost vs T of one key pass of shape ({cfg['batch_size']}, T, {C}):")
    for T, t in times.items():
        print(f"  T {T:>6}: {1e3 * t:8.2f} ms  ({1e9 * t / T:8.1f} ns per position)")
    print(f"fitted exponent (log-log slope of time against T): {exponent:.3f}")
    return {"share": share["share"], "exponent": exponent}


def generation(preset: dict, names: list[str], device) -> dict:
    cfg = preset["generation"]
    wanted = [n for n in cfg["models"] if n in names]
    new, prompt = cfg["new_tokens"], cfg["prompt_tokens"]
    print(f"\n[5] generation of {new} tokens after a {prompt}-token prompt, batch 1, greedy: cached "
          "incremental decoding vs full recompute")
    speedups = {}
    for n in wanted:
        model = build(n, preset["model"], prompt + new, preset["arch_options"], device)
        t = generation_times(model, prompt, new, device)
        if not t:
            print(f"{n:<14}cached generation unavailable (no use_cache, or no prefill/decode_step)")
            speedups[n] = None
            continue
        speedups[n] = t["full_s"] / t["cached_s"]
        print(f"{n:<14}cached {new / t['cached_s']:>9.1f} tokens/s   full recompute "
              f"{new / t['full_s']:>9.1f} tokens/s   speedup {speedups[n]:.1f}x")
    return speedups


def memory(preset: dict, names: list[str], device, precision: str, threads) -> dict:
    cfg, tokens = preset["memory"], preset["throughput"]["tokens_per_step"]
    print(f"\n[6] peak memory of a training step ({cfg['steps']} steps, AdamW state included), over the "
          f"built model, each in a fresh process; batch x ctx ~ {tokens} tokens")
    print(f"{'ctx':>6}{'batch':>6}  {'model':<14}{'peak (MiB)':>11}")
    peaks, method = {}, ""
    for ctx in cfg["contexts"]:
        B = batch_for(tokens, ctx)
        for n in names:
            m = peak_step_memory(n, preset["model"], preset["arch_options"], B, ctx, cfg["steps"],
                                 str(device), precision, threads)
            peaks[n, ctx], method = m["peak_bytes"] / MIB, m["method"]
            print(f"{ctx:>6}{B:>6}  {n:<14}{peaks[n, ctx]:>11.1f}")
    print(f"(measured as {method})")
    return peaks


def targets(results: dict, preset: dict) -> list[str]:
    """The ``target: measured (pass/short)`` lines."""
    ctx = preset["target_context"]
    lines = []
    speed = {(r["model"], r["ctx"]): r["tokens_per_s"] for r in results.get("throughput", [])}
    paired = results.get("paired", {}).get(ctx)
    if paired is not None:  # judged on the paired rounds; the best steps' ratio shown beside
        ratio, best = paired["median"], speed["mosaic", ctx] / speed["transformer", ctx]
        others = "".join(f"; {v} {p['median']:.3f}" for (c, v), p in
                         ((k, p) for k, p in results["paired"].items() if isinstance(k, tuple)) if c == ctx)
        lines.append(f"mosaic/transformer training tokens/s at ctx {ctx} >= {TARGET_SPEED_RATIO}: "
                     f"{ratio:.3f} median of {paired['rounds']} paired rounds (range {paired['min']:.3f}-"
                     f"{paired['max']:.3f}; best steps {best:.3f}{others}) ({verdict(ratio >= TARGET_SPEED_RATIO)})")
    for n in ("mosaic", "transformer"):
        if n in results.get("mfu", {}):
            v = results["mfu"][n]
            lines.append(f"MFU {n} at ctx {ctx} >= {TARGET_MFU:.0%}: {v:.1%} ({verdict(v >= TARGET_MFU)})")
    if "leaky" in results:
        s, p = results["leaky"]["share"], results["leaky"]["exponent"]
        lines.append(f"leaky average share of a mosaic block fwd+bwd at ctx {ctx} <= {TARGET_LEAKY_SHARE:.0%}: "
                     f"{s:.1%} ({verdict(None if math.isnan(s) else s <= TARGET_LEAKY_SHARE)})")
        lines.append(f"leaky average cost exponent in T ~1 (<= {TARGET_LEAKY_EXPONENT}): {p:.3f} "
                     f"({verdict(None if math.isnan(p) else p <= TARGET_LEAKY_EXPONENT)})")
    for n, s in results.get("generation", {}).items():
        new = preset["generation"]["new_tokens"]
        measured = "unavailable" if s is None else f"{s:.1f}x"
        lines.append(f"{n} cached/full generation speedup at {new} tokens >= {TARGET_GEN_SPEEDUP:.0f}x: "
                     f"{measured} ({verdict(None if s is None else s >= TARGET_GEN_SPEEDUP)})")
    peaks = results.get("memory", {})
    for c in preset["memory"]["contexts"]:
        if ("mosaic", c) in peaks and ("transformer", c) in peaks:
            ratio = peaks["mosaic", c] / peaks["transformer", c]
            lines.append(f"mosaic/transformer peak step memory at ctx {c} <= {TARGET_MEMORY_RATIO}: "
                         f"{ratio:.3f} ({verdict(ratio <= TARGET_MEMORY_RATIO)})")
    return lines


# -- the CLI --------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    presets = yaml.safe_load(PRESETS.read_text())
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(presets), default="default")
    parser.add_argument("--device", default="auto", help="cpu | cuda | cuda:N | auto")
    parser.add_argument("--precision", choices=PRECISIONS, default=None,
                        help="bf16 = bf16 autocast (CUDA); default: the preset's")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--models", nargs="*", default=None, help="default: every registered model")
    parser.add_argument("--only", nargs="*", choices=SECTIONS, default=None,
                        help="run only these sections (throughput includes the peak and MFU)")
    parser.add_argument("--scaling-figure", default=None, metavar="PNG",
                        help="run only the context sweep (the preset's `scaling`, or --config-json) "
                             "and write this figure with its .pdf and .csv")
    parser.add_argument("--config-json", default=None,
                        help="with --scaling-figure: the workflow's `performance` section as JSON")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    preset = presets[args.preset]
    started = time.perf_counter()
    where = (f"on {device} ({machine_name(device)}), torch {torch.__version__}, "
             f"{torch.get_num_threads()} threads")

    if args.scaling_figure:
        cfg = json.loads(args.config_json) if args.config_json else dict(preset["scaling"])
        if args.precision:
            cfg["precision"] = args.precision
        print(f"context sweep {where}: {cfg['model']}, batch {cfg['batch_size']}, contexts {cfg['contexts']}")
        df = run_scaling(cfg, device, args.threads)
        m = cfg["model"]
        size = f"L{m.get('n_layer')} d{m.get('n_embd')} h{m.get('n_head')} V{m.get('vocab_size')}"
        plot_scaling(df, args.scaling_figure, f"{size}, batch {cfg['batch_size']}, {cfg['precision']}, {where}")
        print(f"wrote {args.scaling_figure} (+ .pdf, .csv) in {time.perf_counter() - started:.0f} s")
        return 0
    if args.config_json:
        raise ValueError("--config-json is only used with --scaling-figure")

    precision = args.precision or preset["precision"]
    names = args.models or available_models()
    sections = args.only or SECTIONS
    compiled = (f"mosaic/kernels/csrc on {cpu_kernels.parallelism()}" if device.type == "cpu"
                and cpu_kernels.available() else "none (PyTorch paths)")
    print(f"preset {args.preset}: {preset['model']} {where}, precision {precision}, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; MOSAIC_KERNELS={kernels.resolve_mode()}, "
          f"CPU kernels: {compiled}")
    results: dict = {}
    if "throughput" in sections:
        results["throughput"], matmul_best, results["paired"] = throughput(preset, names, device, precision)
        _, results["mfu"] = peak_and_mfu(preset, results["throughput"], matmul_best, device, precision)
    if "breakdown" in sections and {"mosaic", "transformer"} <= set(names):
        results["breakdown"] = breakdown(preset, device)
    if "fastpaths" in sections and "mosaic" in names:
        results["fastpaths"] = fastpaths(preset, device)
    if "leaky" in sections:
        results["leaky"] = leaky(preset, device)
    if "generation" in sections:
        results["generation"] = generation(preset, names, device)
    if "memory" in sections:
        results["memory"] = memory(preset, names, device, precision, args.threads)
    print(f"\ntargets (preset {args.preset}, {device}, total time {time.perf_counter() - started:.0f} s):")
    for line in targets(results, preset):
        print(line)
    return 0


if __name__ == "__main__":
    run_cli(main)
