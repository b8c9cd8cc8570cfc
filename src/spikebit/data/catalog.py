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
    """How to obtain (``fetch(root) -> folder``) and read (``load(folder, train)``) a dataset.

    Attributes:
        load: ``load(folder, train) -> ArrayDataset``: reads the train (``train=True``)
            or test split from the folder that ``fetch`` returned.
        fetch: ``fetch(root) -> folder``: makes the dataset available under the cache
            root ``root`` (download, extract or locate) and returns its folder.
        summary: one line shown by ``spikebit data list`` (shape and split sizes).
    """

    load: Loader
    fetch: Fetcher
    summary: str


DATASETS: Registry[DatasetEntry] = Registry("dataset")


def register_dataset(name: str, *, fetch: Fetcher, summary: str) -> Callable[[Loader], Loader]:
    """Decorator: register the decorated loader under ``name`` with its ``fetch`` function.

    Args:
        name: registry key, as passed to :func:`load_dataset` and :func:`fetch`.
        fetch: ``fetch(root) -> folder``: makes the files available under the cache
            root and returns the folder the loader reads.
        summary: one line for ``spikebit data list``.

    Returns:
        A decorator that stores a :class:`DatasetEntry` and returns the loader unchanged.
        Applying it raises :class:`~spikebit.errors.RegistryError` when ``name`` is
        already registered.
    """

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

    Args:
        name: a registered dataset name (see :func:`dataset_names`).
        data_dir: cache root; ``None`` uses ``$SPIKEBIT_DATA``, else ``~/.cache/spikebit``.

    Returns:
        The folder holding the dataset's files.

    Raises:
        RegistryError: ``name`` is not a registered dataset.
        DataError: the files are missing (with where to put them), a download or
            checksum fails, or an archive cannot be extracted.
    """
    return DATASETS.get(name).fetch(cache_dir(data_dir))


def load_dataset(name: str, train: bool, data_dir: str | Path | None = None) -> ArrayDataset:
    """Load the train (``train=True``) or test split of ``name`` into memory.

    Args:
        name: a registered dataset name (see :func:`dataset_names`).
        train: ``True`` for the training split, ``False`` for the test split.
        data_dir: cache root; ``None`` uses ``$SPIKEBIT_DATA``, else ``~/.cache/spikebit``.

    Returns:
        The split as an :class:`~spikebit.data.dataset.ArrayDataset` (float32 images
        ``[N, C, H, W]`` in ``[0, 1]``, int64 labels ``[N]``).

    Raises:
        RegistryError: ``name`` is not a registered dataset.
        DataError: the files are missing, corrupt or inconsistent.
    """
    entry = DATASETS.get(name)
    return entry.load(entry.fetch(cache_dir(data_dir)), train)
