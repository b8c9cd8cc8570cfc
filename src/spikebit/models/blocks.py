"""Per-block extra modules (inserted next to the BN of quantized layers), looked up by name.

A block goes after the BN (``weight -> BN -> block``) unless its ``position``
attribute is ``"before-bn"`` (``weight -> block -> BN``); :func:`ordered_unit` is the
one place that decides the order, for every network builder.
"""

from __future__ import annotations

from torch import nn

from spikebit.errors import ConfigError
from spikebit.registry import Registry

BLOCKS: Registry[type[nn.Module]] = Registry("block module", discover=("spikebit.methods",))

BLOCK_POSITIONS = ("after-bn", "before-bn")
"""Where a block may sit in its unit: after the BN (the default) or between the weight
layer and the BN."""


def block_position(block: nn.Module) -> str:
    """Where ``block`` asks to be placed: its ``position`` attribute, ``"after-bn"`` if unset.

    Args:
        block: a block module (e.g. :class:`spikebit.methods.agmm.AGMM`).

    Returns:
        ``"after-bn"`` or ``"before-bn"``.

    Raises:
        ConfigError: a ``position`` that is not one of :data:`BLOCK_POSITIONS`.
    """
    position = getattr(block, "position", "after-bn")
    if position not in BLOCK_POSITIONS:
        raise ConfigError(f"block {type(block).__name__}: position {position!r} is not one of "
                          f"{', '.join(BLOCK_POSITIONS)}")
    return position


def ordered_unit(weight: nn.Module, bn: nn.Module | None,
                 block: nn.Module | None) -> list[nn.Module]:
    """The modules of one unit in order: ``weight -> BN -> block`` or ``weight -> block -> BN``.

    Args:
        weight: the conv/linear layer (time-distributed), on ``[T, B, ...]``.
        bn: its BatchNorm (time-distributed), or ``None`` (no BN: the block follows the weight).
        block: the block module, or ``None``.

    Returns:
        The modules without the ``None`` entries, in the order :func:`block_position` asks.

    Raises:
        ConfigError: the block's ``position`` is invalid.
    """
    if block is None:
        return [m for m in (weight, bn) if m is not None]
    if bn is None:
        return [weight, block]
    if block_position(block) == "before-bn":
        return [weight, block, bn]
    return [weight, bn, block]
