"""Binary weight optimization: constructed cases, FP layers untouched, the callback."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from spikebit.errors import ConfigError
from spikebit.methods.albsnn import (
    ALBSNNSelector,
    BinaryWeightOptimization,
    BWOSettings,
    apply_bwo,
    bwo_update,
)
from spikebit.methods.albsnn.bwo import schedule
from spikebit.quant import ABCQuantizer, QConv2d, SignQuantizer
from spikebit.train import Callback, config_from_dict, prepare
from spikebit.train.trainer import Trainer

ALPHA = torch.tensor([0.5, 0.3, 0.2])
# columns = weight elements e0..e5; rows = bases B1..B3
BASES = torch.tensor([
    [1.0, -1.0, 1.0, 1.0, 1.0, 1.0],
    [1.0, 1.0, 1.0, -1.0, 1.0, 1.0],
    [1.0, 1.0, 1.0, -1.0, 1.0, 1.0],
])
GRAD = torch.tensor([0.19, -0.45, 1e-5, -0.26, -0.01, 0.0])


def test_bwo_update_on_constructed_case():
    w_eff = ALPHA @ BASES  # [1.0, 0.0, 1.0, 0.0, 1.0, 1.0]
    w = w_eff + 0.01  # latent weight near its binarized value
    step = bwo_update(w, GRAD, BASES, ALPHA, lr=1.0, settings=BWOSettings(tolerance=100.0))
    # e0: |c - 0.19| = .31/.11/.01 -> base 3 (within 100*0.19), c*g > 0: removed, 1.0 -> 0.8
    # e1: contributions (-.5, .3, .2) vs -0.45 -> base 1 removed: 0.0 -> 0.5
    # e2: closest distance 0.19999 > 100 * 1e-5: kept
    # e3: (.5, -.3, -.2) vs -0.26 -> base 2 (distance .04): 0.0 -> .5 - .2 = 0.3
    # e4: closest is base 3 (+.2) but removing it would move the weight along -g: kept
    # e5: zero gradient: kept
    expected = torch.tensor([
        [False, True, False, False, False, False],
        [False, False, False, True, False, False],
        [True, False, False, False, False, False],
    ])
    assert torch.equal(step.removed, expected) and step.adjusted == 3
    # only the adjusted elements take the recombined value; the rest keep the latent weight
    assert torch.allclose(step.weight, torch.tensor([0.8, 0.5, 1.01, 0.3, 1.01, 1.01]))
    every = bwo_update(w, GRAD, BASES, ALPHA, 1.0, BWOSettings(recombine_all=True))
    assert torch.allclose(every.weight, torch.tensor([0.8, 0.5, 1.0, 0.3, 1.0, 1.0]))
    both_ways = bwo_update(w, GRAD, BASES, ALPHA, 1.0, BWOSettings(descent_only=False))
    assert bool(both_ways.removed[2, 4]) and both_ways.adjusted == 4
    strict = bwo_update(w, GRAD, BASES, ALPHA, 1.0, BWOSettings(tolerance=0.1))
    # bounds 0.1*|g|: e0 .019 (dist .01 ok), e1 .045 (dist .05 no), e3 .026 (dist .04 no)
    assert strict.adjusted == 1 and bool(strict.removed[2, 0])
    # bound on the update |lr g| instead of |g|: with lr = 1 the same decisions
    update = bwo_update(w, GRAD, BASES, ALPHA, 1.0, BWOSettings(bound="update"))
    assert torch.equal(update.removed, step.removed)
    # lr = 0.01, bound 100 |lr g| = |g|: e0 .198 > .19, e1 .4955 > .45, e3 base 3 .1974 <= .26
    small = bwo_update(w, GRAD, BASES, ALPHA, 0.01, BWOSettings(bound="update"))
    assert small.adjusted == 1 and bool(small.removed[2, 3])
    # cap: 1/6 of 6 elements -> the best fit relative to its bound, |c - d| / |g|:
    # e0 .01/.19 = .053, e1 .05/.45 = .11, e3 .04/.26 = .15 -> e0
    capped = bwo_update(w, GRAD, BASES, ALPHA, 1.0, BWOSettings(max_fraction=1 / 6))
    assert capped.adjusted == 1 and bool(capped.removed[2, 0])
    assert bwo_update(w, GRAD, BASES, ALPHA, 1.0, BWOSettings(max_fraction=0.1)).adjusted == 0
    with pytest.raises(ConfigError, match="bases"):
        bwo_update(w, GRAD, BASES[:, :3], ALPHA, lr=1.0)
    with pytest.raises(ConfigError, match="max_fraction"):
        BWOSettings(max_fraction=2.0)


def test_bwo_flips_the_removed_base_after_recombination():
    torch.manual_seed(0)
    layer = QConv2d(8, 8, 3, quantizer=ABCQuantizer(3))
    with torch.no_grad():
        gen = torch.Generator().manual_seed(0)
        layer.weight.copy_(torch.randn(8, 8, 3, 3, generator=gen) * 0.1)
    bases, alpha = layer.quantizer.decompose(layer.weight)
    pattern = bases.reshape(3, -1)
    e = int(((pattern[0] < 0) & (pattern[1] < 0) & (pattern[2] > 0)).nonzero()[0])  # level (-,-,+)
    grad = torch.zeros(layer.weight.numel())
    grad[e] = -0.01  # the loss wants this weight larger
    layer.weight.grad = grad.reshape(layer.weight.shape)
    counts = apply_bwo(nn.Sequential(layer), lr=1e-3)
    assert counts == {"0": 1}
    # the removed contribution is -alpha_2 B_2: the weight becomes -a1 + a3 (> new mean), so
    # the re-decomposed B_2 flips from -1 to +1 at e and nothing else changes
    assert float(layer.weight.detach().reshape(-1)[e]) == pytest.approx(float(-alpha[0] + alpha[2]))
    new_bases, new_alpha = layer.quantizer.decompose(layer.weight)
    changed = (new_bases != bases).reshape(3, -1)
    assert changed.sum() == 1 and bool(changed[1, e]) and new_bases.reshape(3, -1)[1, e] == 1
    assert torch.allclose(new_alpha, alpha, rtol=1e-2)


def test_bwo_never_changes_full_precision_layers():
    torch.manual_seed(0)
    fp = QConv2d(2, 4, 3, quantizer=ABCQuantizer(3), quantize=False)
    binary = QConv2d(4, 4, 3, quantizer=ABCQuantizer(3))
    for layer in (fp, binary):
        layer.weight.grad = torch.randn_like(layer.weight)  # large gradients everywhere
    before = fp.weight.detach().clone()
    counts = apply_bwo(nn.Sequential(fp, binary), lr=1e-3)
    assert list(counts) == ["1"] and counts["1"] > 0
    assert torch.equal(fp.weight, before)
    with pytest.raises(ConfigError, match="decompose"):
        apply_bwo(nn.Sequential(QConv2d(2, 2, 3, quantizer=SignQuantizer())), lr=1e-3)


def test_schedule_spreads_applications_over_the_window():
    assert schedule(10, 100, epochs=2, times=4) == [800, 850, 900, 950]
    assert schedule(1, 16, epochs=1, times=3) == [0, 5, 10]
    assert schedule(2, 5, epochs=5, times=20) == list(range(10))  # capped at one per step
    with pytest.raises(ConfigError, match="times >= 1"):
        BinaryWeightOptimization(times=0)


class _Snapshot(Callback):
    """Copies every layer's weight at on_step_end (placed before and after BWO)."""

    def __init__(self, selector: ALBSNNSelector) -> None:
        self.selector, self.weights, self.fp = selector, {}, {}

    def on_step_end(self, trainer, step, loss):
        layers = self.selector.layers
        self.weights[step] = [layer.weight.detach().clone() for _, layer in layers]
        self.fp[step] = [not layer.quantize for _, layer in layers]


