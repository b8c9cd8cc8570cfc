"""Neuron dynamics: rate IF, phase (weighted spikes), bistable IF pairs, encoders."""

import pytest
import torch
from torch import nn

from spikebit.conversion import convert
from spikebit.conversion.dynamics import (
    BistableIF,
    Clock,
    PhaseIF,
    PhaseInput,
    RateIF,
)
from spikebit.conversion.graph import MaxGate


def quantize(v: torch.Tensor, K: int) -> torch.Tensor:
    """K-bit truncation of values in [0, 1)."""
    return torch.floor(v * 2**K) / 2**K


def per_period(current: torch.Tensor, K: int) -> torch.Tensor:
    """``[T, ...]`` step values -> ``[T // K, ...]`` sums over each period."""
    return current.reshape(current.shape[0] // K, K, *current.shape[1:]).sum(1)


def identity_readout_net(first: nn.Linear) -> nn.Sequential:
    """``first`` -> ReLU -> identity readout, so the readout shows the hidden spikes."""
    n = first.out_features
    readout = nn.Linear(n, n)
    with torch.no_grad():
        readout.weight.copy_(torch.eye(n))
        readout.bias.zero_()
    return nn.Sequential(first, nn.ReLU(), readout).eval()


def hidden_spikes_per_period(snn, x: torch.Tensor, periods: int) -> torch.Tensor:
    """Per-period output of the single hidden layer, in its normalized units."""
    scale = snn.lambdas["readout"] / snn.lambdas["0"]  # undo the readout's eq. 6 scale
    return per_period(snn.output_current(x, periods * snn.K), snn.K) * scale


def test_clock_phase_weights() -> None:
    c = Clock(t=13, K=4)
    assert (c.period, c.phase, c.spike_weight) == (3, 1, 0.25)
    assert sum(Clock(t, 5).spike_weight for t in range(5)) == 1 - 2**-5


def test_rate_if_soft_reset_counts() -> None:
    neuron, u, count = RateIF(), None, 0.0
    for t in range(10):
        s, u = neuron.fire(torch.tensor([0.35]), Clock(t, 1), u)
        count += float(s)
    assert count == 3.0 and float(u) == pytest.approx(0.5)


@pytest.mark.parametrize("K", [4, 6, 8])
def test_bif_pair_fires_in_alternate_periods(K: int) -> None:
    neuron, state = BistableIF(K), None
    c = torch.tensor([0.7, 0.3])
    for t in range(4 * K):
        clock = Clock(t, K)
        before = state
        s, state = neuron.fire(c * neuron.beta(clock), clock, state)
        if before is not None:
            firing, resting = (before.a, state.a) if clock.period % 2 else (before.b, state.b)
            assert torch.all(resting <= firing)  # the firing neuron only loses potential
        if clock.period == 0:
            assert torch.all(s == 0)  # B fires in period 0 but has integrated nothing yet


@pytest.mark.parametrize("K", [4, 6, 8])
def test_bistable_single_layer_exact_after_one_period(K: int) -> None:
    torch.manual_seed(K)
    x = torch.rand(8, 5)
    net = identity_readout_net(nn.Linear(5, 4))
    snn = convert(net, torch.cat([x, 2 * x]), method="bsnn", percentile=100.0, K=K)
    h = snn.nodes[0].analog(x)  # normalized ANN activation, all < 1
    assert h.max() < 1 - 2**-K
    periods = 6
    sent = hidden_spikes_per_period(snn, x, periods)
    assert torch.all(sent[0].abs() < 1e-6)  # information crosses one layer per period
    torch.testing.assert_close(sent[1], quantize(h, K), atol=1e-5, rtol=0)
    assert torch.all((sent[1:] - h).abs() <= 2**-K + 1e-5)
    mean = sent[1:].mean(0)  # A and B each keep a remainder < 2^-K (soft reset)
    assert torch.all((mean - h).abs() <= 2 * 2**-K / (periods - 1) + 1e-5)


@pytest.mark.parametrize("K", [4, 8])
def test_phase_single_layer_identity_weights_exact_in_first_period(K: int) -> None:
    x = torch.rand(8, 5, generator=torch.Generator().manual_seed(0))
    first = nn.Linear(5, 5)
    with torch.no_grad():
        first.weight.copy_(torch.eye(5))
        first.bias.zero_()
    snn = convert(identity_readout_net(first), torch.cat([x, 2 * x]), method="phase",
                  percentile=100.0, K=K)
    xn = x / snn.input_scale  # phase-coded input: one input spike train per neuron
    sent = hidden_spikes_per_period(snn, x, 4)
    torch.testing.assert_close(sent[0], quantize(xn, K), atol=1e-6, rtol=0)
    assert torch.all((sent.mean(0) - xn).abs() <= 2**-K / 4 + 1e-6)


def test_phase_single_layer_random_weights_converges() -> None:
    torch.manual_seed(3)
    K = 6
    x = torch.rand(16, 5)
    snn = convert(identity_readout_net(nn.Linear(5, 4)), torch.cat([x, 2 * x]),
                  method="phase", percentile=100.0, K=K)
    h = snn.nodes[0].analog(x / snn.input_scale)
    hq = snn.nodes[0].analog(quantize(x / snn.input_scale, K))
    sent = hidden_spikes_per_period(snn, x, 40)
    for n in (2, 10, 40):
        err = (sent[:n].mean(0) - hq).abs().max()
        assert err <= 2**-K + 2.0 / n, n  # lead/lag is paid back; remainder bounded
    assert (sent.mean(0) - h).abs().max() < (sent[:2].mean(0) - h).abs().max()


def test_phase_input_encoder_signed_k_bits() -> None:
    K, enc, u = 5, PhaseInput(), None
    x = torch.tensor([-0.3, 0.7, 0.0, 0.96875])
    out = torch.zeros(3, 4)
    for t in range(3 * K):
        s, u = enc.step(x, Clock(t, K), PhaseIF(K), u)
        out[t // K] += s
    expected = torch.sign(x) * quantize(x.abs(), K)
    torch.testing.assert_close(out[0], expected)
    assert torch.all((out.mean(0) - x).abs() <= 2**-K / 3 + 1e-7)


@pytest.mark.parametrize("method", [PhaseIF(6), BistableIF(6)])
def test_max_gate_passes_the_most_active_unit(method) -> None:
    K = 6
    values = torch.tensor([0.30, 0.55, 0.53, 0.10, 0.20, 0.21, 0.80, 0.79]).view(1, 2, 2, 2)
    gate, state, enc, u = MaxGate("p", nn.MaxPool2d(2)), None, PhaseInput(), None
    total = torch.zeros(1, 2, 1, 1)
    for t in range(K):
        spikes, u = enc.step(values, Clock(t, K), method, u)
        out, state = gate.step(spikes, Clock(t, K), method, state)
        total += out
    expected = quantize(values.amax(dim=(2, 3), keepdim=True), K)
    torch.testing.assert_close(total, expected)
