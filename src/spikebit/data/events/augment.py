"""Seeded event augmentations (as in tonic / SpikingJelly): shift, flip, drop.

Each takes events ``[N]`` and returns a new array; coordinates stay inside
``sensor_size = (H, W)``. ``rng`` is a ``numpy.random.Generator`` or an int seed.
"""

from __future__ import annotations

import numpy as np

from spikebit.data.events.core import as_events, check_in_range
from spikebit.errors import DataError

RngArg = np.random.Generator | int


def _rng(rng: RngArg) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def shift(events: np.ndarray, sensor_size: tuple[int, int], dx: int, dy: int) -> np.ndarray:
    """Translate by ``(dx, dy)`` pixels; events pushed off the sensor are dropped.

    Args:
        events: events ``[N]`` (:data:`EVENT_DTYPE` or any array :func:`as_events` accepts).
        sensor_size: ``(H, W)`` in pixels.
        dx: shift along ``x`` (columns) in pixels; positive moves right.
        dy: shift along ``y`` (rows) in pixels; positive moves down.

    Returns:
        A new event array ``[M]`` (``M <= N``), order kept.

    Raises:
        DataError: ``events`` is not a valid event array.
    """
    ev = as_events(events)
    h, w = sensor_size
    x = ev["x"].astype(np.int64) + dx
    y = ev["y"].astype(np.int64) + dy
    keep = (x >= 0) & (x < w) & (y >= 0) & (y < h)
    out = ev[keep].copy()
    out["x"], out["y"] = x[keep], y[keep]
    return out


def random_shift(
    events: np.ndarray, sensor_size: tuple[int, int], max_shift: int, rng: RngArg
) -> np.ndarray:
    """:func:`shift` by integers drawn uniformly from ``[-max_shift, max_shift]``.

    Args:
        events: events ``[N]``.
        sensor_size: ``(H, W)`` in pixels.
        max_shift: largest shift in pixels along each axis (``>= 0``); ``dx`` and
            ``dy`` are drawn independently.
        rng: a ``numpy.random.Generator`` or an int seed.

    Returns:
        A new, shifted event array (events pushed off the sensor dropped).

    Raises:
        DataError: ``max_shift < 0`` or ``events`` is not a valid event array.
    """
    if max_shift < 0:
        raise DataError(f"max_shift must be >= 0, got {max_shift}.")
    dx, dy = _rng(rng).integers(-max_shift, max_shift + 1, size=2)
    return shift(events, sensor_size, int(dx), int(dy))


def flip_horizontal(events: np.ndarray, sensor_size: tuple[int, int]) -> np.ndarray:
    """Mirror left-right: ``x -> W - 1 - x``.

    Args:
        events: events ``[N]``, all inside the sensor.
        sensor_size: ``(H, W)`` in pixels.

    Returns:
        A new event array ``[N]`` with mirrored ``x``.

    Raises:
        DataError: an event lies outside ``sensor_size``, or ``events`` is not a
            valid event array.
    """
    ev = as_events(events)
    check_in_range(ev, sensor_size, "flip_horizontal")
    out = ev.copy()
    out["x"] = sensor_size[1] - 1 - ev["x"]
    return out


def random_flip(
    events: np.ndarray, sensor_size: tuple[int, int], rng: RngArg, p: float = 0.5
) -> np.ndarray:
    """:func:`flip_horizontal` with probability ``p`` (else an unchanged copy).

    Args:
        events: events ``[N]``.
        sensor_size: ``(H, W)`` in pixels.
        rng: a ``numpy.random.Generator`` or an int seed (one uniform draw).
        p: flip probability in ``[0, 1]``.

    Returns:
        A new event array ``[N]``, mirrored or not.

    Raises:
        DataError: (when flipping) an event lies outside ``sensor_size``.
    """
    if _rng(rng).random() < p:
        return flip_horizontal(events, sensor_size)
    return as_events(events).copy()


def drop_events(events: np.ndarray, fraction: float, rng: RngArg) -> np.ndarray:
    """Remove ``round(fraction * N)`` events chosen uniformly; order is kept.

    Args:
        events: events ``[N]``.
        fraction: share of events to drop, in ``[0, 1]``.
        rng: a ``numpy.random.Generator`` or an int seed.

    Returns:
        A new event array of ``N - round(fraction * N)`` events.

    Raises:
        DataError: ``fraction`` outside ``[0, 1]`` or ``events`` is not a valid
            event array.
    """
    if not 0.0 <= fraction <= 1.0:
        raise DataError(f"drop fraction must be in [0, 1], got {fraction}.")
    ev = as_events(events)
    n_drop = int(round(fraction * ev.size))
    drop = _rng(rng).choice(ev.size, size=n_drop, replace=False)
    keep = np.ones(ev.size, dtype=bool)
    keep[drop] = False
    return ev[keep]
