"""Selection rules: which layers stay full precision, given ALE's ``R`` per layer.

A rule maps ``R`` (one float per quantizable layer, in order) and ``k`` to the sorted
0-based indices of the layers kept at full precision; every other layer is binarized.
``k`` is used by ``top-k`` only. The SC rules follow the paper's §4.4 (Table 8):

- ``top-k``: the ``k`` largest ``R`` (ties: lower index first); ``k = 2`` in Tables 5-7.
- ``sc1``: ``R`` above the mean of all ``R``.
- ``sc2``: ``R`` above the last layer's ``R`` (so never the last layer itself).
- ``sc3``: first and last layer, plus the other layers whose ``R`` exceeds the mean
  ``R`` of the other layers.
- ``sc4``: first and last layer, plus the one other layer whose ``R`` is closest to
  the mean ``R`` of the other layers (ties: lower index).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from spikebit.errors import ConfigError
from spikebit.registry import Registry

SelectionRule = Callable[[Sequence[float], int], list[int]]
SELECTION_RULES: Registry[SelectionRule] = Registry("ALBSNN selection rule")


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


@SELECTION_RULES.register("top-k")
def top_k(r: Sequence[float], k: int = 2) -> list[int]:
    """The ``k`` layers with the largest ``R`` (ties: lower index first).

    Args:
        r: ALE's criterion ``R`` per quantizable layer, in order.
        k: number of layers kept at full precision (2 in ALBSNN Tables 5-7).

    Returns:
        Sorted 0-based indices of the layers kept at full precision.

    Raises:
        ConfigError: ``k`` outside ``[0, len(r)]``.
    """
    if not 0 <= k <= len(r):
        raise ConfigError(f"top-k needs 0 <= k <= {len(r)} (the number of layers), got k={k}")
    order = sorted(range(len(r)), key=lambda i: (-r[i], i))
    return sorted(order[:k])


@SELECTION_RULES.register("sc1")
def sc1(r: Sequence[float], k: int = 0) -> list[int]:
    """Layers whose ``R`` exceeds the mean ``R`` (ALBSNN §4.4, Table 8, SC1).

    Args:
        r: ALE's criterion ``R`` per quantizable layer, in order.
        k: unused (the rules share :func:`top_k`'s signature).

    Returns:
        Sorted 0-based indices of the layers kept at full precision.
    """
    m = _mean(r)
    return [i for i, v in enumerate(r) if v > m]


@SELECTION_RULES.register("sc2")
def sc2(r: Sequence[float], k: int = 0) -> list[int]:
    """Layers whose ``R`` exceeds the last layer's ``R`` (ALBSNN §4.4, Table 8, SC2).

    Args:
        r: ALE's criterion ``R`` per quantizable layer, in order.
        k: unused (the rules share :func:`top_k`'s signature).

    Returns:
        Sorted 0-based indices of the layers kept at full precision.
    """
    return [i for i, v in enumerate(r) if v > r[-1]]


def _ends_and_others(r: Sequence[float]) -> tuple[list[int], list[int]]:
    if len(r) < 3:
        raise ConfigError(f"sc3/sc4 need at least 3 layers (first, last, others), got {len(r)}")
    return [0, len(r) - 1], list(range(1, len(r) - 1))


@SELECTION_RULES.register("sc3")
def sc3(r: Sequence[float], k: int = 0) -> list[int]:
    """First and last layer plus the others above the mean of the others (SC3, Table 8).

    Args:
        r: ALE's criterion ``R`` per quantizable layer, in order.
        k: unused (the rules share :func:`top_k`'s signature).

    Returns:
        Sorted 0-based indices of the layers kept at full precision.

    Raises:
        ConfigError: fewer than 3 layers.
    """
    ends, others = _ends_and_others(r)
    m = _mean([r[i] for i in others])
    return sorted(ends + [i for i in others if r[i] > m])


@SELECTION_RULES.register("sc4")
def sc4(r: Sequence[float], k: int = 0) -> list[int]:
    """First and last layer plus the other layer closest to the mean of the others (SC4).

    ALBSNN §4.4, Table 8; ties go to the lower index.

    Args:
        r: ALE's criterion ``R`` per quantizable layer, in order.
        k: unused (the rules share :func:`top_k`'s signature).

    Returns:
        Sorted 0-based indices of the layers kept at full precision.

    Raises:
        ConfigError: fewer than 3 layers.
    """
    ends, others = _ends_and_others(r)
    m = _mean([r[i] for i in others])
    closest = min(others, key=lambda i: (abs(r[i] - m), i))
    return sorted([*ends, closest])


def select(rule: str, r: Sequence[float], k: int = 2) -> list[int]:
    """Apply the named rule to ``R``; returns sorted 0-based full-precision layer indices.

    Args:
        rule: name in :data:`SELECTION_RULES` (``"top-k"``, ``"sc1"`` ... ``"sc4"``).
        r: ALE's criterion ``R`` per quantizable layer, in order.
        k: number of layers for ``"top-k"`` (ignored by the SC rules).

    Returns:
        Sorted 0-based indices of the layers kept at full precision.

    Raises:
        ConfigError: empty ``r``, ``k`` out of range, or fewer than 3 layers for
            ``sc3``/``sc4``.
        RegistryError: unknown ``rule``.
    """
    if not r:
        raise ConfigError("ALE selection needs at least one layer")
    return SELECTION_RULES.get(rule)(list(r), k)
