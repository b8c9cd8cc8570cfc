"""The optimizer and learning-rate schedule a run config names (``optim:`` section).

Saving and restoring the optimizer's state is :mod:`spikebit.train.optim_state`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from spikebit.train.schema import RunConfig


def param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Optimizer parameter groups: weight decay only on conv/linear weights.

    Parameters with ``ndim > 1`` (conv/linear weights) decay; BN affine parameters,
    biases and scalars (learnable thresholds, leaks, quantizer scales) do not. Frozen
    parameters (``requires_grad=False``) are left out.

    Args:
        model: the network whose trainable parameters are grouped.
        weight_decay: the L2 coefficient of the decaying group (``optim.weight_decay``).

    Returns:
        One group ``{"params", "weight_decay"}`` for the weights, followed by one with
        ``weight_decay=0.0`` when the model has 0-/1-D parameters.
    """
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
    rest = [p for p in model.parameters() if p.requires_grad and p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if rest:
        groups.append({"params": rest, "weight_decay": 0.0})
    return groups


def make_optimizer(model: nn.Module, config: RunConfig) -> torch.optim.Optimizer:
    """The optimizer named by ``config.optim.optimizer`` over :func:`param_groups`.

    ``"sgd"`` uses ``optim.momentum``; ``"adamw"`` and ``"adam"`` (the fallback for any
    other name, which :func:`spikebit.train.config.load_config` has already refused) use
    ``optim.lr`` only. Weight decay comes from the groups.

    Args:
        model: the network to optimize.
        config: the run configuration (its ``optim`` section).

    Returns:
        A ``torch.optim`` optimizer (SGD, AdamW or Adam) at learning rate ``optim.lr``.
    """
    o = config.optim
    groups = param_groups(model, o.weight_decay)
    if o.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=o.lr, momentum=o.momentum)
    if o.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=o.lr)
    return torch.optim.Adam(groups, lr=o.lr)


def make_scheduler(opt: torch.optim.Optimizer, config: RunConfig,
                   steps: int) -> torch.optim.lr_scheduler.LRScheduler:
    """The learning-rate schedule named by ``config.optim.schedule``, stepped per batch.

    ``CosineAnnealingLR`` from ``optim.lr`` to 0 over ``steps`` for ``"cosine"``;
    otherwise a constant ``LambdaLR`` (factor 1).

    Args:
        opt: the optimizer whose learning rate is scheduled.
        config: the run configuration (``optim.schedule``: ``"cosine"`` or ``"constant"``).
        steps: total optimizer steps of the run (batches per epoch times epochs); the
            cosine period ``T_max`` (at least 1).

    Returns:
        A ``CosineAnnealingLR`` or a constant ``LambdaLR`` over ``opt``.
    """
    if config.optim.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, steps))
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
