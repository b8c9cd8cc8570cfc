"""The zoo's networks, and multi-threshold neurons wherever the plain LIF goes."""

import math

import pytest
import torch
from torch import nn

from spikebit.errors import ConfigError
from spikebit.methods.multithreshold import mt_network, with_pooling
from spikebit.models import MODELS, build_model
from spikebit.neurons import MultiThresholdLIF
from spikebit.quant import quantized_layers

MT_KW = {"threshold": 1.0, "tau": 0.5, "max_spikes": 15, "surrogate": "mt-gauss",
         "width": 0.2, "height": 1.0}

# (name, in_shape, input features of the first dense layer)
SIZES = [
    ("mt-mnist-cnn", (1, 28, 28), 40 * 4 * 4),  # valid: 28-24-12-8-4
    ("mt-fmnist-cnn", (1, 28, 28), 64 * 7 * 7),  # same: 28-28-14-14-7
    ("mt-cifar10-cnn", (3, 32, 32), 256 * 8 * 8),  # same: 32-32-32-16-16-8-8-8
    ("mt-mlp-800", (1, 28, 28), 784),
    ("mt-mlp-400-400", (1, 28, 28), 784),
]


@pytest.mark.parametrize("name,in_shape,features", SIZES)
def test_zoo_networks_have_the_papers_layer_sizes(name, in_shape, features):
    net = build_model(name, in_shape=in_shape, num_classes=10)
    dense = [m for m in net.modules() if isinstance(m, nn.Linear)]
    assert dense[0].in_features == features
    assert not any(isinstance(m, nn.BatchNorm2d | nn.BatchNorm1d) for m in net.modules())
    assert isinstance(net.body[-1], MultiThresholdLIF)  # spiking output layer
    with torch.no_grad():
        out = net(torch.randn(2, *in_shape))
    assert out.shape == (2, 2, 10)
    assert torch.equal(out, out.floor()) and out.min() >= 0 and out.max() <= 15


def test_mnist_cnn_trains_every_parameter():
    net = MODELS.get("mt-mnist-cnn")(in_shape=(1, 28, 28), num_classes=10, threshold=1.0,
                                    init_gain=3.0)
    out = net(torch.randn(4, 1, 28, 28))
    out.sum().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        if name.endswith("weight"):
            assert p.grad.abs().sum() > 0, name


def test_pooling_choice_and_bad_arguments():
    assert with_pooling("15C5-P2-40C5-AP2-300", "avg") == "15C5-AP2-40C5-AP2-300"
    assert with_pooling("15C5-AP2-300", "max") == "15C5-P2-300"
    avg = mt_network("4C3-P2-8", in_shape=(1, 8, 8), pool="avg")
    assert any(isinstance(m, nn.AvgPool2d) for m in avg.modules())
    with pytest.raises(ConfigError, match="pool must be"):
        mt_network("4C3-P2-8", in_shape=(1, 8, 8), pool="median")
    with pytest.raises(ConfigError, match="unknown model argument"):
        mt_network("8", in_shape=(4,), colour="red")


def _counts_seen_by_next_layers(net: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """Outputs of every multi-threshold neuron (what the following layer receives)."""
    seen = []
    for m in net.modules():
        if isinstance(m, MultiThresholdLIF):
            m.register_forward_hook(lambda mod, i, o: seen.append(o.detach()))
    net(x)
    return seen


@pytest.mark.parametrize("quantizer", ["abc", "sign"])
def test_binary_network_with_mtlif_trains_a_step_and_passes_counts(quantizer):
    torch.manual_seed(0)
    net = build_model("albsnn-mnist", spec="8C3-8C3-AP2-16C3-GAP", in_shape=(1, 8, 8),
                      num_classes=3, steps=2, quantizer=quantizer, full_precision=[0],
                      neuron="mtlif", neuron_kwargs=MT_KW)
    assert sum(layer.quantize for _, layer in quantized_layers(net)) == 3
    x, y = torch.randn(6, 1, 8, 8) * 2, torch.tensor([0, 1, 2, 0, 1, 2])
    counts = _counts_seen_by_next_layers(net, x)
    assert len(counts) == 3
    assert all(torch.equal(c, c.floor()) for c in counts)
    assert max(c.max().item() for c in counts) >= 2  # several spikes in one step
    before = [p.detach().clone() for p in net.parameters()]
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    loss = nn.functional.cross_entropy(net(x).mean(0), y)
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in net.parameters())
    opt.step()
    changed = [not torch.equal(a, p) for a, p in zip(before, net.parameters(), strict=True)]
    assert all(changed)


