"""Bad arguments to the conversion entry points are ConversionErrors that name the argument,
the problem and the fix -- never a raw TypeError/RuntimeError, never silently accepted."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conv_helpers import images, tiny_cnn

from spikebit.cli.main import main
from spikebit.conversion import (
    ConversionError,
    calibrate_thresholds,
    convert,
    evaluate_conversion,
    finetune,
    output_differences,
    to_qcfs,
)
from spikebit.conversion.calibrate import record_lambdas
from spikebit.conversion.experiments import run_conversion_experiments
from spikebit.conversion.from_checkpoint import convert_checkpoint
from spikebit.conversion.qcfs import QCFS
from spikebit.conversion.validate import MAX_T, check_int, check_steps


def test_check_int_takes_whole_numbers_only() -> None:
    assert check_int("n", 3) == 3
    got = check_int("n", np.int64(3))  # a NumPy int is a whole number too
    assert got == 3 and type(got) is int
    for bad in (True, False, 2.5, 3.0, "3", None, 0):
        with pytest.raises(ConversionError, match=r"n must be an int >= 1, got .*; pass"):
            check_int("n", bad)
    assert check_steps(MAX_T) == 2**16
    with pytest.raises(ConversionError, match=r"T \(time steps\) must be an int in 1\.\.65536"):
        check_steps(MAX_T + 1)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"method": None}, r"method must be a non-empty name, one of 'bsnn', .*got None"),
    ({"method": ""}, "method must be a non-empty name"),
    ({"batch_size": 0}, r"batch_size \(images per forward pass\) must be an int >= 1, got 0"),
    ({"batch_size": -3}, "batch_size .* got -3"),
    ({"batch_size": 2.5}, r"batch_size .* got 2\.5 \(type float\)"),
    ({"batch_size": True}, r"batch_size .* got True \(type bool\)"),
    ({"method": "rate", "max_calibration_values": 0}, "max_calibration_values .* got 0"),
    ({"method": "rate", "max_calibration_values": -1}, "max_calibration_values .* got -1"),
    ({"method": "rate", "max_calibration_values": 1.5}, r"max_calibration_values .* got 1\.5"),
    ({"method": "rate", "max_calibration_values": True}, "max_calibration_values .* got True"),
    ({"K": True}, r"K \(phases per period\) must be an int in 1\.\.24, got True"),
    ({"K": 4.0}, r"K .* got 4\.0 \(type float\)"),
    ({"percentile": "99"}, r"percentile .* must be a finite number, got '99' \(type str\)"),
    ({"percentile": True}, "percentile .* got True"),
    ({"percentile": float("nan")}, "percentile .* got nan"),
    ({"method": "burst", "max_spikes": True}, r"max_spikes \(spikes per step\) .* got True"),
    ({"method": "srp", "presim": True}, "presim .* got True"),
    ({"method": "rate", "thresholds": ""}, "thresholds must be a non-empty name, one of 'ltb'"),
    ({"input_coding": ""}, "input_coding must be a non-empty name, one of 'direct', 'phase'"),
    ({"synchronous": "yes"}, r"synchronous must be True, False or None .* got 'yes'"),
    ({"synchronous": 1}, "synchronous must be True, False or None"),
])
def test_convert_refuses_wrong_types_and_ranges(kwargs: dict, message: str) -> None:
    with pytest.raises(ConversionError, match=message):
        convert(tiny_cnn(), images(4), **kwargs)


def test_convert_names_the_calibration_problem() -> None:
    net = tiny_cnn()
    with pytest.raises(ConversionError, match=r"non-empty tensor batch .* got \(0, 2, 8, 8\)"):
        convert(net, images(4)[:0])
    with pytest.raises(ConversionError, match=r"non-empty tensor batch .* got \(0, 2, 8, 8\)"):
        convert(net, images(4)[:0], method="ltb")
    with pytest.raises(ConversionError, match=r"dtype torch\.float64 but the network's "
                       r"parameters are torch\.float32; convert them with \.to\(torch\.float32"):
        convert(net, images(4).double())
    with pytest.raises(ConversionError, match=r"dtype torch\.uint8 .* \.float\(\) / 255"):
        convert(net, (images(4) * 255).to(torch.uint8))
    with pytest.raises(ConversionError) as err:
        convert(net, torch.rand(4, 64))
    msg = str(err.value)
    assert "shape [N, 64]" in msg and "Conv2d with 2 input channels ([N, 2, H, W])" in msg
    assert "children in registration order" not in msg
    # a float64 ANN with float64 images is not refused
    assert convert(tiny_cnn().double(), images(4).double(), method="rate").lambdas


def test_valid_counts_are_accepted() -> None:
    snn = convert(tiny_cnn(), images(4), method="rate", percentile=99,
                  max_calibration_values=np.int64(1), batch_size=np.int64(2))
    assert snn.lambdas and convert(tiny_cnn(), images(4), K=np.int64(3)).K == 3


def test_evaluate_conversion_checks_its_arguments(monkeypatch) -> None:
    net, x = tiny_cnn(), images(4)
    y = torch.zeros(4, dtype=torch.long)
    snn = convert(net, x, method="rate")
    for T in (-1, 0, True, 2.0, MAX_T + 1):
        with pytest.raises(ConversionError, match=r"T \(time steps\) must be an int in 1\.\."):
            evaluate_conversion(snn, net, (x, y), T)
    for size in (0, -1, 2.5, True):
        with pytest.raises(ConversionError, match="batch_size .* must be an int >= 1"):
            evaluate_conversion(snn, net, (x, y), 2, batch_size=size)
    with pytest.raises(ConversionError, match=r"test images have dtype torch\.float64"):
        evaluate_conversion(snn, net, (x.double(), y), 2)
    with pytest.raises(ConversionError, match=r"ANN does not run on a batch of shape \[B, 64\]"):
        evaluate_conversion(snn, net, (torch.rand(4, 64), y), 2)
    with pytest.raises(ConversionError, match="T .* got True"):
        output_differences(snn, net, x, True)

    def out_of_memory(*args, **kwargs):
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to "
                           "allocate 1000000000000 bytes")

    monkeypatch.setattr(snn, "simulate", out_of_memory)
    with pytest.raises(ConversionError, match="out of memory .* T=3 steps on a batch of 4 "
                       "images .* smaller batch_size or T"):
        evaluate_conversion(snn, net, (x, y), 3)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"T": True}, r"T \(time steps\) .* got True"),
    ({"T": 2.0}, r"T \(time steps\) .* got 2\.0"),
    ({"T": MAX_T + 1}, r"T \(time steps\) must be an int in 1\.\.65536, got 65537"),
    ({"calibration": 2.5}, r"calibration \(training images\) must be an int >= 1, got 2\.5"),
    ({"calibration": 0}, "calibration .* got 0"),
    ({"batch_size": 0}, "batch_size .* got 0"),
    ({"tolerance": -1}, r"tolerance .* must be a finite number >= 0, got -1"),
    ({"tolerance": "0.1"}, "tolerance .* got '0.1'"),
    ({"write": "yes"}, "write must be True or False, got 'yes'"),
    ({"method": None}, "method must be a non-empty name"),
    ({"thresholds": ""}, "thresholds must be a non-empty name"),
    ({"K": True}, "K .* got True"),
    ({"percentile": "99"}, "percentile .* got '99'"),
    ({"method": "burst", "max_spikes": 0}, "max_spikes .* got 0"),
    ({"method": "srp", "presim": 0}, "presim .* got 0"),
    ({"method": "qcfs", "qcfs_levels": True}, r"qcfs_levels \(QCFS quantization steps L\)"),
    ({"method": "qcfs", "qcfs_epochs": -1}, r"qcfs_epochs .* must be an int >= 0, got -1"),
])
def test_convert_checkpoint_checks_before_loading(tmp_path, kwargs, message) -> None:
    # no checkpoint at the path: every argument is checked first
    with pytest.raises(ConversionError, match=message):
        convert_checkpoint(tmp_path / "none.safetensors", **kwargs)


def test_cli_bounds_T_before_loading(tmp_path, capsys) -> None:
    assert main(["convert", str(tmp_path / "none.safetensors"), "--T", "1000000000"]) == 2
    err = capsys.readouterr().err
    assert "T (time steps) must be an int in 1..65536, got 1000000000" in err
    assert "no checkpoint" not in err and "Traceback" not in err
    assert main(["convert", str(tmp_path / "none.safetensors"), "--calibration", "0"]) == 2
    assert "calibration (training images) must be an int >= 1, got 0" in capsys.readouterr().err


def test_lower_level_functions_check_the_same_kinds() -> None:
    x = images(4)
    with pytest.raises(ConversionError, match="calibration images must be a non-empty"):
        to_qcfs(tiny_cnn(), x[:0])
    with pytest.raises(ConversionError, match=r"levels \(QCFS quantization steps L\) .* True"):
        QCFS(levels=True)
    net, y = to_qcfs(tiny_cnn(), x), torch.zeros(4, dtype=torch.long)
    with pytest.raises(ConversionError, match="epochs .* must be an int >= 0, got True"):
        finetune(net, x, y, epochs=True)
    with pytest.raises(ConversionError, match="batch_size .* got 0"):
        finetune(net, x, y, epochs=1, batch_size=0)
    with pytest.raises(ConversionError, match="calibration images must be a non-empty"):
        calibrate_thresholds(lambda b, rec: b, x[:0], "ltb", 99.0, 2, set())
    with pytest.raises(ConversionError, match="batch_size .* got 2.5"):
        calibrate_thresholds(lambda b, rec: b, x, "ltb", 99.0, 2.5, set())
    with pytest.raises(ConversionError, match="max_calibration_values .* got 0"):
        record_lambdas(lambda b, rec: b, x, 99.0, 2, max_values=0)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"calibration_size": 0}, "calibration_size .* got 0"),
    ({"calibration_size": -3}, "calibration_size .* got -3"),
    ({"histogram_samples": 0}, "histogram_samples .* got 0"),
    ({"T_max": 0}, r"T_max \(time steps\) .* got 0"),
    ({"tolerance": -0.5}, "tolerance .* got -0.5"),
])
def test_experiment_runner_checks_its_arguments(kwargs: dict, message: str) -> None:
    args = {"T_max": 4, **kwargs}
    with pytest.raises(ConversionError, match=message):
        run_conversion_experiments(tiny_cnn(), images(8), images(4, 2),
                                   torch.zeros(4, dtype=torch.long), **args)


def test_zoo_and_variant_settings_refuse_wrong_types() -> None:
    from spikebit.conversion import build_ann
    from spikebit.conversion.experiments import default_variants
    from spikebit.conversion.zoo_models import zoo_arguments

    with pytest.raises(ConversionError, match=r"width \(channel multiplier\) .* got True"):
        build_ann("mnist-cnn", width=True)
    with pytest.raises(ConversionError, match=r"num_classes \(output classes\) .* got 2\.5"):
        zoo_arguments((1, 28, 28), 2.5)
    with pytest.raises(ConversionError, match="percentile .* got '99'"):
        default_variants(percentile="99")
    with pytest.raises(ConversionError, match=r"threshold \(the QCFS clip lambda\) .* True"):
        QCFS(threshold=True)
