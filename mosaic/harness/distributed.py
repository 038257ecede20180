"""Data-parallel training under ``torchrun``, invisible to single-process runs.

``torchrun --nproc_per_node N -m mosaic.experiments.stories.lm train ...`` starts N copies of the same command with
``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` (and a rendezvous address) in the environment;
:func:`setup` turns that into a process group (NCCL on CUDA, Gloo on CPU) and :class:`Dist`
carries the few collective operations the trainer needs. Without those variables everything
here is a no-op and ``world_size == 1``.

Sharding keeps the single-process semantics: every rank draws the *same* global batch of step
``s`` (a function of ``(seed, s)`` only) and trains on its contiguous slice
(:meth:`Dist.shard`); DDP averages the gradients, so an update equals the single-process update
on the whole batch (up to float summation order). Hence ``batch_size`` in the configs is the
global batch, and a checkpoint resumes on any number of processes.
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn as nn

RANK_SEED_STRIDE = 7_919  # rank r > 0 reseeds its torch RNG with seed + r * stride


@dataclass
class Dist:
    """This process's place in the data-parallel job (rank 0 of 1 when not distributed)."""

    rank: int = 0
    world_size: int = 1
    owns_group: bool = False  # whether setup() created the process group (and must destroy it)

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 writes every file (checkpoints, metrics, config, done); the others wait."""
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def sum(self, values: Sequence[float], device: torch.device) -> list[float]:
        """Element-wise sum of ``values`` over ranks (identity on one process)."""
        if not self.enabled:
            return list(values)
        t = torch.tensor(values, dtype=torch.float64, device=device)
        dist.all_reduce(t)
        return t.tolist()

    def all_agree(self, ok: bool, device: torch.device) -> bool:
        """True on every rank iff ``ok`` on every rank (so all raise together, none hangs)."""
        return self.sum([0.0 if ok else 1.0], device)[0] == 0.0

    def seed_rank(self, seed: int) -> None:
        """Give ranks > 0 their own torch RNG stream (dropout), a function of ``seed`` and the
        rank, so data-parallel runs are reproducible and ranks do not share dropout masks."""
        if self.rank > 0:
            torch.manual_seed(seed + RANK_SEED_STRIDE * self.rank)

    def shard(self, batch: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        """This rank's contiguous slice (along dim 0) of every tensor of the global batch."""
        if not self.enabled:
            return tuple(batch)
        out = []
        for t in batch:
            if t.dim() == 0 or t.shape[0] % self.world_size:
                raise ValueError(f"the global batch (first dimension {tuple(t.shape)[:1]}) must divide "
                                 f"evenly over {self.world_size} processes; change batch_size")
            n = t.shape[0] // self.world_size
            out.append(t[self.rank * n:(self.rank + 1) * n])
        return tuple(out)

    def wrap(self, model: nn.Module, device: torch.device) -> nn.Module:
        """``DistributedDataParallel(model)`` when distributed, else ``model`` itself."""
        if not self.enabled:
            return model
        ids = [device.index] if device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=ids)

    @contextlib.contextmanager
    def no_sync(self, wrapped: nn.Module, skip: bool) -> Iterator[None]:
        """Skip the gradient all-reduce for all but the last micro-batch of an update."""
        if skip and self.enabled:
            with wrapped.no_sync():
                yield
        else:
            yield

    def close(self) -> None:
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()


def env_world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def setup(device_name: str) -> tuple[Dist, str]:
    """Join the process group described by the environment (if any) and return it with the
    device this process should use: under torchrun, ``cuda``, ``cuda:N`` or ``auto`` with GPUs
    means ``cuda:LOCAL_RANK`` (one GPU per process, as NCCL requires)."""
    if env_world_size() <= 1 and not dist.is_initialized():
        return Dist(), device_name
    if not dist.is_available():
        raise ValueError("WORLD_SIZE > 1 but this PyTorch build has no torch.distributed")
    use_cuda = device_name.startswith("cuda") or (device_name == "auto" and torch.cuda.is_available())
    owns = False
    if use_cuda:
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        device_name = f"cuda:{local_rank}"
        torch.cuda.set_device(torch.device(device_name))
    elif device_name == "auto":
        device_name = "cpu"
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
        owns = True
    return Dist(rank=dist.get_rank(), world_size=dist.get_world_size(), owns_group=owns), device_name
