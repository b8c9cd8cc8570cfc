"""ArrayDataset validation, subsets and the fixed per-class split."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spikebit.data import ArrayDataset, split_per_class
from spikebit.errors import DataError


def _ds(n: int = 6, classes: int = 3) -> ArrayDataset:
    return ArrayDataset(torch.rand(n, 1, 4, 4), torch.arange(n) % classes, classes, "toy")


def test_len_shape_and_subset():
    ds = _ds()
    sub = ds.subset([4, 1])
    assert len(ds) == 6 and ds.shape == (1, 4, 4) and len(sub) == 2
    assert torch.equal(sub.images[0], ds.images[4]) and sub.labels.tolist() == [1, 1]
    assert sub.num_classes == 3 and sub.name == "toy"
    assert len(ds.subset(torch.tensor([], dtype=torch.long))) == 0
    assert repr(ds) == "ArrayDataset(name='toy', images=(6, 1, 4, 4), num_classes=3)"


@pytest.mark.parametrize(
    "images, labels, classes",
    [
        (torch.rand(2, 4, 4), torch.zeros(2, dtype=torch.long), 2),  # no channel axis
        (torch.rand(2, 1, 4, 4).double(), torch.zeros(2, dtype=torch.long), 2),
        (torch.rand(2, 1, 4, 4), torch.zeros(2, dtype=torch.int32), 2),
        (torch.rand(2, 1, 4, 4), torch.zeros(3, dtype=torch.long), 2),
        (torch.rand(2, 1, 4, 4), torch.tensor([0, 2]), 2),
        (torch.rand(2, 1, 4, 4), torch.tensor([0, -1]), 2),
    ],
)
def test_invalid_datasets(images, labels, classes):
    with pytest.raises(DataError, match="'bad'"):
        ArrayDataset(images, labels, classes, "bad")


def test_subset_out_of_range():
    with pytest.raises(DataError, match=r"\[0, 6\)"):
        _ds().subset([6])


def test_split_per_class_takes_first_80_percent_of_each_class():
    labels = np.array([0] * 10 + [1] * 5 + [0] * 5)
    train, test = split_per_class(labels, 0.8)
    assert train.tolist() == list(range(10)) + [10, 11, 12, 13, 15, 16]
    assert test.tolist() == [14, 17, 18, 19]
    assert sorted(train.tolist() + test.tolist()) == list(range(20))
