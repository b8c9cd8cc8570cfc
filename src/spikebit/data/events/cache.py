"""Frame cache: convert each event sample to frames once, reuse them every epoch.

Frames are stored as one ``.npy`` per sample in ``cache_dir/<2 hex>/``, named by a hash
of (source, stamp, T, mode, sensor size, output size), so changing any of them
converts again and nothing stale is ever read.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch

from spikebit.data.events.core import PathArg
from spikebit.data.events.frames import FrameMode, events_to_frames
from spikebit.data.events.sources import EventSample
from spikebit.errors import DataError
from spikebit.progress import track

CACHE_VERSION = "frames-v1"


def frame_cache_key(
    sample: EventSample,
    T: int,
    mode: str,
    sensor_size: tuple[int, int],
    out_size: tuple[int, int],
) -> str:
    """Hex digest naming a sample's cached frames.

    Args:
        sample: the event sample (its ``source`` and ``stamp`` enter the key).
        T: number of frames (time steps).
        mode: frame mode (``"time"`` or ``"count"``).
        sensor_size: ``(H, W)`` of the sensor in pixels.
        out_size: ``(H', W')`` of the frames in pixels.

    Returns:
        24 hex digits (SHA-1 of these fields and the cache format version).
    """
    text = "|".join(
        [CACHE_VERSION, sample.source, sample.stamp, f"T={T}", f"mode={mode}",
         f"sensor={sensor_size[0]}x{sensor_size[1]}", f"out={out_size[0]}x{out_size[1]}"]
    )  # fmt: skip
    return hashlib.sha1(text.encode()).hexdigest()[:24]


def _save_atomic(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        np.save(f, array)
    os.replace(tmp, path)


def _compact(counts: np.ndarray) -> np.ndarray:
    """Integer counts in the smallest exact dtype: uint8, uint16, else float32."""
    top = float(counts.max()) if counts.size else 0.0
    for dt in (np.uint8, np.uint16):
        if top <= np.iinfo(dt).max:
            return counts.astype(dt)
    return counts.astype(np.float32)


class EventFrameDataset:
    """Labelled frames ``[N, T, 2, H, W]`` built from event samples, cached on disk.

    Each sample is decoded and binned with :func:`events_to_frames` once; with
    ``cache_dir`` the result goes to ``<cache_dir>/<key>.npy`` and later
    constructions (later runs, later epochs) only read it. ``decoded`` counts
    the samples converted by this construction. Counts are held in memory in
    the smallest exact dtype (uint8/uint16) and become float32 per batch;
    ``dataset[i]`` returns ``(frames [T, 2, H, W] float32, label)``.

    Args:
        samples: the labelled event samples (at least one); see
            :mod:`spikebit.data.events.sources`.
        sensor_size: ``(H, W)`` in pixels (spikebit's order); frames have two
            polarity channels (0 = OFF, 1 = ON).
        T: number of frames (time steps) per sample.
        mode: ``"time"`` (T equal windows over each sample's span) or ``"count"``
            (T equal event counts); ``"duration"`` needs a window, which this class
            does not pass, so it raises.
        downsample_to: frame size ``(H', W')`` or one int, or ``None`` for the sensor
            size.
        cache_dir: folder for the ``.npy`` cache (created), or ``None`` for none.

    Raises:
        DataError: an unknown ``mode``, no samples, or a sample whose events cannot
            be read or binned (see :func:`events_to_frames`).
    """

    def __init__(
        self,
        samples: Sequence[EventSample],
        sensor_size: tuple[int, int],
        T: int,
        mode: FrameMode = "time",
        downsample_to: int | tuple[int, int] | None = None,
        cache_dir: PathArg | None = None,
    ) -> None:
        if mode not in ("time", "count"):
            hint = (" Fixed-duration frames have a per-sample length: frame those with "
                    "events_to_frames(..., mode='duration', window=..., T=...) or "
                    "TonicFrames." if mode == "duration" else "")
            raise DataError(f"unknown frame mode {mode!r} for cached frames; use 'time' or "
                            f"'count'.{hint}")
        if not samples:
            raise DataError("EventFrameDataset needs at least one sample.")
        self.sensor_size = (int(sensor_size[0]), int(sensor_size[1]))
        if downsample_to is None:
            self.out_size = self.sensor_size
        elif isinstance(downsample_to, int):
            self.out_size = (downsample_to, downsample_to)
        else:
            self.out_size = (int(downsample_to[0]), int(downsample_to[1]))
        self.T, self.mode = int(T), mode
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        if self.cache_dir is not None:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
        self._labels = torch.tensor([s.label for s in samples], dtype=torch.int64)
        self.decoded = 0
        frames = [self._frames_of(s) for s in track(samples, f"frames T={self.T}", unit="sample")]
        self._store = torch.from_numpy(np.stack(frames))

    def _convert(self, sample: EventSample) -> np.ndarray:
        self.decoded += 1
        frames = events_to_frames(sample.load(), self.sensor_size, self.T, self.mode, self.out_size)
        return _compact(frames.numpy())

    def _frames_of(self, sample: EventSample) -> np.ndarray:
        if self.cache_dir is None:
            return self._convert(sample)
        key = frame_cache_key(sample, self.T, self.mode, self.sensor_size, self.out_size)
        path = self.cache_dir / key[:2] / f"{key}.npy"
        if path.exists():
            try:
                cached = np.load(path)
                if cached.shape == (self.T, 2, *self.out_size):
                    return cached
            except (OSError, ValueError):
                pass  # unreadable cache entry: convert again and overwrite it
        frames = self._convert(sample)
        path.parent.mkdir(exist_ok=True)
        _save_atomic(path, frames)
        return frames

    @property
    def frames(self) -> torch.Tensor:
        """All frames as one new float32 tensor ``[N, T, 2, H, W]`` (sample-major)."""
        return self._store.float()

    @property
    def labels(self) -> torch.Tensor:
        """Labels, int64 ``[N]``."""
        return self._labels

    def __len__(self) -> int:
        return int(self._labels.numel())

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self._store[i].float(), int(self._labels[i])

    def batch(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Time-major batch: float32 frames ``[T, B, 2, H, W]`` and labels ``[B]``.

        Args:
            indices: int64 sample indices ``[B]``.

        Returns:
            ``(frames, labels)``: float32 ``[T, B, 2, H, W]`` event counts and int64
            ``[B]``.
        """
        return to_time_major(self._store[indices].float()), self._labels[indices]


def to_time_major(x: torch.Tensor) -> torch.Tensor:
    """``[B, T, ...]`` -> ``[T, B, ...]`` (contiguous).

    Args:
        x: a batch-first tensor ``[B, T, ...]``.

    Returns:
        The time-major copy ``[T, B, ...]``.

    Raises:
        DataError: ``x`` has fewer than two dimensions.
    """
    if x.dim() < 2:
        raise DataError(f"to_time_major needs [B, T, ...], got shape {tuple(x.shape)}.")
    return x.transpose(0, 1).contiguous()


def time_major_batches(
    dataset: EventFrameDataset,
    batch_size: int,
    shuffle: bool = True,
    seed: int = 0,
    drop_last: bool = False,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``(frames [T, B, 2, H, W], labels [B])``; order seeded by ``seed``.

    Args:
        dataset: the cached frames.
        batch_size: samples per batch ``B``.
        shuffle: permute the samples (``torch.randperm`` seeded by ``seed``); else in order.
        seed: seed of the permutation.
        drop_last: drop the last, short batch.

    Yields:
        ``(frames, labels)``: float32 ``[T, B, 2, H, W]`` and int64 ``[B]``.
    """
    n = len(dataset)
    if shuffle:
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    else:
        order = torch.arange(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        yield dataset.batch(order[start : start + batch_size])
