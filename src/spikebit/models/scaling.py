"""Channel-width scaling of zoo networks, and VGGSNN (Deng et al. 2022) at any width.

CPU budgets train the papers' networks narrowed by a channel multiplier ``width``;
every zoo family scales its channel counts with :func:`scaled`.
"""

from __future__ import annotations

from dataclasses import replace

from spikebit.errors import ConfigError
from spikebit.models.spec import format_spec, parse_spec

VGGSNN_SPEC = "64C3-128C3-AP2-256C3-256C3-AP2-512C3-512C3-AP2-512C3-512C3-AP2"
"""VGGSNN's conv/pool layers at full width (the output FC is added by the builder)."""


def scaled(channels: int, width: float) -> int:
    """``channels * width`` rounded to the nearest integer, at least 1.

    Args:
        channels: the paper's channel count.
        width: channel multiplier.

    Returns:
        The scaled channel count (>= 1).
    """
    return max(1, int(round(channels * width)))


def scale_spec(spec: str, width: float) -> str:
    """``spec`` with every conv channel count scaled by ``width`` (pools, FCs unchanged).

    Args:
        spec: a layer spec string (see :mod:`spikebit.models.spec`).
        width: channel multiplier, > 0 (each conv keeps at least 1 channel).

    Returns:
        The canonical spec string.

    Raises:
        SpecError: an invalid ``spec``.
        ConfigError: ``width <= 0``.
    """
    if width <= 0:
        raise ConfigError(f"width must be positive, got {width}; it multiplies the channels")
    return format_spec([replace(x, channels=scaled(x.channels, width)) if x.kind == "conv"
                        else x for x in parse_spec(spec)])


def vggsnn_spec(width: float = 1.0) -> str:
    """VGGSNN's conv/pool layers (:data:`VGGSNN_SPEC`) with channels scaled by ``width``;
    ``vggsnn_spec(0.25)`` is ``16C3-32C3-AP2-64C3-64C3-AP2-128C3-128C3-AP2-128C3-128C3-AP2``.

    Args:
        width: channel multiplier, > 0.

    Returns:
        The spec string (conv and pooling layers; the builder adds the output FC).

    Raises:
        ConfigError: ``width <= 0``.
    """
    return scale_spec(VGGSNN_SPEC, width)
