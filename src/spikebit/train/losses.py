"""Losses on the network output. Outputs are ``[T, B, K]`` (SNN) or ``[B, K]`` (ANN)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from spikebit.registry import Registry

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
LOSSES: Registry[Loss] = Registry("loss", discover=("spikebit.methods",))


def readout(output: torch.Tensor) -> torch.Tensor:
    """Mean over time of ``[T, B, K]`` (or ``[B, K]`` unchanged): the class scores."""
    return output.mean(0) if output.ndim == 3 else output


@LOSSES.register("ce")
def cross_entropy(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy on the time-averaged output."""
    return F.cross_entropy(readout(output), target)


@LOSSES.register("mse")
def spike_count_mse(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MSE between the time-averaged output (spike count / T) and one-hot targets."""
    scores = readout(output)
    return F.mse_loss(scores, F.one_hot(target, scores.shape[-1]).to(scores.dtype))
