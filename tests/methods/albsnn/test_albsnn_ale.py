"""ALE (eq. 5-10): R against hand-computed values and an independent ABC-Net formula."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from spikebit.errors import ConfigError
from spikebit.methods.albsnn import layer_error, model_scores, parabola, selectable_layers
from spikebit.methods.albsnn.ale import manhattan_error
from spikebit.quant import ABCQuantizer, QLinear, SignQuantizer, WeightQuantizer


def _linear(weight: list[list[float]], quantizer) -> QLinear:
    layer = QLinear(2, 2, bias=False, quantizer=quantizer)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(weight))
    return layer


def test_R_equals_hand_computed_values_on_a_small_network():
    # Three 2x2 linear layers, sign quantizer gamma_c * sign(W) (gamma_c = mean|W_c|), K=100.
    # L=3: eps = 4/(3-1)^2 = 1, centre 2 -> F = (1, 0, 1); layer 3 lies past the centre.
    net = nn.Sequential(
        _linear([[1.0, 3.0], [-2.0, 2.0]], SignQuantizer()),
        _linear([[1.0, 2.0], [3.0, 4.0]], SignQuantizer()),
        _linear([[0.5, -1.5], [4.0, 0.0]], SignQuantizer()),
    )
    scores = model_scores(selectable_layers(net), num_classes=100)
    # layer 1: rows -> [2, 2], [-2, 2]: w_loss = 1+1 = 2, A = 2/2 = 1.
    # [1, 4]: gamma = 2 -> [2, 2, -2, 2]: w_loss 2, theta_max = 2/1; [4, 1]: exact, theta_1 = 0.
    # M = (2 - 0)/2 = 1, R = F/(A+M) = 1/2.
    e1 = scores.errors[0]
    assert (e1.w_loss, e1.A, e1.theta_max, e1.theta_1, e1.M) == (2.0, 1.0, 2.0, 0.0, 1.0)
    # layer 3: rows gamma 1 -> [1, -1] (loss 1), gamma 2 -> [2, 2] (sign(0)=+1, loss 4):
    # w_loss 5, A 2.5; [1, 4]: gamma 1.5 -> loss 1+0+2.5+1.5 = 5, theta_max 5; theta_1 0;
    # M 2.5; R = log10(100) * 1 / (2.5 + 2.5) = 0.4.
    e3 = scores.errors[2]
    assert (e3.w_loss, e3.A, e3.theta_max, e3.theta_1, e3.M) == (5.0, 2.5, 5.0, 0.0, 2.5)
    assert scores.F == [1.0, 0.0, 1.0]
    assert scores.R[0] == pytest.approx(0.5)
    assert scores.R[1] == 0.0  # the middle layer: F = 0
    assert scores.R[2] == pytest.approx(0.4)


def test_eq8_estimate_of_theta_on_a_conv_weight():
    w = torch.randn(4, 9, 3, 3, generator=torch.Generator().manual_seed(0))
    q = ABCQuantizer(3)
    e = layer_error(w, q, theta="eq8")
    # reshape [1, 36]: w_loss' = w_loss / sqrt(4); reshape [36, 1]: w_loss' = w_loss * sqrt(9)
    assert e.theta_max == pytest.approx(e.w_loss / 2.0)
    assert e.theta_1 == pytest.approx(e.w_loss * 3.0 / 36.0)
    assert e.A == pytest.approx(e.w_loss / 4.0)


def _abc_numpy(w: np.ndarray) -> np.ndarray:
    """ABC-Net by the paper's formulas (eq. 12-13), with numpy's least squares."""
    v = w.reshape(-1).astype(np.float64)
    mean, std = v.mean(), v.std()
    bases = np.stack([np.where(v - mean + u * std >= 0, 1.0, -1.0) for u in (-1.0, 0.0, 1.0)])
    alpha, *_ = np.linalg.lstsq(bases.T, v, rcond=None)
    return (alpha @ bases).reshape(w.shape)


def test_abc_w_loss_matches_independent_formula_and_is_reshape_invariant():
    w = torch.randn(6, 5, 3, 3, generator=torch.Generator().manual_seed(1)) * 0.1
    q = ABCQuantizer(3)
    expected = np.abs(w.numpy() - _abc_numpy(w.numpy())).sum()
    e = layer_error(w, q)
    assert e.w_loss == pytest.approx(expected, rel=1e-4)
    assert e.A == pytest.approx(expected / 6, rel=1e-4)
    # "direct" skips re-quantizing reshaped ABC weights; check that this is exact
    one = manhattan_error(w.reshape(1, 30, 3, 3), q)
    many = manhattan_error(w.reshape(30, 1, 3, 3), q)
    assert e.theta_max == pytest.approx(one, rel=1e-5)
    assert e.theta_1 == pytest.approx(many / 30, rel=1e-5)
    assert e.M == pytest.approx((one - many / 30) / 2, rel=1e-5)


def test_parabola_and_guards():
    assert parabola(1, 7) == pytest.approx(1.0) and parabola(7, 7) == pytest.approx(1.0)
    assert parabola(4, 7) == 0.0
    assert parabola(2, 7, eta=2.0) == pytest.approx(2.0 * 4 / 36 * 4)
    with pytest.raises(ConfigError, match="at least 2"):
        parabola(1, 1)
    net = nn.Sequential(_linear([[1.0, 2.0], [3.0, 4.0]], WeightQuantizer()),
                        _linear([[1.0, 2.0], [3.0, 4.0]], SignQuantizer()))
    with pytest.raises(ConfigError, match="quantizer: abc"):
        selectable_layers(net)


def test_criterion_uses_log10_K_only_past_the_centre():
    net = nn.Sequential(*[_linear([[1.0, 3.0], [-2.0, 2.0]], SignQuantizer()) for _ in range(4)])
    r10 = model_scores(selectable_layers(net), num_classes=10).R
    r1000 = model_scores(selectable_layers(net), num_classes=1000).R
    # L=4, centre 2.5: layers 1, 2 unchanged; layers 3, 4 scaled by log10(1000)/log10(10) = 3
    assert r1000[:2] == pytest.approx(r10[:2])
    assert r1000[2:] == pytest.approx([3 * v for v in r10[2:]])
    assert not any(math.isnan(v) for v in r10)
