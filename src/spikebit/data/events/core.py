"""The event record type and small helpers shared by readers, frames and the simulator.

An event stream is a 1-D numpy structured array of :data:`EVENT_DTYPE`:
``t`` int64 microseconds, ``x`` int16 column, ``y`` int16 row (0 = top row),
``p`` int8 polarity (1 = ON, brighter; 0 = OFF, darker).
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path
from typing import Literal

import numpy as np

from spikebit.errors import DataError

EVENT_DTYPE = np.dtype([("t", np.int64), ("x", np.int16), ("y", np.int16), ("p", np.int8)])
"""The one event dtype used everywhere in spikebit (13 bytes per event, packed)."""

PathArg = str | PathLike[str]


def make_events(t: np.ndarray, x: np.ndarray, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Pack four equal-length 1-D arrays into an :data:`EVENT_DTYPE` array ``[N]``.

    Values are cast to the field types without range checks.

    Args:
        t: timestamps ``[N]`` in microseconds (stored as int64).
        x: columns ``[N]`` in pixels (stored as int16).
        y: rows ``[N]`` in pixels, 0 = top row (stored as int16).
        p: polarities ``[N]``, 1 = ON, 0 = OFF (stored as int8).

    Returns:
        A structured array ``[N]`` of :data:`EVENT_DTYPE`.

    Raises:
        DataError: the four arrays differ in length.
    """
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


TimeUnit = Literal["us", "ms", "s"]
TIME_UNITS: dict[str, int] = {"us": 1, "ms": 1_000, "s": 1_000_000}
"""Microseconds per unit of a timestamp."""


def to_microseconds(t: np.ndarray, time_unit: TimeUnit | None) -> np.ndarray:
    """Timestamps ``t`` in ``time_unit`` -> int64 microseconds (rounded to nearest).

    Integer timestamps default to ``"us"``; float timestamps (e.g. seconds from a
    Tonic pipeline or a hand-made array) need an explicit unit, since truncating
    ``0.25`` s to ``0`` us would put every event in the first frame.

    Args:
        t: timestamps (integer, bool or float array, any shape).
        time_unit: unit of ``t``: ``"us"``, ``"ms"`` or ``"s"``; ``None`` means
            microseconds for integers and is refused for floats.

    Returns:
        int64 microseconds with the shape of ``t``.

    Raises:
        DataError: an unknown unit, float timestamps without a unit, or non-finite
            or out-of-range values.
    """
    t = np.asarray(t)
    if time_unit is not None and time_unit not in TIME_UNITS:
        raise DataError(f"unknown time_unit {time_unit!r}; use one of {sorted(TIME_UNITS)}.")
    if t.dtype.kind in "iub":
        scale = TIME_UNITS[time_unit or "us"]
        if scale == 1:
            return t.astype(np.int64, copy=False)
        limit = np.iinfo(np.int64).max // scale
        if t.size and np.abs(t.astype(np.float64)).max() > limit:
            raise DataError(f"timestamps in {time_unit} overflow int64 microseconds.")
        return t.astype(np.int64) * scale
    if t.dtype.kind != "f":
        raise DataError(f"timestamps must be numbers, got dtype {t.dtype}.")
    if time_unit is None:
        raise DataError(
            "timestamps are floats: pass time_unit='s', 'ms' or 'us' so they can be "
            "converted to integer microseconds (they would otherwise be truncated)."
        )
    us = t.astype(np.float64) * TIME_UNITS[time_unit]
    if t.size and (not np.isfinite(us).all() or np.abs(us).max() >= 2.0**63):
        raise DataError("timestamps must be finite and fit int64 microseconds.")
    return np.rint(us).astype(np.int64)


def has_rows(events: np.ndarray) -> bool:
    """True for camera events (a ``y`` field), False for 1-D events (``t, x, p``).

    Args:
        events: a structured event array (anything without a ``t`` field counts as
            camera events, so that :func:`as_events` reports the missing fields).

    Returns:
        Whether the events have rows (``y``).
    """
    names = getattr(getattr(events, "dtype", None), "names", None) or ()
    return "y" in names or "t" not in names


