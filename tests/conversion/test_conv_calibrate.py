"""Percentile normalization picks the right quantile."""

import numpy as np
import pytest
import torch
from conv_helpers import images
from torch import nn

from spikebit.conversion import ConversionError, convert, percentile
from spikebit.conversion.calibrate import ActivationStats, nonzero_percentile


@pytest.mark.parametrize("p", [0.5, 25.0, 50.0, 99.0, 99.9, 99.99, 100.0])
def test_percentile_matches_numpy(p: float) -> None:
    values = torch.randn(10_001, generator=torch.Generator().manual_seed(0)).exp()
    assert percentile(values, p) == pytest.approx(np.percentile(values.numpy(), p), rel=1e-6)


def test_nonzero_percentile_drops_zeros() -> None:
    values = torch.tensor([0.0, 0.0, 0.0, 1.0, 2.0, 3.0, -1.0])
    assert nonzero_percentile(values, 50.0) == pytest.approx(2.0)
    assert nonzero_percentile(torch.zeros(4), 99.0, default=1.0) == 1.0


@pytest.mark.parametrize("p", [0.0, 101.0, -5.0])
def test_percentile_range_is_checked(p: float) -> None:
    with pytest.raises(ConversionError, match="percentile"):
        percentile(torch.ones(3), p)


@pytest.mark.parametrize("p", [90.0, 99.99, 100.0])
def test_layer_lambda_is_percentile_of_positive_activations(p: float) -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 32), nn.ReLU(), nn.Linear(32, 3)).eval()
    x = torch.randn(400, 5)
    snn = convert(net, x, method="rate", percentile=p, batch_size=64)
    with torch.no_grad():
        hidden = net[1](net[0](x)).numpy()
    expected = np.percentile(hidden[hidden > 0], p)
    assert snn.lambdas["0"] == pytest.approx(expected, rel=1e-5)
    with torch.no_grad():
        out = net(x).numpy()
    assert snn.output_scale == pytest.approx(np.percentile(out[out > 0], p), rel=1e-5)


def test_normalized_weights_follow_eq6() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3)).eval()
    x = torch.rand(50, 4)
    snn = convert(net, x, method="rate", percentile=100.0)
    lam1, lam2 = snn.lambdas["0"], snn.lambdas["readout"]
    layer1 = snn.nodes[0].chain
    torch.testing.assert_close(layer1.ops[0].weight, net[0].weight * 1.0 / lam1)
    torch.testing.assert_close(layer1.bias.flatten(), net[0].bias / lam1)
    torch.testing.assert_close(snn.nodes[1].chain.ops[0].weight, net[2].weight * lam1 / lam2)


def test_phase_input_scale_is_percentile_of_abs_input() -> None:
    net = nn.Sequential(nn.Flatten(), nn.Linear(128, 3)).eval()
    x = images(8) - 0.5
    snn = convert(net, x, method="phase", percentile=99.0)
    assert snn.input_scale == pytest.approx(np.percentile(x.abs().numpy(), 99.0), rel=1e-5)


def test_activation_stats_subsample_is_bounded() -> None:
    stats = ActivationStats(99.0, n_batches=2, max_values=100)
    for _ in range(2):
        stats.add("a", torch.rand(1000) + 0.1)
    assert sum(t.numel() for t in stats.values["a"]) == 100
    assert 0.1 < stats.lambdas()["a"] <= 1.1
