"""The text report of ``spikebit convert``: settings, ANN accuracy, SNN accuracy per T.

It shows only the settings the conversion read (the report of
:func:`~spikebit.conversion.from_checkpoint.convert_checkpoint` holds None for the
others) and names the ANN the accuracy and losses refer to: the checkpoint's ANN, or
for ``qcfs`` on a ReLU checkpoint the fine-tuned QCFS ANN.
"""

from __future__ import annotations

from typing import Any


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
        epochs = report["qcfs_epochs"]
        parts.append(f"QCFS L={report['qcfs_levels']}, fine-tuned {epochs} "
                     f"epoch{'' if epochs == 1 else 's'}")
    parts.append(f"{report['calibration']} calibration images")
    return ", ".join(parts)


def ann_label(report: dict[str, Any]) -> str:
    """Which ANN the report's ANN accuracy (and every loss) refers to.

    Args:
        report: a report of :func:`~spikebit.conversion.from_checkpoint.convert_checkpoint`.

    Returns:
        ``"QCFS ANN"`` (the checkpoint's ReLU ANN with QCFS activations, fine-tuned) or
        ``"ANN"`` (the checkpoint's own).
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
    source = (" (the checkpoint's ReLU ANN with QCFS activations, fine-tuned)"
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
