"""Shared pieces of the device/dtype contract tests: small zoo overrides, dtype runner."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn

from spikebit.models import build_model

DTYPES = [torch.float64, torch.bfloat16, torch.float16]
DTYPE_IDS = ["float64", "bfloat16", "float16"]

# narrow variants so that every zoo model runs in seconds (the structure is unchanged)
_SPECS = {
    "albsnn-mnist": "4C3-4C3-AP2-8C3-GAP",
    "albsnn-mnist-narrow": "4C3-AP2-8C3-GAP",
    "albsnn-cifar10": "4C3-AP2-8C3-GAP",
    "albsnn-cifar100": "4C3-AP2-8C3-GAP",
    "albsnn-table7": "4C3-AP2-8C3-GAP",
    "mt-cifar10-cnn": "8C3-16C3-P2-16-16",
    "mt-fmnist-cnn": "4C3-P2-8C3-P2-16",
    "mt-mnist-cnn": "4C3-P2-8C3-P2-16",
}
_OTHER: dict[str, dict[str, Any]] = {
    "agmm-resnet19": {"width": 1 / 32, "in_shape": (3, 16, 16)},
    "agmm-resnet18": {"width": 1 / 16, "in_shape": (3, 32, 32)},
    "agmm-vggsnn": {"width": 1 / 16, "in_shape": (2, 16, 16), "steps": 3},
    "ann-vgg16": {"width": 1 / 16},
    "ann-resnet18": {"width": 1 / 16},
    "ann-resnet20": {"width": 1 / 4},
    "ann-resnet34": {"width": 1 / 16},
}


def small_overrides(name: str) -> dict[str, Any]:
    if name in _SPECS:
        return {"spec": _SPECS[name]}
    if name.startswith("mfp-"):
        return {"width": 1 / 16}
    return dict(_OTHER.get(name, {}))


def small_model(name: str) -> tuple[nn.Module, tuple[int, ...]]:
    """``(model built on the CPU in float32, input shape without batch)``."""
    overrides = small_overrides(name)
    torch.manual_seed(0)
    model = build_model(name, **overrides)
    cfg = getattr(model, "config", None)
    shape = overrides.get("in_shape", getattr(cfg, "in_shape", (1, 28, 28)))
    return model, tuple(shape)


_NO_KERNEL = re.compile(r"\"?([\w:]+)\"? not implemented for '(Half|BFloat16)'")
# Network primitives that some torch builds lack in half precision on the CPU: a model
# must use them, so their absence is the platform's and the case is skipped. Any other
# op without a half kernel (e.g. ``linalg_solve``) means statistics are computed in the
# weight's precision instead of float32, which is a bug: the test fails.
CPU_HALF_GAPS = {
    "addmm_impl_cpu_", "addmv_impl_cpu", "slow_conv2d_cpu", "slow_conv2d_forward_cpu",
    "avg_pool2d_out_frame", "max_pool2d_with_indices_out_frame", "batch_norm",
    "native_batch_norm", "adaptive_avg_pool2d_cpu",
}


def run_or_skip(fn: Callable[[], Any]) -> Any:
    """Run ``fn``; where the CPU lacks a half/bfloat16 kernel for one of the network
    primitives in :data:`CPU_HALF_GAPS`, skip naming the op."""
    try:
        return fn()
    except (RuntimeError, NotImplementedError) as err:
        m = _NO_KERNEL.search(str(err))
        if m is None or m.group(1) not in CPU_HALF_GAPS:
            raise
        pytest.skip(f"CPU has no {m.group(2)} kernel for {m.group(1)}")


def assert_grads_follow(module: nn.Module) -> None:
    """Every parameter that got a gradient has it in its own dtype and device."""
    for name, p in module.named_parameters():
        if p.grad is not None:
            assert p.grad.dtype == p.dtype and p.grad.device == p.device, name
