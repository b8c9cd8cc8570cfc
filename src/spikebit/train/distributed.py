"""Multi-process data parallel via ``torch.distributed`` (launch with ``torchrun``).

Each process trains on a disjoint shard of every global batch
(``optim.batch_size`` is the global batch); DDP averages gradients, so N
processes follow the 1-process run on the same global batch. Only rank 0 writes
checkpoints and logs.

On CUDA (``torchrun --nproc_per_node=N -m spikebit.cli.main train CONFIG``): rank
``r`` runs on ``cuda:LOCAL_RANK``, set as the current device *before* the NCCL
process group is created and before DDP wraps the model; BatchNorm becomes
SyncBatchNorm. On the CPU: gloo, per-process BatchNorm statistics.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as tdist
from torch import nn

from spikebit.errors import ConfigError


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the process group (all defaults: not distributed).

    Args:
        rank: global rank of this process, in ``[0, world_size)``.
        world_size: number of processes (1 when not distributed).
        local_rank: rank on this machine (the CUDA device index under torchrun).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """``True`` on rank 0, the process that writes checkpoints and logs."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        """``True`` when more than one process trains (DDP is used)."""
        return self.world_size > 1

    def wrap(self, model: nn.Module, device: torch.device | None = None) -> nn.Module:
        """Wrap ``model`` (already on ``device``) in DDP when distributed, else return it.

        On CUDA the BatchNorm layers become SyncBatchNorm and DDP is bound to ``device``.

        Args:
            model: the network, already on ``device``.
            device: where this process computes (default: the CPU).

        Returns:
            ``model`` itself in a single process; otherwise a ``DistributedDataParallel``
            wrapper that averages gradients over the processes.
        """
        if not self.active:
            return model
        device = device or torch.device("cpu")
        if device.type == "cuda":
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
            return nn.parallel.DistributedDataParallel(
                model, device_ids=[device.index], output_device=device.index)
        return nn.parallel.DistributedDataParallel(model)


def backend_for(device: torch.device) -> str:
    """NCCL for CUDA devices, gloo otherwise.

    Args:
        device: where this process computes.

    Returns:
        The ``torch.distributed`` backend name, ``"nccl"`` or ``"gloo"``.
    """
    return "nccl" if device.type == "cuda" else "gloo"


def init_from_env(device: torch.device | None = None) -> DistInfo:
    """Join the process group described by torchrun's environment, if any.

    ``device`` is where this process computes (see :mod:`spikebit.train.device`; under
    torchrun ``auto``/``cuda`` resolve to ``cuda:LOCAL_RANK``). A CUDA device is made
    current before NCCL starts.

    Args:
        device: where this process computes (default: ``cuda:LOCAL_RANK`` when CUDA is
            available, else the CPU).

    Returns:
        This process's :class:`DistInfo` (the default, one process, when ``WORLD_SIZE``
        is unset or 1).

    Raises:
        ConfigError: an explicit ``cuda:N`` that differs from ``cuda:LOCAL_RANK`` (two
            ranks would share one GPU).
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device is None:
        device = torch.device("cuda", local) if torch.cuda.is_available() else torch.device("cpu")
    if device.type == "cuda":
        if device.index is not None and device.index != local % torch.cuda.device_count():
            raise ConfigError(
                f"under torchrun each rank uses cuda:LOCAL_RANK, but rank with LOCAL_RANK={local} "
                f"was given {device}; use device: auto (or cuda) in the config."
            )
        torch.cuda.set_device(device)
    if not tdist.is_initialized():
        kwargs = {"device_id": device} if device.type == "cuda" else {}
        tdist.init_process_group(backend=backend_for(device), **kwargs)
    return DistInfo(tdist.get_rank(), tdist.get_world_size(), local)


def all_reduce_sum(tensor: torch.Tensor, dist: DistInfo) -> torch.Tensor:
    """Sum ``tensor`` over processes (identity when not distributed).

    Args:
        tensor: any tensor of the same shape on every process (e.g. the stacked loss
            sum, correct count and sample count of an epoch).
        dist: this process's place in the process group.

    Returns:
        The element-wise sum over processes (a copy when distributed; ``tensor`` itself
        otherwise).
    """
    if dist.active:
        tensor = tensor.clone()
        tdist.all_reduce(tensor)
    return tensor
