"""Per-block extra modules (inserted after BN of quantized layers), looked up by name."""

from __future__ import annotations

from torch import nn

from spikebit.registry import Registry

BLOCKS: Registry[type[nn.Module]] = Registry("block module", discover=("spikebit.methods",))
