"""Event stream -> frame tensor ``[T, 2, H, W]`` of float32 event counts."""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

from spikebit.data.events.core import as_events, check_in_range
from spikebit.errors import DataError

FrameMode = Literal["time", "count"]
FRAME_MODES = ("time", "count")


def _size2(size: int | tuple[int, int], what: str) -> tuple[int, int]:
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    if h <= 0 or w <= 0:
        raise DataError(f"{what} must be positive, got {size!r}.")
    return int(h), int(w)


def frame_bins(t: np.ndarray, steps: int, mode: FrameMode) -> np.ndarray:
    """Frame index in ``[0, steps)`` for each event (int64 ``[N]``).

    ``"time"``: equal windows over ``[t_min, t_max]`` (bin = (t - t0) * T // (span + 1)).
    ``"count"``: equal event counts in time order (bin = rank * T // N).
    """
    if mode not in FRAME_MODES:
        raise DataError(f"unknown frame mode {mode!r}; use one of {FRAME_MODES}.")
    n = t.size
    if n == 0:
        return np.empty(0, dtype=np.int64)
    if mode == "time":
        t0 = int(t.min())
        span = int(t.max()) - t0 + 1
        if span * steps < 2**63:
            return (t.astype(np.int64) - t0) * steps // span
        # (t - t0) * steps would wrap around int64 (e.g. AEDAT 3.1 eventTSOverflow near
        # 2**30): exact Python integers instead
        d = t.astype(np.int64) - t0
        return np.fromiter((int(v) * steps // span for v in d), dtype=np.int64, count=n)
    order = np.argsort(t, kind="stable")
    bins = np.empty(n, dtype=np.int64)
    bins[order] = np.arange(n, dtype=np.int64) * steps // n
    return bins


def events_to_frames(
    events: np.ndarray,
    sensor_size: tuple[int, int],
    T: int,
    mode: FrameMode = "time",
    downsample_to: int | tuple[int, int] | None = None,
) -> torch.Tensor:
    """Bin events into ``[T, 2, H', W']`` float32 counts (channel 0 = OFF, 1 = ON).

    ``sensor_size`` is ``(H, W)``. ``downsample_to`` (``(H', W')`` or one int)
    scales coordinates as ``x' = x * W' // W`` (e.g. 128 -> 48). Every event
    lands in exactly one bin, so ``frames.sum() == len(events)``. Accepts
    :data:`EVENT_DTYPE` arrays or any structured array with t, x, y, p (tonic's).
    """
    ev = as_events(events)
    h, w = _size2(sensor_size, "sensor_size")
    if T <= 0:
        raise DataError(f"T must be a positive number of frames, got {T}.")
    oh, ow = (h, w) if downsample_to is None else _size2(downsample_to, "downsample_to")
    if oh > h or ow > w:
        raise DataError(
            f"downsample_to={downsample_to!r} is larger than sensor_size={sensor_size!r}; "
            "it can only shrink frames."
        )
    check_in_range(ev, (h, w), "events_to_frames")
    bins = frame_bins(ev["t"], T, mode)
    x = ev["x"].astype(np.int64) * ow // w
    y = ev["y"].astype(np.int64) * oh // h
    p = (ev["p"] > 0).astype(np.int64)
    flat = ((bins * 2 + p) * oh + y) * ow + x
    counts = np.bincount(flat, minlength=T * 2 * oh * ow).astype(np.float32)
    return torch.from_numpy(counts.reshape(T, 2, oh, ow))
