"""Few-step conversion methods: ltb, burst, qcfs (issue 22 item 1)."""

import pytest
import torch
from conv_helpers import images, mean_error, tiny_cnn, tiny_resnet

from spikebit.conversion import ConversionError, convert
from spikebit.conversion.dynamics import Clock, build_method
from spikebit.conversion.fast import BurstIF, LocalThresholdIF
from spikebit.conversion.qcfs import QCFS, finetune, to_qcfs
from spikebit.conversion.thresholds import ChannelPercentile, LocalBalancer


def test_half_threshold_if_rounds() -> None:
    # u0 = 1/2: a constant current c gives floor(t c + 1/2) spikes after t steps
    neuron, state, count = LocalThresholdIF(), None, torch.zeros(3)
    c = torch.tensor([0.24, 0.26, 0.5])
    for t in range(1, 5):
        s, state = neuron.fire(c, Clock(t - 1, 1), state)
        count += s
        torch.testing.assert_close(count, torch.floor(t * c + 0.5))


def test_burst_hand_values() -> None:
    neuron, state = BurstIF(max_spikes=4), None
    outs = []
    for current in (0.3, 0.3, 1.5, -0.2):
        s, state = neuron.fire(torch.tensor([current]), Clock(0, 1), state)
        outs.append(round(float(s), 6))
    # w: 0.5+1.2=1.7 -> 1 spike, 0.7; 0.7+1.2=1.9 -> 1, 0.9; 0.9+6=6.9 -> 4 (cap), 2.9;
    # 2.9-0.8=2.1 -> 2, 0.1
    assert outs == [0.25, 0.25, 1.0, 0.5]


def test_burst_option_is_checked() -> None:
    with pytest.raises(ConversionError, match="max_spikes"):
        BurstIF(max_spikes=0)
    with pytest.raises(ConversionError, match="max_spikes is not used by method 'rate'"):
        convert(tiny_cnn(), images(4), method="rate", max_spikes=3)
    with pytest.raises(ConversionError, match="takes no option.*max_spikes: burst, signed-burst"):
        build_method("rate", max_spikes=3)


def test_local_balancer_hand_values() -> None:
    bal = LocalBalancer()
    a = torch.tensor([[0.0, 4.0], [1.0, 4.0], [2.0, 4.0], [3.0, 4.0]])  # [B=4, C=2]
    out = bal("n", a)
    # theta = 0 + 2 * mean(a): [3, 8]; the layer passes min(a, theta) on
    torch.testing.assert_close(bal.thresholds["n"].float(), torch.tensor([3.0, 8.0]))
    torch.testing.assert_close(out, torch.minimum(a, torch.tensor([3.0, 8.0])))
    bal("n", a)  # no overflow any more: unchanged
    torch.testing.assert_close(bal.thresholds["n"].float(), torch.tensor([3.0, 8.0]))


def test_channel_percentile_ignores_zeros() -> None:
    rec = ChannelPercentile(100.0)
    rec("n", torch.tensor([[0.0, 1.0], [2.0, 0.0], [0.0, 0.5]]))
    torch.testing.assert_close(rec.thresholds["n"], torch.tensor([2.0, 1.0], dtype=torch.float64))


@pytest.mark.parametrize("make", [tiny_cnn, tiny_resnet])
@pytest.mark.parametrize("method", ["ltb", "burst"])
def test_per_channel_methods_converge_to_the_ann(make, method: str) -> None:
    net, x = make(), images(16)
    snn = convert(net, x, method=method, thresholds="percentile", percentile=100.0)
    err = mean_error(snn.simulate(x, 256), net(x).detach())
    assert err[-1] < 0.1 * err[0] and err[-1] < 5e-3, (err[0], err[-1])


def test_ltb_thresholds_are_per_channel_from_one_batch() -> None:
    net, x = tiny_cnn(), images(32)
    snn = convert(net, x, method="ltb", batch_size=32)
    first = snn.nodes[0]
    assert first.threshold.shape == (6,)
    # one calibration batch: theta_c = 2 * mean(relu(a_c)) over batch and positions
    expected = 2.0 * torch.relu(first.chain(x)).mean(dim=(0, 2, 3)).detach()
    torch.testing.assert_close(first.threshold, expected.clamp_min(1e-6), rtol=1e-5, atol=1e-7)


