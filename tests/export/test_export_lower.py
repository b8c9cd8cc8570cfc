"""The lowering: exact primitives, refusals naming the layer, approximations recorded."""

from __future__ import annotations

import math

import pytest
import torch
from export_helpers import calibrate, small_net
from torch import nn

from spikebit.errors import ExportError
from spikebit.export import NIR_TARGET, fold_batchnorm, lower
from spikebit.export.adapters import exact_weight
from spikebit.export.graph import BatchNorm, Conv2d, Linear, LoweredGraph, Neuron
from spikebit.export.runtime import GraphModule
from spikebit.quant import QLinear, get_quantizer


def _run(graph: LoweredGraph, x: torch.Tensor):
    with torch.no_grad():
        return GraphModule(graph, record_spikes=True)(x)


@pytest.mark.parametrize("quantizer", ["fp", "sign", "uniform", "abc"])
def test_lowered_graph_reproduces_eval(quantizer, images):
    from export_clients import run_spikebit

    net = calibrate(small_net(quantizer=quantizer), images)
    ref, ref_spikes = run_spikebit(net, images)
    out, *spikes = _run(lower(net), images)
    assert 0.05 < float(torch.cat([s.flatten() for s in spikes]).mean()) < 0.6  # neurons fire
    assert len(spikes) == len(ref_spikes) and all(map(torch.equal, spikes, ref_spikes))
    assert torch.equal(out, ref)


def test_abc_weight_is_the_sum_of_its_bases():
    torch.manual_seed(0)
    layer = QLinear(6, 3, quantizer=get_quantizer("abc", bases=3))
    w, info = exact_weight(layer)
    codes, scales = info.parts["codes"], info.parts["scales"]
    assert codes.shape == (3, 3, 6) and codes.dtype == torch.bool and scales.shape == (3, 3)
    assert torch.equal(scales, scales[:, :1].expand(3, 3))  # one alpha per base (per layer)
    signs = codes.float() * 2 - 1
    by_hand = scales[0, 0] * signs[0] + scales[1, 0] * signs[1] + scales[2, 0] * signs[2]
    assert torch.equal(w, by_hand) and info.bits == 3 and info.name == "ABCQuantizer"
    assert len(torch.unique(w)) <= 2 ** 3  # at most 2^k levels
    assert torch.equal(w, layer.effective_weight().detach())  # the forward's weight


def test_sign_weight_levels_are_plus_minus_gamma():
    torch.manual_seed(0)
    layer = QLinear(4, 2, quantizer=get_quantizer("sign"))
    w, info = exact_weight(layer)
    gamma = layer.weight.detach().abs().mean(1, keepdim=True)
    assert torch.equal(w.abs(), gamma.expand_as(w))
    assert torch.equal(info.parts["scales"].flatten(), gamma.flatten())


def test_fold_batchnorm_matches_by_hand():
    conv = Conv2d("c", torch.tensor([[[[2.0]]], [[[-1.0]]]]), torch.tensor([0.5, 0.0]))
    bn = BatchNorm("bn", mean=torch.tensor([1.0, -2.0]), var=torch.tensor([3.0, 0.0]),
                   weight=torch.tensor([2.0, 4.0]), bias=torch.tensor([0.25, -1.0]), eps=1.0)
    graph = LoweredGraph((2, 1, 1), 1, [conv, bn])
    folded = fold_batchnorm(graph).nodes
    assert len(folded) == 1
    # channel 0: scale 2/sqrt(4) = 1 -> w 2, b (0.5 - 1) * 1 + 0.25 = -0.25
    # channel 1: scale 4/sqrt(1) = 4 -> w -4, b (0 + 2) * 4 - 1 = 7
    assert folded[0].weight.flatten().tolist() == [2.0, -4.0]
    assert folded[0].bias.tolist() == [-0.25, 7.0]


def test_folded_graph_agrees_with_eval(lif_net, images):
    ref, *ref_spikes = _run(lower(lif_net), images)
    out, *spikes = _run(fold_batchnorm(lower(lif_net)), images)
    assert torch.allclose(out, ref, atol=1e-5)
    flips = sum(int((a != b).sum()) for a, b in zip(spikes, ref_spikes))
    total = sum(s.numel() for s in spikes)
    assert flips <= 1e-4 * total  # float32 rounding of the fold only moves near-ties


@pytest.mark.parametrize("neuron, kwargs, key", [
    ("lif", {"threshold": 0.5, "tau": 0.5, "reset": "soft"}, "soft-reset"),
    ("mtlif", {"threshold": 0.5, "tau": 0.5, "max_spikes": 3}, "multi-threshold"),
])
def test_nir_refusal_names_layer_and_approximation_is_recorded(neuron, kwargs, key):
    net = small_net(neuron, kwargs).eval()
    with pytest.raises(ExportError, match=r"layer 'body\.2'.*approximate=\['" + key):
        lower(net, NIR_TARGET)
    with pytest.warns(UserWarning, match="body.2"):
        graph = lower(net, NIR_TARGET, approximate=[key])
    assert graph.approximations and all("body." in a for a in graph.approximations)
    assert all(n.dynamics.reset == "hard" and n.dynamics.max_spikes == 1
               for n in graph.neurons())
    lower(net)  # the ONNX/lowered target takes them exactly


