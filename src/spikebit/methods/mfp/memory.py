"""Inference memory per layer (MFP-QSNN Table II): weights + neuron state, in bytes.

Per sample (batch 1), for one weight layer and the neuron layer it feeds:

* weights: the quantizer's exact ``bits`` (1 bit per weight, packed, plus its scales)
  and an fp32 bias, rounded up to whole bytes; the FP baseline stores fp32;
* BN: folded to a per-channel affine (2 fp32 per channel) in both;
* MFP mixing matrix: its free entries in fp32 (``T(T+1)/2`` for the full form; the
  ``T`` per-step thresholds for an eq. 9 folded neuron);
* state, FP LIF baseline: one fp32 membrane potential per neuron;
* state, MFP as the paper counts it (eq. 9, "memory-free"): none;
* state, MFP exact serial path (:meth:`MFPNeuron.step`): the ``T-1`` past fp32 input
  currents per neuron that a general lower-triangular ``M`` needs.

Parameters outside weight layers, BN and mixing (e.g. extra blocks) count as fp32
``other_bytes`` in every total.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from spikebit.errors import SpikebitError
from spikebit.methods.mfp.folding import FoldedThresholdNeuron
from spikebit.methods.mfp.neuron import MFPNeuron
from spikebit.methods.mfp.serial import find_spiking_net
from spikebit.neurons import SpikingNeuron, is_neuron
from spikebit.quant import FP32_BITS, QuantizedMixin

FP32_BYTES = FP32_BITS // 8


@dataclass(frozen=True)
class LayerMemory:
    """Bytes of one weight layer and the neurons after it (``neuron = "-"``: output layer).

    All sizes are bytes per sample (batch 1); MFP-QSNN Table II accounting.

    Args:
        name: the weight layer's module name.
        neuron: the kind of the neuron layer after it (``"lif"``, ``"mfp"``, ...; ``"-"``
            when none follows).
        params: number of weight and bias parameters.
        neurons: number of neurons per sample and step in the neuron layer.
        weight_bytes: deployed weights: the quantizer's exact storage bits, rounded up to bytes.
        fp32_weight_bytes: the same parameters in fp32 (the baseline).
        bn_bytes: the BN after it folded to 2 fp32 per channel.
        mixing_bytes: MFP mixing matrix free entries (or eq. 9 per-step thresholds) in fp32.
        lif_state_bytes: one fp32 membrane per neuron (the FP LIF baseline's state).
        state_bytes: the state as the paper counts it (0 for MFP, "memory-free").
        serial_state_bytes: the exact serial path's state (``T-1`` fp32 inputs per MFP
            neuron; one membrane for LIF).
    """

    name: str
    neuron: str
    params: int
    neurons: int
    weight_bytes: int
    fp32_weight_bytes: int
    bn_bytes: int
    mixing_bytes: int
    lif_state_bytes: int
    state_bytes: int
    serial_state_bytes: int


@dataclass(frozen=True)
class MemoryReport:
    """Per-layer table and totals: FP LIF baseline vs the model as deployed.

    MFP-QSNN Table II accounting, in bytes per sample (batch 1).

    Args:
        layers: one :class:`LayerMemory` per weight layer, in definition order.
        steps: ``T``, the network's number of time steps.
        other_bytes: fp32 bytes of parameters outside weight layers, BN and mixing.
    """

    layers: list[LayerMemory]
    steps: int
    other_bytes: int

    def _sum(self, field: str) -> int:
        return sum(getattr(layer, field) for layer in self.layers)

    @property
    def baseline_bytes(self) -> int:
        """FP LIF baseline: fp32 weights + BN + one fp32 membrane per neuron."""
        return (self._sum("fp32_weight_bytes") + self._sum("bn_bytes")
                + self._sum("lif_state_bytes") + self.other_bytes)

    @property
    def model_bytes(self) -> int:
        """Deployed weights, BN and mixing matrices (no state)."""
        return (self._sum("weight_bytes") + self._sum("bn_bytes") + self._sum("mixing_bytes")
                + self.other_bytes)

    @property
    def deployed_bytes(self) -> int:
        """As the paper counts MFP (memory-free state); LIF layers keep their membrane."""
        return self.model_bytes + self._sum("state_bytes")

    @property
    def serial_bytes(self) -> int:
        """With the exact serial path's state (MFP input history)."""
        return self.model_bytes + self._sum("serial_state_bytes")

    def to_dict(self) -> dict[str, object]:
        """JSON-able table: layers, totals in bytes, and baseline/deployed ratios."""
        return {
            "steps": self.steps,
            "units": "bytes per sample (batch 1)",
            "layers": [asdict(layer) for layer in self.layers],
            "other_bytes": self.other_bytes,
            "baseline_fp_lif_bytes": self.baseline_bytes,
            "weight_bytes": self._sum("weight_bytes"),
            "state_bytes": self._sum("state_bytes"),
            "serial_state_bytes": self._sum("serial_state_bytes"),
            "deployed_bytes": self.deployed_bytes,
            "serial_bytes": self.serial_bytes,
            "ratio_baseline_to_deployed": self.baseline_bytes / self.deployed_bytes,
            "ratio_baseline_to_serial": self.baseline_bytes / self.serial_bytes,
        }


