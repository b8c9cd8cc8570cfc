"""spikebit: ultra-low-latency, low-bit spiking neural networks."""

from spikebit.errors import SpikebitError

__version__ = "0.2.0"
__all__ = ["SpikebitError", "__version__"]
