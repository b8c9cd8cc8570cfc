"""BatchIterator: coverage, (seed, epoch) determinism and rank sharding."""

from __future__ import annotations

import pytest
import torch

from spikebit.data import ArrayDataset, BatchIterator, Compose, RandomCrop, RandomHorizontalFlip
from spikebit.errors import DataError


def _ds(n: int = 23) -> ArrayDataset:
    images = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 1, 4, 4) / n
    return ArrayDataset(images.contiguous(), torch.arange(n) % 5, 5, "toy")


def _ids(batches) -> list[list[int]]:
    return [(images[:, 0, 0, 0] * 23).round().long().tolist() for images, _ in batches]


def test_every_sample_once_per_epoch_and_len():
    ds = _ds()
    it = BatchIterator(ds, batch_size=5, shuffle=True, seed=0)
    batches = list(it)
    assert len(it) == len(batches) == 5
    assert [len(b[0]) for b in batches] == [5, 5, 5, 5, 3]
    seen = [i for ids in _ids(batches) for i in ids]
    assert sorted(seen) == list(range(23)) and seen != list(range(23))
    for images, labels in batches:  # labels travel with their images
        assert torch.equal(labels, (images[:, 0, 0, 0] * 23).round().long() % 5)


def test_drop_last_and_no_shuffle():
    it = BatchIterator(_ds(), batch_size=5, shuffle=False, seed=0, drop_last=True)
    assert len(it) == 4
    assert _ids(it) == [list(range(i, i + 5)) for i in range(0, 20, 5)]


def test_order_depends_only_on_seed_and_epoch():
    ds = _ds()
    a = BatchIterator(ds, 4, shuffle=True, seed=3)
    b = BatchIterator(ds, 4, shuffle=True, seed=3)
    assert _ids(a) == _ids(b) == _ids(a)  # re-iterating repeats the epoch
    a.set_epoch(1)
    assert _ids(a) != _ids(b)
    b.set_epoch(1)
    assert _ids(a) == _ids(b)
    assert _ids(BatchIterator(ds, 4, shuffle=True, seed=4)) != _ids(BatchIterator(ds, 4, True, 3))


@pytest.mark.parametrize("transform", [None, Compose([RandomCrop(4, 1), RandomHorizontalFlip()])])
def test_two_ranks_union_to_the_one_rank_batch(transform):
    ds = _ds(24)
    ds.images = torch.rand(24, 1, 4, 4)
    one = BatchIterator(ds, 8, shuffle=True, seed=1, transform=transform)
    ranks = [
        BatchIterator(ds, 4, shuffle=True, seed=1, transform=transform, rank=r, world_size=2)
        for r in range(2)
    ]
    for it in [one, *ranks]:
        it.set_epoch(2)
    assert len(one) == len(ranks[0]) == len(ranks[1]) == 3
    for (x, y), (x0, y0), (x1, y1) in zip(one, *ranks):
        assert torch.equal(x[0::2], x0) and torch.equal(x[1::2], x1)
        assert torch.equal(y[0::2], y0) and torch.equal(y[1::2], y1)


def test_short_last_batch_is_padded_to_equal_shards():
    ds = _ds()  # 23 samples, global batch 8: last global batch has 7 -> padded to 8
    shards = [list(BatchIterator(ds, 4, True, 0, rank=r, world_size=2)) for r in range(2)]
    assert [len(x) for x, _ in shards[0]] == [len(x) for x, _ in shards[1]] == [4, 4, 4]
    seen = [i for s in shards for ids in _ids(s) for i in ids]
    assert set(seen) == set(range(23)) and len(seen) == 24
    tiny = list(BatchIterator(_ds(1), 1, True, 0, rank=2, world_size=3))
    assert len(tiny) == 1 and len(tiny[0][0]) == 1


def test_bad_arguments():
    with pytest.raises(DataError, match="batch_size"):
        BatchIterator(_ds(), 0, True, 0)
    with pytest.raises(DataError, match="rank"):
        BatchIterator(_ds(), 2, True, 0, rank=2, world_size=2)
