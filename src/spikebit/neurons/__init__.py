"""Spiking neurons: ``forward(x_seq)`` over ``[T, B, ...]`` and ``step(x_t, state)``."""

from spikebit.neurons.base import (
    NEURONS,
    IntegrateFireNeuron,
    LIFState,
    NeuronDynamics,
    SpikingNeuron,
    check_sequence,
    is_neuron,
    make_neuron,
)
from spikebit.neurons.lif import IF, LIF, MultiThresholdLIF

__all__ = [
    "IF",
    "LIF",
    "NEURONS",
    "IntegrateFireNeuron",
    "LIFState",
    "MultiThresholdLIF",
    "NeuronDynamics",
    "SpikingNeuron",
    "check_sequence",
    "is_neuron",
    "make_neuron",
]
