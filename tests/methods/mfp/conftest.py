"""Fixtures for the MFP-QSNN tests: a tiny 4-class image set and a run config using it."""

from __future__ import annotations

import pytest
import torch

from spikebit.data import ArrayDataset
from spikebit.data.catalog import DATASETS, register_dataset


def _stripes(train: bool) -> ArrayDataset:
    """Four classes of 1x8x8 images: one bright stripe (top/bottom/left/right) plus noise."""
    g = torch.Generator().manual_seed(20 if train else 21)
    n = 256 if train else 128
    labels = torch.randint(0, 4, (n,), generator=g)
    images = torch.rand(n, 1, 8, 8, generator=g) * 0.4
    images[labels == 0, :, :3, :] += 0.6
    images[labels == 1, :, 5:, :] += 0.6
    images[labels == 2, :, :, :3] += 0.6
    images[labels == 3, :, :, 5:] += 0.6
    return ArrayDataset(images.clamp(0, 1), labels, 4, "mfp-stripes")


if "mfp-stripes" not in DATASETS:
    register_dataset("mfp-stripes", fetch=lambda root: root,
                     summary="test-only 4-class stripe set")(lambda folder, train: _stripes(train))


@pytest.fixture
def stripes_config(tmp_path):
    """A 2-conv MFP-QSNN (Q-SNN 1-bit weights, T=3) on the stripe set with mfp-memory."""
    return {
        "name": "mfp-toy",
        "seed": 5,
        "out_dir": str(tmp_path / "runs"),
        "plots": False,
        "model": {"name": "mfp-vggsnn-fmnist", "args": {"spec": "4C3-AP2-8C3-AP2", "steps": 3}},
        "data": {"name": "mfp-stripes"},
        "optim": {"epochs": 3, "batch_size": 32, "lr": 0.01},
        "callbacks": [{"name": "mfp-memory"}],
    }
