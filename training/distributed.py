"""Training on several processes or machines: ``torchrun ... -m training.train <model> ...``.

torchrun starts one process per worker and tells each its rank through environment variables. Here each
process joins the group (gloo on CPUs, NCCL when every process has a GPU), wraps the model in
DistributedDataParallel (gradients are averaged across processes after every backward pass), trains on its
own shard of every epoch (``DistributedSampler``) with ``batch_size / world`` items per step, so the step
count and the learning-rate schedule match a single-process run of the same batch size, and only rank 0
evaluates at the end and writes the checkpoint and the logs. Without torchrun the same code runs as one
process. The NumPy MLP has no autograd or collective operations: it stays single-process.

  torchrun --standalone --nproc-per-node=2 -m training.train digit_cnn ...          # one machine
  torchrun --nnodes=N --nproc-per-node=P --rdzv-endpoint=host:port -m training.train digit_cnn ...
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DistributedSampler


@dataclass(frozen=True)
class World:
    """This process's place among the training processes."""

    rank: int = 0
    size: int = 1

    @property
    def main(self) -> bool:
        """Rank 0: the process that logs, evaluates and writes."""
        return self.rank == 0


def join() -> World:
    """Join the process group when started by torchrun (WORLD_SIZE > 1); a one-process World otherwise."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return World(dist.get_rank(), dist.get_world_size())


def leave() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def wrap(model: nn.Module, world: World) -> nn.Module:
    """The model as every process trains it: DistributedDataParallel when there are several."""
    return nn.parallel.DistributedDataParallel(model) if world.size > 1 else model


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module inside a DistributedDataParallel wrapper (for saving and evaluating)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def shard(n: int, epoch: int, seed: int, world: World) -> np.ndarray:
    """This process's share of a shuffled pass over ``n`` items: the same permutation in every process
    (seeded by seed and epoch), cut into ``world.size`` disjoint, equally long shards."""
    sampler = DistributedSampler(range(n), num_replicas=world.size, rank=world.rank, shuffle=True, seed=seed)
    sampler.set_epoch(epoch)
    return np.fromiter(sampler, np.int64, count=len(sampler))


def sum_over_processes(*values: float) -> list[float]:
    """Each value summed over all processes (for epoch totals); unchanged with one process."""
    if not dist.is_initialized():
        return list(values)
    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t)
    return t.tolist()


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()
