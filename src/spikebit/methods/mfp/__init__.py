"""MFP-QSNN (memory-free, parallel quantized SNN): neuron, serial inference, eq. 9 folding,
inference memory accounting. Zoo entries, the ``mfp-memory`` callback and the
``mfp-fmnist`` experiment are found by their registries.

Importing this package registers the ``"mfp"`` neuron in :data:`spikebit.neurons.NEURONS`.
"""

from spikebit.methods.mfp.folding import (
    THRESHOLD_READINGS,
    FoldedThresholdNeuron,
    fold_network,
    fold_neuron,
    layer_spike_mismatch,
)
from spikebit.methods.mfp.memory import LayerMemory, MemoryReport, inference_memory
from spikebit.methods.mfp.neuron import MIXINGS, MFPNeuron, MFPState, mfp_sequence
from spikebit.methods.mfp.serial import SerialInferenceError, serial_forward

__all__ = [
    "MIXINGS",
    "THRESHOLD_READINGS",
    "FoldedThresholdNeuron",
    "LayerMemory",
    "MFPNeuron",
    "MFPState",
    "MemoryReport",
    "SerialInferenceError",
    "fold_network",
    "fold_neuron",
    "inference_memory",
    "layer_spike_mismatch",
    "mfp_sequence",
    "serial_forward",
]
