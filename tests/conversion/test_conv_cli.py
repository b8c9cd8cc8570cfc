"""``spikebit convert CHECKPOINT`` end to end on tiny ANNs trained one epoch by the trainer."""

import json

import pytest
import torch

from spikebit.cli.main import main
from spikebit.conversion.from_checkpoint import (
    conversion_data,
    load_ann,
    qcfs_finetuned,
    selected_steps,
)
from spikebit.train import config_from_dict, model_from_checkpoint, train_from_config
from spikebit.train.datasets import load_data
from spikebit.train.losses import LOSSES
from spikebit.train.trainer import evaluate


@pytest.fixture(scope="module")
def ann_checkpoint(tmp_path_factory):
    """ann-mnist-cnn (width 0.5) trained 1 epoch on 'toy28' with input normalization."""
    out = tmp_path_factory.mktemp("runs")
    cfg = {"name": "ann", "seed": 3, "out_dir": str(out), "plots": False,
           "model": {"name": "ann-mnist-cnn", "args": {"width": 0.5}},
           "data": {"name": "toy28", "normalize": True},
           "optim": {"optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "epochs": 1,
                     "batch_size": 32}}
    metrics, run_dir = train_from_config(config_from_dict(cfg))
    assert metrics["test_acc"] > 0.75  # learning signal (chance 0.5)
    return run_dir / "last.safetensors"


def test_normalization_is_moved_to_the_data(ann_checkpoint) -> None:
    wrapped, config, _ = model_from_checkpoint(ann_checkpoint)
    loaded = load_ann(ann_checkpoint)
    assert loaded.mean is not None and not hasattr(loaded.ann, "mean")
    _, test = load_data(config.data)
    with torch.no_grad():
        torch.testing.assert_close(loaded.ann(loaded.preprocess(test.images)),
                                   wrapped.eval()(test.images))


def test_cli_convert_bsnn_end_to_end(ann_checkpoint, capsys) -> None:
    wrapped, config, _ = model_from_checkpoint(ann_checkpoint)
    _, test = load_data(config.data)
    ann_acc = 100 * evaluate(wrapped, test, LOSSES.get("ce"))["acc"]
    rc = main(["convert", str(ann_checkpoint), "--method", "bsnn", "--K", "4", "--T", "40",
               "--calibration", "64"])
    printed = capsys.readouterr().out
    assert rc == 0
    assert f"ANN accuracy {ann_acc:.2f}%" in printed and "<- best" in printed
    report = json.loads((ann_checkpoint.parent / "convert-bsnn-K4.json").read_text())
    assert report["ann_accuracy"] == pytest.approx(ann_acc)  # unwrapped ANN + normalized data
    assert report["num_samples"] == len(test) and report["calibration"] == 64
    assert len(report["snn_accuracy"]) == 40 and report["normalized_input"] is True
    assert [r["T"] for r in report["rows"]] == selected_steps(40, report["best_T"])
    # two spiking layers: the readout integrates from period 2 (step 8 with K = 4); before
    # that it is all zeros: "no output", not class 0
    assert report["readout_onset_period"] == 2
    assert report["snn_accuracy"][:8] == [None] * 8
    assert report["rows"][0]["snn_accuracy"] is None and "no output" in printed
    # after 8 readout periods BSNN carries the normalized logits to within a few percent
    assert report["output_error"][-1] < 0.05
    assert abs(report["snn_accuracy"][-1] - ann_acc) <= 100 / len(test) * 2
    assert report["conversion_loss"] == pytest.approx(ann_acc - report["best_accuracy"])


def test_cli_convert_rate_accepts_a_run_directory(ann_checkpoint, capsys) -> None:
    assert main(["convert", str(ann_checkpoint.parent), "--method", "rate", "--T", "8",
                 "--calibration", "32"]) == 0
    report = json.loads((ann_checkpoint.parent / "convert-rate.json").read_text())
    assert report["method"] == "rate" and len(report["output_error"]) == 8
    assert "method rate" in capsys.readouterr().out


def test_cli_convert_refuses_a_spiking_checkpoint(toy_config, capsys) -> None:
    _, run_dir = train_from_config(config_from_dict(dict(toy_config, optim={
        "epochs": 1, "batch_size": 64})))
    assert main(["convert", str(run_dir / "last.safetensors")]) == 2
    err = capsys.readouterr().err
    assert "spiking network, not a ReLU ANN" in err and "ann-*" in err


def test_cli_convert_missing_checkpoint(tmp_path, capsys) -> None:
    assert main(["convert", str(tmp_path / "nope.safetensors")]) == 2
    assert "no checkpoint at" in capsys.readouterr().err


def test_selected_steps() -> None:
    assert selected_steps(40, 37) == [1, 2, 4, 8, 16, 32, 37, 40]
    assert selected_steps(1) == [1]


