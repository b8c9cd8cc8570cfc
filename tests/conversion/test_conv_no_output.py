"""A converted SNN without output yet is reported as "no output", not as class 0
(issue 22 item 2)."""

import pytest
import torch
from conv_helpers import images, tiny_cnn
from torch import nn

from spikebit.conversion import convert, evaluate_conversion
from spikebit.conversion.evaluate import answered
from spikebit.conversion.experiments import ConversionReport, Variant, summarize
from spikebit.conversion.from_checkpoint import format_report


def test_answered_marks_constant_readouts() -> None:
    readout = torch.tensor([[0.0, 0.0, 0.0], [0.2, 0.2, 0.2], [0.0, 0.1, 0.0]])
    assert answered(readout).tolist() == [False, False, True]


def test_bsnn_before_first_output_is_no_output_not_class_0() -> None:
    net, x = tiny_cnn(), images(8)
    snn = convert(net, x, method="bsnn", K=4)
    silent_steps = snn.readout_onset * snn.K  # 2 K: two spiking layers, one period each
    assert silent_steps == 8
    y = torch.zeros(8, dtype=torch.long)  # every label is class 0: argmax(0) would score 100%
    ev = evaluate_conversion(snn, net, (x, y), silent_steps + 4)
    assert ev["snn_accuracy"][:silent_steps] == [None] * silent_steps
    assert ev["no_output"][:silent_steps] == [100.0] * silent_steps
    assert all(a is not None for a in ev["snn_accuracy"][silent_steps:])
    r = summarize(Variant("bsnn", "bsnn"), ev["ann_accuracy"], ev["snn_accuracy"],
                  ev["output_error"], 0.1)
    assert r.best_T > silent_steps


def _readout_net(rows: list[float]) -> tuple[nn.Module, torch.Tensor]:
    """A bias-free 4-6-3 ReLU net whose output row ``k`` weighs every hidden unit by
    ``rows[k]``, and 4 images: one all-zero (an all-zero readout at every step), 3 lit."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(4, 6, bias=False), nn.ReLU(),
                        nn.Linear(6, 3, bias=False)).eval()
    with torch.no_grad():
        net[1].weight.abs_()
        net[3].weight.copy_(torch.tensor([[r] * 6 for r in rows]))
    return net, torch.cat([torch.zeros(1, 4), torch.ones(3, 4)]).view(4, 1, 2, 2)


def test_silent_sample_counts_as_wrong() -> None:
    net, x = _readout_net([1.0, 0.0, 0.0])
    y = torch.zeros(4, dtype=torch.long)  # the ANN's class for the lit images; argmax(0) too
    snn = convert(net, x, method="rate", percentile=100.0)
    ev = evaluate_conversion(snn, net, (x, y), 8)
    assert ev["no_output"] == [25.0] * 8
    assert ev["snn_accuracy"][-1] == 75.0  # 3 of 4; the silent sample is not "class 0"


def test_tied_sample_counts_as_wrong_and_is_reported() -> None:
    # classes 0 and 1 read the same hidden spikes: every lit image is a tie of 0 and 1
    net, x = _readout_net([1.0, 1.0, 0.0])
    y = torch.zeros(4, dtype=torch.long)  # argmax would credit every sample as class 0
    snn = convert(net, x, method="rate", percentile=100.0)
    ev = evaluate_conversion(snn, net, (x, y), 8)
    assert ev["no_output"] == [25.0] * 8 and ev["tied"] == [75.0] * 8
    assert ev["snn_accuracy"] == [0.0] * 8
    assert ev["ann_accuracy"] == 0.0  # the ANN's logits tie the same way


def test_report_prints_no_output() -> None:
    report = {
        "model": "m", "dataset": "d", "num_samples": 2, "method": "bsnn", "K": 4,
        "percentile": 100.0, "calibration": 2, "ann_accuracy": 50.0, "tolerance": 0.1,
        "rows": [{"T": 1, "snn_accuracy": None, "loss": None, "no_output": 100.0,
                  "output_error": 0.5},
                 {"T": 9, "snn_accuracy": 50.0, "loss": 0.0, "no_output": 0.0,
                  "output_error": 0.1}],
        "best_T": 9, "best_accuracy": 50.0, "conversion_loss": 0.0, "lossless_T": 9, "T": 9,
    }
    text = format_report(report)
    assert "no output" in text.splitlines()[3]
    report["rows"][1].update(no_output=25.0, tied=12.5)
    assert format_report(report).splitlines()[4].endswith(
        "<- best  (25.0% no output, 12.5% tied)")


def test_plot_leaves_no_output_steps_out(tmp_path) -> None:
    pytest.importorskip("matplotlib")
    from spikebit.conversion.plots import plot_accuracy_curves

    r = summarize(Variant("bsnn", "bsnn"), 90.0, [None, None, 80.0, 90.0], [1, 1, 0.5, 0.1], 0.1)
    assert (r.best_T, r.lossless_T) == (4, 4)
    path = plot_accuracy_curves(ConversionReport(90.0, 4, 0.1, {"bsnn": r}), tmp_path / "a.png")
    assert path is not None and path.stat().st_size > 0


def test_a_curve_without_any_output_has_no_best_accuracy() -> None:
    # BSNN with K = 8 on two spiking layers reads out from step 17: nothing up to T = 16
    r = summarize(Variant("bsnn-K8", "bsnn"), 82.4, [None] * 16, [0.5] * 16, 0.1)
    assert (r.best_accuracy, r.best_T, r.conversion_loss, r.lossless_T) == (None,) * 4
    text = ConversionReport(82.4, 16, 0.1, {"bsnn-K8": r}).summary()
    assert text.splitlines()[1] == "       bsnn-K8: best no output up to T=16, T(loss<=0.1)=-"
    # steps without output are ignored, not scored as 0: best 80 at T=3, loss 2.4
    r = summarize(Variant("bsnn-K8", "bsnn"), 82.4, [None, None, 80.0, 80.0], [0.5] * 4, 0.1)
    assert (r.best_accuracy, r.best_T, r.lossless_T) == (80.0, 3, None)
    assert r.conversion_loss == pytest.approx(2.4)


def test_report_of_a_curve_without_output_prints_no_output() -> None:
    report = {
        "model": "m", "dataset": "d", "num_samples": 2, "method": "bsnn", "K": 8,
        "percentile": 99.99, "calibration": 2, "ann_accuracy": 82.4, "tolerance": 0.1,
        "rows": [{"T": t, "snn_accuracy": None, "loss": None, "no_output": 100.0,
                  "output_error": 0.5} for t in (1, 2, 4, 8, 16)],
        "best_T": None, "best_accuracy": None, "conversion_loss": None, "lossless_T": None,
        "T": 16,
    }
    lines = format_report(report).splitlines()
    assert lines[-1] == ("best SNN: no output at any T up to T=16, conversion loss: no "
                         "output; never within 0.1 points of the ANN up to T=16")
    assert not any("<- best" in line for line in lines)
