"""Progress reporting for long jobs: a tqdm bar on a terminal, plain lines elsewhere.

Every long-running step of spikebit (training epochs, evaluation, data downloads, event
simulation, frame caching, conversion sweeps, reproduction runs) reports through
:class:`ProgressBar` or :func:`track`:

- on a terminal (stderr is a TTY): a tqdm bar with count, rate and ETA;
- otherwise (CI logs, ``nohup``, pipes): one plain line per ``every`` updates, or per
  ``interval`` seconds (default 10 s, ``$SPIKEBIT_PROGRESS_INTERVAL``), plus a final line,
  formatted by tqdm (``desc: 40%|... 375/937 [00:31<00:47, 12.1it/s]`` without the bar);
- nothing with :func:`set_quiet` (``spikebit --quiet``) or ``$SPIKEBIT_QUIET=1``.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from tqdm import tqdm

T = TypeVar("T")
_quiet: bool | None = None


def set_quiet(quiet: bool = True) -> None:
    """Silence (or re-enable) every progress report of this process.

    Overrides ``$SPIKEBIT_QUIET`` for the rest of the process (``spikebit --quiet``).

    Args:
        quiet: ``True`` turns bars and lines off; ``False`` turns them back on.
    """
    global _quiet
    _quiet = quiet


def is_quiet() -> bool:
    """True when progress reports are off (:func:`set_quiet` or ``$SPIKEBIT_QUIET=1``)."""
    if _quiet is not None:
        return _quiet
    return os.environ.get("SPIKEBIT_QUIET", "").strip().lower() in ("1", "true", "yes")


def _interval() -> float:
    try:
        return max(0.0, float(os.environ.get("SPIKEBIT_PROGRESS_INTERVAL", "10")))
    except ValueError:
        return 10.0


class ProgressBar:
    """Count ``update(n)`` calls towards ``total`` and report them.

    Args:
        total: expected count (batches, bytes, samples); ``None`` if unknown.
        desc: label in front of the count, e.g. ``"epoch 1/3"``.
        unit: what is counted (``"batch"``, ``"B"``, ``"sample"``).
        enabled: ``False`` turns this bar off (e.g. on DDP ranks other than 0).
        every: in plain-line mode, print every ``every`` updates instead of every
            ``interval`` seconds.
        unit_scale: scale large counts with SI prefixes (bytes: ``12.3MB``).
    """

    def __init__(
        self,
        total: int | None,
        desc: str,
        unit: str = "it",
        enabled: bool = True,
        every: int | None = None,
        unit_scale: bool = False,
    ) -> None:
        self.total, self.desc, self.unit, self.unit_scale = total, desc, unit, unit_scale
        self.enabled = enabled and not is_quiet()
        self.every = every
        self.n = self.updates = self.shown = 0
        self.postfix: dict[str, Any] = {}
        self.start = self.last = time.perf_counter()
        self.bar: tqdm | None = None
        if self.enabled and sys.stderr.isatty():
            self.bar = tqdm(total=total, desc=desc, unit=unit, unit_scale=unit_scale,
                            file=sys.stderr, dynamic_ncols=True, leave=True)

    def update(self, n: int = 1, **postfix: Any) -> None:
        """Add ``n`` to the count; ``postfix`` values (loss, acc, ...) are shown after it."""
        self.n += n
        self.updates += 1
        if postfix:
            self.postfix = postfix
        if not self.enabled:
            return
        if self.bar is not None:
            if postfix:
                self.bar.set_postfix(self._fmt_postfix(), refresh=False)
            self.bar.update(n)
            return
        now = time.perf_counter()
        due = (self.updates % self.every == 0) if self.every else now - self.last >= _interval()
        if due or (self.total is not None and self.n >= self.total):
            self._line(now)

    def _fmt_postfix(self) -> dict[str, str]:
        return {
            k: (f"{v:.4f}" if isinstance(v, float) else str(v)) for k, v in self.postfix.items()
        }

    def _line(self, now: float) -> None:
        self.last, self.shown = now, self.updates
        post = ", ".join(f"{k}={v}" for k, v in self._fmt_postfix().items())
        line = tqdm.format_meter(self.n, self.total, now - self.start, prefix=self.desc,
                                 unit=self.unit, unit_scale=self.unit_scale, ncols=0,
                                 postfix=post or None)
        print(line, file=sys.stderr, flush=True)

    def close(self) -> None:
        """Finish the bar (a final line in plain mode if the last update was not shown)."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        elif self.enabled and self.updates > self.shown:
            self._line(time.perf_counter())

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def track(
    iterable: Iterable[T],
    desc: str,
    total: int | None = None,
    unit: str = "it",
    enabled: bool = True,
) -> Iterator[T]:
    """Iterate ``iterable`` while reporting progress (see :class:`ProgressBar`).

    Args:
        iterable: the items to yield, unchanged.
        desc: label in front of the count, e.g. ``"sweep"``.
        total: expected number of items (default: ``len(iterable)`` when it has one,
            else unknown).
        unit: what one item is (``"run"``, ``"file"``; default ``"it"``).
        enabled: ``False`` yields the items without reporting.

    Yields:
        Each item of ``iterable``; the count advances after the consumer takes it.
    """
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    with ProgressBar(total, desc, unit=unit, enabled=enabled) as bar:
        for item in iterable:
            yield item
            bar.update(1)
