"""An in-memory labelled event dataset and its compressed ``.npz`` form."""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spikebit.data.events.core import EVENT_DTYPE, PathArg, make_events
from spikebit.data.events.sources import EventSample, array_samples
from spikebit.errors import DataError


@dataclass
class EventDataset:
    """``events[i]`` (:data:`EVENT_DTYPE` ``[N_i]``, sorted by t) with ``labels[i]``.

    Attributes:
        events: one array ``[N_i]`` of :data:`EVENT_DTYPE` per sample, timestamps in
            microseconds, sorted by t.
        labels: int64 ``[N]`` class labels.
        sensor_size: ``(H, W)`` in pixels.
        name: identifies the content (it keys the frame cache, so include every
            parameter in it).
    """

    events: list[np.ndarray]
    labels: np.ndarray
    sensor_size: tuple[int, int]
    name: str

    def __len__(self) -> int:
        return len(self.events)

    def samples(self) -> list[EventSample]:
        """The samples, ready for :class:`EventFrameDataset`."""
        return array_samples(self.name, self.events, self.labels)

    def num_events(self) -> np.ndarray:
        """Events per sample, int64 ``[N]``."""
        return np.array([e.size for e in self.events], dtype=np.int64)


def _smallest_uint(values: np.ndarray) -> np.dtype:
    """The smallest unsigned dtype holding ``values`` (their own dtype if any is negative)."""
    if values.size == 0:
        return np.dtype(np.uint8)
    if int(values.min()) < 0:
        return values.dtype
    top = int(values.max())
    for dt in (np.uint8, np.uint16, np.uint32):
        if top <= np.iinfo(dt).max:
            return np.dtype(dt)
    return values.dtype


def save_event_dataset(path: PathArg, data: EventDataset, level: int = 1) -> None:
    """Write ``data`` as one deflate-compressed ``.npz`` (readable by ``np.load``).

    Stored columns: ``dt`` (t minus the previous event's t within a sample; the
    first keeps its absolute t), ``x``, ``y``, ``p`` in their smallest unsigned
    dtypes, plus ``offsets [N+1]``, ``labels [N]``, ``sensor_size``, ``name``.
    The file is written to a temp name and renamed, so a reader never sees half of it.

    Args:
        path: destination ``.npz``; parent folders are created.
        data: the dataset to store.
        level: deflate compression level, 0 (none) to 9 (smallest).

    Raises:
        OSError: the file cannot be written (not wrapped).
    """
    allev = np.concatenate(data.events) if data.events else np.empty(0, EVENT_DTYPE)
    counts = np.array([e.size for e in data.events], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    dt = np.diff(allev["t"], prepend=np.int64(0))
    firsts = offsets[:-1][counts > 0]
    dt[firsts] = allev["t"][firsts]
    arrays = {
        "offsets": offsets,
        "labels": np.asarray(data.labels, dtype=np.int64),
        "sensor_size": np.array(data.sensor_size, dtype=np.int64),
        "name": np.array(data.name),
        "dt": dt.astype(_smallest_uint(dt)),
        **{f: allev[f].astype(_smallest_uint(allev[f])) for f in ("x", "y", "p")},
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as zf:
        for key, arr in arrays.items():
            with zf.open(f"{key}.npy", "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asarray(arr), allow_pickle=False)
    os.replace(tmp, path)


def load_event_dataset(path: PathArg) -> EventDataset:
    """Read a file written by :func:`save_event_dataset`.

    Args:
        path: the ``.npz`` file.

    Returns:
        The dataset as an :class:`EventDataset`, events of :data:`EVENT_DTYPE` with absolute
        timestamps in microseconds.

    Raises:
        DataError: the file is missing, not a zip/npz, or lacks a stored column
            (delete it to rebuild).
    """
    try:
        with np.load(Path(path)) as z:
            offsets, labels = z["offsets"], z["labels"]
            dt, x, y, p = z["dt"], z["x"], z["y"], z["p"]
            size = tuple(int(v) for v in z["sensor_size"])
            name = str(z["name"])
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as err:
        raise DataError(
            f"{path}: not a readable spikebit event dataset ({err}); delete it to rebuild."
        ) from None
    counts = np.diff(offsets)
    cs = np.cumsum(dt, dtype=np.int64)
    before = np.zeros(len(counts), dtype=np.int64)
    nonempty = counts > 0
    starts = offsets[:-1][nonempty]
    before[nonempty] = cs[starts] - dt[starts]
    allev = make_events(cs - np.repeat(before, counts), x, y, p)
    events = [allev[a:b] for a, b in zip(offsets[:-1], offsets[1:])]
    return EventDataset(events, labels, (size[0], size[1]), name)
