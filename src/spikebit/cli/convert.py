"""``spikebit convert CHECKPOINT``: ANN checkpoint -> spiking network, accuracy per T.

Prints a compact table (the settings the method uses, ANN accuracy, SNN accuracy at
selected T, best T, conversion loss; "no output" where no step has output) and writes
the report next to the checkpoint as :func:`spikebit.conversion.report.output_name`
names it: ``convert-<method>`` plus a part per setting the method reads that differs from
its default (e.g. ``convert-burst-spikes1.json``, ``convert-qcfs-L2.json``), so runs with
different settings keep separate files; with the defaults ``convert-<method>-K<k>.json``
(phase codings) or ``convert-<method>.json``. An option the chosen method does not use
(e.g. ``--K`` for ``ltb``, ``--percentile`` for ``qcfs``) or out of range (e.g. ``--T``
above 65536, ``--calibration 0``) is an error, checked before anything is loaded.
"""

from __future__ import annotations

import argparse


def run_convert(args: argparse.Namespace) -> int:
    """Run the conversion described by the parsed ``convert`` arguments.

    Prints the report table and writes the report beside the checkpoint
    (:func:`spikebit.conversion.from_checkpoint.convert_checkpoint`; file name:
    :func:`spikebit.conversion.report.output_name`).

    Args:
        args: the parsed ``convert`` arguments: ``checkpoint``, ``method``, ``percentile``,
            ``K`` (phase period, bits), ``T`` (time steps), ``calibration`` (images),
            ``max_spikes``, ``thresholds``, ``qcfs_levels``, ``qcfs_epochs``, ``presim``;
            None for an option not given (the method's default).

    Returns:
        0 (errors propagate to :func:`spikebit.cli.main.main`).

    Raises:
        ConversionError: an option given that the method does not use (named as on the
            command line, e.g. ``--qcfs-levels``), no checkpoint at the path, a spiking
            (not ReLU ANN) or event-frame model, or a bad ``T``/``calibration``/method
            option (``T`` above 65536, ``calibration`` below 1, ...).
        CheckpointError: the checkpoint file is corrupt or not a spikebit checkpoint.
    """
    from spikebit.conversion.from_checkpoint import convert_checkpoint
    from spikebit.conversion.report import format_report
    from spikebit.conversion.settings import check_settings

    given = {"percentile": args.percentile, "K": args.K, "max_spikes": args.max_spikes,
             "presim": args.presim, "qcfs_levels": args.qcfs_levels,
             "qcfs_epochs": args.qcfs_epochs}
    check_settings(args.method, given, thresholds=args.thresholds,
                   spell=lambda name: "--" + name.replace("_", "-"))
    report = convert_checkpoint(args.checkpoint, method=args.method,
                                percentile=args.percentile, K=args.K, T=args.T,
                                calibration=args.calibration, max_spikes=args.max_spikes,
                                thresholds=args.thresholds, qcfs_levels=args.qcfs_levels,
                                qcfs_epochs=args.qcfs_epochs, presim=args.presim)
    print(format_report(report))
    print(f"wrote {report['json']} ({report['seconds']:.1f} s)")
    return 0
