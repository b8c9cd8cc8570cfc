import pytest
import torch

from spikebit.data import ArrayDataset
from spikebit.data.catalog import DATASETS, register_dataset


def _toy(train: bool) -> ArrayDataset:
    """Two-class 1x8x8 images: a bright left half vs a bright right half, plus noise."""
    g = torch.Generator().manual_seed(0 if train else 1)
    n = 256 if train else 128
    labels = torch.randint(0, 2, (n,), generator=g)
    images = torch.rand(n, 1, 8, 8, generator=g) * 0.3
    images[labels == 0, :, :, :4] += 0.6
    images[labels == 1, :, :, 4:] += 0.6
    return ArrayDataset(images.clamp(0, 1), labels, 2, "toy")


if "toy" not in DATASETS:
    register_dataset("toy", fetch=lambda root: root, summary="test-only two-class toy set")(
        lambda folder, train: _toy(train)
    )


@pytest.fixture
def toy_config(tmp_path):
    return {
        "name": "toy",
        "seed": 3,
        "out_dir": str(tmp_path / "runs"),
        "plots": False,
        "model": {"name": "albsnn-mnist", "args": {"spec": "4C3-AP2-8C3-GAP", "steps": 2,
                                                   "full_precision": [0]}},
        "data": {"name": "toy"},
        "optim": {"epochs": 2, "batch_size": 32, "lr": 0.01},
    }