def test_bwo_callback_in_training_leaves_fp_layers_alone(quad_config):
    quad_config["data"]["train_limit"] = 128  # 8 steps per epoch
    config = config_from_dict(quad_config)
    model, train, test, transform = prepare(config)
    sel = ALBSNNSelector(rule="top-k", k=2)
    bwo = BinaryWeightOptimization(epochs=1, times=4, tolerance=1e4, max_fraction=0.05)
    before, after = _Snapshot(sel), _Snapshot(sel)
    trainer = Trainer(config, model, train, test, [sel, before, bwo, after], transform)
    metrics = trainer.fit()
    assert sorted(bwo.steps) == [8, 10, 12, 14] and bwo.applied == 4
    assert metrics["albsnn"]["bwo"]["applied"] == 4 and sum(bwo.adjusted.values()) > 0
    changed_binary = False
    for step in bwo.steps:
        for b, a, is_fp in zip(before.weights[step], after.weights[step], before.fp[step]):
            if is_fp:
                assert torch.equal(b, a)
            else:
                changed_binary |= not torch.equal(b, a)
    assert changed_binary


@pytest.mark.parametrize("kwargs, message", [
    ({"descent_only": "nope"}, "descent_only must be true or false, got 'nope'"),
    ({"recombine_all": 1}, "recombine_all must be true or false, got 1"),
    ({"max_fraction": "abc"}, r"max_fraction must be a number or null \(no cap\), got 'abc'"),
    ({"tolerance": "100"}, "tolerance must be a number, got '100'"),
])
def test_bwo_settings_reject_wrong_types(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        BWOSettings(**kwargs)
    with pytest.raises(ConfigError, match=message):  # the callback a config builds
        BinaryWeightOptimization(**kwargs)
