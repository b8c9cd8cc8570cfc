"""Metrics: storage, firing rates, synaptic operations, energy, flip ratios."""

from spikebit.metrics.storage import LayerStorage, ModelStorage, model_storage

__all__ = ["LayerStorage", "ModelStorage", "model_storage"]
