"""The readings of AGMM eq. 11: gate values computed by hand, gradients, BN position."""

import pytest
import torch
from torch import nn

from spikebit.errors import ConfigError
from spikebit.layers import TimeDistributed
from spikebit.methods.agmm import AGMM, DEFAULT_READING, AGMMReading, feature_mean
from spikebit.methods.agmm.analysis import binary_units
from spikebit.models import ModelConfig, build_model, build_network
from spikebit.models.blocks import ordered_unit
from spikebit.quant import QConv2d

# x[t, b, c, 0, :] for T=2, B=2, C=2, H=1, W=2; alpha = (1, 2).
X = torch.tensor([[[[[1., 3.]], [[0., 0.]]], [[[-2., -2.]], [[2., 6.]]]],
                  [[[[3., 5.]], [[-1., -1.]]], [[[0., 0.]], [[0., -4.]]]]])
ALPHA = torch.tensor([1., 2.])
# By hand. Per-sample means m[t, b]: t0 (1, 1), t1 (1.5, -1). Per-channel means
# m[t, b, c]: t0 b0 (2, 0), t0 b1 (-2, 4), t1 b0 (4, -1), t1 b1 (0, -2). Batch means
# m[t]: t0 1, t1 0.25. E[t] = alpha_t * M[t]:
E_SAMPLE = {  # [T, B]
    "cumulative": [[1., 1.], [2 * (1 + 1.5) / 2, 2 * (1 - 1) / 2]],
    "all": [[(1 + 1.5) / 2, 0.], [2 * (1 + 1.5) / 2, 0.]],
    "step": [[1., 1.], [2 * 1.5, 2 * -1.]],
}
E_CHANNEL_CUMULATIVE = [[[2., 0.], [-2., 4.]],  # [T, B, C]
                        [[2 * (2 + 4) / 2, 2 * (0 - 1) / 2], [2 * (-2 + 0) / 2, 2 * (4 - 2) / 2]]]
E_BATCH_CUMULATIVE = [1., 2 * (1 + 0.25) / 2]  # [T]
E_NEURON_CUMULATIVE = torch.stack([X[0], X[0] + X[1]])  # alpha_1 * (x0 + x1) / 2


def _agmm(**kw) -> AGMM:
    m = AGMM(2, **kw)
    with torch.no_grad():
        m.alpha.copy_(ALPHA)
    return m


@pytest.mark.parametrize("window", ["cumulative", "all", "step"])
def test_per_sample_gate_by_hand(window):
    gate = _agmm(**AGMMReading("sample", "after-bn", window).block_kwargs()).gate(X)
    assert gate.shape == (2, 2, 1, 1, 1)
    expected = torch.sigmoid(torch.tensor(E_SAMPLE[window])).view(2, 2, 1, 1, 1)
    torch.testing.assert_close(gate, expected)


def test_per_channel_batch_and_neuron_gates_by_hand():
    channel = _agmm(mean="channel", causal=True).gate(X)
    assert channel.shape == (2, 2, 2, 1, 1)
    torch.testing.assert_close(
        channel, torch.sigmoid(torch.tensor(E_CHANNEL_CUMULATIVE)).view(2, 2, 2, 1, 1))
    batch = _agmm(mean="batch", causal=True).gate(X)
    assert batch.shape == (2, 1, 1, 1, 1)
    torch.testing.assert_close(batch, torch.sigmoid(torch.tensor(E_BATCH_CUMULATIVE))
                               .view(2, 1, 1, 1, 1))
    neuron = _agmm(mean="neuron", causal=True).gate(X)
    assert neuron.shape == X.shape
    torch.testing.assert_close(neuron, torch.sigmoid(E_NEURON_CUMULATIVE))


def test_per_channel_on_flat_input_is_element_wise():
    x = torch.tensor([[[1., -2., 3.]], [[3., 0., -1.]]])  # [T=2, B=1, N=3]
    gate = _agmm(mean="channel", causal=True).gate(x)
    torch.testing.assert_close(gate, torch.sigmoid(torch.stack([x[0], x[0] + x[1]])))
    torch.testing.assert_close(feature_mean(x, "sample"), x.mean(-1, keepdim=True))


@pytest.mark.parametrize("mean", ["sample", "channel", "batch", "neuron"])
@pytest.mark.parametrize("causal, per_step", [(True, False), (False, False), (True, True)])
def test_gradcheck_every_mean_and_window(mean, causal, per_step):
    g = torch.Generator().manual_seed(3)
    x = (torch.randn(3, 2, 3, 2, 2, generator=g, dtype=torch.float64) + 0.3).requires_grad_()
    alpha = (torch.randn(3, generator=g, dtype=torch.float64) * 2).requires_grad_()
    m = AGMM(3, causal=causal, per_step=per_step, mean=mean).double()

    def f(x_, a_):
        return torch.func.functional_call(m, {"alpha": a_}, (x_,))

    assert torch.autograd.gradcheck(f, (x, alpha))


