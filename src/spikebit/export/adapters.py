"""Read what an exporter needs from spikebit modules: exact weights and neuron dynamics.

Two adapters, each the single place where the exporters look into a module:

* :func:`exact_weight` returns a conv/linear layer's effective weight at its exact
  levels (``QuantizedMixin.weight_levels()``, e.g. ABC-Net's ``sum_i alpha_i B_i``,
  ALBSNN eq. 11-13) together with a :class:`QuantInfo` of the stored factors;
* :func:`read_dynamics` describes a neuron by its
  :class:`~spikebit.neurons.base.NeuronDynamics` (the neuron protocol's ``dynamics``),
  with tensors detached, on the CPU, and single-value tensors turned into floats.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from spikebit.export.graph import NeuronDynamics, QuantInfo
from spikebit.neurons.base import is_neuron
from spikebit.quant import QuantizedMixin


@torch.no_grad()
def exact_weight(layer: nn.Module) -> tuple[torch.Tensor, QuantInfo | None]:
    """Effective weight (float32, CPU) and quantization info (``None`` for float weights).

    Args:
        layer: an ``nn.Conv2d``/``nn.Linear`` or a quantized ``QConv2d``/``QLinear``.

    Returns:
        ``(weight, info)``: ``weight`` bit-identical to the layer's forward weight;
        ``info`` holds the quantizer's name, bits per weight and its levels (codes and
        scales, :class:`~spikebit.quant.levels.QuantLevels`).
    """
    if not isinstance(layer, QuantizedMixin):
        return layer.weight.detach().float().cpu().clone(), None
    levels = layer.weight_levels()
    w = levels.weight().detach().float().cpu().contiguous()
    if levels.kind == "float":
        return w, None
    name = type(layer.quantizer).__name__
    parts = {"codes": levels.codes.detach().cpu(), "scales": levels.scales.detach().cpu()}
    return w, QuantInfo(name, int(levels.bits), parts, levels)


def _plain(value: float | torch.Tensor) -> float | torch.Tensor:
    if isinstance(value, torch.Tensor):
        value = value.detach().float().cpu()
        return float(value) if value.numel() == 1 else value.clone()
    return float(value)


def read_dynamics(module: nn.Module) -> NeuronDynamics | None:
    """The dynamics of a neuron module (see :class:`NeuronDynamics`), or ``None``.

    Args:
        module: any module; only spiking neurons (``is_neuron``) have dynamics.

    Returns:
        The module's ``dynamics`` with ``threshold``/``leak`` as floats (one value) or
        CPU tensors (per channel / per step) and ``mixing`` detached, or ``None`` for a
        module that is not a neuron.
    """
    if not is_neuron(module):
        return None
    dyn = module.dynamics
    mixing = dyn.mixing.detach().float().cpu().clone() if dyn.mixing is not None else None
    return dataclasses.replace(dyn, threshold=_plain(dyn.threshold), leak=_plain(dyn.leak),
                               mixing=mixing)
