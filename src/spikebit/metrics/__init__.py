"""Metrics: storage, firing rates, synaptic operations, energy, flip ratios."""

from spikebit.metrics.activity import ActivityReport, measure_activity
from spikebit.metrics.storage import LayerStorage, ModelStorage, model_storage

__all__ = [
    "ActivityReport",
    "measure_activity","LayerStorage", "ModelStorage", "model_storage"]
