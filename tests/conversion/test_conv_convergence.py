"""Converted SNNs converge to the normalized ANN; SN helps residual blocks."""

import pytest
import torch
from conv_helpers import images, mean_error, tiny_cnn, tiny_resnet
from torch import nn

from spikebit.conversion import ConversionError, convert

METHODS = ["rate", "phase", "bsnn"]


def phases(method: str, K: int) -> dict:
    """``K`` for the phase codings; rate coding has no phases (and refuses K)."""
    return {} if method == "rate" else {"K": K}


@pytest.mark.parametrize("make", [tiny_cnn, tiny_resnet])
@pytest.mark.parametrize("method", METHODS)
def test_graph_reproduces_normalized_ann(make, method: str) -> None:
    net, x = make(), images(8)
    snn = convert(net, x, method=method, percentile=99.0)
    torch.testing.assert_close(snn.analog(x), net(x) / snn.output_scale, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("pool", ["avg", "max"])
@pytest.mark.parametrize("method", METHODS)
def test_snn_output_converges_to_ann(pool: str, method: str) -> None:
    net, x = tiny_cnn(pool), images(16)
    K = 6
    snn = convert(net, x, method=method, percentile=100.0, **phases(method, K))
    ref = net(x) / snn.output_scale
    out = snn.simulate(x, 48 * K)
    err = mean_error(out, ref)
    # gated max-pool switches between near-equal units, which converges more slowly
    factor = 0.1 if pool == "avg" else 0.3
    assert err[-1] < factor * err[2 * K - 1], (err[2 * K - 1], err[-1])
    assert err[-1] < 0.04
    assert (out[-1].argmax(-1) == ref.argmax(-1)).float().mean() >= 0.9


@pytest.mark.parametrize("method", METHODS)
def test_resnet_output_converges_to_ann(method: str) -> None:
    net, x = tiny_resnet(), images(16)
    K = 6
    snn = convert(net, x, method=method, percentile=100.0, **phases(method, K))
    err = mean_error(snn.simulate(x, 40 * K), net(x) / snn.output_scale)
    assert err[-1] < 0.1 * err[2 * K - 1]


def test_bsnn_is_silent_until_information_reaches_the_output() -> None:
    net, x = tiny_resnet(), images(4)
    snn = convert(net, x, method="bsnn", K=4)
    assert snn.readout_onset == 1 + 2 * 2  # stem + (body + output) per block with SN
    out = snn.simulate(x, (snn.readout_onset + 1) * snn.K)
    assert torch.all(out[: snn.readout_onset * snn.K] == 0)
    assert torch.any(out[-1] != 0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_synchronous_neurons_lower_residual_error(seed: int) -> None:
    net, x = tiny_resnet(seed), images(32, seed + 10)
    K = 6
    errors = {}
    for sync in (True, False):
        snn = convert(net, x, method="bsnn", percentile=100.0, K=K, synchronous=sync)
        T = (snn.readout_onset + 3) * K
        errors[sync] = mean_error(snn.simulate(x, T), net(x) / snn.output_scale)[-1]
    assert errors[True] < 0.5 * errors[False], errors


def test_unsupported_layer_is_a_clear_error() -> None:
    net = nn.Sequential(nn.Flatten(), nn.Linear(128, 4), nn.Tanh(), nn.Linear(4, 2))
    with pytest.raises(ConversionError, match=r"layer '2' \(Tanh\): only ReLU"):
        convert(net, images(4))


def test_max_pool_must_act_on_spikes() -> None:
    net = nn.Sequential(nn.Conv2d(2, 3, 3), nn.MaxPool2d(2), nn.ReLU(), nn.Flatten(),
                        nn.Linear(27, 2))
    with pytest.raises(ConversionError, match="MaxPool2d must directly follow a ReLU"):
        convert(net, images(4))


class FunctionalRelu(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(128, 8), nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.fc1(x.flatten(1))))


def test_model_with_hidden_forward_logic_is_rejected() -> None:
    with pytest.raises(ConversionError, match="calls 'relu' outside a layer"):
        convert(FunctionalRelu(), images(4))


@pytest.mark.parametrize("bad", [{"K": 0}, {"K": 30}, {"percentile": 0.0}])
def test_bad_arguments(bad: dict) -> None:
    with pytest.raises(ConversionError):
        convert(tiny_cnn(), images(4), **bad)


def test_bad_time_steps() -> None:
    snn = convert(tiny_cnn(), images(4), method="rate")
    with pytest.raises(ConversionError, match=r"T \(time steps\) must be an int in 1\.\.65536"):
        snn.simulate(images(2), 0)
