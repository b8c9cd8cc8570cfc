"""Metrics: storage, firing rates, synaptic operations, energy, flip ratios, readout
decisions (accuracy with "no output" and "tied" samples counted as wrong)."""

from spikebit.metrics.activity import ActivityReport, measure_activity
from spikebit.metrics.readout import Decisions, count_decisions, decide, decision_fractions
from spikebit.metrics.storage import LayerStorage, ModelStorage, model_storage

__all__ = [
    "ActivityReport",
    "Decisions",
    "LayerStorage",
    "ModelStorage",
    "count_decisions",
    "decide",
    "decision_fractions",
    "measure_activity",
    "model_storage",
]
