"""Firing rates, synaptic operations (SOPs), MACs and energy of a spiking model.

Measured with forward hooks on one batch (or more) in eval mode. Neurons are found
through the :class:`~spikebit.neurons.SpikingNeuron` protocol (``is_neuron``), so every
registered neuron (LIF, IF, multi-threshold, MFP, ...) is counted, and ``T`` is read from
their outputs ``[T, B, ...]``. Every quantity is a sum over all measured samples divided
by their number (per sample, per neuron, per step), so it does not depend on how the
samples are split into batches, nor over how many processes (``dist``):

* firing rate of a neuron layer = mean output per neuron per step
  (spike counts for multi-threshold neurons);
* per weight layer, ``FLOPs_l`` = multiply-accumulates of one dense step;
  a layer whose input is real-valued (the first, encoding layer under direct
  coding) costs ``MACs_l = T * FLOPs_l``; a layer fed by spikes costs
  ``SOPs_l = T * fr_in * FLOPs_l`` with ``fr_in`` the mean input per element
  (for spike counts one accumulate per spike; for average-pooled spikes the
  fraction of non-zero inputs);
* "fed by spikes" is decided by provenance, not by value: the input's storage
  was produced by a spiking neuron, possibly through views and parameter-free
  modules (pooling, flatten, dropout). Inputs of unknown origin count as spikes
  only if they are non-negative integers (event-frame counts, residual sums of
  spikes); any other real-valued input costs MACs.
* energy ``E = 4.6 pJ * MACs + 0.9 pJ * SOPs`` (45 nm figures, SPEC section 0).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

from spikebit.neurons import is_neuron
from spikebit.quant import QuantizedMixin

if TYPE_CHECKING:
    from spikebit.train.distributed import DistInfo

E_MAC_PJ = 4.6
E_AC_PJ = 0.9


@dataclass
class LayerOps:
    """Cost of one weight layer per sample (all ``T`` steps).

    Args:
        name: the weight layer's module name.
        flops_per_step: ``FLOPs_l``, multiply-accumulates of one dense step per sample.
        input_rate: ``fr_in``, mean input per element per step (spike rate, or counts).
        real_valued_input: the input is real-valued (costs MACs, not SOPs).
        macs: ``T * FLOPs_l`` for a real-valued input, else 0.
        sops: ``T * fr_in * FLOPs_l`` for a spike input, else 0.
    """

    name: str
    flops_per_step: int
    input_rate: float
    real_valued_input: bool
    macs: float
    sops: float


@dataclass
class ActivityReport:
    """Per-sample costs: sums over every measured sample divided by their number.

    Built by :func:`measure_activity`; energy with 4.6 pJ/MAC and 0.9 pJ/SOP (45 nm
    figures, SPEC section 0).

    Args:
        firing_rates: ``{neuron layer name: mean output per neuron per step}`` (spike
            counts for multi-threshold neurons).
        layers: one :class:`LayerOps` per weight layer.
        steps: ``T`` read from the neurons' outputs ``[T, B, ...]``.
    """

    firing_rates: dict[str, float]
    layers: list[LayerOps]
    steps: int

    @property
    def macs(self) -> float:
        """Multiply-accumulates per sample (real-valued inputs, e.g. the encoding layer)."""
        return sum(x.macs for x in self.layers)

    @property
    def sops(self) -> float:
        """Synaptic operations (accumulates) per sample: ``sum_l T * fr_in * FLOPs_l``."""
        return sum(x.sops for x in self.layers)

    @property
    def energy_pj(self) -> float:
        """Energy per sample in pJ: ``4.6 pJ * MACs + 0.9 pJ * SOPs``."""
        return E_MAC_PJ * self.macs + E_AC_PJ * self.sops

    def to_dict(self) -> dict[str, object]:
        """JSON-able report: ``steps``, ``firing_rates``, ``layers``, ``macs``, ``sops``
        and ``energy_uJ`` (energy per sample in µJ)."""
        return {
            "steps": self.steps,
            "firing_rates": self.firing_rates,
            "layers": [asdict(x) for x in self.layers],
            "macs": self.macs,
            "sops": self.sops,
            "energy_uJ": self.energy_pj * 1e-6,
        }


def _is_spike_like(x: torch.Tensor) -> bool:
    return bool((x >= 0).all() and torch.equal(x, x.round()))


def _storage_key(x: torch.Tensor) -> int:
    return x.untyped_storage().data_ptr()


def _flops(module: nn.Module, out: torch.Tensor) -> int:
    """Multiply-accumulates of one sample through ``module`` (output ``[N, ...]``)."""
    per_out = module.weight[0].numel()
    if isinstance(module, nn.Conv2d):
        per_out = module.weight.shape[1] * module.weight.shape[2] * module.weight.shape[3]
    return int(out[0].numel() * per_out)


def _is_weight_layer(m: nn.Module) -> bool:
    return isinstance(m, QuantizedMixin | nn.Conv2d | nn.Linear)


def _passes_spikes(m: nn.Module) -> bool:
    """Parameter-free modules (pooling, flatten, dropout) keep spike provenance."""
    return not is_neuron(m) and next(m.parameters(), None) is None


@dataclass
class _Sums:
    """Per-layer sums over samples: ``num / den`` is the per-element mean."""

    num: float = 0.0
    den: float = 0.0
    flops: int = 0
    real: int = 0


def _all_reduce(neurons: dict[str, _Sums], weights: dict[str, _Sums], steps: int,
                dist: DistInfo) -> int:
    """Sum the sample sums over processes (max of ``flops``, ``real`` and ``T``)."""
    import torch.distributed as tdist

    rows = [*neurons.values(), *weights.values()]
    # NCCL reduces CUDA tensors only; gloo reduces CPU tensors
    device = (torch.device("cuda", torch.cuda.current_device())
              if tdist.get_backend() == "nccl" else torch.device("cpu"))
    sums = torch.tensor([[r.num, r.den] for r in rows] or [[0.0, 0.0]], dtype=torch.float64,
                        device=device)
    peaks = torch.tensor([steps, *[r.flops for r in rows], *[r.real for r in rows]],
                         dtype=torch.float64, device=device)
    tdist.all_reduce(sums)
    tdist.all_reduce(peaks, op=tdist.ReduceOp.MAX)
    n = len(rows)
    for i, r in enumerate(rows):
        r.num, r.den = float(sums[i, 0]), float(sums[i, 1])
        r.flops, r.real = int(peaks[1 + i]), int(peaks[1 + n + i])
    return int(peaks[0])


@torch.no_grad()
def measure_activity(
    model: nn.Module, inputs: list[torch.Tensor], dist: DistInfo | None = None
) -> ActivityReport:
    """Run ``inputs`` (model-ready batches) and collect rates, MACs, SOPs per sample.

    Batches may have any sizes: each rate is (sum over all samples) / (all elements).
    With ``dist`` active, each process passes its own share of the samples and the
    sums are all-reduced, so every process gets the report of all samples.

    Args:
        model: the spiking model; run in eval mode, without gradients.
        inputs: model-ready batches (e.g. ``[B, C, H, W]`` or ``[T, B, C, H, W]``).
        dist: process-group info for multi-process measurement, or ``None``.

    Returns:
        A new :class:`ActivityReport` of per-sample rates, MACs, SOPs and energy.
    """
    neurons: dict[str, _Sums] = {}
    weights: dict[str, _Sums] = {}
    steps = 1
    hooks = []
    names = {m: n for n, m in model.named_modules()}
    spike_storages: set[int] = set()
    alive: list[torch.Tensor] = []  # keeps marked storages from being reused mid-forward

    def mark(t: torch.Tensor) -> None:
        spike_storages.add(_storage_key(t))
        alive.append(t)

    def from_spikes(x: torch.Tensor) -> bool:
        return _storage_key(x) in spike_storages

    def neuron_hook(mod: nn.Module, _inp: tuple, out: torch.Tensor) -> None:
        nonlocal steps
        steps = out.shape[0]
        s = neurons[names[mod]]
        s.num += float(out.double().sum())
        s.den += out.numel()
        mark(out)

    def passthrough_hook(_mod: nn.Module, inp: tuple, out: object) -> None:
        if (inp and isinstance(inp[0], torch.Tensor) and isinstance(out, torch.Tensor)
                and from_spikes(inp[0])):
            mark(out)

    def weight_hook(mod: nn.Module, inp: tuple, out: torch.Tensor) -> None:
        x = inp[0]
        spikes = from_spikes(x) or _is_spike_like(x)
        counts = _is_spike_like(x)
        s = weights[names[mod]]
        s.flops = _flops(mod, out)
        s.num += float(x.double().sum()) if counts else float(torch.count_nonzero(x))
        s.den += x.numel()
        s.real = s.real or int(not spikes)

    for m in model.modules():
        if is_neuron(m):
            neurons[names[m]] = _Sums()
            hooks.append(m.register_forward_hook(neuron_hook))
        elif _is_weight_layer(m):
            weights[names[m]] = _Sums()
            hooks.append(m.register_forward_hook(weight_hook))
        elif _passes_spikes(m) and m is not model:
            hooks.append(m.register_forward_hook(passthrough_hook))
    was_training = model.training
    model.eval()
    try:
        for x in inputs:
            model(x)
            spike_storages.clear()
            alive.clear()
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    if dist is not None and dist.active:
        steps = _all_reduce(neurons, weights, steps, dist)
    layers = []
    for name, s in weights.items():
        if not s.den:
            continue
        rate = s.num / s.den
        real = bool(s.real)
        dense = steps * s.flops
        layers.append(LayerOps(name, int(s.flops), rate, real,
                               macs=float(dense) if real else 0.0,
                               sops=0.0 if real else dense * rate))
    rates = {k: s.num / s.den for k, s in neurons.items() if s.den}
    return ActivityReport(rates, layers, steps)
