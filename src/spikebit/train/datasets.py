"""The run's datasets, from the config's ``data`` section: train and test splits, the
training augmentation and the normalization statistics.

Batching them (order, sharding, workers) is :mod:`spikebit.train.loader`.
"""

from __future__ import annotations

from typing import Any

import torch

from spikebit.data import ArrayDataset, Compose, RandomCrop, RandomHorizontalFlip
from spikebit.data import load_dataset as load_static
from spikebit.data.transforms import Transform
from spikebit.errors import DataError
from spikebit.train.schema import DataSection


def load_data(data: DataSection) -> tuple[ArrayDataset, ArrayDataset]:
    """Train and test splits, limited to the first ``*_limit`` samples if set.

    Args:
        data: the config's ``data`` section: ``name``, ``data_dir``, ``train_limit``,
            ``test_limit``; for event data ``frames`` (keyword arguments of
            :func:`~spikebit.data.events.training.load_event_frames`, e.g. ``{T: 10}``);
            for image folders ``stream`` and ``image_size`` (see
            :func:`stream_enabled`).

    Returns:
        ``(train, test)``: in-memory datasets with images ``[N, C, H, W]``, or event
        frames ``[N, T, C, H, W]`` (batch-first) when ``frames`` is set; lazily decoded
        :class:`~spikebit.data.imagefiles.ImageFiles` when streaming.

    Raises:
        RegistryError: an unknown static dataset name.
        DataError: an unknown event or streamed dataset, or missing or corrupt files.
    """
    if stream_enabled(data):  # lazily decoded image files (data/folders.py)
        from spikebit.data.folders import stream_folder

        train = stream_folder(data.name, True, data.data_dir, data.image_size)
        test = stream_folder(data.name, False, data.data_dir, data.image_size)
    elif data.frames:
        from spikebit.data.events.training import load_event_frames

        train, test = load_event_frames(data.name, data.data_dir, train_limit=data.train_limit,
                                        test_limit=data.test_limit, **data.frames)
    else:
        train = load_static(data.name, train=True, data_dir=data.data_dir)
        test = load_static(data.name, train=False, data_dir=data.data_dir)
    if data.train_limit:
        train = train.subset(torch.arange(min(data.train_limit, len(train))))
    if data.test_limit:
        test = test.subset(torch.arange(min(data.test_limit, len(test))))
    return train, test


Stats = tuple[list[float], list[float]]


def make_transform(data: DataSection, train: ArrayDataset) -> tuple[Transform | None, Stats | None]:
    """Training augmentation, and per-channel (mean, std) of the train set if normalizing.

    A streamed dataset (not an :class:`~spikebit.data.dataset.ArrayDataset`) gets no
    batch transform (its workers crop and flip per sample) and its fixed ``stats``
    (:func:`streaming_transform`).

    Args:
        data: the config's ``data`` section (``normalize``, ``crop_padding``, ``hflip``).
        train: the training split; its statistics and image size are used.

    Returns:
        ``(transform, stats)``: a :class:`~spikebit.data.transforms.Compose` of
        ``RandomCrop`` (padding ``crop_padding`` pixels) and ``RandomHorizontalFlip``
        (p = 0.5), or ``None`` without augmentation; and ``(mean, std)`` lists with
        one value per channel ``C`` when ``normalize`` is set, else ``None``.

    Raises:
        DataError: ``normalize`` is set for a streamed dataset without ``stats``.
    """
    if not isinstance(train, ArrayDataset):
        return streaming_transform(data, train)
    norm = None
    if data.normalize:
        dims = [d for d in range(train.images.ndim) if d != train.images.ndim - 3]
        norm = (train.images.mean(dims).tolist(), train.images.std(dims).tolist())
    steps: list[Any] = []
    if data.crop_padding:
        steps.append(RandomCrop(tuple(train.images.shape[-2:]), padding=data.crop_padding))
    if data.hflip:
        steps.append(RandomHorizontalFlip(0.5))
    return (Compose(steps) if steps else None), norm


STREAMED = ("imagenet", "tinyimagenet")
"""Datasets streamed from their files unless ``data.stream: false``."""


def stream_enabled(data: DataSection) -> bool:
    """Whether ``data`` (a ``DataSection``) is read lazily from image files.

    Args:
        data: the config's ``data`` section (``stream``, ``name``).

    Returns:
        ``data.stream`` when set, else whether the dataset is one of :data:`STREAMED`.
    """
    return bool(data.stream) if data.stream is not None else data.name in STREAMED


def streaming_transform(data: DataSection, train: Any) -> tuple[Transform | None, Any]:
    """Batch transform and normalization for a streamed dataset.

    Crop and flip already happen per sample in the workers, so ``crop_padding``/``hflip``
    add nothing; ``normalize`` uses the dataset's fixed ``stats`` (ImageNet's mean/std for
    RGB) instead of statistics over a train set that is never held in memory.

    Args:
        data: the config's ``data`` section (``normalize``).
        train: the streamed training set (its ``stats = (mean, std)``).

    Returns:
        ``(None, norm)``: no batch transform, and ``norm = (mean, std)`` per channel when
        ``normalize`` is set, else ``None``.

    Raises:
        DataError: ``normalize`` is set and ``train`` has no ``stats``.
    """
    stats = getattr(train, "stats", None)
    if data.normalize and stats is None:
        raise DataError(
            f"data.normalize needs per-channel statistics, which {type(train).__name__} does "
            "not provide (set a `stats = (mean, std)` attribute, or normalize: false)."
        )
    norm = (list(stats[0]), list(stats[1])) if data.normalize else None
    return None, norm