@pytest.mark.parametrize(("args", "name"), [
    (["--method", "burst", "--max-spikes", "3"], "convert-burst-spikes3.json"),
    (["--method", "ltb"], "convert-ltb.json"),
    (["--method", "qcfs", "--qcfs-levels", "4", "--qcfs-epochs", "1"], "convert-qcfs-ep1.json"),
    (["--method", "cos", "--presim", "2"], "convert-cos-presim2.json"),
])
def test_cli_convert_fast_methods(ann_checkpoint, capsys, args, name) -> None:
    rc = main(["convert", str(ann_checkpoint), *args, "--T", "4", "--calibration", "64"])
    printed = capsys.readouterr().out
    assert rc == 0 and "ANN accuracy" in printed
    report = json.loads((ann_checkpoint.parent / name).read_text())
    # only the settings the method reads: burst's percentile thresholds, no K anywhere
    head = printed.splitlines()[0]
    assert report["K"] is None and "K=" not in head
    assert (report["percentile"] is None) == (report["method"] != "burst")
    assert ("percentile" in head) == (report["method"] == "burst")
    assert len(report["snn_accuracy"]) == 4 and None not in report["snn_accuracy"]
    # few steps are enough: within 10 points of the (QCFS) ANN at T = 4 on this toy task
    assert report["ann_accuracy"] - report["snn_accuracy"][-1] < 10.0
    assert report["presim"] == (2 if "--presim" in args else None)  # null: not read


def test_cli_convert_qcfs_labels_the_qcfs_ann(ann_checkpoint, capsys) -> None:
    assert main(["convert", str(ann_checkpoint), "--method", "qcfs", "--qcfs-epochs", "1",
                 "--T", "2", "--calibration", "64"]) == 0
    printed = capsys.readouterr().out
    report = json.loads((ann_checkpoint.parent / "convert-qcfs-ep1.json").read_text())
    # the accuracy printed is the fine-tuned QCFS ANN's (measured again here), not the
    # checkpoint's ReLU ANN's, and the label says so
    loaded = load_ann(ann_checkpoint)
    calib, test_x, test_y = conversion_data(loaded, 64)
    qnet = qcfs_finetuned(loaded, calib, 4, 1)
    with torch.no_grad():
        acc = 100 * float((qnet(test_x).argmax(-1) == test_y).double().mean())
    assert report["ann_accuracy"] == pytest.approx(acc)
    assert f"QCFS ANN accuracy {acc:.2f}% (the checkpoint's ReLU ANN" in printed
    assert (report["ann"], report["qcfs_levels"], report["qcfs_epochs"]) == (
        "qcfs-finetuned", 4, 1)
    assert "QCFS L=4, fine-tuned 1 epoch," in printed.splitlines()[0]


def test_cli_convert_without_output_reports_no_best(ann_checkpoint, capsys) -> None:
    # two spiking layers, K = 8: the readout integrates from step 2 K + 1 = 17, so up to
    # T = 16 no step has output -- no best accuracy, best T or loss (not "0% at T=16")
    assert main(["convert", str(ann_checkpoint), "--method", "bsnn", "--T", "16",
                 "--calibration", "32"]) == 0
    printed = capsys.readouterr().out
    report = json.loads((ann_checkpoint.parent / "convert-bsnn-K8.json").read_text())
    assert report["readout_onset_period"] == 2 and report["snn_accuracy"] == [None] * 16
    assert (report["best_accuracy"], report["best_T"], report["conversion_loss"],
            report["lossless_T"]) == (None, None, None, None)
    assert "best SNN: no output at any T up to T=16, conversion loss: no output" in printed
    assert "<- best" not in printed and "best SNN 0.00%" not in printed


def test_cli_convert_keeps_a_file_per_setting(ann_checkpoint, capsys) -> None:
    for spikes in ("1", "4"):
        assert main(["convert", str(ann_checkpoint), "--method", "burst", "--max-spikes",
                     spikes, "--T", "2", "--calibration", "32"]) == 0
    printed = capsys.readouterr().out
    one = json.loads((ann_checkpoint.parent / "convert-burst-spikes1.json").read_text())
    four = json.loads((ann_checkpoint.parent / "convert-burst.json").read_text())  # default
    assert (one["max_spikes"], four["max_spikes"]) == (1, 4)
    assert "convert-burst-spikes1.json" in printed and "convert-burst.json" in printed


def test_convert_checkpoint_takes_numpy_numbers_as_python_numbers(ann_checkpoint) -> None:
    """NumPy ints and floats (e.g. from a sweep over np.arange) give the same report as the
    Python numbers: they are turned into int/float before any work, not passed on to fail
    after the simulation (bit_length, JSON)."""
    import numpy as np

    from spikebit.conversion.from_checkpoint import convert_checkpoint

    plain = convert_checkpoint(ann_checkpoint, method="qcfs", T=4, calibration=32,
                               qcfs_levels=2, qcfs_epochs=0, tolerance=0.5, write=False)
    numpy = convert_checkpoint(ann_checkpoint, method="qcfs", T=np.int64(4),
                               calibration=np.int32(32), qcfs_levels=np.int64(2),
                               qcfs_epochs=np.int64(0), tolerance=np.float32(0.5),
                               write=True)
    assert numpy["rows"] == plain["rows"] and numpy["qcfs_levels"] == 2
    json.loads(open(numpy["json"]).read())  # written: every value JSON-serializable
    rate = convert_checkpoint(ann_checkpoint, method="rate", T=np.int64(3), calibration=32,
                              percentile=np.float32(99.5), write=False)
    assert type(rate["percentile"]) is float and rate["percentile"] == 99.5
