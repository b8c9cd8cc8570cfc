"""Shared helpers of the deploy tests: small zoo builds, firing-rate calibration, references."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from spikebit.models import MODELS

SMALL = {
    "albsnn-mnist": {"spec": "4C3-4C3-AP2-8C3-GAP", "steps": 2},
    "albsnn-mnist-narrow": {"spec": "4C3-AP2-8C3-GAP", "full_precision": [0]},
    "albsnn-cifar10": {"spec": "4C3-AP2-8C3-GAP"},
    "albsnn-cifar100": {"spec": "4C3-AP2-8C3-GAP"},
    "albsnn-table7": {"spec": "4C3-AP2-8C3-GAP", "steps": 3},
    "agmm-resnet19": {"width": 1 / 32, "in_shape": (3, 16, 16)},
    "agmm-resnet18": {"width": 1 / 16, "in_shape": (3, 32, 32)},
    "agmm-vggsnn": {"width": 1 / 16, "in_shape": (2, 16, 16), "steps": 3},
    "ann-vgg16": {"width": 1 / 16},
    "ann-resnet18": {"width": 1 / 16},
    "ann-resnet20": {"width": 1 / 4},
    "ann-resnet34": {"width": 1 / 16},
    "mt-cifar10-cnn": {"spec": "8C3-P2-8C3-16"},
    "mt-fmnist-cnn": {"spec": "8C5-P2-8C5-P2-32"},
    "mt-mnist-cnn": {"spec": "6C5-P2-8C5-P2-32"},
    "mt-mlp-800": {"spec": "64"},
    "mt-mlp-400-400": {"spec": "32-32"},
}
REFUSED = ("agmm-resnet", "ann-", "agmm-vggsnn")  # residual nets, ANNs, AGMM's gate


def small_model(name: str, **extra: object) -> nn.Module:
    """A narrow build of zoo model ``name`` (seeded)."""
    torch.manual_seed(0)
    kw = {"width": 1 / 16} if name.startswith("mfp-") else dict(SMALL.get(name, {}))
    return MODELS.get(name)(**{**kw, **extra})


def in_shape(model: nn.Module) -> tuple[int, ...]:
    return tuple(model.config.in_shape)


@torch.no_grad()
def calibrate(model: nn.Module, x: torch.Tensor) -> nn.Module:
    """Set BN running statistics to those of ``x`` (firing rates of a trained net), eval."""
    bns = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    for bn in bns:
        bn.momentum = 1.0
    model.train()
    model(x)
    for bn in bns:
        bn.momentum = 0.1
    return model.eval()


def neuron_outputs(model: nn.Module, x: torch.Tensor) -> tuple[np.ndarray, dict, dict]:
    """``(outputs [T, B, K], {name: spikes}, {name: input currents})`` of ``model(x)``."""
    spikes, currents = {}, {}

    def hook(name):
        def fn(mod, inputs, out):
            spikes[name] = out.detach().numpy()
            currents[name] = inputs[0].detach().numpy()
        return fn

    handles = [m.register_forward_hook(hook(n)) for n, m in model.named_modules()
               if callable(getattr(m, "step", None)) and n.startswith("body.")]
    try:
        with torch.no_grad():
            out = model(x).numpy()
    finally:
        for h in handles:
            h.remove()
    return out, spikes, currents
