"""Firing rates, synaptic operations (SOPs), MACs and energy of a spiking model.

Measured with forward hooks on one batch (or more) in eval mode:

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

import torch
from torch import nn

from spikebit.neurons import IntegrateFireNeuron
from spikebit.quant import QuantizedMixin

E_MAC_PJ = 4.6
E_AC_PJ = 0.9


@dataclass
class LayerOps:
    name: str
    flops_per_step: int
    input_rate: float
    real_valued_input: bool
    macs: float
    sops: float


@dataclass
class ActivityReport:
    """Per-sample costs (averaged over the measured batches)."""

    firing_rates: dict[str, float]
    layers: list[LayerOps]
    steps: int

    @property
    def macs(self) -> float:
        return sum(x.macs for x in self.layers)

    @property
    def sops(self) -> float:
        return sum(x.sops for x in self.layers)

    @property
    def energy_pj(self) -> float:
        return E_MAC_PJ * self.macs + E_AC_PJ * self.sops

    def to_dict(self) -> dict[str, object]:
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
    return not isinstance(m, IntegrateFireNeuron) and next(m.parameters(), None) is None


@torch.no_grad()
def measure_activity(model: nn.Module, inputs: list[torch.Tensor]) -> ActivityReport:
    """Run ``inputs`` (model-ready batches) and collect rates, MACs, SOPs per sample."""
    rates: dict[str, list[float]] = {}
    stats: dict[str, dict[str, float]] = {}
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
        rates.setdefault(names[mod], []).append(float(out.float().mean()))
        mark(out)

    def passthrough_hook(_mod: nn.Module, inp: tuple, out: object) -> None:
        if (inp and isinstance(inp[0], torch.Tensor) and isinstance(out, torch.Tensor)
                and from_spikes(inp[0])):
            mark(out)

    def weight_hook(mod: nn.Module, inp: tuple, out: torch.Tensor) -> None:
        x = inp[0]
        spikes = from_spikes(x) or _is_spike_like(x)
        counts = _is_spike_like(x)
        rate = float(x.float().mean()) if counts else float((x != 0).float().mean())
        s = stats.setdefault(names[mod], {"flops": 0, "rate": 0.0, "n": 0, "real": 0})
        s["flops"] = _flops(mod, out)
        s["rate"] += rate
        s["n"] += 1
        s["real"] = s["real"] or int(not spikes)

    for m in model.modules():
        if isinstance(m, IntegrateFireNeuron):
            hooks.append(m.register_forward_hook(neuron_hook))
        elif _is_weight_layer(m):
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
    layers = []
    for name, s in stats.items():
        rate = s["rate"] / s["n"]
        real = bool(s["real"])
        dense = steps * s["flops"]
        layers.append(LayerOps(name, int(s["flops"]), rate, real,
                               macs=float(dense) if real else 0.0,
                               sops=0.0 if real else dense * rate))
    return ActivityReport({k: sum(v) / len(v) for k, v in rates.items()}, layers, steps)

