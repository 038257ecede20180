"""Training throughput and peak step memory against the context length, for every architecture
(``results/figures/perf_scaling.png``; rule ``perf_scaling`` in workflow/rules/performance.smk).

The sweep is sized by the ``performance:`` section of the workflow config (or a preset's
``scaling:`` entry, same keys; ``mosaic/harness/schemas/performance.schema.yaml``): a fixed batch at
every context, so tokens/s falls with T where a token's cost grows with T (attention, the
mosaic's kernel smoothing: O(T) per token, O(T²) per sequence) and stays flat for the
recurrent and state-space models (O(1) per token); memory is measured in fresh processes
(``benchmarks/memory.py``).
"""
from __future__ import annotations

import pandas as pd

from benchmarks.measure import best_times, build, train_step_fn
from benchmarks.memory import peak_step_memory

SCALING_KEYS = ("architectures", "model", "arch_options", "batch_size", "contexts", "warmup_steps",
                "rounds", "memory_steps", "precision")
MIB = 2.0**20


def check_scaling_config(cfg: dict) -> None:
    missing = [k for k in SCALING_KEYS if k not in cfg]
    unknown = sorted(set(cfg) - set(SCALING_KEYS))
    if missing or unknown:
        raise ValueError(f"scaling config: missing keys {missing}, unknown keys {unknown}; "
                         f"expected {list(SCALING_KEYS)}")
    if not cfg["architectures"] or not cfg["contexts"]:
        raise ValueError("scaling config needs at least one architecture and one context")


def run_scaling(cfg: dict, device, threads: int | None, log=print) -> pd.DataFrame:
    """One row per (architecture, context): tokens/s (best of ``rounds`` interleaved training
    steps) and the step's peak memory in MiB."""
    check_scaling_config(cfg)
    rows = []
    B = cfg["batch_size"]
    for ctx in sorted(cfg["contexts"]):
        models = {a: build(a, cfg["model"], ctx, cfg["arch_options"], device) for a in cfg["architectures"]}
        steps = {a: train_step_fn(m, B, ctx, device, cfg["precision"]) for a, m in models.items()}
        best = best_times(steps, rounds=cfg["rounds"], warmup=cfg["warmup_steps"], device=device)
        del models, steps
        for arch in cfg["architectures"]:
            mem = peak_step_memory(arch, cfg["model"], cfg["arch_options"], B, ctx, cfg["memory_steps"],
                                   str(device), cfg["precision"], threads)
            rows.append({"arch": arch, "context": ctx, "batch_size": B, "tokens_per_s": B * ctx / best[arch],
                         "ms_per_step": 1e3 * best[arch], "peak_mib": mem["peak_bytes"] / MIB,
                         "memory_method": mem["method"]})
            log(f"  ctx {ctx:>5}  {arch:<14}{rows[-1]['tokens_per_s']:>10.0f} tokens/s"
                f"{rows[-1]['peak_mib']:>10.1f} MiB")
    return pd.DataFrame(rows)


def plot_scaling(df: pd.DataFrame, png_path, title: str) -> None:
    """Two panels, tokens/s and peak step memory against context, one line per architecture."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    from mosaic.harness.plotting import arch_palette, legend_outside, new_figure, save_figure, set_style

    set_style()
    fig, (ax_speed, ax_mem) = new_figure(ncols=2)
    colors = arch_palette(list(df["arch"].unique()))  # every architecture a distinct, strong colour
    for arch, d in df.groupby("arch", sort=False):
        d = d.sort_values("context")
        ax_speed.plot(d["context"], d["tokens_per_s"], marker="o", label=arch, color=colors[arch])
        ax_mem.plot(d["context"], d["peak_mib"], marker="o", label=arch, color=colors[arch])
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    contexts = sorted(df["context"].unique())
    for ax in (ax_speed, ax_mem):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(contexts, [str(c) for c in contexts])
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("context length T (tokens)")
    ax_speed.set_ylabel("training tokens / s")
    ax_mem.set_ylabel("peak step memory (MiB)")
    ax_speed.set_title("throughput (fixed batch)")
    ax_mem.set_title("memory of one training step")
    legend_outside(fig, ax_speed, where="below")
    fig.suptitle(title, fontsize="small")
    save_figure(fig, png_path, df)
