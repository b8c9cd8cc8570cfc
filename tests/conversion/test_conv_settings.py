"""A setting the chosen conversion method ignores is refused, not silently dropped; the
report shows only the settings the method reads and names the ANN it compares against."""

from pathlib import Path

import pytest
from conv_helpers import images, tiny_cnn

from spikebit.cli.main import build_parser, main
from spikebit.conversion import METHODS, ConversionError, convert
from spikebit.conversion import from_checkpoint as fc
from spikebit.conversion.qcfs import to_qcfs
from spikebit.conversion.report import format_report, output_name
from spikebit.conversion.settings import uses

# who reads what, by the methods' definitions (docs/methods/bsnn.md, few-step table)
READERS = {
    "percentile": {"rate", "phase", "bsnn", "burst", "signed-burst"},  # layer-wise, percentile
    "K": {"phase", "bsnn"},  # phase-coded neurons
    "max_spikes": {"burst", "signed-burst"},
    "presim": {"srp", "cos"},
    "qcfs_levels": {"qcfs"},
    "qcfs_epochs": {"qcfs"},
    "max_calibration_values": {"rate", "phase", "bsnn"},  # layer-wise normalization only
}


@pytest.mark.parametrize("setting", list(READERS))
def test_who_reads_each_setting(setting: str) -> None:
    assert {m for m in METHODS.names() if uses(setting, m)} == READERS[setting]


def test_the_threshold_rule_and_input_coding_decide_percentile_and_K() -> None:
    assert uses("percentile", "ltb", thresholds="percentile")
    assert not uses("percentile", "burst", thresholds="ltb")
    assert not uses("percentile", "rate", thresholds="module")
    assert uses("K", "rate", input_coding="phase")
    assert uses("K", "phase", input_coding="direct")  # phase neurons read K anyway


@pytest.mark.parametrize(("method", "given", "users"), [
    ("ltb", {"K": 4}, "bsnn, phase"),
    ("rate", {"K": 4}, "bsnn, phase"),
    ("ltb", {"percentile": 99.0}, "bsnn, burst, phase, rate, signed-burst"),
    ("qcfs", {"percentile": 99.0}, "bsnn, burst, phase, rate, signed-burst"),
    ("rate", {"max_spikes": 2}, "burst, signed-burst"),
    ("ltb", {"presim": 2}, "cos, srp"),
    ("burst", {"max_calibration_values": 1000}, "bsnn, phase, rate without a threshold rule"),
])
def test_convert_refuses_a_setting_the_method_ignores(method, given, users) -> None:
    net = to_qcfs(tiny_cnn(), images(4)) if method == "qcfs" else tiny_cnn()
    (name,) = given
    with pytest.raises(ConversionError) as err:
        convert(net, images(4), method=method, **given)
    msg = str(err.value)
    assert msg.startswith(f"{name} is not used by method {method!r}")
    assert f"it is used by: {users}" in msg


def test_percentile_is_refused_when_an_explicit_rule_reads_none() -> None:
    with pytest.raises(ConversionError, match="'ltb' rule"):
        convert(tiny_cnn(), images(4), method="burst", thresholds="ltb", percentile=99.0)


def test_settings_a_method_reads_are_accepted() -> None:
    x = images(4)
    assert convert(tiny_cnn(), x, method="ltb", thresholds="percentile",
                   percentile=100.0).lambdas
    assert convert(tiny_cnn(), x, method="rate", input_coding="phase", K=3).K == 3
    assert convert(tiny_cnn(), x, method="phase", K=3).K == 3


@pytest.mark.filterwarnings("ignore:layer .* is never active")
@pytest.mark.parametrize("method", sorted(READERS["percentile"] | {"ltb", "signed", "srp",
                                                                    "cos"}))
def test_defaults_never_trip_the_check(method: str) -> None:
    snn = convert(tiny_cnn(), images(4), method=method)
    assert snn.K == 8  # the default period, read or not


def test_cli_options_default_to_not_given() -> None:
    args = build_parser().parse_args(["convert", "ckpt"])
    assert (args.percentile, args.K, args.max_spikes, args.presim, args.qcfs_levels,
            args.qcfs_epochs, args.thresholds) == (None,) * 7


@pytest.mark.parametrize(("options", "named"), [
    (["--method", "ltb", "--K", "4"], ["--K", "'ltb'", "bsnn, phase"]),
    (["--method", "rate", "--qcfs-levels", "2"], ["--qcfs-levels", "'rate'", "qcfs"]),
    (["--method", "bsnn", "--qcfs-epochs", "1"], ["--qcfs-epochs", "'bsnn'", "qcfs"]),
    (["--method", "qcfs", "--percentile", "99.9"], ["--percentile", "'qcfs'", "'module'"]),
    (["--method", "burst", "--thresholds", "ltb", "--percentile", "99"],
     ["--percentile", "'burst'", "'ltb' rule"]),
    (["--method", "srp", "--max-spikes", "2"], ["--max-spikes", "'srp'", "burst"]),
    (["--method", "phase", "--presim", "2"], ["--presim", "'phase'", "cos, srp"]),
])
def test_cli_refuses_an_ignored_option_before_loading(tmp_path, capsys, options,
                                                      named) -> None:
    # the checkpoint does not exist: the option check comes first
    assert main(["convert", str(tmp_path / "none.safetensors"), *options]) == 2
    err = capsys.readouterr().err
    assert "is not used by method" in err and "no checkpoint" not in err
    for text in named:
        assert text in err


