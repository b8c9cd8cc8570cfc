"""Network-level forward traces of multi-threshold neurons, computed by hand."""

import torch

from spikebit.methods.multithreshold import mt_network
from spikebit.neurons import LIF, MultiThresholdLIF


def _two_layer(steps: int, spiking_output: bool):
    """784-free toy: 2 inputs -> 2 mtlif neurons -> 2 outputs, V=1, tau=0.5, O_max=3."""
    net = mt_network("2-2", in_shape=(2,), num_classes=2, steps=steps, threshold=1.0, tau=0.5,
                     max_spikes=3, spiking_output=spiking_output, init="default",
                     detach_reset=False)
    hidden, output = net.body[0].module, net.body[2].module
    with torch.no_grad():
        hidden.weight.copy_(torch.tensor([[1.0, 0.5], [2.0, 3.0]]))
        hidden.bias.zero_()
        output.weight.copy_(torch.tensor([[1.0, 0.0], [0.5, 0.5]]))
        output.bias.copy_(torch.tensor([0.0, 0.25]))
    return net


def test_hidden_counts_carry_residual_and_clip_and_reach_the_next_layer():
    # input (2.0, 1.0), repeated each step (direct encoding):
    # neuron 0: current 2.5 -> h=2.5 o=2 v=.5; h=.25+2.5=2.75 o=2 v=.75; h=2.875 o=2
    # neuron 1: current 7.0 -> h=7 o=3 (clipped) v=4; h=2+7=9 o=3 v=6; h=3+7=10 o=3
    net = _two_layer(steps=3, spiking_output=False)
    seen = []
    net.body[2].register_forward_hook(lambda m, i, o: seen.append(i[0].detach()))
    out = net(torch.tensor([[2.0, 1.0]]))
    counts = seen[0]  # what the output layer receives, [T, B, 2]
    assert counts[:, 0].tolist() == [[2.0, 3.0], [2.0, 3.0], [2.0, 3.0]]
    expected = torch.tensor([[2.0, 2.5 + 0.25]]).expand(3, 1, 2)
    torch.testing.assert_close(out, expected)


def test_residual_below_a_level_fires_later():
    # current 1.5 with O_max=3: h=1.5 o=1 v=.5; h=.25+1.5=1.75 o=1 v=.75; h=.375+1.5=1.875 o=1
    # current 0.8: h=.8 o=0 v=.8; h=.4+.8=1.2 o=1 v=.2; h=.1+.8=.9 o=0
    n = MultiThresholdLIF(threshold=1.0, tau=0.5, max_spikes=3)
    x = torch.tensor([[1.5, 0.8]]).expand(3, 1, 2)
    assert n(x)[:, 0].tolist() == [[1.0, 0.0], [1.0, 1.0], [1.0, 0.0]]


def test_spiking_output_layer_counts_follow_its_inputs():
    # output currents per step: (2, 2.75) from the hidden counts above, V=1, tau=.5, O_max=3:
    # o0: h=2 ->2 v=0; h=2 ->2; h=2 ->2.  o1: h=2.75 ->2 v=.75; h=.375+2.75=3.125 ->3 v=.125;
    # h=.0625+2.75=2.8125 ->2
    net = _two_layer(steps=3, spiking_output=True)
    out = net(torch.tensor([[2.0, 1.0]]))
    assert out[:, 0].tolist() == [[2.0, 2.0], [2.0, 3.0], [2.0, 2.0]]


def test_omax_1_network_equals_soft_reset_lif_network():
    torch.manual_seed(0)
    mt = mt_network("6", in_shape=(4,), num_classes=3, steps=3,
                    neuron_kwargs={"threshold": 1.0, "tau": 0.5, "max_spikes": 1,
                                   "surrogate": "rectangle", "width": 1.0})
    lif = mt_network("6", in_shape=(4,), num_classes=3, steps=3, neuron="lif",
                     neuron_kwargs={"threshold": 1.0, "tau": 0.5, "reset": "soft",
                                    "surrogate": "rectangle", "width": 1.0})
    lif.load_state_dict(mt.state_dict())
    assert isinstance(lif.body[1], LIF)
    x = torch.randn(5, 4) * 2
    a, b = mt(x), lif(x)
    assert torch.equal(a, b)
    g = torch.randn_like(a)
    (a * g).sum().backward()
    (b * g).sum().backward()
    for pa, pb in zip(mt.parameters(), lif.parameters(), strict=True):
        torch.testing.assert_close(pa.grad, pb.grad)
