"""SOPs, MACs, energy and firing rates of a tiny hand-set network (measure_activity)."""

import pytest
import torch

from spikebit.methods.agmm.costs import cost_summary
from spikebit.metrics import measure_activity
from spikebit.models import ModelConfig, build_network
from spikebit.quant import quantized_layers


def _tiny(agmm: bool):
    """in 2 -> FC 3 (fp) -> LIF -> FC 2 (sign) [-> AGMM] -> LIF -> FC 2 (fp output), T=2.

    Input x = [0.4, 0]. Layer 1 currents [2, 0.6, 0] each step: with V=1, tau=0.5
    and hard reset only neuron 0 fires, at both steps (2 spikes; 0.6 -> 0.9 stays
    below V). Layer 2 sees spike [1, 0, 0]: sign weights with per-row scales
    1.5 and 0.5 give currents [1.5, -0.5]. Without AGMM neuron 0 fires twice.
    With AGMM (alpha=1) the gate is sigmoid(mean) = sigmoid(0.5) = 0.6225 at both
    steps (causal mean of a constant), so the current 0.934 fires only at t=1
    (h = 0.467 + 0.934): one spike.
    """
    cfg = ModelConfig(spec="3-2-2", in_shape=(2,), num_classes=2, steps=2, batchnorm=False,
                      neuron_kwargs={"threshold": 1.0, "tau": 0.5, "surrogate": "triangle"},
                      quantizer="sign", full_precision=[0, -1],
                      block="agmm" if agmm else None)
    model = build_network(cfg)
    fc1, fc2, fc3 = (layer for _, layer in quantized_layers(model))
    with torch.no_grad():
        fc1.weight.copy_(torch.tensor([[5.0, 1.0], [1.5, 1.0], [0.0, 1.0]]))
        fc2.weight.copy_(torch.tensor([[1.5, 1.5, -1.5], [-0.5, 0.5, 0.5]]))
        for fc in (fc1, fc2, fc3):
            fc.bias.zero_()
    return model


@pytest.mark.parametrize("agmm, spikes2", [(False, 2), (True, 1)])
def test_sops_macs_energy_equal_the_hand_count(agmm, spikes2):
    model = _tiny(agmm)
    x = torch.tensor([[0.4, 0.0]])  # real-valued input -> MACs
    report = measure_activity(model, [x])
    # layer 1: real-valued input -> MACs = T * 2 inputs * 3 outputs
    # layer 2: 2 spikes of layer 1, each reaching 2 neurons -> 4 SOPs
    # layer 3: spikes2 spikes of layer 2, each reaching 2 outputs
    macs, sops = 2 * 2 * 3, 2 * 2 + spikes2 * 2
    assert report.macs == macs
    assert report.sops == pytest.approx(sops)
    assert report.energy_pj == pytest.approx(4.6 * macs + 0.9 * sops)
    rates = list(report.firing_rates.values())
    assert rates == pytest.approx([2 / (2 * 3), spikes2 / (2 * 2)])
    summary = cost_summary(model, [x])
    assert summary["SOPs_M"] == pytest.approx(sops / 1e6)
    assert summary["energy_uJ"] == pytest.approx((4.6 * macs + 0.9 * sops) * 1e-6)
    # storage: fc1 fp32 (6 w + 3 b), fc2 1 bit x 6 + 2 scales + 2 biases, fc3 fp32 (4 + 2),
    # plus 2 AGMM alphas when present
    bits = 32 * 9 + (6 + 32 * 2 + 32 * 2) + 32 * 6 + (32 * 2 if agmm else 0)
    assert summary["size_MB"] == pytest.approx(bits / 8 / 1e6)