def _state_bytes(neuron: nn.Module, count: int, steps: int) -> tuple[str, int, int]:
    """``(kind, state bytes as the paper counts, exact serial state bytes)``.

    Read from the neuron's :class:`NeuronDynamics`: time mixing (MFP) keeps the ``T-1``
    past inputs on the exact serial path, a memoryless neuron (no reset, no mixing)
    none, any other neuron one fp32 membrane potential.
    """
    if not is_neuron(neuron):
        raise SpikebitError(
            f"no memory model for {type(neuron).__name__}: it is not a SpikingNeuron")
    d = neuron.dynamics
    if d.time_mixing:
        return d.kind, 0, FP32_BYTES * (steps - 1) * count
    if d.reset == "none":
        return d.kind, 0, 0
    return d.kind, FP32_BYTES * count, FP32_BYTES * count


_NEURON_TYPES = (SpikingNeuron,)


@torch.no_grad()
def _neuron_sizes(model: nn.Module, in_shape: tuple[int, ...]) -> dict[str, int]:
    sizes: dict[str, int] = {}
    hooks = [m.register_forward_hook(
        lambda mod, args, out, n=n: sizes.__setitem__(n, args[0][0, 0].numel()))
        for n, m in model.named_modules() if isinstance(m, _NEURON_TYPES)]
    was_training = model.training
    model.eval()
    try:
        with torch.random.fork_rng(devices=[]):  # encoders may draw random numbers
            model(next(model.parameters()).new_zeros(1, *in_shape))
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    return sizes


def inference_memory(model: nn.Module, in_shape: tuple[int, ...] | None = None) -> MemoryReport:
    """Per-layer inference memory of ``model`` (a :class:`SpikingNet`, possibly wrapped).

    Layers are read in definition order: a weight layer opens a row, the BN and the
    neuron that follow it are charged to that row. MFP-QSNN Table II accounting.

    Args:
        model: a :class:`SpikingNet` or a module wrapping one (e.g. with normalization).
        in_shape: one sample's input shape without batch (e.g. ``(1, 28, 28)``); default
            the net's ``config.in_shape``. One zero sample is run to count neurons.

    Returns:
        A new :class:`MemoryReport` (bytes per sample).

    Raises:
        SerialInferenceError: ``model`` holds no :class:`SpikingNet`.
    """
    net = find_spiking_net(model)
    steps = net.steps
    sizes = _neuron_sizes(model, tuple(in_shape or net.config.in_shape))
    rows: list[dict[str, Any]] = []
    counted: set[int] = set()
    for name, module in model.named_modules():
        if isinstance(module, QuantizedMixin):
            params = [p for p in (module.weight, module.bias) if p is not None]
            counted.update(id(p) for p in params)
            n = sum(p.numel() for p in params)
            rows.append(dict(name=name, neuron="-", params=n, neurons=0,
                             weight_bytes=math.ceil(module.storage_bits() / 8),
                             fp32_weight_bytes=FP32_BYTES * n, bn_bytes=0, mixing_bytes=0,
                             lif_state_bytes=0, state_bytes=0, serial_state_bytes=0))
        elif rows and isinstance(module, nn.modules.batchnorm._BatchNorm):
            counted.update(id(p) for p in module.parameters())
            rows[-1]["bn_bytes"] += 2 * FP32_BYTES * module.num_features
        elif rows and isinstance(module, _NEURON_TYPES):
            count = sizes[name]
            kind, state, serial = _state_bytes(module, count, steps)
            if isinstance(module, MFPNeuron):
                counted.update(id(p) for p in module.parameters())
                rows[-1]["mixing_bytes"] = FP32_BYTES * module.mixing.free_parameters()
            elif isinstance(module, FoldedThresholdNeuron):
                rows[-1]["mixing_bytes"] = FP32_BYTES * module.steps  # per-step thresholds
            rows[-1].update(neuron=kind, neurons=count, lif_state_bytes=FP32_BYTES * count,
                            state_bytes=state, serial_state_bytes=serial)
    other = sum(p.numel() for p in model.parameters() if id(p) not in counted)
    return MemoryReport([LayerMemory(**r) for r in rows], steps, FP32_BYTES * other)
