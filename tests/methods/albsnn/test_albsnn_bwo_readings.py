"""BWO readings (ALBSNN §3.5): hand-computed cases per reading, the callback's gradient and
adjustment modes, and the albsnn-bwo-readings experiment on a toy model."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from spikebit.errors import ConfigError
from spikebit.methods.albsnn import BinaryWeightOptimization, BWOSettings, bwo_update
from spikebit.methods.albsnn import bwo_readings as br
from spikebit.methods.albsnn.bwo import accumulation_starts
from spikebit.quant import ABCQuantizer, QConv2d
from spikebit.reproduce import EXPERIMENTS
from spikebit.train.checkpoint import load_checkpoint
from spikebit.train.seeds import seed_repeat

ALPHA = torch.tensor([0.5, 0.3, 0.2])


def test_closest_descent_skips_a_closest_base_of_the_wrong_sign():
    # e0: c = (.5, .3, -.2); e1: c = (-.5, -.3, -.2); d = lr g = .01 for both
    bases = torch.tensor([[1.0, -1.0], [1.0, -1.0], [-1.0, -1.0]])
    w = ALPHA @ bases  # [0.6, -1.0]
    grad = torch.tensor([0.01, 0.01])
    closest = bwo_update(w, grad, bases, ALPHA, 1.0, BWOSettings())
    # e0: distances (.49, .29, .21) -> base 3, but c3 d < 0: kept; e1: base 3, c3 d < 0: kept
    assert closest.adjusted == 0
    descent = bwo_update(w, grad, bases, ALPHA, 1.0, BWOSettings(base="closest-descent"))
    # e0: only bases 1, 2 descend -> base 2 (.29 <= 100 * .01): 0.6 -> 0.5 - 0.2 = 0.3
    # e1: no base descends (all c < 0 < d): kept
    assert descent.removed[:, 0].tolist() == [False, True, False]
    assert not bool(descent.removed[:, 1].any())
    assert torch.allclose(descent.weight, torch.tensor([0.3, -1.0]))


def test_layer_scope_removes_one_base_from_every_element():
    # e0: c = (.5, .3, .2); e1: c = (.5, -.3, -.2)
    bases = torch.tensor([[1.0, 1.0], [1.0, -1.0], [1.0, -1.0]])
    w = ALPHA @ bases  # [1.0, 0.0]
    grad = torch.tensor([0.2, 0.1])  # lr = 1: d = g
    # layer means of |c_i - d|: (.35, .25, .15) -> base 3; sum c_3 d = .04 - .02 > 0;
    # bound: .15 <= tolerance * mean|g| = tolerance * .15
    step = bwo_update(w, grad, bases, ALPHA, 1.0, BWOSettings(scope="layer", tolerance=1.1))
    assert step.removed.tolist() == [[False, False], [False, False], [True, True]]
    assert torch.allclose(step.weight, torch.tensor([0.8, 0.2]))
    tight = bwo_update(w, grad, bases, ALPHA, 1.0, BWOSettings(scope="layer", tolerance=0.9))
    assert tight.adjusted == 0 and torch.equal(tight.weight, w)
    # g = (.1, .2): means (.35, .35, .25) -> base 3, but sum c_3 d = .02 - .04 < 0: kept ...
    flipped = torch.tensor([0.1, 0.2])
    assert bwo_update(w, flipped, bases, ALPHA, 1.0, BWOSettings(scope="layer")).adjusted == 0
    # ... while closest-descent takes base 1 (sum .15 > 0; base 2: .03 - .06 < 0)
    down = bwo_update(w, flipped, bases, ALPHA, 1.0,
                      BWOSettings(scope="layer", base="closest-descent"))
    assert down.removed.tolist() == [[True, True], [False, False], [False, False]]
    assert torch.allclose(down.weight, torch.tensor([0.5, -0.5]))
    with pytest.raises(ConfigError, match="scope='element'"):
        BWOSettings(scope="layer", max_fraction=0.1)
    with pytest.raises(ConfigError, match="base must be one of"):
        BWOSettings(base="largest")


def test_given_adjustment_replaces_lr_times_grad():
    bases = torch.ones(3, 1)  # c = (.5, .3, .2), w_eff = 1.0
    w, grad = torch.tensor([1.0]), torch.tensor([1.0])
    update = BWOSettings(bound="update", tolerance=0.1)
    # d = lr g = 1: closest base 1 at distance .5 > .1 * |d|: kept
    assert bwo_update(w, grad, bases, ALPHA, 1.0, update).adjusted == 0
    # d = .19 (e.g. the optimizer's step): base 3 at .01 <= .1 * .19: removed, 1.0 -> 0.8
    step = bwo_update(w, grad, bases, ALPHA, 1.0, update, adjustment=torch.tensor([0.19]))
    assert step.removed[:, 0].tolist() == [False, False, True]
    assert torch.allclose(step.weight, torch.tensor([0.8]))
    with pytest.raises(ConfigError, match="adjustment"):
        bwo_update(w, grad, bases, ALPHA, 1.0, adjustment=torch.zeros(2))


def test_accumulation_starts():
    assert accumulation_starts([4, 6], window=4, times=2) == [3, 5]
    assert accumulation_starts([0, 5, 10], window=16, times=3) == [0, 1, 6]
    assert accumulation_starts([20], window=10, times=1) == [11]
    assert accumulation_starts([], window=10, times=2) == []


class _Trainer(SimpleNamespace):
    """What the callback reads of a trainer: model, config.optim.epochs, batches, optimizer."""

    def __init__(self, model: nn.Module, epochs: int, per_epoch: int, lr: float) -> None:
        super().__init__(model=model, batches=[None] * per_epoch,
                         config=SimpleNamespace(optim=SimpleNamespace(epochs=epochs)),
                         optimizer=SimpleNamespace(param_groups=[{"lr": lr}]))


def _layer() -> QConv2d:
    layer = QConv2d(2, 3, 3, quantizer=ABCQuantizer(3))
    with torch.no_grad():
        gen = torch.Generator().manual_seed(0)
        layer.weight.copy_(torch.randn(3, 2, 3, 3, generator=gen) * 0.1)
    return layer


def _grads(n: int) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    return [torch.randn(3, 2, 3, 3, generator=gen) * 0.05 for _ in range(n)]


def _expected(layer: QConv2d, grad: torch.Tensor, lr: float, settings: BWOSettings,
              adjustment: torch.Tensor | None = None) -> torch.Tensor:
    bases, alpha = layer.quantizer.decompose(layer.weight)
    return bwo_update(layer.weight.detach(), grad, bases, alpha, lr, settings, adjustment).weight


@pytest.mark.parametrize("gradient", ["batch", "mean"])
def test_callback_gradient_modes(gradient):
    # 2 epochs of 4 steps, window = last epoch, 2 applications: steps 4 and 6; the mean
    # gradient of step 4 averages steps 3-4, that of step 6 steps 5-6
    layer = _layer()
    trainer = _Trainer(nn.Sequential(layer), epochs=2, per_epoch=4, lr=0.01)
    cb = BinaryWeightOptimization(epochs=1, times=2, tolerance=1.0, gradient=gradient)
    cb.on_train_start(trainer)
    assert cb.steps == [4, 6]
    grads, seen, other = _grads(8), 0, False
    for step, g in enumerate(grads):
        layer.weight.grad = g
        cb.on_step_start(trainer, step)
        expected = None
        if step in (4, 6):
            batch, mean = g, (grads[step - 1] + g) / 2
            expected = _expected(layer, batch if gradient == "batch" else mean, 0.01, cb.settings)
            other |= not torch.equal(expected, _expected(
                layer, mean if gradient == "batch" else batch, 0.01, cb.settings))
        cb.on_step_end(trainer, step, 0.0)
        if expected is not None:
            assert torch.equal(layer.weight.detach(), expected)
            seen += 1
    assert seen == 2 and cb.applied == 2 and cb.grad_sum == {}
    assert other  # the two gradients lead to different updates here
    metrics = {}
    cb.on_epoch_end(trainer, 1, metrics)
    bwo = metrics["albsnn"]["bwo"]
    assert bwo["elements"] == {"0": 54}
    assert max(bwo["adjusted"]["0"] / 2, 1) <= bwo["touched"]["0"] <= bwo["adjusted"]["0"]


def test_mean_gradient_survives_a_checkpoint_inside_its_interval():
    layer = _layer()
    ref_layer = copy.deepcopy(layer)
    grads = _grads(8)

    def run(cb, model_layer, steps, trainer):
        for step in steps:
            model_layer.weight.grad = grads[step]
            cb.on_step_start(trainer, step)
            cb.on_step_end(trainer, step, 0.0)

    make = lambda: BinaryWeightOptimization(epochs=1, times=2, tolerance=1.0, gradient="mean")  # noqa: E731
    ref_trainer = _Trainer(nn.Sequential(ref_layer), 2, 4, 0.01)
    ref = make()
    ref.on_train_start(ref_trainer)
    run(ref, ref_layer, range(8), ref_trainer)
    trainer = _Trainer(nn.Sequential(layer), 2, 4, 0.01)
    first = make()
    first.on_train_start(trainer)
    run(first, layer, range(4), trainer)  # step 3 is inside the first interval
    tensors, meta = first.state_dict()
    assert set(tensors) == {"grad_sum.0"} and meta["grad_count"] == {"0": 1}
    second = make()
    second.load_state_dict(tensors, meta)
    second.on_train_start(trainer)
    run(second, layer, range(4, 8), trainer)
    assert torch.equal(layer.weight, ref_layer.weight)
    assert second.adjusted == ref.adjusted and torch.equal(second.touched["0"], ref.touched["0"])


def test_callback_optimizer_adjustment_uses_the_weight_change():
    layer = _layer()
    trainer = _Trainer(nn.Sequential(layer), epochs=1, per_epoch=2, lr=0.01)
    cb = BinaryWeightOptimization(epochs=1, times=1, bound="update", tolerance=100.0,
                                  adjustment="optimizer")
    cb.on_train_start(trainer)
    assert cb.steps == [0]
    g = _grads(1)[0]
    layer.weight.grad = g
    cb.on_step_start(trainer, 0)
    delta = 0.004 * torch.sign(g)  # an Adam-like step: lr * sign(g)
    with torch.no_grad():
        layer.weight -= delta
    expected = _expected(layer, g, 0.01, cb.settings, adjustment=delta)
    cb.on_step_end(trainer, 0, 0.0)
    assert torch.equal(layer.weight.detach(), expected) and cb.applied == 1
    assert not torch.equal(expected, _expected(layer, g, 0.01, cb.settings))
    with pytest.raises(ConfigError, match="needs gradient='batch'"):
        BinaryWeightOptimization(gradient="mean", adjustment="optimizer")
    with pytest.raises(ConfigError, match="gradient must be one of"):
        BinaryWeightOptimization(gradient="epoch")


def test_readings_runs_at_the_smoke_budget():
    rows = {r.key: r for r in br.readings("smoke")}
    assert list(rows) == ["none", "capped", "epoch-mean", "post-control", "post-literal",
                          "post-capped"]
    capped = br.reading_run(rows["capped"], "smoke")
    assert capped["name"] == "fmnist-albsnn-bwo-capped"
    assert capped["callbacks"][-1] == {"name": "albsnn-bwo", "args": {
        "epochs": 1, "times": 2, "max_fraction": 0.001}}
    # the experiment reuses Table 5's ALBSNN+BWO run for it: the same callbacks
    assert capped["callbacks"] == br.variant_run("albsnn-bwo", "smoke")["callbacks"]
    mean = br.reading_run(rows["epoch-mean"], "smoke")["callbacks"][-1]["args"]
    assert mean == {"epochs": 1, "times": 1, "gradient": "mean"}
    post = br.reading_run(rows["post-capped"], "smoke", init="runs/x/last.safetensors")
    names = [cb["name"] for cb in post["callbacks"]]
    assert names == ["init-weights", "albsnn-selector", "albsnn-bwo"]
    assert post["callbacks"][0]["args"] == {"path": "runs/x/last.safetensors"}
    assert post["optim"]["epochs"] == 1 and post["model"]["args"]["full_precision"] == []
    assert post["callbacks"][-1]["args"]["max_fraction"] == 0.001
    with pytest.raises(ConfigError, match="init"):
        br.reading_run(rows["post-control"], "smoke")


def test_bwo_readings_experiment_on_a_toy_model(monkeypatch, quad_config, tmp_path):
    def variant(variant, budget):
        run = copy.deepcopy(quad_config)
        if variant == "albsnn-bwo":  # Table 5's ALBSNN+BWO, reused as the `capped` row
            run["name"] = "quad-bwo"
            run["callbacks"] = [*run.get("callbacks", []), {"name": "albsnn-bwo", "args": {
                "epochs": 1, "times": 2, "max_fraction": 0.001}}]
        return run

    def base(name, budget, epochs=None):
        run = copy.deepcopy(quad_config)
        run.update(name=name, callbacks=[])
        run["optim"]["epochs"] = epochs or run["optim"]["epochs"]
        return run

    monkeypatch.setattr(br, "variant_run", variant)
    monkeypatch.setattr(br, "base_run", base)
    runner = EXPERIMENTS.get("albsnn-bwo-readings").runner
    result = runner("smoke", tmp_path / "readings")
    assert (tmp_path / "albsnn-table5" / "quad" / "last.safetensors").is_file()  # shared run
    rows = {r["reading"]: r for r in result["rows"]}
    assert list(rows) == [r.key for r in br.readings("smoke")]
    for r in rows.values():
        assert 0.0 <= r["adjusted_share"] <= 1.0 and 0.0 <= r["test_acc"] <= 100.0
        assert r["best_test_acc"] >= r["test_acc"] - 1e-9
    assert rows["none"]["gain"] is None and rows["post-control"]["gain"] is None
    assert (tmp_path / "albsnn-table5" / "quad-bwo" / "last.safetensors").is_file()
    for key in ("capped", "epoch-mean"):
        assert rows[key]["gain"] == pytest.approx(rows[key]["test_acc"] - rows["none"]["test_acc"])
        assert rows[key]["epochs"] == 2
    for key in ("post-literal", "post-capped"):
        assert rows[key]["gain"] == pytest.approx(
            rows[key]["test_acc"] - rows["post-control"]["test_acc"])
        assert rows[key]["epochs"] == 3 and rows[key]["applications"] == 2
    assert rows["post-literal"]["adjusted_share"] > 0
    # the cap admits floor(0.001 n) elements per layer: none on layers this small
    assert rows["capped"]["adjusted_share"] == rows["post-capped"]["adjusted_share"] == 0.0
    assert rows["epoch-mean"]["applications"] == 1
    # rerun: every run is reused (same rows); a seed repeat trains its own chain
    assert runner("smoke", tmp_path / "readings")["rows"] == result["rows"]
    with seed_repeat(1):
        runner("smoke", tmp_path / "readings")
    meta = load_checkpoint(tmp_path / "readings" / "fmnist-albsnn-post-literal-seed1").meta
    init = meta["config"]["callbacks"][0]["args"]["path"]
    assert init.endswith("quad-seed1/last.safetensors")
