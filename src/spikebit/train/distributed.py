"""Multi-process data parallel via ``torch.distributed`` (launch with ``torchrun``).

Each process trains on a disjoint shard of every global batch
(``optim.batch_size`` is the global batch); DDP averages gradients, so N
processes follow the 1-process run on the same global batch. BatchNorm
statistics are per process, as in standard DDP (SyncBatchNorm on CUDA).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as tdist
from torch import nn


@dataclass(frozen=True)
class DistInfo:
    """This process's rank and the world size (1 when not distributed)."""

    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    def wrap(self, model: nn.Module) -> nn.Module:
        """Wrap ``model`` in DDP when distributed, else return it unchanged."""
        if not self.active:
            return model
        if torch.cuda.is_available():
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return nn.parallel.DistributedDataParallel(model)


def init_from_env() -> DistInfo:
    """Join the process group described by torchrun's environment, if any."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if not tdist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        tdist.init_process_group(backend=backend)
    return DistInfo(tdist.get_rank(), tdist.get_world_size())


def all_reduce_sum(tensor: torch.Tensor, dist: DistInfo) -> torch.Tensor:
    """Sum ``tensor`` over processes (identity when not distributed)."""
    if dist.active:
        tensor = tensor.clone()
        tdist.all_reduce(tensor)
    return tensor
