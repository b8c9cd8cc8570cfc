"""The reconstructed initialization (eq. 17) and the per-step count loss (eq. 6)."""

import math

import pytest
import torch
from torch import nn

from spikebit.errors import ConfigError, ShapeError
from spikebit.methods.multithreshold import (
    CountLoss,
    count_mse,
    fan_in,
    model_threshold,
    mt_init_,
    mt_network,
)
from spikebit.train.callbacks import CALLBACKS
from spikebit.train.losses import LOSSES, spike_count_mse


def test_init_statistics_match_v_squared_over_fan_in():
    net = mt_network("64C5-P2-512", in_shape=(16, 12, 12), threshold=10.0, init="paper")
    layers = [m for m in net.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    # "same" padding: 12 -> 12 -> pool 6
    assert [fan_in(m) for m in layers] == [16 * 25, 64 * 6 * 6, 512]
    for m in layers:
        w = m.weight.detach().double()
        std = 10.0 / math.sqrt(fan_in(m))
        n = w.numel()
        assert abs(w.mean().item()) < 4 * std / math.sqrt(n)
        assert w.std().item() == pytest.approx(std, rel=6 / math.sqrt(n) + 0.01)
        assert torch.count_nonzero(m.bias) == 0


def test_init_gives_preactivations_of_about_one_threshold():
    torch.manual_seed(0)
    layer = nn.Linear(1000, 2000)
    mt_init_(nn.Sequential(layer), threshold=0.5, gain=2.0)
    h = layer(torch.randn(500, 1000))  # unit-variance input
    assert h.std().item() == pytest.approx(2.0 * 0.5, rel=0.03)


def test_init_reads_the_threshold_from_the_neurons_and_is_seeded():
    net = mt_network("8", in_shape=(4,), threshold=3.0, init="default")
    assert model_threshold(net) == 3.0
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    w1 = mt_init_(net, generator=g1).body[0].module.weight.clone()
    w2 = mt_init_(net, generator=g2).body[0].module.weight
    assert torch.equal(w1, w2)


def test_init_errors_say_what_to_do():
    with pytest.raises(ConfigError, match="pass threshold"):
        mt_init_(nn.Sequential(nn.Linear(2, 2)))
    with pytest.raises(ConfigError, match="must be > 0"):
        mt_init_(nn.Sequential(nn.Linear(2, 2)), threshold=1.0, gain=0.0)


def test_count_mse_by_hand():
    out = torch.tensor([[[2.0, 0.0, 1.0]], [[4.0, 1.0, 0.0]]])  # [T=2, B=1, K=3]
    label = torch.tensor([0])
    # desired (4, 0, 0) each step: errors (2,0,1) and (0,1,0) -> (4+0+1+0+1+0)/6
    assert count_mse(out, label).item() == pytest.approx(1.0)
    # desired (1, 0.5, 0.5): (1+.25+.25 + 9+.25+.25)/6
    assert count_mse(out, label, target_count=1.0, other_count=0.5).item() == pytest.approx(11 / 6)


def test_count_mse_is_time_averaged_mse_plus_variance_over_time():
    torch.manual_seed(0)
    out = torch.randint(0, 4, (3, 5, 4)).float()
    label = torch.randint(0, 4, (5,))
    per_step = count_mse(out, label, target_count=1.0)
    variance = (out - out.mean(0)).pow(2).mean()
    torch.testing.assert_close(per_step, spike_count_mse(out, label) + variance)


def test_count_loss_is_registered_and_installed_by_the_callback():
    assert LOSSES.get("mt-mse") is count_mse
    assert CALLBACKS.get("mt-count-loss") is CountLoss

    class _Trainer:
        loss_fn = None

    t = _Trainer()
    CountLoss(target_count=2.0).on_train_start(t)
    out = torch.zeros(1, 1, 2)
    assert t.loss_fn(out, torch.tensor([1])).item() == pytest.approx(2.0)  # (0 + 4) / 2
    with pytest.raises(ShapeError, match=r"\[T, B, K\]"):
        count_mse(torch.zeros(2, 3), torch.tensor([0, 1]))
