"""AGMM Table 2 for one trained model: size, SOPs, MACs, energy, firing rates.

Built on :func:`spikebit.metrics.activity.measure_activity` (per-sample SOPs,
MACs, ``E = 4.6 pJ * MACs + 0.9 pJ * SOPs``) and
:func:`spikebit.metrics.storage.model_storage` (exact deployed bits).
AGMM's element-wise gate products are not counted (as in the paper).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from spikebit.metrics import measure_activity, model_storage


def cost_summary(model: nn.Module, batches: list[torch.Tensor]) -> dict[str, Any]:
    """Per-sample costs of ``model`` on ``batches`` (model-ready inputs).

    AGMM Table 2's columns.

    Args:
        model: the trained network (run in eval mode, no gradients).
        batches: model-ready inputs, e.g. ``[B, C, H, W]`` or ``[T, B, C, H, W]``.

    Returns:
        ``size_MB`` (deployed weights + other fp32 parameters, 1 MB = 1e6
            bytes), ``SOPs_M``/``MACs_M`` (millions per sample), ``energy_uJ`` (per
            sample), ``mean_firing_rate`` (unweighted over neuron layers) and
            ``firing_rates`` (per neuron layer, spikes per neuron per step).
    """
    report = measure_activity(model, batches)
    storage = model_storage(model)
    rates = report.firing_rates
    return {
        "size_MB": storage.total_bits / 8 / 1e6,
        "SOPs_M": report.sops / 1e6,
        "MACs_M": report.macs / 1e6,
        "energy_uJ": report.energy_pj * 1e-6,
        "mean_firing_rate": sum(rates.values()) / len(rates) if rates else 0.0,
        "firing_rates": rates,
    }
