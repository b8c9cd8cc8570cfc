"""Mini-batches for the trainer from any map-style dataset, through a ``DataLoader``.

Two paths, one contract (the order of a rank's batches is a function of
``(seed, epoch, rank, world_size)`` only, and a global batch is split over ranks
exactly as :class:`~spikebit.data.BatchIterator` splits it):

* an in-memory :class:`~spikebit.data.ArrayDataset` with ``workers == 0`` keeps the
  fast path, :class:`~spikebit.data.BatchIterator` (whole-batch ``index_select``);
* anything else (a :class:`torch.utils.data.Dataset` returning ``(image, label)``, e.g.
  the streaming image folders of :mod:`spikebit.data.folders`, or an ``ArrayDataset``
  with ``workers > 0``) goes through a :class:`torch.utils.data.DataLoader` driven by
  :class:`ShardedBatchSampler`: worker processes (persistent across epochs), pinned
  memory on CUDA, and the same permutation and sharding as ``BatchIterator``.

Datasets whose samples are randomly augmented (``seeded = True``) receive keys
``(index, sample_seed)``, ``sample_seed`` a function of ``(seed, epoch, index)``, so an
augmentation does not depend on which worker decodes the sample or on a resume. The
trainer's batch transform (``crop_padding``/``hflip``) runs on each rank's batch with a
generator seeded from ``(seed, epoch)``; with one process that is exactly what
``BatchIterator`` draws.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sized
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from spikebit.data.dataset import ArrayDataset
from spikebit.data.iterator import BatchIterator, _generator
from spikebit.data.transforms import Transform
from spikebit.errors import DataError


def in_memory(dataset: Any) -> bool:
    """True for an ``ArrayDataset`` or anything holding ``images``/``labels`` tensors
    (batched by slicing); False for a map-style dataset read item by item."""
    return isinstance(dataset, ArrayDataset) or (
        torch.is_tensor(getattr(dataset, "images", None))
        and torch.is_tensor(getattr(dataset, "labels", None)))


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """A 63-bit seed for sample ``index`` of ``epoch`` (independent of workers and ranks)."""
    state = np.random.SeedSequence([seed, epoch, 2, index]).generate_state(2, np.uint64)
    return int(state[0] >> np.uint64(1))


class ShardedBatchSampler(Sampler[list[Any]]):
    """Per-rank index lists: a ``DistributedSampler`` that shards each global batch.

    The epoch's permutation is ``BatchIterator``'s (same generator); global batch ``i`` is
    ``order[i*G:(i+1)*G]`` with ``G = batch_size * world_size``, and rank ``r`` takes
    ``rows[r::world_size]``. A short last global batch is padded with the epoch's first
    samples to a multiple of ``world_size`` (or dropped with ``drop_last``). With
    ``seeded`` each key is ``(index, sample_seed(seed, epoch, index))``.

    Args:
        size: number of samples in the dataset.
        batch_size: samples per rank and step.
        shuffle: permute each epoch (else file order).
        seed: run seed.
        rank: this process's rank.
        world_size: number of processes.
        drop_last: drop a short last global batch.
        seeded: yield ``(index, seed)`` keys.
    """

    def __init__(self, size: int, batch_size: int, shuffle: bool, seed: int, rank: int = 0,
                 world_size: int = 1, drop_last: bool = False, seeded: bool = False) -> None:
        if batch_size < 1:
            raise DataError(f"ShardedBatchSampler: batch_size={batch_size} must be >= 1.")
        if world_size < 1 or not 0 <= rank < world_size:
            raise DataError(
                f"ShardedBatchSampler: rank={rank} must lie in [0, world_size={world_size})."
            )
        self.size, self.batch_size, self.shuffle, self.seed = size, batch_size, shuffle, seed
        self.rank, self.world_size, self.drop_last = rank, world_size, drop_last
        self.seeded = seeded
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the ``epoch`` whose permutation and sample seeds the next pass uses."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        g = self.batch_size * self.world_size
        return self.size // g if self.drop_last else math.ceil(self.size / g)

    def order(self) -> torch.Tensor:
        """Sample indices of this epoch before batching and sharding (int64 ``[size]``)."""
        if not self.shuffle:
            return torch.arange(self.size)
        return torch.randperm(self.size, generator=_generator(self.seed, self.epoch, 0))

    def __iter__(self) -> Iterator[list[Any]]:
        order, ws = self.order(), self.world_size
        g = self.batch_size * ws
        for i in range(len(self)):
            rows = order[i * g:(i + 1) * g]
            if len(rows) % ws:
                k = ws - len(rows) % ws
                rows = torch.cat([rows, order.repeat(math.ceil(k / len(order)))[:k]])
            mine = rows[self.rank::ws].tolist()
            if self.seeded:
                yield [(j, sample_seed(self.seed, self.epoch, j)) for j in mine]
            else:
                yield mine


class ArrayItems(Dataset):
    """Map-style view of an :class:`ArrayDataset` ``data``: ``items[i] -> (image, label)``;
    ``__getitems__`` gathers a whole batch with one ``index_select``."""

    def __init__(self, data: ArrayDataset) -> None:
        self.data = data
        self.num_classes = getattr(data, "num_classes", None)
        self.shape = tuple(int(s) for s in data.images.shape[-3:])

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.data.images[i], self.data.labels[i]

    def __getitems__(self, rows: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.as_tensor(rows, dtype=torch.int64)
        return self.data.images.index_select(0, idx), self.data.labels.index_select(0, idx)


def _keep(batch: Any) -> Any:
    return batch


class StreamingBatches:
    """Iterate ``(images, labels)`` batches of one rank through a ``DataLoader``.

    ``len()``, ``set_epoch()`` and the batch order match :class:`BatchIterator`. Worker
    processes are created once and kept (``persistent_workers``); the loader's own
    generator is seeded, so iterating never draws from the global torch RNG.

    Args:
        dataset: a map-style dataset of ``(image, label)`` or an ``ArrayDataset``.
        batch_size: samples per rank and step.
        shuffle: permute each epoch.
        seed: run seed (permutation, sample seeds, batch transform).
        transform: batch transform run on each batch (``t(x, generator)``), or ``None``.
        rank: this process's rank.
        world_size: number of processes.
        drop_last: drop a short last global batch.
        workers: DataLoader worker processes (0: load in this process).
        pin_memory: pin batches (for asynchronous copies to CUDA).
        persistent: keep the workers between epochs.
    """

    def __init__(self, dataset: Dataset | ArrayDataset, batch_size: int, shuffle: bool,
                 seed: int, transform: Transform | None = None, rank: int = 0,
                 world_size: int = 1, drop_last: bool = False, workers: int = 0,
                 pin_memory: bool = False, persistent: bool = True) -> None:
        if in_memory(dataset):
            dataset = ArrayItems(dataset)
        self.dataset = dataset
        self.seed, self.transform, self.epoch = seed, transform, 0
        self.sampler = ShardedBatchSampler(
            len(dataset), batch_size, shuffle, seed, rank, world_size, drop_last,
            seeded=bool(getattr(dataset, "seeded", False)))
        batched = hasattr(dataset, "__getitems__") and isinstance(dataset, ArrayItems)
        self.loader = DataLoader(
            dataset, batch_sampler=self.sampler, num_workers=workers, pin_memory=pin_memory,
            persistent_workers=persistent and workers > 0, collate_fn=_keep if batched else None,
            generator=torch.Generator().manual_seed(seed),
            prefetch_factor=2 if workers > 0 else None,
        )

    def set_epoch(self, epoch: int) -> None:
        """Select the ``epoch`` of the next pass (permutation, crops, batch transform)."""
        self.epoch = int(epoch)
        self.sampler.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.sampler)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        aug = _generator(self.seed, self.epoch, 1)
        for images, labels in self.loader:
            if self.transform is not None:
                images = self.transform(images, aug)
            yield images, labels


def make_batches(dataset: Any, batch_size: int, shuffle: bool, seed: int,
                 transform: Transform | None = None, rank: int = 0, world_size: int = 1,
                 drop_last: bool = False, workers: int = 0,
                 device: torch.device | None = None) -> BatchIterator | StreamingBatches:
    """The in-memory fast path for an ``ArrayDataset`` without workers, else a DataLoader.

    Args:
        dataset: an ``ArrayDataset`` (images ``[N, C, H, W]`` or frames
            ``[N, T, C, H, W]``) or a map-style dataset of ``(image, label)`` items.
        batch_size: samples per batch on this process (the global batch / world size).
        shuffle: a new seeded order every epoch (``set_epoch``).
        seed: the run's seed; order and augmentation depend only on it and the epoch.
        transform: per-batch augmentation (crop, flip), or ``None``.
        rank: this process's rank; it reads its own shard of every global batch.
        world_size: number of processes sharing each global batch.
        drop_last: drop the last incomplete batch.
        workers: DataLoader worker processes (0: in this process).
        device: the training device; CUDA turns on pinned memory.

    Returns:
        An iterable of ``(images, labels)`` batches with ``set_epoch`` and ``len``.

    Raises:
        DataError: ``workers < 0``.
    """
    if in_memory(dataset) and workers == 0:
        return BatchIterator(dataset, batch_size, shuffle=shuffle, seed=seed, transform=transform,
                             rank=rank, world_size=world_size, drop_last=drop_last)
    if workers < 0:
        raise DataError(f"data.workers={workers} must be >= 0 (0 loads in the main process).")
    pin = device is not None and device.type == "cuda"
    return StreamingBatches(dataset, batch_size, shuffle, seed, transform, rank, world_size,
                            drop_last, workers, pin)


def sample_shape(dataset: Any) -> tuple[int, ...]:
    """Per-sample input shape ``(C, H, W)`` of an ``ArrayDataset`` or a streaming dataset.

    Args:
        dataset: an ``ArrayDataset`` (event frames ``[N, T, C, H, W]`` drop ``T``) or a
            map-style dataset (its ``shape`` attribute, else its first item's shape).

    Returns:
        The shape of one sample without the time axis.
    """
    if in_memory(dataset):
        shape = tuple(dataset.images.shape[1:])
        return shape[1:] if dataset.images.ndim == 5 else shape
    shape = getattr(dataset, "shape", None)
    if shape is None:
        shape = tuple(_first(dataset)[0].shape)
    return tuple(int(s) for s in shape)


def model_input(images: torch.Tensor) -> torch.Tensor:
    """Put a batch in the layout the model reads: event frames become time-major.

    Args:
        images: a batch of images ``[B, C, H, W]`` (returned as is; the model repeats or
            encodes them over its time steps) or of event frames ``[B, T, C, H, W]``.

    Returns:
        ``images`` unchanged when 4-D; 5-D event frames transposed to ``[T, B, C, H, W]``
        (a view, no copy).
    """
    return images.transpose(0, 1) if images.ndim == 5 else images


def _first(dataset: Any) -> tuple[torch.Tensor, Any]:
    key: Any = (0, 0) if getattr(dataset, "seeded", False) else 0
    return dataset[key]


def head(dataset: Any, n: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n`` samples of ``dataset`` as a batch ``(images, labels)`` (for probes).

    Args:
        dataset: an ``ArrayDataset`` or a map-style dataset.
        n: number of samples (fewer when the dataset is smaller).

    Returns:
        Images ``[n, ...]`` and int64 labels ``[n]``.
    """
    if in_memory(dataset):
        return dataset.images[:n], dataset.labels[:n]
    seeded = getattr(dataset, "seeded", False)
    items = [dataset[(i, 0) if seeded else i] for i in range(min(n, len(dataset)))]
    return (torch.stack([torch.as_tensor(x) for x, _ in items]),
            torch.as_tensor([int(y) for _, y in items], dtype=torch.int64))


def eval_batches(dataset: Any, batch_size: int, workers: int = 0,
                 device: torch.device | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Batches of ``batch_size`` samples of ``dataset`` in file order (evaluation).

    Args:
        dataset: an ``ArrayDataset`` (sliced, no copy) or a map-style dataset.
        batch_size: samples per batch (the last batch may be smaller).
        workers: DataLoader worker processes for streamed datasets.
        device: the evaluation device; CUDA turns on pinned memory.

    Yields:
        ``(images, labels)`` batches: ``[B, ...]`` inputs and ``[B]`` labels.
    """
    if in_memory(dataset):
        for start in range(0, len(dataset), batch_size):
            yield dataset.images[start:start + batch_size], dataset.labels[start:start + batch_size]
        return
    yield from StreamingBatches(dataset, batch_size, shuffle=False, seed=0, workers=workers,
                                pin_memory=device is not None and device.type == "cuda",
                                persistent=False)


def num_classes(dataset: Sized) -> int:
    """``dataset.num_classes`` (every spikebit dataset has it).

    Args:
        dataset: any dataset with a ``num_classes`` attribute.

    Returns:
        The number of classes ``K`` (the model's output width).

    Raises:
        DataError: the dataset has no ``num_classes``.
    """
    n = getattr(dataset, "num_classes", None)
    if n is None:
        raise DataError(
            f"{type(dataset).__name__} has no num_classes attribute; set dataset.num_classes "
            "so the model's output size can be chosen."
        )
    return int(n)
