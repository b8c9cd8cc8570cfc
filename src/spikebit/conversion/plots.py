"""Figures for conversion reports (matplotlib is optional and imported lazily).

Each function returns the written path, or None (with a warning) when
matplotlib is not installed.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from spikebit.conversion.experiments import ConversionReport


def _new_figure(ncols: int = 1) -> tuple[Any, Any] | None:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        warnings.warn("matplotlib is not installed; skipping plot "
                      "(pip install 'spikebit[plot]')", stacklevel=3)
        return None
    fig = Figure(figsize=(4.0 * ncols, 3.2), layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, axes


def plot_accuracy_curves(report: ConversionReport, path: str | Path) -> Path | None:
    """Accuracy (%) vs time steps for every variant, ANN accuracy as a dashed line.

    Steps without output (None) are gaps in the curve. Warns (``UserWarning``) and
    returns None when matplotlib is not installed.

    Args:
        report: the ``ConversionReport`` of :func:`run_conversion_experiments`.
        path: the image file to write (format from its suffix, e.g. ``.png``).

    Returns:
        The written path, or None without matplotlib.
    """
    made = _new_figure()
    if made is None:
        return None
    fig, (ax,) = made
    for name, result in report.results.items():
        # steps without output (None) are gaps, not points at class 0's accuracy
        curve = [float("nan") if a is None else a for a in result.accuracy]
        ax.plot(range(1, len(curve) + 1), curve, label=name)
    ax.axhline(report.ann_accuracy, color="k", linestyle="--", linewidth=0.8, label="ANN")
    ax.set_xlabel("time steps T")
    ax.set_ylabel("accuracy (%)")
    ax.legend(fontsize="small")
    path = Path(path)
    fig.savefig(path)
    return path


def plot_output_differences(
    report: ConversionReport, path: str | Path, names: Sequence[str] | None = None,
    bins: int = 50,
) -> Path | None:
    """Histogram of SNN - ANN outputs (normalized units) at ``T_max`` per variant (BSNN Fig. 5).

    Warns (``UserWarning``) and returns None when matplotlib is not installed.

    Args:
        report: the ``ConversionReport`` of :func:`run_conversion_experiments`.
        path: the image file to write (format from its suffix).
        names: the variants to show, one panel each (default: all).
        bins: histogram bins per panel.

    Returns:
        The written path, or None without matplotlib.
    """
    names = list(names or report.results)
    made = _new_figure(len(names))
    if made is None:
        return None
    fig, axes = made
    for ax, name in zip(axes, names):
        ax.hist(report.results[name].differences, bins=bins)
        ax.set_title(name)
        ax.set_xlabel(f"SNN - ANN output at T={report.T_max}")
    axes[0].set_ylabel("count")
    path = Path(path)
    fig.savefig(path)
    return path
