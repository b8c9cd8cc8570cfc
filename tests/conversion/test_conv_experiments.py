"""Evaluation helpers and the experiment runner (smoke test on a tiny random network)."""

import json

import pytest
import torch
from conv_helpers import images, tiny_cnn, tiny_resnet
from torch.utils.data import DataLoader, TensorDataset

from spikebit.conversion import convert, evaluate_conversion, output_differences
from spikebit.conversion.experiments import (
    Variant,
    default_variants,
    run_conversion_experiments,
    summarize,
)
from spikebit.conversion.plots import plot_accuracy_curves, plot_output_differences


def test_evaluate_conversion_tensors_and_loader_agree() -> None:
    net, x = tiny_cnn(), images(12)
    y = torch.randint(0, 4, (12,), generator=torch.Generator().manual_seed(0))
    snn = convert(net, x, method="phase", K=4)
    a = evaluate_conversion(snn, net, (x, y), T=10, batch_size=5)
    b = evaluate_conversion(snn, net, DataLoader(TensorDataset(x, y), batch_size=7), T=10)
    assert a["num_samples"] == 12 and len(a["snn_accuracy"]) == len(a["output_error"]) == 10
    assert a["snn_accuracy"] == pytest.approx(b["snn_accuracy"])
    assert a["output_error"] == pytest.approx(b["output_error"], rel=1e-5)
    expected = 100.0 * float((net(x).argmax(-1) == y).float().mean())
    assert a["ann_accuracy"] == pytest.approx(expected)


def test_output_differences_shape() -> None:
    net, x = tiny_cnn(), images(6)
    snn = convert(net, x, method="bsnn", K=4)
    assert output_differences(snn, net, x, 40).shape == (6 * 4,)


def test_summarize_best_and_lossless_T() -> None:
    r = summarize(Variant("v", "rate"), 90.0, [10.0, 85.0, 89.95, 90.5, 90.5], [1.0] * 5, 0.1)
    assert (r.best_accuracy, r.best_T, r.lossless_T) == (90.5, 4, 3)
    assert r.conversion_loss == pytest.approx(-0.5)
    never = summarize(Variant("v", "rate"), 90.0, [10.0, 50.0], [1.0] * 2, 0.1)
    assert never.lossless_T is None


def test_default_variants_include_ablation_for_resnets() -> None:
    plain = {v.name for v in default_variants((4, 8), 99.9, residual=False)}
    assert plain == {"rate-max", "rate-p99.9", "phase", "bsnn-K4", "bsnn-K8"}
    res = {v.name: v for v in default_variants((4, 8), 99.9, residual=True)}
    assert res["bsnn-K8-nosn"].synchronous is False and res["phase-sn"].synchronous is True


@pytest.mark.parametrize("make", [tiny_cnn, tiny_resnet])
def test_runner_smoke(make, tmp_path) -> None:
    net = make()
    g = torch.Generator().manual_seed(0)
    train_x, test_x = images(20, 1), images(10, 2)
    test_y = torch.randint(0, 4, (10,), generator=g)
    report = run_conversion_experiments(net, train_x, test_x, test_y, T_max=24,
                                        K_values=(4, 6), calibration_size=16,
                                        histogram_samples=5)
    names = set(report.results)
    assert {"rate-max", "rate-p99.99", "phase", "bsnn-K4", "bsnn-K6"} <= names
    assert ("bsnn-K6-nosn" in names) == (make is tiny_resnet)
    for result in report.results.values():
        assert len(result.accuracy) == 24 and len(result.differences) == 5 * 4
        if all(a is None for a in result.accuracy):  # readout starts after T_max
            assert (result.best_accuracy, result.best_T, result.conversion_loss) == (None,) * 3
        else:
            assert 1 <= result.best_T <= 24
    json.dumps(report.to_dict())
    assert "ANN accuracy" in report.summary()
    pytest.importorskip("matplotlib")
    assert plot_accuracy_curves(report, tmp_path / "acc.png").exists()
    assert plot_output_differences(report, tmp_path / "diff.png").exists()
