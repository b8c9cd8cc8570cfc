"""Checks of neuron constructor arguments: counts are integers, reals are finite.

``int(2.7)`` silently truncates a step count to 2 and a NaN threshold gives a neuron that
never fires (every comparison with NaN is false), so constructors check their numbers
with these helpers instead of casting them.
"""

from __future__ import annotations

from spikebit.checks import finite_real, whole_number
from spikebit.errors import ConfigError


def check_count(value: object, name: str, minimum: int = 1) -> int:
    """``value`` as an ``int >= minimum``; refuses bools, floats (``2.7`` and ``3.0``) and
    other non-integers (:func:`spikebit.checks.whole_number`).

    Args:
        value: the argument (an ``int``, or any integer type with ``__index__``, e.g. a
            numpy integer).
        name: the argument's name, for the message (e.g. ``"steps (T)"``).
        minimum: the smallest valid value.

    Returns:
        The value as a Python ``int``.

    Raises:
        ConfigError: ``value`` is a bool, not an integer, or below ``minimum``.
    """
    count = whole_number(value)
    if count is None:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r} "
                          f"({type(value).__name__}); pass a whole number, e.g. "
                          f"{max(minimum, 1)}")
    if count < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {count}")
    return count


def check_real(value: object, name: str, positive: bool = False) -> float:
    """``value`` as a finite ``float`` (``> 0`` if ``positive``); refuses NaN, inf, bools
    and strings.

    Args:
        value: the argument (a number, or a one-element tensor/array).
        name: the argument's name, for the message (e.g. ``"threshold (V)"``).
        positive: also refuse values ``<= 0``.

    Returns:
        The value as a Python ``float``.

    Raises:
        ConfigError: ``value`` is a bool, a string, not a number, not finite, or (with
            ``positive``) not above 0.
    """
    real = finite_real(value)
    if real is None:
        raise ConfigError(f"{name} must be a finite number, got {value!r} "
                          f"({type(value).__name__}; NaN and inf make the dynamics "
                          "meaningless, e.g. a NaN threshold never fires); pass a finite "
                          "value")
    if positive and real <= 0:
        raise ConfigError(f"{name} must be > 0, got {real}")
    return real
