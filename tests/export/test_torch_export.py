"""``torch.export`` of every zoo model, with and without autograd, equals eager eval."""

from __future__ import annotations

import pytest
import torch

import spikebit.conversion.zoo_models  # noqa: F401 - registers the ann-* zoo entries
from spikebit.models import MODELS

SMALL = {
    "agmm-resnet19": {"width": 0.0625, "in_shape": (3, 16, 16)},
    "agmm-resnet18": {"width": 0.0625, "in_shape": (3, 32, 32), "steps": 2},
    "agmm-vggsnn": {"width": 0.0625, "in_shape": (2, 32, 32), "steps": 2},
    "mfp-vggsnn-cifar10dvs": {"width": 0.0625, "in_shape": (2, 32, 32), "steps": 2},
    "mfp-vggsnn-cifar10dvs-fp-lif": {"width": 0.0625, "in_shape": (2, 32, 32), "steps": 2},
    "mfp-vggsnn-fmnist": {"width": 0.125},
    "mfp-vggsnn-fmnist-fp-lif": {"width": 0.125},
}


@pytest.mark.slow
@pytest.mark.parametrize("grad", [False, True], ids=["no_grad", "grad"])
@pytest.mark.parametrize("name", MODELS.names())
def test_torch_export_every_zoo_model(name, grad):
    model = MODELS.get(name)(**SMALL.get(name, {})).eval()
    config = getattr(model, "config", None)
    shape = tuple(config.in_shape) if config is not None else (1, 28, 28)
    x = torch.rand(2, *shape, generator=torch.Generator().manual_seed(0))
    with torch.set_grad_enabled(grad):
        program = torch.export.export(model, (x,))
    with torch.no_grad():
        assert torch.equal(program.module()(x), model(x))