def test_qcfs_options_are_refused_for_a_checkpoint_that_is_already_qcfs(monkeypatch) -> None:
    qnet = to_qcfs(tiny_cnn(), images(4))
    monkeypatch.setattr(fc, "load_ann", lambda path: fc.LoadedANN(
        qnet, None, Path("q/last.safetensors"), (2, 8, 8)))  # type: ignore[arg-type]
    with pytest.raises(ConversionError, match="already has QCFS activations"):
        fc.convert_checkpoint("q", method="qcfs", qcfs_levels=2, write=False)


def _report(**fields) -> dict:
    base = {"model": "m", "dataset": "d", "num_samples": 4, "method": "ltb", "K": None,
            "presim": None, "percentile": None, "thresholds": "ltb", "max_spikes": None,
            "ann": "checkpoint", "qcfs_levels": None, "qcfs_epochs": None,
            "calibration": 8, "ann_accuracy": 75.0, "tolerance": 0.1, "T": 2,
            "rows": [{"T": 2, "snn_accuracy": 50.0, "loss": 25.0, "no_output": 0.0,
                      "output_error": 0.5}],
            "best_T": 2, "best_accuracy": 50.0, "conversion_loss": 25.0, "lossless_T": None}
    return {**base, **fields}


def test_report_shows_only_the_settings_read() -> None:
    head = format_report(_report()).splitlines()[0]
    assert head == "m on d (4 test images), method ltb, thresholds ltb, 8 calibration images"
    head = format_report(_report(method="bsnn", K=4, percentile=99.5, thresholds=None)
                         ).splitlines()[0]
    assert head.endswith("method bsnn, K=4, percentile 99.5, 8 calibration images")
    head = format_report(_report(method="burst", thresholds="percentile", max_spikes=3,
                                 percentile=99.99)).splitlines()[0]
    assert head.endswith("method burst, thresholds percentile, up to 3 spikes per step, "
                         "percentile 99.99, 8 calibration images")


def test_report_names_the_qcfs_ann() -> None:
    lines = format_report(_report(method="qcfs", thresholds="module", ann="qcfs-finetuned",
                                  qcfs_levels=4, qcfs_epochs=2)).splitlines()
    assert lines[0].endswith("method qcfs, thresholds module, QCFS L=4, fine-tuned 2 epochs, "
                             "8 calibration images")
    assert lines[1] == ("QCFS ANN accuracy 75.00% (the checkpoint's ReLU ANN with QCFS "
                        "activations, fine-tuned)")
    assert "(loss: QCFS ANN - SNN)" in lines[2]
    assert lines[-1].endswith("never within 0.1 points of the QCFS ANN up to T=2")
    assert format_report(_report()).splitlines()[1] == "ANN accuracy 75.00%"
    # without fine-tuning the QCFS ANN is labelled so
    lines = format_report(_report(method="qcfs", thresholds="module", ann="qcfs-finetuned",
                                  qcfs_levels=2, qcfs_epochs=0)).splitlines()
    assert lines[0].endswith("method qcfs, thresholds module, QCFS L=2, not fine-tuned, "
                             "8 calibration images")
    assert lines[1] == ("QCFS ANN accuracy 75.00% (the checkpoint's ReLU ANN with QCFS "
                        "activations, not fine-tuned)")


@pytest.mark.parametrize(("fields", "name"), [
    # the defaults keep the documented names
    ({"method": "bsnn", "K": 8, "percentile": 99.99, "thresholds": None}, "convert-bsnn-K8.json"),
    ({"method": "burst", "thresholds": "percentile", "max_spikes": 4, "percentile": 99.99},
     "convert-burst.json"),
    ({"method": "qcfs", "thresholds": "module", "qcfs_levels": 4, "qcfs_epochs": 2},
     "convert-qcfs.json"),
    ({"method": "srp", "presim": 4}, "convert-srp.json"),
    ({"method": "ltb"}, "convert-ltb.json"),
    # every other setting the method read is in the name
    ({"method": "bsnn", "K": 4, "percentile": 99.9, "thresholds": None},
     "convert-bsnn-K4-p99.9.json"),
    ({"method": "burst", "thresholds": "percentile", "max_spikes": 1, "percentile": 99.99},
     "convert-burst-spikes1.json"),
    ({"method": "burst", "thresholds": "ltb", "max_spikes": 4}, "convert-burst-ltb.json"),
    ({"method": "rate", "thresholds": "percentile", "percentile": 99.0},
     "convert-rate-p99-percentile.json"),
    ({"method": "qcfs", "thresholds": "module", "qcfs_levels": 2, "qcfs_epochs": 2},
     "convert-qcfs-L2.json"),
    ({"method": "qcfs", "thresholds": "module", "qcfs_levels": 4, "qcfs_epochs": 0},
     "convert-qcfs-ep0.json"),
    ({"method": "cos", "presim": 8}, "convert-cos-presim8.json"),
])
def test_output_name_holds_the_settings_read(fields: dict, name: str) -> None:
    report = {"K": None, "percentile": None, "thresholds": "ltb", "max_spikes": None,
              "presim": None, "qcfs_levels": None, "qcfs_epochs": None, **fields}
    assert output_name(report) == name


def test_cli_help_documents_the_output_names(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["convert", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "-spikes<n>" in text and "convert-METHOD.json" in text and "1..65536" in text
