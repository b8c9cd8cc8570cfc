"""An all-zero latent channel gets a gradient and recovers (``sign`` and ``qsnn``).

With a per-channel scale that is the channel's own statistic, a channel whose latent
weights are all zero used to have a zero scale, a zero output and a zero gradient, so
it never trained again. The scale used by the gradient is now floored at
``SCALE_FLOOR`` of the layer's statistic (``spikebit.quant.quantizers`` docstring).
"""

from __future__ import annotations

import pytest
import torch

from spikebit.quant import SCALE_FLOOR, QLinear, get_quantizer
from spikebit.quant.quantizers import QSNN_MAG_FLOOR

PER_CHANNEL = ["sign", "qsnn"]


def _layer(name: str, dead: int = 2) -> QLinear:
    torch.manual_seed(0)
    layer = QLinear(16, 4, bias=False, quantizer=get_quantizer(name))
    with torch.no_grad():
        layer.weight[dead] = 0.0
    return layer


def _problem(name: str) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(256, 16, generator=g)
    w_true = torch.randn(4, 16, generator=g)
    # qsnn emits +-2^e with e near 0 whatever the weight size: give it a +-1 target
    w_true = w_true.sign() if name == "qsnn" else 0.3 * w_true
    return x, x @ w_true.T


def _channel_losses(layer: QLinear, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (layer(x) - target).pow(2).mean(0)


@pytest.mark.parametrize("name", PER_CHANNEL)
def test_dead_channel_gets_a_gradient(name):
    layer = _layer(name)
    x, target = _problem(name)
    _channel_losses(layer, x, target).sum().backward()
    grad = layer.weight.grad
    assert grad[2].abs().sum() > 0
    # without the floor this gradient is exactly zero: the scale of a zero channel is 0
    q = layer.quantizer
    w = layer.weight.detach()
    if name == "sign":
        gamma = q.scale(w)
        assert gamma[2] == 0  # forward stays exact: the dead channel emits 0
        assert q.gradient_scale(w, gamma)[2] == pytest.approx(SCALE_FLOOR * gamma.mean().item())
        assert torch.equal(layer(x)[:, 2], torch.zeros(256))
    else:
        assert q.levels(w).scales[0, 2] == QSNN_MAG_FLOOR  # +2^-7, finite exponent -7
        assert int(q.levels(w).exponents[2]) == -7


def test_floor_leaves_live_channels_alone():
    """Channels above the floor keep ``gamma_c`` as gradient scale (bit for bit)."""
    q = get_quantizer("sign")
    w = torch.randn(5, 8, generator=torch.Generator().manual_seed(0))
    w[3] *= 0.5 * SCALE_FLOOR  # far below 1 % of the layer: the only floored channel
    gamma = q.scale(w)
    g = q.gradient_scale(w, gamma)
    live = torch.tensor([True, True, True, False, True])
    assert torch.equal(g[live], gamma[live]) and g[3] > gamma[3]


@pytest.mark.parametrize("name", PER_CHANNEL)
def test_dead_channel_recovers_under_sgd(name):
    """The dead channel's loss falls from the first steps on and ends near the live
    channels' (a live channel of the same layer is the yardstick, not a fixed number)."""
    layer = _layer(name)
    x, target = _problem(name)
    opt = torch.optim.SGD(layer.parameters(), lr=0.5 if name == "sign" else 0.05)
    losses = []
    for _ in range(60):
        per_channel = _channel_losses(layer, x, target)
        losses.append(per_channel.detach())
        opt.zero_grad()
        per_channel.sum().backward()
        opt.step()
    dead = torch.stack(losses)[:, 2]
    assert layer.weight[2].abs().min() > 0  # every weight of the channel moved
    assert (dead[1:6] < dead[0]).all()  # better after each of the first steps
    final = _channel_losses(layer, x, target).detach()
    assert final[2] < 0.5 * dead[0]  # more than halved
    assert final[2] <= 2 * final[[0, 1, 3]].max()  # in the range of the live channels
