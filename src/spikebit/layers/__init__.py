"""Layers over time-major sequences."""

from spikebit.layers.time_distributed import GlobalAvgPool, TimeDistributed

__all__ = ["GlobalAvgPool", "TimeDistributed"]
