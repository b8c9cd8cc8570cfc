"""Run stateless layers over time by folding ``T`` into the batch."""

from __future__ import annotations

import torch
from torch import nn

from spikebit.neurons.base import check_sequence


class TimeDistributed(nn.Module):
    """Apply ``module`` to ``[T, B, ...]`` as one call on ``[T*B, ...]``.

    BatchNorm inside therefore uses statistics over ``T*B`` (the usual
    multi-step convention).

    Args:
        module: a stateless layer on ``[N, ...]`` inputs (conv, BN, pooling, linear).
    """

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        """Run ``module`` once on all steps.

        Args:
            x_seq: time-major input ``[T, B, ...]``.

        Returns:
            ``[T, B, ...]``: the module's output per step (its own trailing shape).

        Raises:
            ShapeError: ``x_seq`` has fewer than 2 dimensions.
        """
        check_sequence(x_seq, f"TimeDistributed({type(self.module).__name__})")
        t, b = x_seq.shape[:2]
        y = self.module(x_seq.reshape(t * b, *x_seq.shape[2:]))
        return y.reshape(t, b, *y.shape[1:])


class GlobalAvgPool(nn.Module):
    """``[N, C, H, W] -> [N, C]``: mean over the spatial dimensions."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Mean over the last two (spatial) dimensions.

        Args:
            x: feature maps ``[N, C, H, W]`` (``N = T*B`` inside :class:`TimeDistributed`).

        Returns:
            ``[N, C]``.
        """
        return x.mean(dim=(-2, -1))
