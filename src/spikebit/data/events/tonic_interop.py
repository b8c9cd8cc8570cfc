"""Adapters between Tonic (the event-data library) and spikebit frames.

Tonic conventions: an event array is a structured array with Tonic's per-dataset dtype
(e.g. N-MNIST ``x, y, t, p`` as int64, DVS Gesture ``x, y`` int16 + ``p`` bool + ``t``
int64, SHD ``t, x, p``), timestamps in microseconds, ``sensor_size = (W, H, P)``, and a
dataset item is ``(events, target)``. Frames are ``[T, P, H, W]`` (``[T, P, N]`` for
1-D events), the same layout as :func:`spikebit.data.events.events_to_frames` returns.
Tonic itself is optional: nothing here imports it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from spikebit.data.events.core import TimeUnit
from spikebit.data.events.frames import Anchor, FrameMode, events_to_frames
from spikebit.errors import DataError


def tonic_frames(
    events: np.ndarray,
    sensor_size: tuple[int, ...],
    T: int | None = None,
    mode: FrameMode = "time",
    *,
    window: float | None = None,
    anchor: Anchor = "first",
    time_unit: TimeUnit = "us",
) -> torch.Tensor:
    """Frame one Tonic event array: ``[T, P, H, W]`` (camera) or ``[T, P, N]`` (1-D).

    Arguments as in :func:`~spikebit.data.events.events_to_frames`, with Tonic's
    sensor-size order and microseconds as the default time unit.

    Args:
        events: a Tonic event array (structured, fields ``t, x, y, p`` or ``t, x, p``
            in any order and any of Tonic's per-dataset dtypes).
        sensor_size: Tonic's ``(W, H, P)`` (a dataset's ``sensor_size`` attribute);
            ``(N, 1, P)`` for 1-D events.
        T: number of frames (time steps); optional only for ``mode="duration"``.
        mode: ``"time"``, ``"count"`` or ``"duration"``.
        window: frame duration for ``mode="duration"``, in ``time_unit``.
        anchor: ``"first"`` or ``"recording"`` (where duration windows start).
        time_unit: unit of ``events["t"]``: ``"us"`` (Tonic's), ``"ms"`` or ``"s"``.

    Returns:
        float32 event counts ``[T, P, H, W]`` or ``[T, P, N]``.

    Raises:
        DataError: a sensor size that is not a 3-tuple, or malformed events (see
            :func:`~spikebit.data.events.events_to_frames`).
    """
    if len(tuple(sensor_size)) != 3:
        raise DataError(
            f"Tonic's sensor_size is (W, H, P), got {sensor_size!r}; for spikebit's (H, W) "
            "order call events_to_frames directly."
        )
    return events_to_frames(
        events, tuple(sensor_size), T, mode, window=window, anchor=anchor, time_unit=time_unit
    )


class TonicFrames(Dataset):
    """A map-style dataset of ``(frames [T, P, H, W] float32, label int)`` from a Tonic one.

    Wraps any object with ``__len__`` and ``__getitem__`` returning ``(events, target)``
    (a Tonic dataset, or a list of such pairs) and frames each sample with
    :func:`tonic_frames`. ``sensor_size`` defaults to the dataset's ``sensor_size``.
    Batches from a ``DataLoader`` are batch-first ``[B, T, ...]``: feed them to a
    :class:`~spikebit.models.SpikingNet` with ``time_first=False`` or transpose with
    :func:`~spikebit.data.events.to_time_major`.

    Args:
        dataset: the source of ``(events, target)`` items.
        T: number of frames (time steps) per sample; required for
            ``mode="duration"``, so that samples can be batched.
        mode: ``"time"``, ``"count"`` or ``"duration"``.
        sensor_size: Tonic's ``(W, H, P)``; ``None`` uses ``dataset.sensor_size``.
        window: frame duration for ``mode="duration"``, in ``time_unit``.
        anchor: ``"first"`` or ``"recording"`` (where duration windows start).
        time_unit: unit of the events' ``t``: ``"us"`` (Tonic's), ``"ms"`` or ``"s"``.
        transform: applied to each frame tensor ``[T, P, H, W]`` after framing.

    Raises:
        DataError: no sensor size known or ``mode="duration"`` without ``T`` (at
            construction); a target that is not an integer class or malformed events
            (on indexing).
    """

    def __init__(
        self,
        dataset: Any,
        T: int | None = None,
        mode: FrameMode = "time",
        *,
        sensor_size: tuple[int, int, int] | None = None,
        window: float | None = None,
        anchor: Anchor = "first",
        time_unit: TimeUnit = "us",
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        size = sensor_size if sensor_size is not None else getattr(dataset, "sensor_size", None)
        if size is None:
            raise DataError(
                "TonicFrames needs a sensor size: the dataset has no sensor_size attribute, "
                "pass sensor_size=(W, H, P)."
            )
        if mode == "duration" and T is None:
            raise DataError(
                "mode='duration' in a dataset needs T: every sample must have the same number "
                "of frames to be batched."
            )
        self.dataset = dataset
        self.sensor_size = tuple(int(v) for v in size)
        self.T, self.mode, self.window, self.anchor = T, mode, window, anchor
        self.time_unit = time_unit
        self.transform = transform

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        events, target = self.dataset[index]
        frames = tonic_frames(
            events, self.sensor_size, self.T, self.mode, window=self.window,
            anchor=self.anchor, time_unit=self.time_unit,
        )
        if self.transform is not None:
            frames = self.transform(frames)
        try:
            label = int(target)
        except (TypeError, ValueError):
            raise DataError(
                f"sample {index}: target {target!r} is not an integer class label."
            ) from None
        return frames, label


def from_tonic(
    source: Any,
    T: int | None = None,
    mode: FrameMode = "time",
    **kwargs: Any,
) -> torch.Tensor | TonicFrames:
    """Tonic data -> spikebit frames.

    - an event array (``numpy`` structured array) -> one frame tensor, via
      :func:`tonic_frames` (pass ``sensor_size=(W, H, P)``);
    - a frame array already made by Tonic's ``ToFrame`` (``[T, P, H, W]`` integer,
      e.g. int16) -> float32 tensor of the same shape;
    - a dataset (``(events, target)`` items) -> :class:`TonicFrames`.

    Args:
        source: a Tonic event array, a frame array or tensor, or a dataset.
        T: number of frames (time steps), for event arrays and datasets.
        mode: ``"time"``, ``"count"`` or ``"duration"``, for event arrays and datasets.
        **kwargs: passed on to :func:`tonic_frames` (event arrays: ``sensor_size``
            required, ``window``, ``anchor``, ``time_unit``) or :class:`TonicFrames`.

    Returns:
        A float32 frame tensor (event array or frame array), or a :class:`TonicFrames`.

    Raises:
        DataError: an input of none of these kinds, an event array without
            ``sensor_size``, or malformed events.
    """
    if isinstance(source, np.ndarray) and source.dtype.names is not None:
        if "sensor_size" not in kwargs:
            raise DataError("from_tonic(events) needs sensor_size=(W, H, P).")
        size = kwargs.pop("sensor_size")
        return tonic_frames(source, size, T, mode, **kwargs)
    if isinstance(source, (np.ndarray, torch.Tensor)):
        frames = torch.as_tensor(np.asarray(source) if isinstance(source, np.ndarray) else source)
        if frames.dtype.is_complex or frames.dtype == torch.bool:
            frames = frames.to(torch.int64)
        return frames.to(torch.float32)
    if hasattr(source, "__getitem__") and hasattr(source, "__len__"):
        return TonicFrames(source, T, mode, **kwargs)
    raise DataError(
        f"from_tonic expects a Tonic event array, a frame array or a dataset, got "
        f"{type(source).__name__}."
    )
