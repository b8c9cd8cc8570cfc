"""Small spiking models whose neurons fire, for the export tests."""

from __future__ import annotations

import torch
from torch import nn

from spikebit.models.network import ModelConfig, build_network

LIF = {"threshold": 0.5, "tau": 0.25, "reset": "hard"}


def calibrate(model: nn.Module, x: torch.Tensor, seed: int = 0) -> nn.Module:
    """Give BatchNorm running statistics from ``x`` and random affine terms, so neurons fire."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the calibration pass
            with torch.no_grad():
                m.weight.copy_(0.6 + 0.8 * torch.rand(m.weight.shape, generator=g))
                m.bias.copy_(0.5 * torch.rand(m.bias.shape, generator=g))
    model.train()
    with torch.no_grad():
        model(x)
    return model.eval()


def small_net(neuron: str = "lif", neuron_kwargs: dict | None = None, quantizer: str = "abc",
              spec: str = "8C3-AP2-16C3-AP2-32", steps: int = 4,
              full_precision: tuple[int, ...] = (0,), **kw) -> nn.Module:
    torch.manual_seed(0)
    config = ModelConfig(spec=spec, in_shape=(1, 28, 28), steps=steps, neuron=neuron,
                         neuron_kwargs=dict(LIF if neuron_kwargs is None else neuron_kwargs),
                         quantizer=quantizer, full_precision=list(full_precision), **kw)
    return build_network(config)
