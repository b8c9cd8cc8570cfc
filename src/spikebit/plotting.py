"""Optional figures: a matplotlib ``Figure`` when matplotlib is installed, else one warning.

Every plot in spikebit (training curves, conversion reports, flip ratios, ablation
figures) asks :func:`new_figure` for a figure. Without matplotlib the plot is skipped
with a single line on stderr per kind of figure, the same everywhere::

    spikebit: matplotlib is not installed; skipping curves.png (pip install 'spikebit[plot]')

Figures are built with the object API (``matplotlib.figure.Figure``), never pyplot, so
plotting needs no display and keeps no global state.
"""

from __future__ import annotations

import sys
from typing import Any

_warned: set[str] = set()


def new_figure(what: str, **kwargs: Any) -> Any | None:
    """A ``matplotlib.figure.Figure(**kwargs)``, or ``None`` (after one warning) without
    matplotlib. ``what`` names the figure in the warning (e.g. ``"curves.png"``)."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        if what not in _warned:
            _warned.add(what)
            print(f"spikebit: matplotlib is not installed; skipping {what} "
                  "(pip install 'spikebit[plot]')", file=sys.stderr)
        return None
    return Figure(**kwargs)
