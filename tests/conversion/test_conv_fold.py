"""BN folding (eq. 7) keeps the ANN function."""

import copy

import pytest
import torch
from conv_helpers import randomize_bn, tiny_cnn, tiny_resnet
from torch import nn

from spikebit.conversion import fold_batchnorm


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_conv_bn_fold_same_output(bias: bool, affine: bool) -> None:
    conv, bn = nn.Conv2d(3, 5, 3, bias=bias), nn.BatchNorm2d(5, affine=affine)
    net = randomize_bn(nn.Sequential(conv, bn))
    x = torch.randn(4, 3, 9, 9)
    folded = fold_batchnorm(net)
    torch.testing.assert_close(folded(x), net(x), atol=1e-5, rtol=0)
    assert isinstance(folded[1], nn.Identity)


def test_linear_bn1d_fold_same_output() -> None:
    net = randomize_bn(nn.Sequential(nn.Linear(7, 5), nn.BatchNorm1d(5), nn.ReLU()))
    x = torch.randn(6, 7)
    torch.testing.assert_close(fold_batchnorm(net)(x), net(x), atol=1e-5, rtol=0)


@pytest.mark.parametrize("make", [tiny_cnn, tiny_resnet])
def test_fold_networks_and_input_untouched(make) -> None:
    net = make()
    before = copy.deepcopy(net.state_dict())
    x = torch.randn(3, 2, 8, 8)
    folded = fold_batchnorm(net)
    torch.testing.assert_close(folded(x), net(x), atol=1e-5, rtol=0)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert any(isinstance(m, nn.BatchNorm2d) for m in net.modules())


def test_bn_not_after_conv_is_left_in_place() -> None:
    net = randomize_bn(nn.Sequential(nn.BatchNorm2d(3), nn.Conv2d(3, 4, 1)))
    folded = fold_batchnorm(net)
    assert isinstance(folded[0], nn.BatchNorm2d)
    x = torch.randn(2, 3, 4, 4)
    torch.testing.assert_close(folded(x), net(x), atol=1e-5, rtol=0)