def test_unknown_layer_and_unknown_approximation_are_refused():
    net = small_net().eval()
    net.body[3] = nn.ReLU()
    with pytest.raises(ExportError, match=r"layer 'body\.3' \(ReLU\) has no export primitive"):
        lower(net)
    with pytest.raises(ExportError, match="unknown approximation"):
        lower(small_net().eval(), NIR_TARGET, approximate=["bogus"])
    with pytest.raises(ExportError, match="not a spikebit SpikingNet"):
        lower(nn.Linear(2, 2))


def test_maxpool_is_refused_for_nir_only():
    net = small_net(spec="8C3-P2-16").eval()
    with pytest.raises(ExportError, match=r"layer 'body\.3\.module': max pooling"):
        lower(net, NIR_TARGET)
    assert any(getattr(n, "kind", "") == "max" for n in lower(net).nodes)


def test_shapes_that_do_not_chain_name_the_node():
    w = torch.zeros(3, 5)
    graph = LoweredGraph((4,), 1, [Linear("fc", w, None)])
    with pytest.raises(ExportError, match=r"node 0 \(Linear 'fc'\).*\(4,\)"):
        graph.shapes()


def test_neuron_dynamics_are_read_from_the_module():
    net = small_net(neuron_kwargs={"threshold": 0.75, "tau": 0.125, "reset": "hard"}).eval()
    dyn = lower(net).neurons()[0].dynamics
    assert (dyn.kind, dyn.threshold, dyn.leak, dyn.reset, dyn.max_spikes) == \
        ("lif", 0.75, 0.125, "hard", 1)
    assert not math.isnan(dyn.threshold)


def test_lowering_does_not_change_the_model(images):
    net = calibrate(small_net(), images)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    lower(net)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert isinstance(lower(net).nodes[2], Neuron)


def test_residual_branches_must_agree_and_fold_inside():
    from spikebit.export.graph import Residual

    conv = Conv2d("c", torch.ones(3, 2, 1, 1), None)
    bn = BatchNorm("bn", torch.zeros(3), torch.ones(3), torch.full((3,), 2.0), torch.zeros(3),
                   0.0)
    bad = LoweredGraph((2, 4, 4), 1, [Residual("block", [conv, bn], [])])
    with pytest.raises(ExportError, match=r"Residual 'block'.*body gives \(3, 4, 4\) but its "
                                          r"shortcut gives \(2, 4, 4\)"):
        bad.shapes()
    good = LoweredGraph((2, 4, 4), 1, [Residual("block", [conv, bn],
                                                [Conv2d("s", torch.ones(3, 2, 1, 1), None)])])
    folded = fold_batchnorm(good).nodes[0]
    assert len(folded.body) == 1 and torch.equal(folded.body[0].weight, torch.full((3, 2, 1, 1),
                                                                                   2.0))
    x = torch.rand(1, 2, 2, 4, 4)
    out = GraphModule(good)(x)
    assert torch.allclose(out, 3 * x.sum(2, keepdim=True).expand(1, 2, 3, 4, 4))


def test_agmm_resnet_lowers_exactly_for_onnx_and_is_refused_for_nir(images):
    from export_clients import run_spikebit

    from spikebit.models import MODELS

    net = MODELS.get("agmm-resnet19")(width=0.0625, in_shape=(3, 16, 16)).eval()
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    ref, ref_spikes = run_spikebit(net, x)
    out, *spikes = _run(lower(net), x)
    assert torch.equal(out, ref) and len(spikes) == 17
    assert all(map(torch.equal, spikes, ref_spikes))
    with pytest.raises(ExportError, match=r"layer 'body\.3': residual blocks"):
        lower(net, NIR_TARGET)


def test_agmm_gate_before_bn_lowers_in_order_and_other_means_are_refused(images):
    from export_clients import run_spikebit

    from spikebit.models import MODELS

    net = MODELS.get("agmm-resnet19")(width=0.0625, in_shape=(3, 16, 16),
                                      position="before-bn").eval()
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    ref, _ = run_spikebit(net, x)
    out, *_ = _run(lower(net), x)
    assert torch.equal(out, ref)
    with pytest.raises(ExportError, match="does not follow a conv"):
        fold_batchnorm(lower(net))
    channel = MODELS.get("agmm-resnet19")(width=0.0625, in_shape=(3, 16, 16), mean="channel")
    with pytest.raises(ExportError, match=r"mean='channel'.*mean='sample'"):
        lower(channel.eval())
