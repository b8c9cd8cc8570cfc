"""Argument checks shared by the conversion entry points.

:func:`~spikebit.conversion.snn.convert`,
:func:`~spikebit.conversion.evaluate.evaluate_conversion`,
:func:`~spikebit.conversion.from_checkpoint.convert_checkpoint`, the experiment runner
and ``spikebit convert`` check their arguments here, before any work. Each check
returns the value in its plain Python type or raises a
:class:`~spikebit.conversion.errors.ConversionError` naming the argument, what it must
be, the value given and how to fix it. ``True``/``False`` are refused where a count is
meant (``bool`` is a subclass of ``int`` in Python) and strings where a number is meant.

The simulated time steps are bounded by :data:`MAX_T` ``= 2**16``. Two reasons: the
readout is a float32 running sum of ``T`` per-step currents, whose rounding error grows
as about ``sqrt(T) * 2**-24`` for rounding errors of random sign (Higham, *Accuracy and
Stability of Numerical Algorithms*, 2nd ed. 2002, Sec. 4.2), which reaches the
``1 / T`` resolution that more steps give a rate-coded readout at ``T = 2**16``, so more
steps add no accuracy the readout can show; and one simulated batch holds its readout
``[T, B, classes]`` in float32 several times (about 0.7 GB per copy at ``T = 2**16``,
``B = 256``, 10 classes), so larger ``T`` fails in the allocator.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from spikebit.checks import finite_real, whole_number
from spikebit.conversion.errors import ConversionError

MAX_T = 2**16  # most simulated time steps; see the module docstring


def _kind(value: Any) -> str:
    """``"'99' (type str)"``: the value and its type, for messages."""
    return f"{value!r} (type {type(value).__name__})"


def check_int(name: str, value: Any, low: int = 1, high: int | None = None, *,
              meaning: str = "", example: int | None = None) -> int:
    """Return ``value`` as an ``int`` if it is a whole number (not a bool) in ``low..high``.

    Args:
        name: the argument's name, as the caller spells it (e.g. ``"batch_size"``).
        value: the value given; any integral number (Python or NumPy int), not a bool.
        low: the smallest allowed value.
        high: the largest allowed value (None: no upper bound).
        meaning: what the number counts, for the message (e.g. ``"images per batch"``).
        example: a valid value the message suggests (default ``low``).

    Returns:
        ``int(value)``.

    Raises:
        ConversionError: ``value`` is a bool, not integral (e.g. ``2.5`` or ``"4"``) or out
            of range.
    """
    count = whole_number(value)
    if count is not None and low <= count and (high is None or count <= high):
        return count
    span = f">= {low}" if high is None else f"in {low}..{high}"
    about = f" ({meaning})" if meaning else ""
    raise ConversionError(f"{name}{about} must be an int {span}, got {_kind(value)}; pass a "
                          f"whole number {span}, e.g. {name}={low if example is None else example}")


def check_steps(T: Any, name: str = "T") -> int:
    """Return ``T`` if it is an int in ``1 .. MAX_T`` (time steps; see the module docstring).

    Args:
        T: the time steps to simulate.
        name: the argument's name in the message.

    Returns:
        ``int(T)``.

    Raises:
        ConversionError: ``T`` is a bool, not an int, below 1 or above :data:`MAX_T`.
    """
    return check_int(name, T, 1, MAX_T, meaning="time steps", example=64)


def check_number(name: str, value: Any, low: float | None = None, *, meaning: str = "",
                 example: float | None = None) -> float:
    """Return ``value`` as a ``float`` if it is a finite real number (not a bool or string).

    Args:
        name: the argument's name.
        value: the value given (int or float).
        low: the smallest allowed value (None: no lower bound).
        meaning: what the number is, for the message.
        example: a valid value the message suggests.

    Returns:
        ``float(value)``.

    Raises:
        ConversionError: ``value`` is a bool, a string, not finite or below ``low``.
    """
    real = finite_real(value)
    if real is not None and (low is None or real >= low):
        return real
    span = "" if low is None else f" >= {low:g}"
    about = f" ({meaning})" if meaning else ""
    hint = f", e.g. {name}={example!r}" if example is not None else ""
    raise ConversionError(f"{name}{about} must be a finite number{span}, got {_kind(value)}; "
                          f"pass an int or float{hint}")


def check_flag(name: str, value: Any, *, optional: bool = False,
               default: str = "the default") -> bool | None:
    """Return ``value`` if it is ``True`` or ``False`` (or None where ``optional``).

    Args:
        name: the argument's name.
        value: the value given.
        optional: whether None (``default``) is allowed.
        default: what None means, for the message.

    Returns:
        ``value``.

    Raises:
        ConversionError: ``value`` is not a bool (e.g. ``"yes"`` or ``1``) or None where not
            allowed.
    """
    if isinstance(value, bool) or (optional and value is None):
        return value
    allowed = f"True, False or None ({default})" if optional else "True or False"
    raise ConversionError(f"{name} must be {allowed}, got {_kind(value)}; pass a bool")


def check_name(name: str, value: Any, options: Sequence[str], *,
               optional: bool = False, default: str = "the default") -> str | None:
    """Return ``value`` if it is a non-empty string (or None where ``optional``).

    Whether the name is known is left to the caller's registry, which suggests the
    closest one.

    Args:
        name: the argument's name (e.g. ``"method"``).
        value: the value given.
        options: the valid names, for the message.
        optional: whether None (``default``) is allowed.
        default: what None means, for the message.

    Returns:
        ``value``.

    Raises:
        ConversionError: ``value`` is not a string, or is empty.
    """
    if (isinstance(value, str) and value) or (optional and value is None):
        return value
    allowed = ", ".join(map(repr, options))
    extra = f", or None ({default})" if optional else ""
    raise ConversionError(f"{name} must be a non-empty name, one of {allowed}{extra}; "
                          f"got {_kind(value)}")


def check_batch(x: Any, name: str, dtype: torch.dtype | None = None) -> Tensor:
    """Return ``x`` if it is a non-empty float batch ``[N, ...]`` in the network's dtype.

    Reads only the tensor's metadata (works on the ``meta`` device).

    Args:
        x: the batch, e.g. images ``[N, C, H, W]``.
        name: what the batch is, plural (e.g. ``"calibration images"``).
        dtype: the dtype of the network's parameters (None: any floating dtype).

    Returns:
        ``x``.

    Raises:
        ConversionError: ``x`` is not a tensor, has fewer than 2 dims, holds no sample, or
            its dtype is not floating / not ``dtype``.
    """
    if not isinstance(x, Tensor) or x.dim() < 2 or x.shape[0] == 0:
        got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ConversionError(f"{name} must be a non-empty tensor batch [N, C, H, W] (N >= 1), "
                              f"got {got}; pass at least one image, with a batch dimension")
    if not x.is_floating_point() or (dtype is not None and x.dtype != dtype):
        want = dtype or torch.float32
        raise ConversionError(
            f"{name} have dtype {x.dtype} but the network's parameters are {want}; convert "
            f"them with .to({want}) (integer images: scaled as in training, e.g. "
            f".float() / 255), or move the network to {x.dtype} first")
    return x


def module_dtype(module: torch.nn.Module) -> torch.dtype | None:
    """The dtype of ``module``'s first floating parameter or buffer (None if it has none).

    Args:
        module: a network (ANN or converted SNN).

    Returns:
        The dtype its inputs must have, or None.
    """
    for t in (*module.parameters(), *module.buffers()):
        if t.is_floating_point():
            return t.dtype
    return None
