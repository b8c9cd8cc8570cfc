"""Figures of the experiment runners (written next to their results files)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from spikebit.plotting import new_figure


def plot_sweep(
    path: Path,
    x: Sequence[Any],
    series: dict[str, Sequence[float]],
    xlabel: str,
    title: str,
    logx: bool = False,
    bars: bool = False,
) -> Path | None:
    """Accuracy (%) against ``x`` for each named series, saved as a PNG at ``path``.

    Args:
        path: the PNG file (parent folders are created).
        x: the swept values (x axis).
        series: ``{label: accuracies in %}``, one value per entry of ``x``.
        xlabel: x-axis label.
        title: figure title.
        logx: logarithmic x axis.
        bars: grouped bars instead of lines (categorical ``x``).

    Returns:
        ``path``, or ``None`` without matplotlib.
    """
    fig = new_figure(title, figsize=(5, 3.5))
    if fig is None:
        return None
    ax = fig.subplots()
    for i, (name, ys) in enumerate(series.items()):
        if bars:
            pos = [j + 0.8 * i / len(series) for j in range(len(x))]
            ax.bar(pos, ys, width=0.8 / len(series), label=name)
            ax.set_xticks(range(len(x)), [str(v) for v in x])
        else:
            ax.plot(list(x), list(ys), marker="o", label=name)
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path
