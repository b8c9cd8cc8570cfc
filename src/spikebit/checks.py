"""What counts as a whole number and as a finite real, for every argument check.

One rule for the whole library (neuron constructors, :mod:`spikebit.conversion`): a count
is anything with ``__index__`` (Python and NumPy ints, 0-dim integer tensors) except a
bool (``bool`` subclasses ``int``; ``True`` is not a count of 1), never a float (``2.7``
and ``3.0`` alike); a real is any number ``float()`` accepts (ints, floats, NumPy
scalars, one-element tensors, ``Fraction``, ``Decimal``) except bools and strings, and it
must be finite. These functions only parse; the callers raise their own
:class:`~spikebit.errors.SpikebitError` subclass with a message naming the argument.
"""

from __future__ import annotations

import math
import operator

import numpy as np
import torch


def whole_number(value: object) -> int | None:
    """``value`` as a Python ``int`` if it is a count (module doc), else ``None``.

    Args:
        value: the argument as given.

    Returns:
        The ``int``, or ``None`` for bools (Python, NumPy, boolean tensors), floats,
        strings and anything without ``__index__``.
    """
    if isinstance(value, (bool, np.bool_)) or getattr(value, "dtype", None) == torch.bool:
        return None
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        return None


def finite_real(value: object) -> float | None:
    """``value`` as a finite Python ``float`` if it is a real number (module doc), else
    ``None``.

    Args:
        value: the argument as given.

    Returns:
        The ``float``, or ``None`` for bools, strings, non-numbers, tensors of several
        values, NaN and infinities.
    """
    if isinstance(value, (bool, np.bool_, str, bytes)):
        return None
    try:
        real = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, RuntimeError):  # RuntimeError: a tensor of many values
        return None
    return real if math.isfinite(real) else None
