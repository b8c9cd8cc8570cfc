"""The paper's weight initialization (Sec. 3.2, eq. 17; the formula was lost).

Reconstruction: every synaptic weight is drawn from ``N(0, (gain * V)^2 / n_in)``,
``V`` the threshold and ``n_in`` the number of pre-synaptic neurons a post-synaptic
neuron sees (``in_features`` for a dense layer, ``in_channels/groups * k * k`` for a
convolution); biases start at zero. With inputs of unit second moment the
pre-activation then has standard deviation ``gain * V``: about one threshold, so
the first forward pass already fires (and not too much).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from spikebit.errors import ConfigError
from spikebit.neurons import is_neuron


def fan_in(layer: nn.Conv2d | nn.Linear) -> int:
    """Pre-synaptic neurons per post-synaptic neuron (``weight[0].numel()``).

    Args:
        layer: a conv (``in_channels/groups * k * k``) or dense (``in_features``) layer.

    Returns:
        ``n_in`` of eq. 17 (reconstruction).
    """
    return int(layer.weight[0].numel())


def _scalar(threshold: float | torch.Tensor) -> float | tuple[float, ...]:
    if isinstance(threshold, torch.Tensor):
        flat = tuple(float(v) for v in threshold.flatten())
        return flat[0] if len(set(flat)) == 1 else flat
    return float(threshold)


def model_threshold(model: nn.Module) -> float:
    """The threshold ``V`` shared by the model's spiking neurons.

    Args:
        model: a network with spiking neurons.

    Returns:
        ``V`` (a per-channel tensor threshold counts if all its entries are equal).

    Raises:
        ConfigError: no spiking neurons, or more than one threshold.
    """
    values = {_scalar(m.dynamics.threshold) for m in model.modules() if is_neuron(m)}
    if len(values) != 1:
        found = sorted(values, key=str) if values else "no spiking neurons"
        raise ConfigError(
            f"mt_init_ needs one threshold to scale the weights, found {found}; "
            "pass threshold=... explicitly"
        )
    return float(values.pop())


@torch.no_grad()
def mt_init_(
    model: nn.Module,
    threshold: float | None = None,
    gain: float = 1.0,
    generator: torch.Generator | None = None,
) -> nn.Module:
    """Re-draw every conv/linear weight as ``N(0, (gain * V)^2 / n_in)``, biases 0 (in place).

    ``threshold`` defaults to the one threshold of the model's neurons. Quantized
    layers (``QConv2d``/``QLinear``) get their float latent weights drawn the same way.
    Multi-threshold LIF paper Sec. 3.2, eq. 17 (reconstruction, see the module docstring).

    Args:
        model: the network; every ``nn.Conv2d``/``nn.Linear`` in it is re-drawn.
        threshold: ``V`` (unit of the membrane potential); ``None``: the one threshold
            shared by the model's neurons.
        gain: scale of the standard deviation (``gain * V / sqrt(n_in)``).
        generator: random generator for the draws (``None``: torch's global RNG).

    Returns:
        ``model`` (initialized in place).

    Raises:
        ConfigError: ``threshold`` or ``gain`` not positive, or (``threshold=None``) the
            model's neurons do not share exactly one threshold.
    """
    v = model_threshold(model) if threshold is None else float(threshold)
    if v <= 0 or gain <= 0:
        raise ConfigError(f"threshold and gain must be > 0, got threshold={v}, gain={gain}")
    for module in model.modules():
        if isinstance(module, nn.Conv2d | nn.Linear):
            std = gain * v / math.sqrt(fan_in(module))
            module.weight.copy_(torch.randn(module.weight.shape, generator=generator) * std)
            if module.bias is not None:
                module.bias.zero_()
    return model