@pytest.mark.parametrize("mean", ["sample", "channel", "batch", "neuron"])
def test_detached_mean_scales_the_gradient_by_the_gate(mean):
    """Eq. 15-16: with the mean's term dropped, dL/dX = sigmoid(E) * dL/dX'."""
    m = _agmm(mean=mean, detach_mean=True).double()
    x = X.double().requires_grad_()
    up = torch.randn(X.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    (m(x) * up).sum().backward()
    torch.testing.assert_close(x.grad, m.gate(X.double()).expand_as(up) * up)


def _unit(position: str, mean: str, causal: bool, seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    conv = TimeDistributed(QConv2d(2, 3, 3, padding=1, bias=False, quantize=False))
    bn = TimeDistributed(nn.BatchNorm2d(3))
    return nn.Sequential(*ordered_unit(conv, bn, AGMM(2, causal=causal, mean=mean,
                                                         position=position))).double()


def test_position_orders_the_unit():
    assert isinstance(_unit("before-bn", "sample", True)[1], AGMM)
    assert isinstance(_unit("after-bn", "sample", True)[2], AGMM)


def test_a_gate_shared_by_all_samples_and_steps_is_cancelled_by_bn_before_it():
    """Before BN (train mode), one positive gate for the whole [T, B] batch is divided
    out by BN's batch statistics: the unit's output equals the ungated conv -> BN."""
    x = torch.rand(2, 4, 2, 5, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    before = _unit("before-bn", "batch", causal=False)
    before[2].module.eps = 1e-30  # negligible eps: the cancellation is then exact
    with torch.no_grad():
        before[1].alpha.fill_(0.7)  # one alpha, all-T mean: one gate for every t and b
    ungated = nn.Sequential(before[0], before[2])
    torch.testing.assert_close(before(x), ungated(x))
    assert float(before[1].gate(before[0](x)).detach().max()) < 0.95  # a real gate


def test_batch_mean_after_fresh_bn_is_zero_so_the_gate_is_one_half():
    """After BN (train mode, beta = 0), the mean over T, B, C, H, W is exactly 0: the
    all-T batch gate is sigmoid(0) = 0.5 whatever the input."""
    x = torch.rand(2, 4, 2, 5, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    unit = _unit("after-bn", "batch", causal=False)
    gate = unit[2].gate(unit[1](unit[0](x)))
    torch.testing.assert_close(gate, torch.full_like(gate, 0.5))


@pytest.mark.parametrize("position", ["before-bn", "after-bn"])
def test_gradcheck_of_the_conv_weight_through_the_unit(position):
    """The weight gradient through conv -> [AGMM] -> BN -> [AGMM] (train-mode BN)."""
    unit = _unit(position, "channel", causal=True, seed=7)
    x = torch.rand(2, 3, 2, 4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(8))
    w = unit[0].module.weight.detach().clone().requires_grad_()

    def f(w_):
        return torch.func.functional_call(unit, {"0.module.weight": w_}, (x,))

    assert torch.autograd.gradcheck(f, (w,))


def test_networks_place_the_block_where_the_reading_says():
    tiny = {"width": 1 / 32, "in_shape": (3, 16, 16), "num_classes": 5}
    net = build_model("agmm-resnet19", quantizer="sign", position="before-bn", mean="channel",
                      **tiny)
    units = binary_units(net)
    assert len(units) == 16
    for u in units:
        assert u.agmm is not None and u.agmm.position == "before-bn" and u.agmm.mean == "channel"
    seq = net.body[3].unit1
    assert [type(m).__name__ for m in seq] == ["TimeDistributed", "AGMM", "TimeDistributed"]
    cfg = ModelConfig(spec="4C3-8C3-16", in_shape=(1, 8, 8), steps=2, quantizer="sign",
                      full_precision=[0, -1], block="agmm",
                      block_kwargs={"position": "before-bn"})
    body = list(build_network(cfg).body)
    where = [i for i, mod in enumerate(body) if isinstance(mod, AGMM)]
    assert len(where) == 2  # 8C3 and the hidden FC 16 (binary); not the first conv nor the output
    for i in where:
        assert isinstance(body[i - 1].module, (QConv2d, nn.Linear))
        assert isinstance(body[i + 1].module, (nn.BatchNorm2d, nn.BatchNorm1d))
    assert build_model("agmm-resnet19", quantizer="sign", **tiny)(torch.rand(2, 3, 16, 16)) \
        .shape == (2, 2, 5)


def test_flipping_the_default_reading_flips_block_and_zoo(monkeypatch):
    from spikebit.methods.agmm import module

    flipped = AGMMReading("channel", "before-bn", "all")
    monkeypatch.setattr(module, "DEFAULT_READING", flipped)
    assert AGMM(2).reading == flipped
    net = build_model("agmm-resnet19", width=1 / 32, in_shape=(3, 16, 16), quantizer="sign")
    assert {u.agmm.reading for u in binary_units(net)} == {flipped}


def test_defaults_come_from_the_default_reading_and_bad_values_raise():
    m = AGMM(2)
    assert m.reading == DEFAULT_READING
    assert AGMM(2, per_step=True).reading.window == "step"
    assert DEFAULT_READING.block_kwargs() == {"mean": DEFAULT_READING.mean,
                                              "position": DEFAULT_READING.position,
                                              "causal": DEFAULT_READING.window != "all",
                                              "per_step": DEFAULT_READING.window == "step"}
    assert AGMM(2, **AGMMReading("channel", "before-bn", "all").block_kwargs()).reading == \
        AGMMReading("channel", "before-bn", "all")
    with pytest.raises(ConfigError, match="mean='chanel'"):
        AGMM(2, mean="chanel")
    with pytest.raises(ConfigError, match="position"):
        AGMM(2, position="inside")
    with pytest.raises(ConfigError, match="window"):
        AGMMReading("sample", "after-bn", "causal")
    with pytest.raises(ConfigError, match="mean"):
        feature_mean(X, "pixel")
