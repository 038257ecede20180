#!/usr/bin/env bash
# The GPU path in one go (issue 22, item 6), about 8 minutes on one GPU:
#
#   benchmarks/gpu_check.sh OUT_DIR                 run every step on cuda (needs a CUDA device)
#   benchmarks/gpu_check.sh --dry-run OUT_DIR       print every command and check that it parses
#   benchmarks/gpu_check.sh --steps bench,dag OUT_DIR   only these steps (tests, bench, dag, torchrun)
#
# Steps (each under its own time limit; a step that fails or runs out of time fails the check,
# the others still run):
#   tests     the device-aware tests with MOSAIC_TEST_DEVICE=cuda (they train and load on cuda);
#   bench     benchmarks/bench_models.py at GPT2-small size in bf16: mosaic vs transformer tokens/s,
#             eager and torch.compile'd, MFU against the bf16 matmul peak measured in the same
#             run, cached vs recomputed generation;
#   dag       the smoke DAG with `device: cuda`, in a temporary copy of the checkout;
#   torchrun  a tiny training under torchrun on the NCCL backend (GPU_CHECK_NPROC processes, 1 by
#             default: with one process the trainer does not wrap the model in DDP, so only NCCL's
#             start-up and an all-reduce are exercised; 2+ GPUs exercise DDP too).
#
# Everything printed goes to OUT_DIR/gpu_check.log (and each step's output to OUT_DIR/<step>.log);
# the last lines summarise each step: pass / FAIL / TIMEOUT and its seconds.
# Environment: GPU_CHECK_PRESET (bench preset, default gpu), GPU_CHECK_NPROC (default 1),
# PYTHON (default python).
set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python}"
PRESET="${GPU_CHECK_PRESET:-gpu}"
NPROC="${GPU_CHECK_NPROC:-1}"
ALL_STEPS="tests bench dag torchrun"
# Seconds per step; together 8 minutes.
declare -A LIMIT=([tests]=75 [bench]=210 [dag]=135 [torchrun]=60)
# The tests that train and load on MOSAIC_TEST_DEVICE (every other test runs on the CPU).
CUDA_TESTS=(tests/kernels/test_cuda.py tests/harness/test_pretrained.py tests/harness/test_tracking.py)

usage() {
    echo "usage: benchmarks/gpu_check.sh [--dry-run] [--steps tests,bench,dag,torchrun] OUT_DIR" >&2
}

dry_run=0
steps="$ALL_STEPS"
out=""
while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run) dry_run=1 ;;
        --steps)
            if [ $# -lt 2 ]; then usage; echo "error: --steps needs a comma-separated list" >&2; exit 2; fi
            steps="${2//,/ }"
            shift ;;
        -h|--help) usage; exit 0 ;;
        -*) usage; echo "error: unknown option $1" >&2; exit 2 ;;
        *)
            if [ -n "$out" ]; then usage; echo "error: one output directory, got $out and $1" >&2; exit 2; fi
            out="$1" ;;
    esac
    shift
done
if [ -z "$out" ]; then
    usage
    echo "error: give the output directory for the printout" >&2
    exit 2
fi
for s in $steps; do
    case " $ALL_STEPS " in
        *" $s "*) ;;
        *) echo "error: unknown step '$s' (steps: ${ALL_STEPS// /, })" >&2; exit 2 ;;
    esac
done
if [ -e "$out" ] && [ ! -d "$out" ]; then
    echo "error: $out exists and is not a directory" >&2
    exit 2
