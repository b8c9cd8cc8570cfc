"""AGMM's claim (eq. 15-17): the gradient reaching a binary weight shrinks.

Fair comparison: the same latent weights and BN parameters, the same batch, the
same loss; the only difference is the AGMM block (whose alphas start at 1).
"""

import pytest
import torch
from torch import nn

from spikebit.layers import TimeDistributed
from spikebit.methods.agmm import AGMM
from spikebit.models import build_model
from spikebit.quant import QConv2d, SignQuantizer, quantized_layers


def _binary_unit(seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    conv = QConv2d(3, 4, 3, padding=1, bias=False, quantizer=SignQuantizer())
    return nn.Sequential(TimeDistributed(conv), TimeDistributed(nn.BatchNorm2d(4))).double()


def _weight_grad(unit: nn.Module, block: nn.Module, s: torch.Tensor, g: torch.Tensor):
    unit.zero_grad()
    (block(unit(s)) * g).sum().backward()
    return unit[0].module.weight.grad.clone()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_one_binary_layer_gets_the_gate_scaled_gradient(seed):
    """Same spikes in, same upstream gradient g at the neuron input.

    With the mean's gradient dropped (eq. 15) the weight gradient equals the
    vanilla one computed from the upstream gradient sigmoid(E[t]) * g (eq. 16);
    with the full gradient, its mean magnitude is still smaller than vanilla's.
    """
    gen = torch.Generator().manual_seed(seed)
    s = (torch.rand(2, 6, 3, 5, 5, generator=gen) < 0.3).double()
    g = torch.randn(2, 6, 4, 5, 5, generator=gen, dtype=torch.float64)
    unit = _binary_unit(seed)
    vanilla = _weight_grad(unit, nn.Identity(), s, g)
    approx = AGMM(2, detach_mean=True).double()
    eq15 = _weight_grad(unit, approx, s, g)
    with torch.no_grad():
        gate = approx.gate(unit(s))
    torch.testing.assert_close(eq15, _weight_grad(unit, nn.Identity(), s, gate * g))
    full = _weight_grad(unit, AGMM(2).double(), s, g)
    assert full.abs().mean() < vanilla.abs().mean()
    assert eq15.abs().mean() < vanilla.abs().mean()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_network_binary_weight_gradients_shrink_with_agmm(seed):
    """A narrow ResNet-19 BSNN with and without AGMM, identical weights and batch:
    every binary layer's latent-weight gradient has a smaller mean magnitude and
    a smaller variance with AGMM."""
    torch.manual_seed(seed)
    args = {"in_shape": (1, 8, 8), "num_classes": 4, "width": 1 / 16, "quantizer": "sign"}
    vanilla = build_model("agmm-resnet19", agmm=False, **args)
    agmm = build_model("agmm-resnet19", agmm=True, **args)
    result = agmm.load_state_dict(vanilla.state_dict(), strict=False)
    assert not result.unexpected_keys
    assert result.missing_keys and all(k.endswith(".alpha") for k in result.missing_keys)
    gen = torch.Generator().manual_seed(100 + seed)
    x = torch.rand(16, 1, 8, 8, generator=gen)
    y = torch.randint(0, 4, (16,), generator=gen)
    grads = []
    for model in (vanilla, agmm):
        model.zero_grad()
        nn.functional.cross_entropy(model(x).mean(0), y).backward()
        grads.append({n: layer.weight.grad for n, layer in quantized_layers(model)
                      if layer.quantize})
    assert grads[0].keys() == grads[1].keys() and len(grads[0]) == 16
    for name, g_vanilla in grads[0].items():
        g_agmm = grads[1][name]
        assert g_agmm.abs().mean() < g_vanilla.abs().mean(), name
        assert g_agmm.var() < g_vanilla.var(), name
