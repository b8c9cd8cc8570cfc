"""Static image datasets, batch transforms and deterministic batch iteration.

``load_dataset(name, train)`` returns an in-memory :class:`ArrayDataset` (float32
``[N, C, H, W]`` in ``[0, 1]``); :class:`BatchIterator` cuts it into seeded,
shardable batches; transforms take an explicit ``torch.Generator``.
"""

# Importing the dataset modules registers their names in DATASETS.
from spikebit.data import cifar, digits, folders, mnist, mnist_subset  # noqa: F401
from spikebit.data.cache import ENV_VAR, cache_dir
from spikebit.data.catalog import DATASETS, dataset_names, fetch, load_dataset, register_dataset
from spikebit.data.dataset import ArrayDataset, split_per_class
from spikebit.data.download import download
from spikebit.data.iterator import BatchIterator
from spikebit.data.transforms import (
    Compose,
    Normalize,
    RandomCrop,
    RandomHorizontalFlip,
    Transform,
)

__all__ = [
    "DATASETS",
    "ENV_VAR",
    "ArrayDataset",
    "BatchIterator",
    "Compose",
    "Normalize",
    "RandomCrop",
    "RandomHorizontalFlip",
    "Transform",
    "cache_dir",
    "dataset_names",
    "download",
    "fetch",
    "load_dataset",
    "register_dataset",
    "split_per_class",
]