fi
mkdir -p "$out" || { echo "error: cannot create $out" >&2; exit 2; }
out="$(cd "$out" && pwd)"
LOG="$out/gpu_check.log"
: > "$LOG"
say() { echo "$*" | tee -a "$LOG"; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1

# -- the commands -----------------------------------------------------------------------------
# The torchrun worker: joins NCCL itself (train() creates a process group only when WORLD_SIZE >
# 1, and would then pick NCCL for cuda as well), all-reduces once, trains a tiny mosaic on its GPU.
cat > "$work/torchrun_tiny.py" <<'PY'
import json
import os
import sys

import torch
import torch.distributed as dist

from mosaic import build_model
from mosaic.harness.train import TrainConfig, train

local_rank = int(os.environ["LOCAL_RANK"])
torch.cuda.set_device(local_rank)
dist.init_process_group(backend="nccl")
ones = torch.ones(1, device="cuda")
dist.all_reduce(ones)
assert dist.get_backend() == "nccl" and ones.item() == dist.get_world_size(), (dist.get_backend(), ones)
V, T, B = 64, 32, 8 * dist.get_world_size()


def get_batch(split, step, generator):
    x = torch.randint(0, V, (B, T + 1), generator=generator)
    return x[:, :-1], x[:, 1:]


torch.manual_seed(0)
model = build_model("mosaic", vocab_size=V, n_layer=1, n_head=2, n_embd=32, block_size=T)
cfg = TrainConfig.from_dict(dict(max_steps=20, lr=3e-3, eval_interval=10, eval_batches=2, log_interval=5,
                                 checkpoint_interval=10, device="cuda", progress=False))
done = train(model, get_batch, sys.argv[1], cfg, run_config={"arch": "mosaic", "check": "torchrun"})
if dist.get_rank() == 0:
    print(json.dumps({"world_size": dist.get_world_size(), "backend": dist.get_backend(), **done}))
dist.destroy_process_group()
PY

step_command() {  # the command line of a step, one string (printed, then run with bash -c)
    case "$1" in
        tests) echo "MOSAIC_TEST_DEVICE=cuda $PYTHON -m pytest -q -p no:cacheprovider ${CUDA_TESTS[*]}" ;;
        bench) echo "$PYTHON benchmarks/bench_models.py --preset $PRESET --device cuda --precision bf16" \
                    "--models mosaic transformer --only throughput generation" ;;
        dag) echo "cd $work/dag && $PYTHON -m snakemake --cores all --configfile config/smoke.yaml --config device=cuda" ;;
        torchrun) echo "$PYTHON -m torch.distributed.run --standalone --nproc_per_node $NPROC" \
                       "$work/torchrun_tiny.py $work/torchrun_run" ;;
    esac
}

parse_command() {  # what checks, without a GPU, that the step's command parses
    case "$1" in
        tests) echo "$PYTHON -m pytest -q -p no:cacheprovider --collect-only ${CUDA_TESTS[*]}" ;;
        # argparse runs each option's check in order, so --help last validates every option before it
        bench) echo "$(step_command bench) --help" ;;
        dag) echo "cd $work/dag && $PYTHON -m snakemake --dry-run --configfile config/smoke.yaml --config device=cuda" ;;
        torchrun) echo "$PYTHON -m py_compile $work/torchrun_tiny.py && $PYTHON -m torch.distributed.run --help" ;;
    esac
}

copy_checkout() {  # the DAG writes results/: it runs in a copy
    mkdir -p "$work/dag"
    tar -C "$REPO" --exclude=./.git --exclude=./results --exclude=./.snakemake --exclude='*.egg-info' \
        --exclude='__pycache__' --exclude=./.pytest_cache -cf - . | tar -C "$work/dag" -xf -
}

# -- run ---------------------------------------------------------------------------------------
cd "$REPO" || exit 2
if [ "$dry_run" -eq 0 ]; then
    if ! "$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
        say "error: no CUDA device visible to torch; on a machine without a GPU use --dry-run"
        exit 2
    fi
    say "gpu_check on $("$PYTHON" -c 'import torch; print(torch.cuda.get_device_name(0), "| torch", torch.__version__, "| CUDA", torch.version.cuda)')"
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | tee -a "$LOG"
else
    say "gpu_check --dry-run: the commands of steps [$steps], each checked to parse"
fi
say "git $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?'), preset $PRESET, started $(date -u +%FT%TZ)"

failed=0
summary=()
for s in $steps; do
    if [ "$s" = dag ]; then copy_checkout; fi
    if [ "$dry_run" -eq 1 ]; then
        cmd="$(parse_command "$s")"
        say ""
        say "== $s: $(step_command "$s")"
        say "   check: $cmd"
        limit=120
    else
        cmd="$(step_command "$s")"
        say ""
        say "== $s (limit ${LIMIT[$s]} s): $cmd"
        limit="${LIMIT[$s]}"
    fi
    start=$(date +%s)
    timeout --kill-after=10 "$limit" bash -c "$cmd" > "$out/$s.log" 2>&1
    rc=$?
    seconds=$(( $(date +%s) - start ))
    if [ "$dry_run" -eq 1 ]; then
        tail -n 3 "$out/$s.log" | sed 's/^/   | /' | tee -a "$LOG"
    else
        tail -n 60 "$out/$s.log" | sed 's/^/   | /' | tee -a "$LOG"
    fi
    if [ "$rc" -eq 0 ]; then
        verdict=pass
    elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        verdict="TIMEOUT after ${limit} s"; failed=1
    else
        verdict="FAIL (exit $rc)"; failed=1
    fi
    summary+=("$s: $verdict (${seconds} s)")
done

say ""
say "== summary"
for line in "${summary[@]}"; do say "$line"; done
say "printout: $LOG"
exit "$failed"
