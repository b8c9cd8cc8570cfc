"""Event data as training sets: frames ``[N, T, 2, H, W]`` in an :class:`ArrayDataset`.

Used by ``data.frames`` in a run config, e.g.::

    data:
      name: nfmnist            # simulated (nfmnist, nmnist-subset, shapes) or a real
      frames: {T: 10}          # format on disk: nmnist, dvs-gesture, cifar10dvs
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from spikebit.data.cache import cache_dir
from spikebit.data.dataset import ArrayDataset
from spikebit.data.events.cache import EventFrameDataset
from spikebit.data.events.fetch import EVENT_DATASETS, fetch_event_dataset
from spikebit.data.events.sources import (
    EventSample,
    cifar10dvs_samples,
    gesture_samples,
    nmnist_samples,
)
from spikebit.errors import DataError
from spikebit.registry import Registry

SampleSource = Callable[[Path, bool], tuple[list[EventSample], tuple[int, int], int]]
REAL_EVENT_SETS: Registry[SampleSource] = Registry("event-camera dataset on disk")


@REAL_EVENT_SETS.register("nmnist")
def _nmnist(root: Path, train: bool) -> tuple[list[EventSample], tuple[int, int], int]:
    return nmnist_samples(root / "nmnist", train), (34, 34), 10


@REAL_EVENT_SETS.register("dvs-gesture")
def _gesture(root: Path, train: bool) -> tuple[list[EventSample], tuple[int, int], int]:
    return gesture_samples(root / "dvs-gesture", train), (128, 128), 11


@REAL_EVENT_SETS.register("cifar10dvs")
def _cifar10dvs(root: Path, train: bool) -> tuple[list[EventSample], tuple[int, int], int]:
    samples = cifar10dvs_samples(root / "cifar10dvs")
    # CIFAR10-DVS has no official split: the usual 9:1 per class, by file order.
    by_class: dict[int, list[EventSample]] = {}
    for s in samples:
        by_class.setdefault(s.label, []).append(s)
    out = []
    for group in by_class.values():
        cut = int(round(0.9 * len(group)))
        out.extend(group[:cut] if train else group[cut:])
    return out, (128, 128), 10


def load_event_frames(
    name: str,
    data_dir: str | Path | None = None,
    T: int = 10,
    mode: str = "time",
    downsample_to: int | None = None,
    seed: int = 0,
    train_limit: int | None = None,
    test_limit: int | None = None,
) -> tuple[ArrayDataset, ArrayDataset]:
    """Train and test frame sets ``[N, T, 2, H, W]`` for event dataset ``name``.

    Simulated sets are built once (``limit`` picks a seeded subset before
    simulating, so a small budget does not simulate all 70k images); frames are
    cached under ``<data root>/frames``.

    Args:
        name: a simulated set (``nfmnist``, ``nmnist-subset``, ``shapes``) or a real
            one unpacked under the data root (``nmnist``, ``dvs-gesture``,
            ``cifar10dvs``, in ``<root>/<name>/``).
        data_dir: data root; ``None`` uses ``$SPIKEBIT_DATA``, else ``~/.cache/spikebit``.
        T: number of frames (time steps) per sample.
        mode: ``"time"`` or ``"count"`` (see :func:`events_to_frames`).
        downsample_to: frame side in pixels, or ``None`` for the sensor size.
        seed: simulation and subset seed (simulated sets only).
        train_limit: training samples kept: a seeded subset for simulated sets, the
            first ones in listing order for real sets; ``None`` keeps all.
        test_limit: the same for the test split.

    Returns:
        ``(train, test)`` :class:`~spikebit.data.dataset.ArrayDataset` objects with
        float32 event counts ``[N, T, 2, H, W]`` (batch-first) and int64 labels ``[N]``.

    Raises:
        DataError: an unknown ``name``, missing or malformed event files, or an
            unknown ``mode``.
    """
    root = cache_dir(data_dir)
    out = []
    for train, limit in ((True, train_limit), (False, test_limit)):
        if name in EVENT_DATASETS:
            events = fetch_event_dataset(name, data_dir, train=train, seed=seed, limit=limit)
            samples, size = events.samples(), events.sensor_size
            classes = int(events.labels.max()) + 1
        elif name in REAL_EVENT_SETS:
            samples, size, classes = REAL_EVENT_SETS.get(name)(root, train)
            samples = samples[:limit] if limit else samples
        else:
            known = EVENT_DATASETS.names() + REAL_EVENT_SETS.names()
            raise DataError(f"unknown event dataset {name!r}; known: {', '.join(known)}")
        frames = EventFrameDataset(samples, size, T, mode, downsample_to, root / "frames")
        split = "train" if train else "test"
        out.append(ArrayDataset(frames.frames.float(), frames.labels, max(classes, 2),
                                f"{name}/{split}"))
    return out[0], out[1]
