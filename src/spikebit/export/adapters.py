"""Read what an exporter needs from spikebit modules: exact weights and neuron dynamics.

Two adapters, each the single place where the exporters look into a module:

* :func:`exact_weight` returns a quantized layer's effective weight at its exact
  levels (e.g. ABC-Net's ``sum_i alpha_i B_i``, ALBSNN eq. 11-13) together with a
  :class:`QuantInfo` of the stored factors;
* :func:`read_dynamics` describes a neuron by its :class:`NeuronDynamics`
  (``module.dynamics`` where a neuron provides it, else read from the known classes).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from spikebit.export.graph import NeuronDynamics, QuantInfo
from spikebit.quant import (
    ABCQuantizer,
    QSNNQuantizer,
    QuantizedMixin,
    SignQuantizer,
    UniformQuantizer,
    WeightQuantizer,
)


def _abc(q: ABCQuantizer, w: torch.Tensor) -> tuple[torch.Tensor, QuantInfo]:
    bases, alpha = q.decompose(w)
    w_eff = torch.einsum("k,k...->...", alpha, bases)
    return w_eff, QuantInfo("abc", q.num_bases, {"bases": bases, "alpha": alpha})


def _sign(q: SignQuantizer, w: torch.Tensor) -> tuple[torch.Tensor, QuantInfo]:
    w_eff = q(w)
    gamma = w.abs().mean(dim=tuple(range(1, w.ndim)))
    sign = torch.where(w >= 0, 1.0, -1.0).to(w.dtype)
    return w_eff, QuantInfo("sign", 1, {"sign": sign, "scale": gamma})


def _qsnn(q: QSNNQuantizer, w: torch.Tensor) -> tuple[torch.Tensor, QuantInfo]:
    w_eff = q(w)
    dims = tuple(range(1, w.ndim))
    sign = torch.sign(w_eff)
    scale = w_eff.abs().amax(dim=dims)
    return w_eff, QuantInfo("qsnn", 1, {"sign": sign, "scale": scale})


def _uniform(q: UniformQuantizer, w: torch.Tensor) -> tuple[torch.Tensor, QuantInfo]:
    alpha = w.abs().max().clamp_min(1e-12)
    levels = 2 ** (q.weight_bits - 1) - 1
    codes = torch.round(w / alpha * levels).clamp(-levels, levels)
    step = alpha / levels
    return codes * step, QuantInfo("uniform", q.weight_bits, {"codes": codes, "step": step})


# The exact formulas of the quantizers whose forward adds a straight-through
# ``w + (q - w).detach()`` (not bit-exact ``q``); others are exact under no_grad.
EXACT: dict[type[WeightQuantizer], Callable[..., tuple[torch.Tensor, QuantInfo]]] = {
    ABCQuantizer: _abc,
    SignQuantizer: _sign,
    QSNNQuantizer: _qsnn,
    UniformQuantizer: _uniform,
}


@torch.no_grad()
def exact_weight(layer: nn.Module) -> tuple[torch.Tensor, QuantInfo | None]:
    """``(effective weight, quantization info or None)`` of a conv/linear layer (float32, CPU)."""
    w = layer.weight.detach().float().cpu()
    if not isinstance(layer, QuantizedMixin) or not layer.quantize:
        return w.clone(), None
    q = layer.quantizer
    fn = EXACT.get(type(q))
    if fn is None:
        if type(q) is WeightQuantizer:  # identity ("fp")
            return w.clone(), None
        return q.cpu()(w).detach().float(), QuantInfo(type(q).__name__, q.weight_bits)
    w_eff, info = fn(q.cpu(), w)
    return w_eff.detach().float().contiguous(), info


def neuron_kind(module: nn.Module) -> str:
    """Registry name of a neuron module (``"lif"``, ``"if"``, ...), or its class name."""
    from spikebit.neurons import NEURONS

    for name in NEURONS.names():
        if NEURONS.get(name) is type(module):
            return name
    return type(module).__name__


def read_dynamics(module: nn.Module) -> NeuronDynamics | None:
    """The :class:`NeuronDynamics` of a neuron module, or ``None`` if it is not a neuron."""
    from spikebit.neurons import IntegrateFireNeuron

    dyn = getattr(module, "dynamics", None)
    if dyn is not None and hasattr(dyn, "reset") and hasattr(dyn, "leak"):
        return NeuronDynamics(
            kind=str(dyn.kind), threshold=_plain(dyn.threshold), leak=_plain(dyn.leak),
            reset=str(dyn.reset), max_spikes=int(dyn.max_spikes),
            needs_steps=bool(dyn.needs_steps), time_mixing=bool(dyn.time_mixing),
            exact_step=bool(getattr(dyn, "exact_step", True)))
    if isinstance(module, IntegrateFireNeuron):
        return NeuronDynamics(kind=neuron_kind(module), threshold=float(module.threshold),
                              leak=float(module.tau), reset=module.reset,
                              max_spikes=int(module.firing.max_output))
    if hasattr(module, "effective_matrix") and hasattr(module, "threshold"):  # MFP
        return NeuronDynamics(kind=neuron_kind(module), threshold=float(module.threshold),
                              leak=float(getattr(module.mixing, "tau", 0.0) or 0.0),
                              reset="none", max_spikes=1, needs_steps=True, time_mixing=True)
    return None


def _plain(value: float | torch.Tensor) -> float | torch.Tensor:
    if isinstance(value, torch.Tensor):
        value = value.detach().float().cpu()
        return float(value) if value.numel() == 1 else value
    return float(value)


@torch.no_grad()
def mixing_matrix(module: nn.Module) -> torch.Tensor | None:
    """The effective ``[T, T]`` time-mixing matrix of an MFP-style neuron (else ``None``)."""
    if not hasattr(module, "effective_matrix"):
        return None
    return module.effective_matrix(torch.float32).detach().cpu().clone()
