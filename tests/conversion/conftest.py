"""Conversion tests run many tiny ops per time step: one intra-op thread is much faster
(and avoids oversubscribing a busy machine). The previous setting is restored.
Also registers 'toy28', a test-only 28x28 version of the root conftest's 'toy' set."""

from collections.abc import Iterator

import pytest
import torch

from spikebit.data import ArrayDataset
from spikebit.data.catalog import DATASETS, register_dataset


@pytest.fixture(autouse=True)
def single_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _toy28(train: bool) -> ArrayDataset:
    """Two-class 1x28x28 images (bright left vs right half plus noise): the 'toy' set at the
    MNIST size, for the ann-mnist-cnn / ann-vgg16 zoo entries."""
    g = torch.Generator().manual_seed(10 if train else 11)
    n = 256 if train else 64
    labels = torch.randint(0, 2, (n,), generator=g)
    images = torch.rand(n, 1, 28, 28, generator=g) * 0.3
    images[labels == 0, :, :, :14] += 0.6
    images[labels == 1, :, :, 14:] += 0.6
    return ArrayDataset(images.clamp(0, 1), labels, 2, "toy28")


if "toy28" not in DATASETS:
    register_dataset("toy28", fetch=lambda root: root, summary="test-only 28x28 two-class set")(
        lambda folder, train: _toy28(train)
    )
