"""Serial (one time step at a time) inference of a :class:`SpikingNet`, for deployment.

Every stateless layer runs on ``x_t [B, ...]``; every neuron advances with
``step(x_t, state)``. For MFP neurons the state is the input history (exact); for
LIF neurons it is the membrane potential. BatchNorm must be in eval mode (in training
mode it normalizes with statistics over ``T*B``, which a serial pass cannot see).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from spikebit.errors import SpikebitError
from spikebit.layers import TimeDistributed
from spikebit.models.network import SpikingNet


class SerialInferenceError(SpikebitError, RuntimeError):
    """A network cannot be run one step at a time as configured."""


def find_spiking_net(model: nn.Module) -> SpikingNet:
    """The :class:`SpikingNet` inside ``model`` (itself, or wrapped e.g. by normalization).

    Args:
        model: a :class:`SpikingNet` or a module containing one.

    Returns:
        The first :class:`SpikingNet` among ``model.modules()``.

    Raises:
        SerialInferenceError: there is none.
    """
    for module in model.modules():
        if isinstance(module, SpikingNet):
            return module
    raise SerialInferenceError(
        f"expected a SpikingNet (built from a ModelConfig) inside {type(model).__name__}; "
        "serial inference walks its layer list"
    )


def serial_forward(net: SpikingNet, x: torch.Tensor) -> torch.Tensor:
    """Run ``net`` step by step; returns ``[T, B, K]`` like ``net(x)`` (eval mode only).

    Each :class:`TimeDistributed` layer runs on ``x_t [B, ...]``; each neuron advances
    with ``step(x_t, state)`` (MFP: exact, the parallel eq. 7-8 row by row).

    Args:
        net: the network, with BatchNorm in eval mode.
        x: static input ``[B, *in_shape]`` or a time-major sequence ``[T, B, *in_shape]``.

    Returns:
        The output layer per step ``[T, B, K]``.

    Raises:
        SerialInferenceError: BatchNorm in training mode, or a layer without a
            ``step`` API.
        ShapeError: ``x`` does not fit the network (see :meth:`SpikingNet.encode`).
    """
    if any(m.training for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)):
        raise SerialInferenceError(
            "serial inference needs BatchNorm in eval mode (running statistics): call "
            "net.eval() first"
        )
    x_seq = net.encode(x)
    states: dict[int, Any] = {}
    outputs = []
    for t in range(x_seq.shape[0]):
        h = x_seq[t]
        for i, module in enumerate(net.body):
            if isinstance(module, TimeDistributed):
                h = module.module(h)
            elif callable(getattr(module, "step", None)):
                h, states[i] = module.step(h, states.get(i))
            else:
                raise SerialInferenceError(
                    f"layer {i} ({type(module).__name__}) has no step(x_t, state) API; serial "
                    "inference supports TimeDistributed layers and neurons only"
                )
        outputs.append(h)
    return torch.stack(outputs)
