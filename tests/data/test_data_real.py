"""The real datasets, when they can be fetched (Fashion-MNIST) or are already cached."""

from __future__ import annotations

import pytest
import torch

from spikebit.data import cache_dir, fetch, load_dataset
from spikebit.errors import DataError


def test_real_fashion_mnist():
    try:
        fetch("fashion-mnist")
    except DataError as err:
        pytest.skip(f"Fashion-MNIST not available: {err}")
    train = load_dataset("fashion-mnist", train=True)
    test = load_dataset("fashion-mnist", train=False)
    assert train.images.shape == (60000, 1, 28, 28) and test.images.shape == (10000, 1, 28, 28)
    assert train.labels.min() == 0 and train.labels.max() == 9
    assert torch.equal(train.labels.bincount(), torch.full((10,), 6000))
    assert torch.equal(test.labels.bincount(), torch.full((10,), 1000))
    assert 0.0 == float(train.images.min()) and float(train.images.max()) == 1.0


@pytest.mark.parametrize(
    "name, sizes, hw", [("mnist-subset", (7996, 2004), 28), ("digits", (1433, 364), 8)]
)
def test_real_cached_small_datasets(name, sizes, hw):
    if not (cache_dir() / name).is_dir():
        pytest.skip(f"{name} is not cached; run spikebit.data.fetch({name!r}) to include it")
    train = load_dataset(name, train=True)
    test = load_dataset(name, train=False)
    assert (len(train), len(test)) == sizes and train.shape == (1, hw, hw)
    assert sorted(set(train.labels.tolist())) == list(range(10))
    assert float(train.images.max()) == 1.0
