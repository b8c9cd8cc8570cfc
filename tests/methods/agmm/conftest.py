"""Fixtures for the AGMM tests: a tiny 2-class image set and a run config using it."""

from __future__ import annotations

import pytest
import torch

from spikebit.data import ArrayDataset
from spikebit.data.catalog import DATASETS, register_dataset


def _halves(train: bool) -> ArrayDataset:
    """Two classes of 1x8x8 images: a bright left vs a bright right half, plus noise."""
    g = torch.Generator().manual_seed(20 if train else 21)
    n = 128 if train else 64
    labels = torch.randint(0, 2, (n,), generator=g)
    images = torch.rand(n, 1, 8, 8, generator=g) * 0.3
    images[labels == 0, :, :, :4] += 0.6
    images[labels == 1, :, :, 4:] += 0.6
    return ArrayDataset(images.clamp(0, 1), labels, 2, "agmm-halves")


if "agmm-halves" not in DATASETS:
    register_dataset("agmm-halves", fetch=lambda root: root,
                     summary="test-only 2-class halves set")(lambda folder, train: _halves(train))


@pytest.fixture(autouse=True)
def _one_thread():
    """Run these small models on one thread: the shared 2-core machine thrashes with two."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def tiny_config(tmp_path):
    """A narrow AGMM ResNet-19 (sign weights, T=2) on the halves set, SGD, flip-ratio callback."""
    return {
        "name": "agmm-tiny",
        "seed": 5,
        "out_dir": str(tmp_path / "runs"),
        "plots": False,
        "log_every": 1000,
        "model": {"name": "agmm-resnet19",
                  "args": {"width": 0.03125, "steps": 2, "quantizer": "sign", "agmm": True}},
        "data": {"name": "agmm-halves"},
        "optim": {"optimizer": "sgd", "lr": 0.1, "epochs": 2, "batch_size": 32},
        "callbacks": [{"name": "flip-ratio", "args": {"every_step": True}}],
    }
