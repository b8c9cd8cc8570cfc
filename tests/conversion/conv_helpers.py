"""Small networks and helpers shared by the conversion tests."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from spikebit.conversion.resnet import BasicBlock


def randomize_bn(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BN random running stats and affine parameters; returns the model in eval."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            if m.affine:
                m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
                m.bias.data.copy_(0.4 * torch.rand(n, generator=g) - 0.2)
    return model.eval()


def tiny_cnn(pool: str = "avg", seed: int = 0) -> nn.Sequential:
    """conv-BN-ReLU-pool-conv-ReLU-flatten-linear on [B, 2, 8, 8], 4 classes."""
    torch.manual_seed(seed)
    pool_layer = nn.AvgPool2d(2) if pool == "avg" else nn.MaxPool2d(2)
    net = nn.Sequential(
        nn.Conv2d(2, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), pool_layer,
        nn.Conv2d(6, 8, 3, padding=1), nn.ReLU(),
        nn.Flatten(), nn.Linear(8 * 4 * 4, 4),
    )
    return randomize_bn(net, seed)


def tiny_resnet(seed: int = 0) -> nn.Sequential:
    """stem conv-BN-ReLU, two BasicBlocks (one with a conv shortcut), GAP, linear."""
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(2, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(),
        BasicBlock(6, 6), BasicBlock(6, 8, stride=2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4),
    )
    return randomize_bn(net, seed)


def images(n: int = 16, seed: int = 1) -> Tensor:
    """Non-negative random images [n, 2, 8, 8]."""
    return torch.rand(n, 2, 8, 8, generator=torch.Generator().manual_seed(seed))


def mean_error(out: Tensor, ref: Tensor) -> Tensor:
    """Mean |out[t] - ref| per step: ``[T]``."""
    return (out - ref).abs().mean(dim=(1, 2))
