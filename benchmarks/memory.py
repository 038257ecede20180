"""Peak memory of one training step, each measurement in a fresh process.

On CPU a process's resident-set high-water mark never goes down, so measurements cannot share a
process. Each runs in a child forked from a *forkserver* that has imported torch and the models
but run nothing (fast to start, and no thread pool is forked). The child builds the model and
optimiser, records its resident set as the baseline, resets the kernel's high-water mark
(``/proc/self/clear_refs``; where that is refused the baseline is the high-water mark itself, an
under-estimate), runs ``steps`` training steps and reports ``VmHWM - baseline``: the activations,
gradients and AdamW state of the step, not the weights or the libraries.

On CUDA the same child reports ``torch.cuda.max_memory_allocated`` over the post-build
``memory_allocated`` (the allocator's own count, which excludes its cache).
"""
from __future__ import annotations

import multiprocessing as mp
import re
from pathlib import Path

# torch._dynamo: the first optimiser a process builds imports it (seconds); import it once, here.
_PRELOAD = ["torch", "torch._dynamo", "mosaic", "mosaic.baselines", "benchmarks.measure"]


def _status_kib(field: str) -> int:
    text = Path("/proc/self/status").read_text()
    return int(re.search(rf"^{field}:\s+(\d+)\s+kB", text, re.M).group(1))


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _child(conn, name, model_cfg, arch_options, batch, ctx, steps, device_name, precision, threads):
    try:
        import torch

        from benchmarks.measure import build, pick_device, synchronize, train_step_fn

        if threads:
            torch.set_num_threads(threads)
        device = pick_device(device_name)
        model = build(name, model_cfg, ctx, arch_options, device)
        step = train_step_fn(model, batch, ctx, device, precision)
        if device.type == "cuda":
            synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
            base = torch.cuda.memory_allocated(device)
            for _ in range(steps):
                step()
            synchronize(device)
            peak, method = torch.cuda.max_memory_allocated(device) - base, "cuda max_memory_allocated"
        else:
            base = _status_kib("VmRSS") * 1024
            method = "VmHWM - VmRSS after build"
            if not _reset_peak():
                base, method = _status_kib("VmHWM") * 1024, "VmHWM growth (clear_refs refused)"
            for _ in range(steps):
                step()
            peak = _status_kib("VmHWM") * 1024 - base
        conn.send({"peak_bytes": peak, "method": method})
    except Exception as exc:  # reported by the parent, with the model's name
        conn.send({"error": f"{type(exc).__name__}: {exc}"})
    finally:
        conn.close()


_CONTEXT = None


def _context():
    global _CONTEXT
    if _CONTEXT is None:
        method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
        _CONTEXT = mp.get_context(method)
        if method == "forkserver":
            _CONTEXT.set_forkserver_preload(_PRELOAD)
    return _CONTEXT


def peak_step_memory(name: str, model_cfg: dict, arch_options: dict | None, batch: int, ctx: int,
                     steps: int, device: str, precision: str, threads: int | None = None) -> dict:
    """``{"peak_bytes", "method"}`` of ``steps`` training steps of ``name`` in a fresh process."""
    ctx_mp = _context()
    parent, child = ctx_mp.Pipe(duplex=False)
    proc = ctx_mp.Process(target=_child, args=(child, name, model_cfg, arch_options, batch, ctx,
                                               steps, str(device), precision, threads))
    proc.start()
    child.close()
    try:
        result = parent.recv()
    except EOFError:
        result = {"error": "the measuring process died (out of memory?)"}
    proc.join()
    if "error" in result:
        raise RuntimeError(f"memory measurement of {name} at ctx {ctx}: {result['error']}")
    return result
