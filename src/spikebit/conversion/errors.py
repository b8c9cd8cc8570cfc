"""Errors raised by the ANN -> SNN conversion package."""

from __future__ import annotations

from spikebit.errors import SpikebitError


class ConversionError(SpikebitError, ValueError):
    """An ANN cannot be converted (unsupported layer, bad argument, broken lowering)."""
