"""The text report of ``spikebit convert`` and the name of its JSON file.

The text shows the settings the conversion read (the report of
:func:`~spikebit.conversion.from_checkpoint.convert_checkpoint` holds None for the
others), the ANN the accuracy and losses refer to (the checkpoint's ANN, or for ``qcfs``
on a ReLU checkpoint the QCFS ANN) and the SNN accuracy per T; a curve without output at
any step has no best accuracy ("no output"). :func:`output_name` names the JSON file
after the settings the method read, so runs with different settings keep separate files.
"""

from __future__ import annotations

from typing import Any

from spikebit.conversion.dynamics import build_method
from spikebit.conversion.settings import (
    DEFAULT_PERCENTILE,
    QCFS_EPOCHS,
    QCFS_LEVELS,
    threshold_rule,
)

OPTION_TAGS = {"max_spikes": "spikes", "presim": "presim"}  # file-name tags of method options


def output_name(report: dict[str, Any]) -> str:
    """The JSON file name of a conversion report: ``convert-<method>`` plus its settings.

    A part is added for every setting the method read (not None in the report) that
    differs from its default, in this order: ``-K<K>`` (always for the phase codings
    ``phase`` and ``bsnn``), ``-p<percentile>``, ``-<rule>`` (a threshold rule other than
    the method's own), ``-spikes<max_spikes>``, ``-presim<presim>``, ``-L<qcfs_levels>``,
    ``-ep<qcfs_epochs>``. With the defaults the names are ``convert-<method>-K<K>.json``
    (phase, bsnn) and ``convert-<method>.json``. ``T`` and the calibration size are not
    part of the name.

    Args:
        report: a report of :func:`~spikebit.conversion.from_checkpoint.convert_checkpoint`
            (settings resolved; None for settings the method does not read).

    Returns:
        E.g. ``"convert-burst-spikes1.json"`` or ``"convert-qcfs-L2-ep0.json"``.
    """
    method = report["method"]
    parts = [f"convert-{method}"]
    if report.get("K") is not None:
        parts.append(f"K{report['K']}")
    if report.get("percentile") not in (None, DEFAULT_PERCENTILE):
        parts.append(f"p{report['percentile']:g}")
    rule = report.get("thresholds")
    if rule is not None and rule != threshold_rule(method):
        parts.append(rule)
    defaults = build_method(method)
    for option, tag in OPTION_TAGS.items():
        value = report.get(option)
        if value is not None and value != getattr(defaults, option, None):
            parts.append(f"{tag}{value}")
    for key, tag, default in (("qcfs_levels", "L", QCFS_LEVELS),
                              ("qcfs_epochs", "ep", QCFS_EPOCHS)):
        if report.get(key) not in (None, default):
            parts.append(f"{tag}{report[key]}")
    return "-".join(parts) + ".json"


def _qcfs_tuning(epochs: int) -> str:
    """``"fine-tuned 2 epochs"``, or ``"not fine-tuned"`` for 0 epochs."""
    if not epochs:
        return "not fine-tuned"
    return f"fine-tuned {epochs} epoch{'' if epochs == 1 else 's'}"


def settings_text(report: dict[str, Any]) -> str:
    """The settings a conversion read, as ``spikebit convert`` prints them.

    Only settings the method reads appear (the report holds None for the others).

    Args:
        report: a report of :func:`~spikebit.conversion.from_checkpoint.convert_checkpoint`.

    Returns:
        E.g. ``"method ltb, thresholds ltb, 2000 calibration images"``.
    """
    parts = [f"method {report['method']}"]
    if report.get("K") is not None:
        parts.append(f"K={report['K']}")
    if report.get("presim"):
        parts.append(f"{report['presim']} pre-simulation steps before each T")
    if report.get("thresholds"):
        parts.append(f"thresholds {report['thresholds']}")
    if report.get("max_spikes") is not None:
        parts.append(f"up to {report['max_spikes']} spikes per step")
    if report.get("percentile") is not None:
        parts.append(f"percentile {report['percentile']:g}")
    if report.get("ann") == "qcfs-finetuned":
        parts.append(f"QCFS L={report['qcfs_levels']}, {_qcfs_tuning(report['qcfs_epochs'])}")
    parts.append(f"{report['calibration']} calibration images")
    return ", ".join(parts)


def ann_label(report: dict[str, Any]) -> str:
    """Which ANN the report's ANN accuracy (and every loss) refers to.

    Args:
        report: a report of :func:`~spikebit.conversion.from_checkpoint.convert_checkpoint`.

    Returns:
        ``"QCFS ANN"`` (the checkpoint's ReLU ANN with QCFS activations, fine-tuned for
        ``qcfs_epochs`` epochs, possibly 0) or ``"ANN"`` (the checkpoint's own).
    """
    return "QCFS ANN" if report.get("ann") == "qcfs-finetuned" else "ANN"


def format_report(report: dict[str, Any]) -> str:
    """The compact text table printed by ``spikebit convert``.

    Steps without output print "no output"; a curve without output at any step prints
    "no output" for the best accuracy and the conversion loss (they are None).

    Args:
        report: a report of :func:`~spikebit.conversion.from_checkpoint.convert_checkpoint`.

    Returns:
        The table, lines joined by newlines.
    """
    ann = ann_label(report)
    tuned = "fine-tuned" if report.get("qcfs_epochs") != 0 else "not fine-tuned"
    source = (f" (the checkpoint's ReLU ANN with QCFS activations, {tuned})"
              if ann != "ANN" else "")
    lines = [
        f"{report['model']} on {report['dataset']} ({report['num_samples']} test images), "
        + settings_text(report),
        f"{ann} accuracy {report['ann_accuracy']:.2f}%{source}",
        f"{'T':>6} {'SNN acc %':>10} {'loss':>8} {'|out err|':>10}"
        + ("" if ann == "ANN" else f"   (loss: {ann} - SNN)"),
    ]
    for row in report["rows"]:
        mark = "  <- best" if row["T"] == report["best_T"] else ""
        silent = row.get("no_output") or 0.0
        if row["snn_accuracy"] is None:
            lines.append(f"{row['T']:>6} {'no output':>10} {'-':>8} "
                         f"{row['output_error']:>10.4f}")
            continue
        tied = row.get("tied") or 0.0
        undecided = [f"{v:.1f}% {what}" for v, what in ((silent, "no output"), (tied, "tied"))
                     if v > 0]
        note = f"  ({', '.join(undecided)})" if undecided else ""
        lines.append(f"{row['T']:>6} {row['snn_accuracy']:>10.2f} {row['loss']:>+8.2f} "
                     f"{row['output_error']:>10.4f}{mark}{note}")
    lossless = report["lossless_T"]
    reach = (f"first within {report['tolerance']:g} points of the {ann} at T={lossless}"
             if lossless else
             f"never within {report['tolerance']:g} points of the {ann} up to T={report['T']}")
    if report["best_accuracy"] is None:  # no step with output: no best, no loss
        lines.append(f"best SNN: no output at any T up to T={report['T']}, conversion loss: "
                     f"no output; {reach}")
    else:
        lines.append(f"best SNN {report['best_accuracy']:.2f}% at T={report['best_T']}, "
                     f"conversion loss {report['conversion_loss']:+.2f} points; {reach}")
    return "\n".join(lines)
