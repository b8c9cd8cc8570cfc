"""Unconvertible layers raise ConversionError naming path and reason, before any work
(issue 18 item 3)."""

import pytest
import torch
from conv_helpers import images, tiny_cnn, tiny_resnet
from torch import nn

from spikebit.conversion import ConversionError, convert
from spikebit.conversion.check import check_convertible


class InPlaceAdd(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.relu, self.fc2 = nn.Linear(128, 8), nn.ReLU(), nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.relu(self.fc1(x.flatten(1)))
        h += 1.0  # in-place op outside a module
        return self.fc2(h)


class FunctionalRelu(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.flat, self.fc1, self.fc2 = nn.Flatten(), nn.Linear(128, 8), nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.fc1(self.flat(x))))


class Reordered(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc2, self.flat = nn.Linear(8, 3), nn.Flatten()
        self.fc1, self.relu = nn.Linear(128, 8), nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.relu(self.fc1(self.flat(x))))


class Twice(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.flat, self.fc, self.relu = nn.Flatten(), nn.Linear(128, 128), nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.fc(self.relu(self.fc(self.flat(x)))))


def seq(*mid: nn.Module) -> nn.Sequential:
    """conv -> <mid> -> flatten -> linear; the bad layer sits at path '1'."""
    return nn.Sequential(nn.Conv2d(2, 4, 3), *mid, nn.Flatten(), nn.LazyLinear(3))


CASES = [
    # issue 18 item 3, verbatim (3 input channels)
    ("bn-no-stats", nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4, track_running_stats=False),
                                  nn.ReLU(), nn.Flatten(), nn.Linear(144, 3)),
     "'1'", "running statistics"),
    ("sigmoid", seq(nn.Sigmoid()), "'1'", "only ReLU"),
    ("gelu", seq(nn.GELU()), "'1'", "only ReLU"),
    ("leaky", seq(nn.LeakyReLU()), "'1'", "only ReLU"),
    ("relu6", seq(nn.ReLU6()), "'1'", "only ReLU"),
    ("softmax", nn.Sequential(nn.Flatten(), nn.Linear(128, 3), nn.Softmax(-1)), "'2'",
     "softmax"),
    ("adaptive-max", seq(nn.ReLU(), nn.AdaptiveMaxPool2d(2)), "'2'", "pooling"),
    ("lppool", seq(nn.ReLU(), nn.LPPool2d(2, 2)), "'2'", "pooling"),
    ("maxpool1d", nn.Sequential(nn.Conv1d(2, 4, 3), nn.ReLU(), nn.MaxPool1d(2)), "'2'",
     "pooling"),
    ("max-indices", seq(nn.ReLU(), nn.MaxPool2d(2, return_indices=True)), "'2'",
     "return_indices"),
    ("lstm", nn.Sequential(nn.LSTM(8, 8)), "'0'", "recurrent"),
    ("gru-cell", nn.Sequential(nn.Flatten(), nn.GRUCell(128, 8)), "'1'", "recurrent"),
    ("attention", nn.Sequential(nn.MultiheadAttention(8, 2)), "'0'", "attention"),
    ("transformer", nn.Sequential(nn.TransformerEncoderLayer(8, 2)), "'0'", "attention"),
    ("layernorm", seq(nn.LayerNorm([4, 6, 6])), "'1'", "statistics of each sample"),
    ("groupnorm", seq(nn.GroupNorm(2, 4)), "'1'", "statistics of each sample"),
    ("instancenorm", seq(nn.InstanceNorm2d(4)), "'1'", "statistics of each sample"),
    ("conv3d", nn.Sequential(nn.Conv3d(1, 2, 3)), "'0'", "no lowering"),
    ("modulelist", nn.Sequential(nn.ModuleList([nn.ReLU()])), "'0'", "ModuleList"),
    ("nested-path", nn.Sequential(nn.Sequential(nn.Conv2d(2, 4, 3), nn.Tanh())), "'0.1'",
     "only ReLU"),
    ("in-place", InPlaceAdd(), "h += 1.0", "in-place"),
    ("functional-relu", FunctionalRelu(), "'relu'", "functional"),
    ("reordered", Reordered(), "registration order", "registration order"),
    ("reused", Twice(), "registration order", "once"),
]


@pytest.mark.parametrize(("net", "path", "reason"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_unconvertible_layer_names_path_and_reason(net: nn.Module, path: str,
                                                   reason: str) -> None:
    with pytest.raises(ConversionError) as info:
        check_convertible(net)
    message = str(info.value)
    assert path in message and reason in message, message
    # convert() refuses before any work: calibration data the net cannot even run on
    # (wrong shape) still yields the same ConversionError, not a shape error
    with pytest.raises(ConversionError) as again:
        convert(net, torch.zeros(2, 5), method="rate")
    assert str(again.value) == message


def test_issue_example_in_convert() -> None:
    net = CASES[0][1].eval()
    with pytest.raises(ConversionError, match=r"layer '1' \(BatchNorm2d\).*running statistics"):
        convert(net, torch.rand(4, 3, 8, 8), method="rate")


def test_every_problem_is_listed() -> None:
    net = nn.Sequential(nn.Conv2d(2, 4, 3), nn.Tanh(), nn.Flatten(), nn.Linear(144, 4),
                        nn.GELU(), nn.Linear(4, 2))
    with pytest.raises(ConversionError) as info:
        check_convertible(net)
    assert "'1' (Tanh)" in str(info.value) and "'4' (GELU)" in str(info.value)


@pytest.mark.parametrize("make", [tiny_cnn, tiny_resnet])
def test_convertible_nets_pass(make) -> None:
    check_convertible(make())


def test_eval_identity_layers_are_convertible() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv1d(2, 4, 3), nn.ReLU(), nn.Dropout1d(0.2), nn.AvgPool1d(2),
                        nn.AdaptiveAvgPool1d(2), nn.Flatten(), nn.Linear(8, 3)).eval()
    x = torch.rand(8, 2, 10)
    snn = convert(net, x, method="rate", percentile=100.0)
    torch.testing.assert_close(snn.analog(x) * snn.output_scale, net(x), atol=1e-5, rtol=1e-4)


def test_max_pool_position_error_names_the_layer() -> None:
    net = nn.Sequential(nn.Conv2d(2, 3, 3), nn.MaxPool2d(2), nn.ReLU(), nn.Flatten(),
                        nn.Linear(27, 2))
    with pytest.raises(ConversionError, match="layer '1'.*must directly follow a ReLU"):
        convert(net, images(4))