def as_events(events: np.ndarray, time_unit: TimeUnit | None = None) -> np.ndarray:
    """Return ``events`` as :data:`EVENT_DTYPE`, converting other structured arrays.

    Accepts any structured array with fields ``t, x, y, p`` in any order and
    integer/bool types (e.g. Tonic's arrays, where ``p`` may be bool or
    -1/+1): polarity becomes ``1`` where ``p > 0`` and ``0`` otherwise. 1-D
    events (fields ``t, x, p``, e.g. Tonic's SHD) get ``y = 0``. Timestamps are
    converted to int64 microseconds with :func:`to_microseconds`.

    Args:
        events: a structured array ``[N]`` (any shape is flattened) with fields
            ``t, x, y, p`` or ``t, x, p``.
        time_unit: unit of the ``t`` field: ``"us"``, ``"ms"`` or ``"s"``; required
            for float timestamps, ``None`` means microseconds for integers.

    Returns:
        Events ``[N]`` of :data:`EVENT_DTYPE` (``events`` itself, flattened, when it
        already has that dtype and the unit is microseconds).

    Raises:
        DataError: not a structured array, missing fields, ``x``/``y`` not integers
            within int16, or timestamps that cannot be converted.
    """
    if not isinstance(events, np.ndarray) or events.dtype.names is None:
        raise DataError(
            f"expected a structured event array with fields t, x, y, p, got "
            f"{type(events).__name__} {getattr(events, 'dtype', '')}; build one with "
            "spikebit.data.events.make_events(t, x, y, p)."
        )
    if events.dtype == EVENT_DTYPE and time_unit in (None, "us"):
        return events.reshape(-1)
    needed = ("t", "x", "y", "p") if has_rows(events) else ("t", "x", "p")
    missing = [f for f in needed if f not in events.dtype.names]
    if missing:
        raise DataError(
            f"event array lacks field(s) {missing} (has {list(events.dtype.names)}); "
            "events need t (us), x, y and p (or t, x, p for 1-D events)."
        )
    flat = events.reshape(-1)
    p = flat["p"]
    pol = (p > 0) if p.dtype != np.bool_ else p
    for f in ("x", "y"):
        if f in flat.dtype.names and flat[f].size and (
            flat[f].dtype.kind not in "iub"
            or int(flat[f].max()) > np.iinfo(np.int16).max
            or int(flat[f].min()) < np.iinfo(np.int16).min
        ):
            raise DataError(f"event field {f!r} must hold integer pixels within int16.")
    y = flat["y"] if "y" in flat.dtype.names else np.zeros(len(flat), np.int16)
    t = to_microseconds(flat["t"], time_unit)
    return make_events(t, flat["x"], y, pol.astype(np.int8))


def first_out_of_range(x: np.ndarray, y: np.ndarray, height: int, width: int) -> int:
    """Index of the first event with ``x`` or ``y`` outside the sensor, or ``-1``.

    Args:
        x: event columns ``[N]`` in pixels.
        y: event rows ``[N]`` in pixels.
        height: sensor height ``H``; valid rows are ``[0, H)``.
        width: sensor width ``W``; valid columns are ``[0, W)``.

    Returns:
        The index of the first out-of-range event, or ``-1`` if all are inside.
    """
    bad = (x < 0) | (x >= width) | (y < 0) | (y >= height)
    if not bad.any():
        return -1
    return int(np.argmax(bad))


def check_in_range(events: np.ndarray, sensor_size: tuple[int, int], what: str = "events") -> None:
    """Raise :class:`DataError` if any event lies outside ``sensor_size = (H, W)``.

    Args:
        events: events ``[N]`` of :data:`EVENT_DTYPE` (fields ``x`` and ``y`` are read).
        sensor_size: ``(H, W)`` in pixels (spikebit's order, not Tonic's ``(W, H, P)``).
        what: what the events are (a file or dataset name), for the message.

    Raises:
        DataError: an event lies outside the sensor (the message names the first one).
    """
    height, width = sensor_size
    i = first_out_of_range(events["x"], events["y"], height, width)
    if i >= 0:
        raise DataError(
            f"{what}: event {i} at (x={int(events['x'][i])}, y={int(events['y'][i])}) lies "
            f"outside the sensor (H={height}, W={width}); pass the sensor_size the events "
            "were recorded with."
        )


def file_label(path: PathArg) -> str:
    """How a file is named in error messages.

    Args:
        path: the file's path.

    Returns:
        The path as a string.
    """
    return str(Path(path))


def read_bytes(path: PathArg) -> bytes:
    """Read a whole file, turning a missing file into a :class:`DataError`.

    Args:
        path: the file to read.

    Returns:
        The file's bytes.

    Raises:
        DataError: the file does not exist or is a directory.
    """
    p = Path(path)
    try:
        return p.read_bytes()
    except FileNotFoundError:
        raise DataError(
            f"{p}: file not found; check the path or --data-dir (see docs/events.md)."
        ) from None
    except IsADirectoryError:
        raise DataError(f"{p}: is a directory, expected an event file.") from None
