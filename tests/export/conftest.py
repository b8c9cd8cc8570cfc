"""Fixtures of the export tests: synthetic images and a small LIF network that fires."""

from __future__ import annotations

import pytest
import torch
from export_helpers import calibrate, small_net
from torch import nn


@pytest.fixture
def images() -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return torch.rand(4, 1, 28, 28, generator=g)


@pytest.fixture
def lif_net(images) -> nn.Module:
    return calibrate(small_net(), images)
