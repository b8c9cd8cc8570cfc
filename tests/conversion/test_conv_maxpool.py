"""Spiking max-pool converges to the max of the rates (issue 18 item 2)."""

import pytest
import torch
from conv_helpers import images, tiny_cnn
from torch import nn

from spikebit.conversion import METHODS, convert
from spikebit.conversion.dynamics import Clock, RateIF
from spikebit.conversion.graph import MaxGate
from spikebit.conversion.qcfs import to_qcfs

MAXPOOL_METHODS = list(METHODS.names())


def converted(net: nn.Module, x: torch.Tensor, method: str) -> tuple[nn.Module, object]:
    """``(reference ann, snn)``: max-norm calibration. qcfs converts the net's QCFS version
    (clip = max activation); as T grows its IF neurons leave the L-step quantization and
    converge to the clipped ReLU, here the ReLU net itself, which is the reference."""
    if METHODS.get(method).thresholds is None:
        return net, convert(net, x, method=method, percentile=100.0,
                            K=None if method == "rate" else 8)
    if method == "qcfs":
        return net, convert(to_qcfs(net, x, levels=8, percentile=100.0), x, method=method)
    return net, convert(net, x, method=method, percentile=100.0, thresholds="percentile")


def issue_net() -> nn.Sequential:
    """conv1x1 (w=1, b=0) -> ReLU -> MaxPool2d((1, 2)) -> Linear (w=1, b=0)."""
    conv, lin = nn.Conv2d(1, 1, 1), nn.Linear(1, 1)
    with torch.no_grad():
        conv.weight.fill_(1.0), conv.bias.zero_(), lin.weight.fill_(1.0), lin.bias.zero_()
    return nn.Sequential(conv, nn.ReLU(), nn.MaxPool2d((1, 2)), nn.Flatten(), lin).eval()


def test_gate_count_equals_max_of_input_counts() -> None:
    # two rate-coded units: every step the pooled count is the larger input count
    gate, state = MaxGate("p", nn.MaxPool2d((1, 2))), None
    spikes = torch.tensor([[1, 0], [0, 1], [1, 1], [0, 1], [0, 1], [1, 0]], dtype=torch.float32)
    pooled_count, counts = 0.0, torch.zeros(2)
    for t, s in enumerate(spikes):
        out, state = gate.step(s.view(1, 1, 1, 2), Clock(t, 1), RateIF(1), state)
        counts += s
        pooled_count += float(out)
        assert float(out) in (0.0, 1.0)  # a binary spike
        assert pooled_count == float(counts.max())  # hand count: 1, 1, 2, 3, 4, 4


@pytest.mark.parametrize("method", MAXPOOL_METHODS)
def test_issue_case_converges_to_the_larger_rate(method: str) -> None:
    calibration = torch.tensor([[0.43, 0.4305], [1.0, 1.0]]).view(2, 1, 1, 2)
    net, snn = converted(issue_net(), calibration, method)
    x = calibration[:1]
    ref = float(net(x).detach())
    assert ref == pytest.approx(0.4305)
    out = snn.simulate(x, 4096)[:, 0, 0].double() * snn.output_scale
    errors = [abs(float(out[t - 1]) - ref) for t in (256, 1024, 4096)]
    # the readout converges towards the max of the rates (never overshoots towards the sum)
    assert errors[-1] <= errors[0] + 1e-6
    assert errors[-1] < 2e-3, errors


def _max_error(pool: str, method: str, T: int) -> torch.Tensor:
    net, snn = converted(tiny_cnn(pool), images(16), method)
    x = images(16)
    ref = net(x).detach() / snn.output_scale
    return (snn.simulate(x, T) - ref).abs().amax(dim=(1, 2))


@pytest.mark.parametrize("method", MAXPOOL_METHODS)
def test_random_max_pool_net_converges_like_avg_pool(method: str) -> None:
    err_max, err_avg = _max_error("max", method, 1024), _max_error("avg", method, 1024)
    # as accurate as the AvgPool version (the old gate left 0.119 at T = 2048 vs 0.0008)
    assert err_max[-1] < 2.0 * err_avg[-1] + 1e-3, (err_max[-1], err_avg[-1])
    assert err_max[-1] < 0.01
    assert err_max[-1] <= err_max[63]
