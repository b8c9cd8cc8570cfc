"""AGMM (Liang et al., AAAI 2025): binary SNNs with adaptive gradient modulation.

The AGMM block (``BLOCKS["agmm"]``), double-skip spiking ResNets and VGGSNN in
the zoo (``agmm-resnet19``, ``agmm-resnet18``, ``agmm-vggsnn``) and the
``agmm-*`` experiments (``spikebit reproduce agmm-fmnist``, ``agmm-readings``).
The readings of eq. 11 the text allows are :class:`AGMMReading` values;
:data:`DEFAULT_READING` is the one used when an option is not given.
"""

from spikebit.methods.agmm.module import (
    AGMM,
    DEFAULT_READING,
    MEANS,
    WINDOWS,
    AGMMReading,
    feature_mean,
    temporal_mean,
)
from spikebit.methods.agmm.resnet import (
    AGMM_NEURON,
    DoubleSkipBlock,
    ResNetConfig,
    SpikingResNet,
)
from spikebit.methods.agmm.zoo import agmm_resnet, agmm_vggsnn, vggsnn_spec

__all__ = [
    "AGMM",
    "AGMM_NEURON",
    "DEFAULT_READING",
    "MEANS",
    "WINDOWS",
    "AGMMReading",
    "DoubleSkipBlock",
    "ResNetConfig",
    "SpikingResNet",
    "agmm_resnet",
    "agmm_vggsnn",
    "feature_mean",
    "temporal_mean",
    "vggsnn_spec",
]
