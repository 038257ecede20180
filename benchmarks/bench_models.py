"""Forward + backward training throughput of every registered model at one named size.

    python benchmarks/bench_models.py --preset default [--device cpu] [--models mosaic transformer]

Each model trains on random tokens (AdamW step included) for ``steps`` timed steps after
``warmup_steps``; the table gives tokens/s and parameters, and the last line is the
``mosaic/transformer throughput ratio``. Numbers are printed, not asserted: compare ratios taken
in one run on one machine.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from mosaic import available_models, build_model  # noqa: E402

PRESETS = Path(__file__).with_name("presets.yaml")


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def train_throughput(name: str, preset: dict, device: torch.device) -> dict:
    torch.manual_seed(0)
    cfg = preset["model"]
    model = build_model(name, **cfg).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    B, T = preset["batch_size"], cfg["block_size"]
    x = torch.randint(0, cfg["vocab_size"], (B, T), device=device)
    y = torch.randint(0, cfg["vocab_size"], (B, T), device=device)

    def step() -> None:
        _, loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(preset["warmup_steps"]):
        step()
    synchronize(device)
    start = time.perf_counter()
    for _ in range(preset["steps"]):
        step()
    synchronize(device)
    seconds = (time.perf_counter() - start) / preset["steps"]
    return {"model": name, "params_M": model.num_params() / 1e6, "ms_per_step": 1e3 * seconds,
            "tokens_per_s": B * T / seconds}


def main(argv: list[str] | None = None) -> int:
    presets = yaml.safe_load(PRESETS.read_text())
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(presets), default="default")
    parser.add_argument("--device", default="auto", help="cpu | cuda | auto")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--models", nargs="*", default=None, help="default: every registered model")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    preset = presets[args.preset]
    names = args.models or available_models()
    print(f"preset {args.preset}: {preset['model']} batch {preset['batch_size']} on {device}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    rows = [train_throughput(name, preset, device) for name in names]
    print(f"{'model':<14}{'params (M)':>12}{'ms/step':>12}{'tokens/s':>12}")
    for r in rows:
        print(f"{r['model']:<14}{r['params_M']:>12.2f}{r['ms_per_step']:>12.1f}{r['tokens_per_s']:>12.0f}")
    speed = {r["model"]: r["tokens_per_s"] for r in rows}
    if "mosaic" in speed and "transformer" in speed:
        print(f"mosaic/transformer throughput ratio: {speed['mosaic'] / speed['transformer']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
