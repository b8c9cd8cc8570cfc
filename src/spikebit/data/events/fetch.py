"""Registered simulated event datasets, built once and cached as compressed ``.npz``.

``fetch_event_dataset("nfmnist", data_dir)`` simulates saccades over
Fashion-MNIST (``load_dataset("fashion-mnist", train)``), ``"nmnist-subset"``
over the MNIST subset, ``"shapes"`` over procedural shapes (no download). The
result is stored under ``<data root>/events/`` per split, seed and parameters.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spikebit.data.events.core import PathArg
from spikebit.data.events.shapes import shape_images
from spikebit.data.events.simulator import DEFAULT_SACCADE, SaccadeConfig, make_event_dataset
from spikebit.data.events.store import EventDataset, load_event_dataset, save_event_dataset
from spikebit.registry import Registry

ImageSource = Callable[[bool, Path | None], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class SimulatedEntry:
    """Where the images come from (``images(train, data_dir)``) and how to simulate them.

    Attributes:
        images: ``images(train, data_dir) -> (images, labels)``: grey images
            ``[N, H, W]`` in ``[0, 1]`` and integer labels ``[N]`` of one split.
        cfg: the simulator parameters (sensor size, saccade duration, threshold...).
        summary: one line shown by ``spikebit data list``.
    """

    images: ImageSource
    cfg: SaccadeConfig
    summary: str


EVENT_DATASETS: Registry[SimulatedEntry] = Registry("event dataset")


def register_event_dataset(
    name: str, *, summary: str, cfg: SaccadeConfig = DEFAULT_SACCADE
) -> Callable[[ImageSource], ImageSource]:
    """Decorator: register an image source as simulated event dataset ``name``.

    Args:
        name: registry key, as passed to :func:`fetch_event_dataset`.
        summary: one line for ``spikebit data list``.
        cfg: the simulator parameters used for this dataset.

    Returns:
        A decorator that stores a :class:`SimulatedEntry` and returns the image source
        unchanged. Applying it raises :class:`~spikebit.errors.RegistryError` when
        ``name`` is already registered.
    """

    def add(source: ImageSource) -> ImageSource:
        EVENT_DATASETS.register(name)(SimulatedEntry(source, cfg, summary))
        return source

    return add


def event_dataset_names() -> list[str]:
    """Names accepted by :func:`fetch_event_dataset`."""
    return EVENT_DATASETS.names()


def _data_root(data_dir: PathArg | None) -> Path:
    from spikebit.data.cache import cache_dir  # the static-data root rule, shared

    return cache_dir(data_dir)


def _static_images(name: str, train: bool, data_dir: Path | None) -> tuple[np.ndarray, np.ndarray]:
    from spikebit.data.catalog import load_dataset

    ds = load_dataset(name, train=train, data_dir=data_dir)
    return ds.images.numpy()[:, 0], ds.labels.numpy()


@register_event_dataset("nfmnist", summary="Fashion-MNIST seen by a simulated saccading DVS")
def _nfmnist(train: bool, data_dir: Path | None) -> tuple[np.ndarray, np.ndarray]:
    return _static_images("fashion-mnist", train, data_dir)


@register_event_dataset("nmnist-subset", summary="MNIST subset seen by a simulated DVS")
def _nmnist_subset(train: bool, data_dir: Path | None) -> tuple[np.ndarray, np.ndarray]:
    return _static_images("mnist-subset", train, data_dir)


@register_event_dataset("shapes", summary="4 procedural shapes (offline), 2000 train / 500 test")
def _shapes(train: bool, data_dir: Path | None) -> tuple[np.ndarray, np.ndarray]:
    return shape_images(2000 if train else 500, seed=0 if train else 1)


def event_cache_path(
    name: str, data_dir: PathArg | None, train: bool, seed: int, limit: int | None
) -> Path:
    """The ``.npz`` file :func:`fetch_event_dataset` reads or writes.

    Args:
        name: a registered simulated event dataset.
        data_dir: data root; ``None`` uses ``$SPIKEBIT_DATA``, else ``~/.cache/spikebit``.
        train: training (``True``) or test split.
        seed: simulation seed.
        limit: number of images kept, or ``None`` for all.

    Returns:
        ``<root>/events/<name>-<split>-seed<seed>-n<limit|all>-<cfg hash>.npz``.

    Raises:
        RegistryError: ``name`` is not registered.
    """
    cfg_hash = hashlib.sha1(EVENT_DATASETS.get(name).cfg.key().encode()).hexdigest()[:10]
    split = "train" if train else "test"
    n = "all" if limit is None else str(limit)
    return _data_root(data_dir) / "events" / f"{name}-{split}-seed{seed}-n{n}-{cfg_hash}.npz"


def fetch_event_dataset(
    name: str,
    data_dir: PathArg | None = None,
    train: bool = True,
    seed: int = 0,
    limit: int | None = None,
) -> EventDataset:
    """Simulated event dataset ``name``, built once, then read back from its ``.npz``.

    Args:
        name: a registered simulated dataset (``"nfmnist"``, ``"nmnist-subset"``,
            ``"shapes"``; see :func:`event_dataset_names`).
        data_dir: the data root (default ``$SPIKEBIT_DATA``, else
            ``~/.cache/spikebit``); the events go to ``<root>/events/``.
        train: training (``True``) or test split of the source images.
        seed: simulation seed (image ``i`` uses ``(seed, i)``) and seed of the subset.
        limit: keep a seeded random subset of that many images (in source order), or
            ``None`` for all.

    Returns:
        The dataset as an :class:`~spikebit.data.events.store.EventDataset`: per sample, events of
        ``EVENT_DTYPE`` (t in microseconds), int64 labels ``[N]``, the sensor size.

    Raises:
        RegistryError: ``name`` is not registered.
        DataError: the source images cannot be loaded (e.g. a static dataset that
            must be fetched), or the cached ``.npz`` is unreadable.
    """
    entry = EVENT_DATASETS.get(name)
    path = event_cache_path(name, data_dir, train, seed, limit)
    if path.exists():
        return load_event_dataset(path)
    root = Path(data_dir) if data_dir is not None else None
    images, labels = entry.images(train, root)
    if limit is not None and limit < len(labels):
        # A seeded subset, not the first rows: some sources are sorted by class.
        keep = np.sort(np.random.default_rng(seed).choice(len(labels), limit, replace=False))
        images, labels = images[keep], labels[keep]
    split = "train" if train else "test"
    data = make_event_dataset(
        images, labels, seed, entry.cfg, name=f"{name}-{split}-n{len(labels)}"
    )
    save_event_dataset(path, data)
    return data
