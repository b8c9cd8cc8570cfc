"""Deterministic, shardable mini-batches over an in-memory :class:`ArrayDataset`."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch

from spikebit.data.dataset import ArrayDataset
from spikebit.data.transforms import Transform
from spikebit.errors import DataError


def _generator(seed: int, epoch: int, stream: int) -> torch.Generator:
    """A CPU generator seeded from ``(seed, epoch, stream)`` via numpy's SeedSequence."""
    state = np.random.SeedSequence([seed, epoch, stream]).generate_state(2, np.uint64)
    return torch.Generator().manual_seed(int(state[0] >> np.uint64(1)))


class BatchIterator:
    """Yield ``(images [b, C, H, W], labels [b])`` batches for one rank.

    The sample order is a function of ``(seed, epoch)`` only. A global batch holds
    ``batch_size * world_size`` samples and rank ``r`` takes its rows ``r::world_size``,
    so ``world_size`` processes with ``batch_size`` each see exactly what one process
    with ``batch_size * world_size`` sees. Transforms run on the global batch with a
    generator seeded from ``(seed, epoch)`` before sharding, so augmentation does not
    depend on ``world_size`` either.

    Without ``drop_last`` the last global batch is short; when ``world_size > 1`` it is
    padded with the epoch's first samples to a multiple of ``world_size`` so every rank
    gets an equal shard (the only case where a sample is seen twice in an epoch).

    Args:
        dataset: the in-memory samples (images ``[N, C, H, W]`` or event frames
            ``[N, T, C, H, W]``, labels ``[N]``); batches keep its layout (batch-first).
        batch_size: samples per batch on this rank (``>= 1``).
        shuffle: permute the samples each epoch (seeded by ``(seed, epoch)``); else
            file order.
        seed: base seed of the permutation and of the augmentation generator.
        transform: ``transform(images, generator) -> images`` applied to each global
            batch (see :mod:`spikebit.data.transforms`), or ``None``.
        rank: this process's index in ``[0, world_size)``.
        world_size: number of processes sharing each global batch.
        drop_last: drop the last, short global batch.

    Raises:
        DataError: ``batch_size < 1`` or ``rank`` outside ``[0, world_size)``.
    """

    def __init__(
        self,
        dataset: ArrayDataset,
        batch_size: int,
        shuffle: bool,
        seed: int,
        transform: Transform | None = None,
        rank: int = 0,
        world_size: int = 1,
        drop_last: bool = False,
    ) -> None:
        if batch_size < 1:
            raise DataError(f"BatchIterator: batch_size={batch_size} must be >= 1.")
        if world_size < 1 or not 0 <= rank < world_size:
            raise DataError(f"BatchIterator: rank={rank} must lie in [0, world_size={world_size}).")
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.transform = transform
        self.rank = rank
        self.world_size = world_size
        self.drop_last = drop_last
        self.epoch = 0

    @property
    def global_batch_size(self) -> int:
        """Samples per step over all ranks: ``batch_size * world_size``."""
        return self.batch_size * self.world_size

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose permutation and augmentation the next pass uses.

        Args:
            epoch: epoch index (0-based); with ``seed`` it fixes the sample order and
                the augmentation of the next iteration.
        """
        self.epoch = int(epoch)

    def __len__(self) -> int:
        n, g = len(self.dataset), self.global_batch_size
        return n // g if self.drop_last else math.ceil(n / g)

    def order(self) -> torch.Tensor:
        """Sample indices of this epoch, before batching and sharding (int64 ``[N]``)."""
        n = len(self.dataset)
        if not self.shuffle:
            return torch.arange(n)
        return torch.randperm(n, generator=_generator(self.seed, self.epoch, 0))

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order, g, ws = self.order(), self.global_batch_size, self.world_size
        aug = _generator(self.seed, self.epoch, 1)
        for i in range(len(self)):
            rows = order[i * g : (i + 1) * g]
            if len(rows) % ws:
                k = ws - len(rows) % ws
                rows = torch.cat([rows, order.repeat(math.ceil(k / len(order)))[:k]])
            images = self.dataset.images.index_select(0, rows)
            if self.transform is not None:
                images = self.transform(images, aug)
            mine = rows[self.rank :: ws]
            yield images[self.rank :: ws], self.dataset.labels.index_select(0, mine)
