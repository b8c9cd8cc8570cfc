"""Event stream -> frame tensor of float32 event counts.

Camera events (fields ``t, x, y, p``) give ``[T, P, H, W]``; audio-like 1-D events
(fields ``t, x, p``, e.g. SHD) give ``[T, P, N]``, as Tonic's ``ToFrame`` does.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

from spikebit.data.events.core import TimeUnit, as_events, check_in_range, has_rows
from spikebit.errors import DataError

FrameMode = Literal["time", "count", "duration"]
FRAME_MODES = ("time", "count", "duration")
Anchor = Literal["first", "recording"]


def _size2(size: int | tuple[int, int], what: str) -> tuple[int, int]:
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    if h <= 0 or w <= 0:
        raise DataError(f"{what} must be positive, got {size!r}.")
    return int(h), int(w)


def sensor_geometry(sensor_size: int | tuple[int, ...], rows: bool) -> tuple[int, int, int]:
    """``(H, W, P)`` from a sensor size given in spikebit's or Tonic's order.

    - 2-tuple ``(H, W)``: spikebit's order, two polarity channels (OFF, ON);
    - 3-tuple ``(W, H, P)``: Tonic's ``sensor_size`` order, ``P`` in {1, 2} channels;
    - for 1-D events (no ``y`` field): an int or ``(N,)`` gives one channel, Tonic's
      ``(N, 1, P)`` gives ``P``.

    Args:
        sensor_size: an int, or a tuple of 1 to 3 positive integers as listed above.
        rows: ``True`` for camera events (a ``y`` field), ``False`` for 1-D events.

    Returns:
        ``(H, W, P)`` in pixels and channels (``H = 1`` and ``W = N`` for 1-D events).

    Raises:
        DataError: a non-positive or non-integer entry, a form that does not fit the
            events (naming the accepted ones), ``P`` not in {1, 2}, or ``H != 1`` for
            1-D events.
    """
    size = (sensor_size,) if isinstance(sensor_size, (int, np.integer)) else tuple(sensor_size)
    if not all(isinstance(v, (int, np.integer)) and v > 0 for v in size):
        raise DataError(f"sensor_size must hold positive integers, got {sensor_size!r}.")
    if len(size) == 3:
        w, h, p = (int(v) for v in size)
    elif len(size) == 2 and rows:
        (h, w), p = (int(v) for v in size), 2
    elif len(size) == 1 and not rows:
        h, w, p = 1, int(size[0]), 1
    else:
        form = "(H, W) or Tonic's (W, H, P)" if rows else "(N,) or Tonic's (N, 1, P)"
        raise DataError(
            f"sensor_size {sensor_size!r} does not fit {'camera' if rows else '1-D'} events: "
            f"pass {form}."
        )
    if p not in (1, 2):
        raise DataError(f"sensor_size {sensor_size!r}: polarity channels P must be 1 or 2.")
    if not rows and h != 1:
        raise DataError(f"1-D events have no rows, but sensor_size {sensor_size!r} has H={h}.")
    return h, w, p


def frame_bins(
    t: np.ndarray,
    steps: int | None,
    mode: FrameMode,
    window: int | None = None,
    anchor: Anchor = "first",
) -> tuple[np.ndarray, int]:
    """Frame index of each event (int64 ``[N]``; ``-1`` = outside every frame) and T.

    - ``"time"``: ``steps`` equal windows over ``[t_first, t_last]``:
      ``bin = (t - t0) * T // (span + 1)``.
    - ``"count"``: ``steps`` frames of equal event counts in time order:
      ``bin = rank * T // N``.
    - ``"duration"``: fixed windows of ``window`` us starting at the first event
      (``anchor="first"``, Tonic's ``ToFrame(time_window=...)``) or at ``t = 0`` of the
      recording (``anchor="recording"``): ``bin = (t - t0) // window``. With ``steps``
      given, events after the last of the ``steps`` windows are dropped (bin ``-1``);
      without it, T covers the recording up to its last event.

    All arithmetic stays exact in int64 for any span of int64 timestamps.

    Args:
        t: timestamps ``[N]`` in microseconds (integers).
        steps: number of frames ``T``; required for ``"time"`` and ``"count"``,
            optional for ``"duration"``.
        mode: ``"time"``, ``"count"`` or ``"duration"``.
        window: frame duration in microseconds (``"duration"`` only, positive).
        anchor: ``"first"`` or ``"recording"`` (``"duration"`` only).

    Returns:
        ``(bins, T)``: int64 ``[N]`` frame indices in ``[0, T)`` (``-1`` for events
        after the last window) and the number of frames.

    Raises:
        DataError: an unknown mode, a non-positive ``steps`` (or a missing one outside
            ``"duration"``), a missing or non-positive ``window`` or unknown
            ``anchor`` for ``"duration"``, or negative timestamps with
            ``anchor="recording"``.
    """
    if mode not in FRAME_MODES:
        raise DataError(f"unknown frame mode {mode!r}; use one of {FRAME_MODES}.")
    if mode == "duration":
        if window is None or window <= 0:
            raise DataError(f"mode='duration' needs a positive window in us, got {window!r}.")
        if anchor not in ("first", "recording"):
            raise DataError(f"anchor must be 'first' or 'recording', got {anchor!r}.")
    elif steps is None:
        raise DataError(f"mode={mode!r} needs T, a positive number of frames, got None.")
    if steps is not None and (isinstance(steps, (bool, np.bool_))
                              or not isinstance(steps, (int, np.integer)) or steps <= 0):
        raise DataError(f"T must be a positive whole number of frames, got {steps!r}; "
                        "pass an int, e.g. T=10.")
    n = t.size
    t = t.astype(np.int64, copy=False)
    if mode == "duration":
        t0 = 0 if anchor == "recording" or n == 0 else int(t.min())
        if n and int(t.min()) < t0:
            raise DataError("mode='duration' with anchor='recording' needs timestamps >= 0.")
        bins = (t - t0) // int(window) if n else np.empty(0, dtype=np.int64)
        total = steps if steps is not None else (int(bins.max()) + 1 if n else 1)
        return np.where(bins < total, bins, -1), int(total)
    if n == 0:
        return np.empty(0, dtype=np.int64), int(steps)
    if mode == "time":
        t0 = int(t.min())
        span = int(t.max()) - t0 + 1
        rel = t - t0
        if span <= np.iinfo(np.int64).max // steps:
            return rel * steps // span, int(steps)
        # very long recordings: exact integer arithmetic in Python ints
        return np.array([int(r) * steps // span for r in rel], dtype=np.int64), int(steps)
    order = np.argsort(t, kind="stable")
    bins = np.empty(n, dtype=np.int64)
    bins[order] = np.arange(n, dtype=np.int64) * steps // n
    return bins, int(steps)


def events_to_frames(
    events: np.ndarray,
    sensor_size: int | tuple[int, ...],
    T: int | None = None,
    mode: FrameMode = "time",
    downsample_to: int | tuple[int, int] | None = None,
    *,
    window: int | float | None = None,
    anchor: Anchor = "first",
    time_unit: TimeUnit | None = None,
) -> torch.Tensor:
    """Bin events into float32 counts: ``[T, P, H', W']`` (camera) or ``[T, P, N]`` (1-D).

    Args:
        events: structured array with fields ``t, x, y, p`` (camera) or ``t, x, p``
            (1-D, e.g. audio spikes of SHD), in any field order and integer dtypes
            (spikebit's :data:`EVENT_DTYPE` or Tonic's per-dataset dtypes).
        sensor_size: ``(H, W)`` (spikebit) or ``(W, H, P)`` (Tonic) for camera
            events; ``N``/``(N,)`` or ``(N, 1, P)`` for 1-D events. See
            :func:`sensor_geometry`. With two channels, channel 0 = OFF, 1 = ON.
        T: number of frames (time steps). Optional only for ``mode="duration"``.
        mode: ``"time"`` (T equal windows over the events' span), ``"count"``
            (T equal event counts) or ``"duration"`` (fixed ``window``).
        downsample_to: ``(H', W')`` or one int; ``x' = x * W' // W`` (camera only).
        window: frame duration for ``mode="duration"``, in ``time_unit``.
        anchor: ``"first"`` (windows start at the first event) or ``"recording"``
            (windows start at ``t = 0``), for ``mode="duration"``.
        time_unit: unit of ``events["t"]``: ``"us"`` (default for integer
            timestamps), ``"ms"`` or ``"s"``; float timestamps need it.

    Returns:
        float32 tensor; every event inside the frames lands in exactly one bin.

    Raises:
        DataError: malformed events, a sensor size of the wrong form, events outside
            the sensor, a non-positive T or window, or float timestamps without a unit.
    """
    from spikebit.data.events.core import to_microseconds

    rows = has_rows(events)
    ev = as_events(events, time_unit=time_unit)
    h, w, nch = sensor_geometry(sensor_size, rows)
    if downsample_to is not None and not rows:
        raise DataError("downsample_to applies to camera events (x, y), not to 1-D events.")
    oh, ow = (h, w) if downsample_to is None else _size2(downsample_to, "downsample_to")
    if oh > h or ow > w:
        raise DataError(
            f"downsample_to={downsample_to!r} is larger than the sensor ({h}, {w}); "
            "it can only shrink frames."
        )
    check_in_range(ev, (h, w), "events_to_frames")
    win = None if window is None else to_microseconds(np.asarray([window]), time_unit)[0]
    bins, steps = frame_bins(ev["t"], T, mode, None if win is None else int(win), anchor)
    keep = bins >= 0
    x = ev["x"][keep].astype(np.int64) * ow // w
    y = ev["y"][keep].astype(np.int64) * oh // h
    p = (ev["p"][keep] > 0).astype(np.int64) if nch == 2 else np.zeros(int(keep.sum()), np.int64)
    flat = ((bins[keep] * nch + p) * oh + y) * ow + x
    counts = np.bincount(flat, minlength=steps * nch * oh * ow).astype(np.float32)
    shape = (steps, nch, oh, ow) if rows else (steps, nch, ow)
    return torch.from_numpy(counts.reshape(shape))
