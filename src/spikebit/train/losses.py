"""Losses on the network output. Outputs are ``[T, B, K]`` (SNN) or ``[B, K]`` (ANN)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F

from spikebit.errors import ConfigError
from spikebit.registry import Registry

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
LOSSES: Registry[Loss] = Registry("loss", discover=("spikebit.methods",))


def readout(output: torch.Tensor) -> torch.Tensor:
    """Mean over time of ``[T, B, K]`` (or ``[B, K]`` unchanged): the class scores.

    For a spiking output layer this is the spike count divided by ``T`` (the firing
    rate per time step). A half-precision output (bfloat16/float16 under autocast) is
    averaged in float32 and the mean returned in float32: rounding it to 8 (bfloat16)
    significant bits would make distinct classes tie (:mod:`spikebit.metrics.readout`),
    and the losses compute in float32 under autocast anyway.

    Args:
        output: network output, time-major ``[T, B, K]`` (SNN) or ``[B, K]`` (ANN).

    Returns:
        Class scores ``[B, K]`` (float32 for a half-precision ``[T, B, K]``, else
        ``output``'s dtype).
    """
    if output.ndim != 3:
        return output
    return output.mean(0, dtype=torch.promote_types(output.dtype, torch.float32))


@LOSSES.register("ce")
def cross_entropy(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy on the time-averaged output (registered as loss ``"ce"``).

    Args:
        output: network output ``[T, B, K]`` or ``[B, K]``; averaged over time by
            :func:`readout` and used as logits.
        target: class indices, int64 ``[B]`` in ``[0, K)``.

    Returns:
        The mean cross-entropy over the batch (a scalar).
    """
    return F.cross_entropy(readout(output), target)


@LOSSES.register("mse")
def spike_count_mse(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MSE between the time-averaged output (spike count / T) and one-hot targets.

    Registered as loss ``"mse"``.

    Args:
        output: network output ``[T, B, K]`` or ``[B, K]``.
        target: class indices, int64 ``[B]`` in ``[0, K)``.

    Returns:
        The mean squared error over all ``B * K`` entries (a scalar).
    """
    scores = readout(output)
    return F.mse_loss(scores, F.one_hot(target, scores.shape[-1]).to(scores.dtype))


def make_loss(spec: Any) -> Loss:
    """The loss ``spec`` a run config names: ``"ce"``, or ``{name: ..., args: {...}}`` (a
    ``LossSection`` or a mapping); ``args`` are bound as keywords of the registered loss.

    Args:
        spec: a registered loss name, a mapping with ``name`` and optional ``args``, or
            an object with ``name`` and ``args`` attributes (``LossSection``).

    Returns:
        ``loss(output, target) -> scalar`` (the registered function, or a
        :func:`functools.partial` of it with ``args``).

    Raises:
        RegistryError: unknown loss name.
        ConfigError: ``args`` the loss does not accept.
    """
    if isinstance(spec, str):
        name, args = spec, {}
    elif isinstance(spec, dict):
        name, args = spec.get("name", ""), dict(spec.get("args") or {})
    else:
        name, args = spec.name, dict(spec.args)
    fn = LOSSES.get(name)
    if not args:
        return fn
    try:
        inspect.signature(fn).bind_partial(None, None, **args)
    except TypeError as err:
        raise ConfigError(f"loss {name!r}: {err}; its arguments are "
                          f"{inspect.signature(fn)}") from None
    return partial(fn, **args)