def test_albsnn_narrow_network_accepts_mtlif():
    net = build_model("albsnn-mnist-narrow", in_shape=(1, 28, 28), num_classes=10, steps=1,
                      full_precision=[0, 1], neuron="mtlif",
                      neuron_kwargs={**MT_KW, "threshold": 0.5, "tau": 0.25})
    neurons = [m for m in net.modules() if isinstance(m, MultiThresholdLIF)]
    assert len(neurons) == 6 and neurons[0].threshold == 0.5
    out = net(torch.randn(2, 1, 28, 28))
    out.sum().backward()
    assert out.shape == (1, 2, 10)


@pytest.mark.parametrize("name,kw", [
    ("agmm-vggsnn", {"width": 0.0625, "in_shape": (2, 16, 16), "steps": 2}),
    ("agmm-resnet19", {"width": 0.0625, "in_shape": (3, 16, 16), "steps": 2}),
])
def test_agmm_models_accept_mtlif(name, kw):
    if name not in MODELS:
        pytest.skip(f"{name} is not in this checkout")
    net = build_model(name, neuron="mtlif", neuron_kwargs=MT_KW, **kw)
    assert any(isinstance(m, MultiThresholdLIF) for m in net.modules())
    out = net(torch.randn(2, *kw["in_shape"]) * 2)
    out.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)


def test_albsnn_variant_with_omax_1_is_albsnns_lif_at_t1():
    from spikebit.methods.multithreshold.experiments import albsnn_variants

    mt_kw = dict(albsnn_variants()["mtlif-omax15"]["neuron_kwargs"], max_spikes=1)
    common = {"spec": "8C3-AP2-16C3-GAP", "in_shape": (1, 8, 8), "num_classes": 3, "steps": 1}
    lif = build_model("albsnn-mnist-narrow", **common)
    mt = build_model("albsnn-mnist-narrow", neuron="mtlif", neuron_kwargs=mt_kw, **common)
    mt.load_state_dict(lif.state_dict())
    x = torch.randn(4, 1, 8, 8) * 2
    a, b = lif(x), mt(x)
    torch.testing.assert_close(a, b)
    a.sum().backward()
    b.sum().backward()
    for pa, pb in zip(lif.parameters(), mt.parameters(), strict=True):
        torch.testing.assert_close(pa.grad, pb.grad)


def test_default_curve_width_keeps_silent_neurons_trainable():
    # zoo default b = 200 mV^2 -> width 2 in x = h / V units; the paper's b = 20 -> 0.2.
    # Curve 2 at h = 0 (nearest level 1, distance 1): height * exp(-1 / width) / V.
    from spikebit.methods.multithreshold.params import DEFAULT_B, PAPER_B

    assert (DEFAULT_B, PAPER_B) == (200.0, 20.0)
    for b, expected in [(None, 10 * math.exp(-1 / 2.0) / 10), (PAPER_B, 10 * math.exp(-5) / 10)]:
        kw = {} if b is None else {"b": b}
        net = mt_network("4", in_shape=(3,), num_classes=2, steps=1, **kw)
        neuron = net.body[-1]
        h = torch.zeros(1, 1, 2, requires_grad=True)
        neuron(h).sum().backward()
        assert h.grad[0, 0, 0].item() == pytest.approx(expected, rel=1e-5)
