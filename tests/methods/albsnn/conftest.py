"""Fixtures for the ALBSNN tests: a tiny 4-class image set and a run config using it."""

from __future__ import annotations

import pytest
import torch

from spikebit.data import ArrayDataset
from spikebit.data.catalog import DATASETS, register_dataset


def _quadrants(train: bool) -> ArrayDataset:
    """Four classes of 1x8x8 images: one bright quadrant (the class) plus noise."""
    g = torch.Generator().manual_seed(10 if train else 11)
    n = 256 if train else 128
    labels = torch.randint(0, 4, (n,), generator=g)
    images = torch.rand(n, 1, 8, 8, generator=g) * 0.3
    for c, (r, q) in enumerate([(0, 0), (0, 4), (4, 0), (4, 4)]):
        images[labels == c, :, r:r + 4, q:q + 4] += 0.6
    return ArrayDataset(images.clamp(0, 1), labels, 4, "albsnn-quadrants")


if "albsnn-quadrants" not in DATASETS:
    register_dataset("albsnn-quadrants", fetch=lambda root: root,
                     summary="test-only 4-class quadrant set")(
        lambda folder, train: _quadrants(train)
    )


@pytest.fixture(autouse=True)
def _one_thread():
    """These tensors are tiny: one intra-op thread avoids spin-waiting on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def quad_config(tmp_path):
    """A 4-layer ALBSNN (ABC-Net quantizer) on the quadrant set with the top-1 selector."""
    return {
        "name": "quad",
        "seed": 1,
        "loss": "mse",
        "out_dir": str(tmp_path / "runs"),
        "plots": False,
        "model": {"name": "albsnn-mnist",
                  "args": {"spec": "4C3-8C3-AP2-8C3-GAP", "full_precision": []}},
        "data": {"name": "albsnn-quadrants"},
        "optim": {"epochs": 2, "batch_size": 16, "lr": 0.01},
        "log_every": 1000,
        "callbacks": [{"name": "albsnn-selector", "args": {"rule": "top-k", "k": 1}}],
    }
