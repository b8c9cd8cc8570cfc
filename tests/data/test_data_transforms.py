"""Batch transforms: correct and deterministic under a seeded generator."""

from __future__ import annotations

import pytest
import torch

from spikebit.data import Compose, Normalize, RandomCrop, RandomHorizontalFlip
from spikebit.errors import DataError


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _batch(b: int = 8, c: int = 3, h: int = 6, w: int = 5) -> torch.Tensor:
    return torch.arange(b * c * h * w, dtype=torch.float32).view(b, c, h, w) + 1


def test_normalize_per_channel():
    x = torch.rand(4, 2, 3, 3)
    y = Normalize([0.5, 0.1], [0.25, 2.0])(x, _gen())
    assert torch.allclose(y[:, 0], (x[:, 0] - 0.5) / 0.25)
    assert torch.allclose(y[:, 1], (x[:, 1] - 0.1) / 2.0)
    with pytest.raises(DataError, match="channel"):
        Normalize([0.5], [0.5])(x, _gen())
    with pytest.raises(DataError, match="positive"):
        Normalize([0.5], [0.0])


def test_random_crop_with_padding_keeps_shape_and_content():
    x = _batch()
    y = RandomCrop((6, 5), padding=2)(x, _gen(1))
    assert y.shape == x.shape
    offsets = set()
    for i in range(len(x)):  # every crop is a shifted window of the zero-padded image
        padded = torch.nn.functional.pad(x[i], (2, 2, 2, 2))
        hits = [
            (t, l)
            for t in range(5)
            for l in range(5)
            if torch.equal(padded[:, t : t + 6, l : l + 5], y[i])
        ]
        assert len(hits) == 1
        offsets.add(hits[0])
    assert len(offsets) > 1  # each sample draws its own offset


def test_random_crop_without_padding_and_errors():
    x = _batch()
    assert torch.equal(RandomCrop((6, 5))(x, _gen()), x)  # only one position fits
    y = RandomCrop(4)(x, _gen(3))
    assert y.shape == (8, 3, 4, 4)
    with pytest.raises(DataError, match="larger than the padded image"):
        RandomCrop(9, padding=1)(x, _gen())
    with pytest.raises(DataError, match=r"\[B, C, H, W\]"):
        RandomCrop(2)(x[0], _gen())


def test_flip_flips_exactly_the_chosen_samples():
    x = _batch(b=64)
    assert torch.equal(RandomHorizontalFlip(1.0)(x, _gen()), x.flip(-1))
    assert torch.equal(RandomHorizontalFlip(0.0)(x, _gen()), x)
    y = RandomHorizontalFlip(0.5)(x, _gen(5))
    flipped = [torch.equal(a, b.flip(-1)) for a, b in zip(y, x)]
    kept = [torch.equal(a, b) for a, b in zip(y, x)]
    assert all(f != k for f, k in zip(flipped, kept)) and 10 < sum(flipped) < 54
    with pytest.raises(DataError):
        RandomHorizontalFlip(1.5)


@pytest.mark.parametrize(
    "transform",
    [
        RandomCrop(5, padding=2),
        RandomHorizontalFlip(),
        Compose([RandomCrop(5, padding=1), RandomHorizontalFlip(), Normalize([0] * 3, [1] * 3)]),
    ],
)
def test_deterministic_under_a_seed(transform):
    x = _batch(b=32)
    a, b, c = transform(x, _gen(7)), transform(x, _gen(7)), transform(x, _gen(8))
    assert torch.equal(a, b) and not torch.equal(a, c)
