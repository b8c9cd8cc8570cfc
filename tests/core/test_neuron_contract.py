"""Contract over every registered neuron and zoo model: the SpikingNeuron protocol and
what ``measure_activity`` (``spikebit info``) reports, against independent counts."""

import pytest
import torch

from spikebit.errors import ConfigError, RegistryError
from spikebit.layers import TimeDistributed
from spikebit.metrics import measure_activity
from spikebit.models.network import ModelConfig, build_network
from spikebit.models.zoo import MODELS
from spikebit.neurons import NEURONS, NeuronDynamics, is_neuron, make_neuron

STEPS = 4


@pytest.mark.parametrize("name", NEURONS.names())
def test_make_neuron_builds_every_registered_neuron(name):
    n = make_neuron(name, {}, STEPS)
    assert is_neuron(n)
    d = n.dynamics
    assert isinstance(d, NeuronDynamics) and d.kind == name
    assert d.needs_steps == type(n).needs_steps
    assert d.reset in ("hard", "soft", "none") and d.max_spikes >= 1
    if d.needs_steps:
        assert d.steps == STEPS
    torch.manual_seed(0)
    x = torch.randn(STEPS, 3, 5, dtype=torch.float64) * 2
    n = n.double()
    s = n(x)
    assert s.shape == x.shape
    state, outs = None, []
    for t in range(STEPS):
        st, state = n.step(x[t], state)
        outs.append(st)
    if d.exact_step:
        assert torch.equal(torch.stack(outs), s)
    s = s.detach()
    assert float(s.max()) <= d.max_spikes and float(s.min()) >= 0


@torch.no_grad()
def _walk(net, x):
    """Apply the body module by module: neuron outputs, and the SOPs counted as
    spikes x fan-out of the next weight layer (Linear: out_features)."""
    h = net.encode(x)
    outs, sops, n = [], 0.0, x.shape[0]
    for m in net.body:
        inner = m.module if isinstance(m, TimeDistributed) else m
        if isinstance(inner, torch.nn.Linear) and outs:
            sops += float(h.double().sum()) * inner.out_features / n
        h = m(h)
        if is_neuron(m):
            outs.append(h)
    return outs, sops


@pytest.mark.parametrize("name", NEURONS.names())
def test_activity_of_every_registered_neuron_matches_hand_count(name):
    torch.manual_seed(0)
    config = ModelConfig(spec="12-8", in_shape=(6,), num_classes=3, steps=STEPS,
                         neuron=name, batchnorm=False, neuron_kwargs={"threshold": 0.3})
    net = build_network(config).eval()
    x = torch.rand(5, 6) * 2
    outs, sops = _walk(net, x)
    report = measure_activity(net, [x[:2], x[2:]])
    assert report.steps == STEPS
    rates = [float(o.double().mean()) for o in outs]
    assert list(report.firing_rates.values()) == pytest.approx(rates, rel=1e-12)
    assert sum(rates) > 0
    macs = [layer.name for layer in report.layers if layer.macs]
    assert macs == [report.layers[0].name] and report.macs == STEPS * 6 * 12
    assert report.sops == pytest.approx(sops, rel=1e-12)


# smaller inputs than the papers' where the architecture allows (every zoo factory takes
# ``in_shape``), to keep the test in seconds
SHAPES = {"agmm-resnet18": (3, 32, 32), "agmm-vggsnn": (2, 16, 16),
          "mfp-vggsnn-cifar10dvs": (2, 16, 16), "mfp-vggsnn-cifar10dvs-fp-lif": (2, 16, 16),
          "albsnn-cifar10": (3, 16, 16), "albsnn-cifar100": (3, 16, 16),
          "albsnn-table7": (3, 16, 16), "agmm-resnet19": (3, 16, 16)}


@pytest.mark.parametrize("name", MODELS.names())
def test_zoo_activity_counts_every_neuron_layer_with_its_steps(name):
    torch.manual_seed(0)
    in_shape = SHAPES.get(name, (1, 28, 28))
    net = MODELS.get(name)(in_shape=in_shape).eval()
    x = torch.rand(2, *in_shape)
    neurons = [n for n, m in net.named_modules() if is_neuron(m)]
    weights = [n for n, m in net.named_modules()
               if isinstance(m, torch.nn.Conv2d | torch.nn.Linear)]
    sums: dict[str, list[float]] = {}
    hooks = [m.register_forward_hook(
        lambda mod, i, o, n=n: sums.setdefault(n, []).append(float(o.double().sum()))
        or sums[n].append(o.numel()))
        for n, m in net.named_modules() if is_neuron(m)]
    with torch.no_grad():
        net(x)
    for h in hooks:
        h.remove()
    report = measure_activity(net, [x[:1], x[1:]])
    assert sorted(report.firing_rates) == sorted(neurons)
    for n, (total, count) in sums.items():
        assert report.firing_rates[n] == pytest.approx(total / count, rel=1e-9)
    assert report.steps == (net.steps if neurons else 1)
    real = [layer.name for layer in report.layers if layer.real_valued_input]
    # direct coding: only the first weight layer (the encoder) sees real values; an ANN
    # has no spikes at all
    assert real == (weights if not neurons else weights[:1])
    assert (report.sops > 0) == bool(neurons)


def test_mfp_vggsnn_fmnist_finds_eight_neuron_layers_at_T4():
    net = MODELS.get("mfp-vggsnn-fmnist")().eval()
    report = measure_activity(net, [torch.rand(2, 1, 28, 28)])
    assert len(report.firing_rates) == 8 and report.steps == 4
    assert sum(1 for layer in report.layers if layer.macs) == 1


def test_agmm_resnet_builds_with_the_mfp_neuron():
    from spikebit.methods.agmm.resnet import ResNetConfig, SpikingResNet

    net = SpikingResNet(ResNetConfig(neuron="mfp", neuron_kwargs={}, steps=2, blocks=[1],
                                     channels=[8], strides=[1], in_shape=(1, 8, 8),
                                     num_classes=3))
    mfp = [m for m in net.modules() if is_neuron(m)]
    assert mfp and all(m.dynamics.kind == "mfp" and m.dynamics.steps == 2 for m in mfp)
    assert net(torch.rand(2, 1, 8, 8)).shape == (2, 2, 3)


def test_make_neuron_errors_name_the_problem():
    with pytest.raises(ConfigError, match=r"neuron 'lif'.*arguments"):
        make_neuron("lif", {"thresold": 1.0}, 2)
    with pytest.raises(ConfigError, match="steps"):
        make_neuron("mfp", {"steps": 3}, 2)
    with pytest.raises(RegistryError, match="Did you mean 'lif'"):
        make_neuron("lfi", {}, 2)