def test_qcfs_forward_hand_values() -> None:
    q = QCFS(levels=4, threshold=2.0)
    x = torch.tensor([-1.0, 0.2, 0.26, 0.9, 1.3, 5.0])
    # 2 * clip(floor(x * 2 + 0.5) / 4, 0, 1)
    torch.testing.assert_close(q(x), torch.tensor([0.0, 0.0, 0.5, 1.0, 1.5, 2.0]))
    x.requires_grad_(True)
    q(x).sum().backward()  # straight-through: gradient 1 inside the clip range
    assert x.grad is not None and x.grad[1] == 1.0 and x.grad[-1] == 0.0


@pytest.mark.parametrize("make", [tiny_cnn, tiny_resnet])
def test_qcfs_burst_with_L_spikes_equals_the_qcfs_ann_at_T1(make) -> None:
    x = images(16)
    qnet = to_qcfs(make(), x, levels=4)
    snn = convert(qnet, x, method="burst", thresholds="module", max_spikes=4)
    torch.testing.assert_close(snn.simulate(x, 1)[0], qnet(x).detach(), atol=1e-5, rtol=1e-4)


def test_qcfs_snn_converges_and_needs_qcfs_layers() -> None:
    x, y = images(64), torch.randint(0, 4, (64,), generator=torch.Generator().manual_seed(0))
    net = tiny_cnn()
    qnet = finetune(to_qcfs(net, x, levels=4), x, y, epochs=1)
    snn = convert(qnet, x, method="qcfs")
    assert all(m.threshold is not None for m in snn.nodes[:2])
    out = snn.simulate(x, 64)
    ref = qnet(x).detach()
    agree = (out.argmax(-1) == ref.argmax(-1)).float().mean(1)
    assert agree[-1] >= 0.9
    with pytest.raises(ConversionError, match="needs QCFS activations"):
        convert(net, x, method="qcfs")


def test_per_channel_methods_refuse_synchronous_neurons() -> None:
    with pytest.raises(ConversionError, match="synchronous"):
        convert(tiny_resnet(), images(4), method="ltb", synchronous=True)


def test_signed_neuron_takes_back_premature_spikes() -> None:
    from spikebit.conversion.fast import SignedIF

    neuron, state, outs = SignedIF(), None, []
    for current in (0.6, -0.5, -0.5, 0.2):
        s, state = neuron.fire(torch.tensor([current]), Clock(0, 1), state)
        outs.append(float(s))
    # u: 0.5+0.6=1.1 -> +1, 0.1; 0.1-0.5=-0.4 -> -1 (count 1 > 0), 0.6; 0.6-0.5=0.1 -> 0;
    # 0.1+0.2=0.3 -> 0. Net count 0 = round(0.6 - 1.0 + 0.2) clipped at 0
    assert outs == [1.0, -1.0, 0.0, 0.0]
    s, state = neuron.fire(torch.tensor([-5.0]), Clock(0, 1), state)
    assert float(s) == 0.0  # memory: no negative spike without earlier positive ones


@pytest.mark.parametrize("method", ["signed", "signed-burst"])
def test_signed_methods_converge_to_the_ann(method: str) -> None:
    net, x = tiny_resnet(), images(16)
    snn = convert(net, x, method=method, thresholds="percentile", percentile=100.0)
    err = mean_error(snn.simulate(x, 256), net(x).detach())
    assert err[-1] < 0.1 * err[0] and err[-1] < 5e-3, (err[0], err[-1])


def test_default_threshold_rules() -> None:
    from spikebit.conversion import METHODS

    rules = {name: METHODS.get(name).thresholds for name in METHODS.names()}
    assert rules == {"rate": None, "phase": None, "bsnn": None, "ltb": "ltb", "signed": "ltb",
                     "burst": "percentile", "signed-burst": "percentile", "qcfs": "module",
                     "srp": "ltb", "cos": "ltb"}


def test_finetune_checks_its_arguments() -> None:
    x, y = images(8), torch.zeros(8, dtype=torch.long)
    qnet = to_qcfs(tiny_cnn(), x, levels=2)
    before = {k: v.clone() for k, v in qnet.state_dict().items()}
    finetune(qnet, x, y, epochs=0, schedule="cosine")  # no steps: nothing changes
    assert all(torch.equal(before[k], v) for k, v in qnet.state_dict().items())
    finetune(qnet, x, y, epochs=1, schedule="cosine")
    assert any(not torch.equal(before[k], v) for k, v in qnet.state_dict().items())
    with pytest.raises(ConversionError, match="schedule"):
        finetune(qnet, x, y, epochs=1, schedule="step")
    with pytest.raises(ConversionError, match="epochs"):
        finetune(qnet, x, y, epochs=-1)
