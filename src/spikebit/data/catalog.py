"""Registry of static datasets: ``load_dataset``, ``fetch`` and ``dataset_names``.

A dataset registers a loader with :func:`register_dataset`; the loader receives the
folder returned by the dataset's ``fetch`` function and the split.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from spikebit.data.cache import cache_dir
from spikebit.data.dataset import ArrayDataset
from spikebit.registry import Registry

Loader = Callable[[Path, bool], ArrayDataset]
Fetcher = Callable[[Path], Path]


@dataclass(frozen=True)
class DatasetEntry:
    """How to obtain (``fetch(root) -> folder``) and read (``load(folder, train)``) a dataset."""

    load: Loader
    fetch: Fetcher
    summary: str


DATASETS: Registry[DatasetEntry] = Registry("dataset")


def register_dataset(name: str, *, fetch: Fetcher, summary: str) -> Callable[[Loader], Loader]:
    """Decorator: register the decorated loader under ``name`` with its ``fetch`` function."""

    def add(load: Loader) -> Loader:
        DATASETS.register(name)(DatasetEntry(load, fetch, summary))
        return load

    return add


def dataset_names() -> list[str]:
    """Sorted names accepted by :func:`load_dataset` and :func:`fetch`."""
    return DATASETS.names()


def fetch(name: str, data_dir: str | Path | None = None) -> Path:
    """Make dataset ``name`` available locally and return its folder. Idempotent.

    Datasets with a public source are downloaded into the cache; user-supplied ones
    (``mnist``, ``cifar10``, ...) are located, with an error saying where to put them.
    """
    return DATASETS.get(name).fetch(cache_dir(data_dir))


def load_dataset(name: str, train: bool, data_dir: str | Path | None = None) -> ArrayDataset:
    """Load the train (``train=True``) or test split of ``name`` into memory.

    ``data_dir`` overrides the cache root (``$SPIKEBIT_DATA``, else ``~/.cache/spikebit``).
    """
    entry = DATASETS.get(name)
    return entry.load(entry.fetch(cache_dir(data_dir)), train)
