"""The event record type and small helpers shared by readers, frames and the simulator.

An event stream is a 1-D numpy structured array of :data:`EVENT_DTYPE`:
``t`` int64 microseconds, ``x`` int16 column, ``y`` int16 row (0 = top row),
``p`` int8 polarity (1 = ON, brighter; 0 = OFF, darker).
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path

import numpy as np

from spikebit.errors import DataError

EVENT_DTYPE = np.dtype([("t", np.int64), ("x", np.int16), ("y", np.int16), ("p", np.int8)])
"""The one event dtype used everywhere in spikebit (13 bytes per event, packed)."""

PathArg = str | PathLike[str]


def make_events(t: np.ndarray, x: np.ndarray, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Pack four equal-length 1-D arrays into an :data:`EVENT_DTYPE` array ``[N]``."""
    n = len(t)
    if not (len(x) == len(y) == len(p) == n):
        raise DataError(
            f"make_events needs equal lengths, got t={n}, x={len(x)}, y={len(y)}, p={len(p)}; "
            "pass one value per event in each array."
        )
    out = np.empty(n, dtype=EVENT_DTYPE)
    out["t"] = t
    out["x"] = x
    out["y"] = y
    out["p"] = p
    return out


def empty_events() -> np.ndarray:
    """A zero-length event array."""
    return np.empty(0, dtype=EVENT_DTYPE)


def as_events(events: np.ndarray) -> np.ndarray:
    """Return ``events`` as :data:`EVENT_DTYPE`, converting other structured arrays.

    Accepts any structured array with fields ``t, x, y, p`` in any order and
    integer/bool types (e.g. ``tonic``'s arrays, where ``p`` may be bool or
    -1/+1): polarity becomes ``1`` where ``p > 0`` and ``0`` otherwise.
    """
    if not isinstance(events, np.ndarray) or events.dtype.names is None:
        raise DataError(
            f"expected a structured event array with fields t, x, y, p, got "
            f"{type(events).__name__} {getattr(events, 'dtype', '')}; build one with "
            "spikebit.data.events.make_events(t, x, y, p)."
        )
    if events.dtype == EVENT_DTYPE:
        return events.reshape(-1)
    missing = [f for f in ("t", "x", "y", "p") if f not in events.dtype.names]
    if missing:
        raise DataError(
            f"event array lacks field(s) {missing} (has {list(events.dtype.names)}); "
            "events need t (us), x, y and p."
        )
    flat = events.reshape(-1)
    p = flat["p"]
    pol = (p > 0) if p.dtype != np.bool_ else p
    return make_events(flat["t"], flat["x"], flat["y"], pol.astype(np.int8))


def first_out_of_range(x: np.ndarray, y: np.ndarray, height: int, width: int) -> int:
    """Index of the first event with ``x`` or ``y`` outside the sensor, or ``-1``."""
    bad = (x < 0) | (x >= width) | (y < 0) | (y >= height)
    if not bad.any():
        return -1
    return int(np.argmax(bad))


def check_in_range(events: np.ndarray, sensor_size: tuple[int, int], what: str = "events") -> None:
    """Raise :class:`DataError` if any event lies outside ``sensor_size = (H, W)``."""
    height, width = sensor_size
    i = first_out_of_range(events["x"], events["y"], height, width)
    if i >= 0:
        raise DataError(
            f"{what}: event {i} at (x={int(events['x'][i])}, y={int(events['y'][i])}) lies "
            f"outside the sensor (H={height}, W={width}); pass the sensor_size the events "
            "were recorded with."
        )


def file_label(path: PathArg) -> str:
    """How a file is named in error messages."""
    return str(Path(path))


def read_bytes(path: PathArg) -> bytes:
    """Read a whole file, turning a missing file into a :class:`DataError`."""
    p = Path(path)
    try:
        return p.read_bytes()
    except FileNotFoundError:
        raise DataError(
            f"{p}: file not found; check the path or --data-dir (see docs/events.md)."
        ) from None
    except IsADirectoryError:
        raise DataError(f"{p}: is a directory, expected an event file.") from None
