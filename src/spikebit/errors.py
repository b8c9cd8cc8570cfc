"""Error types. Every message says what was expected and how to fix it.

The CLI prints :class:`SpikebitError` messages without a traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class SpikebitError(Exception):
    """Base class for all errors raised deliberately by spikebit."""


class ShapeError(SpikebitError, ValueError):
    """A tensor has the wrong rank or shape (e.g. a missing time dimension)."""


class TensorTypeError(SpikebitError, TypeError):
    """A tensor has the wrong dtype or device (e.g. two operands that must match)."""


class SpecError(SpikebitError, ValueError):
    """A model specification string is malformed."""


class RegistryError(SpikebitError, KeyError):
    """An unknown name was looked up in a registry."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable.
        return str(self.args[0]) if self.args else ""


class ConfigError(SpikebitError, ValueError):
    """A configuration file or override is invalid."""


class DataError(SpikebitError, ValueError):
    """A dataset file is missing, corrupt or inconsistent."""


class CheckpointError(SpikebitError, ValueError):
    """A checkpoint cannot be read or written."""


class ExportError(SpikebitError, ValueError):
    """A model, layer or interchange file (NIR, ONNX, packed) cannot be exported (exactly,
    to the requested format) or imported; the message names the layer and the reason."""


class TrainingError(SpikebitError, RuntimeError):
    """Training cannot continue (e.g. the loss became NaN)."""


def did_you_mean(name: str, options: Iterable[str]) -> str:
    """Suggest the closest of ``options`` to a misspelled ``name``, for error messages.

    Uses :func:`difflib.get_close_matches` (one match, similarity cutoff 0.5).

    Args:
        name: the name that was not found (e.g. an unknown registry key).
        options: the valid names to compare against.

    Returns:
        ``" Did you mean 'x'?"`` (with a leading space, ready to append to a message)
        for the closest option, or ``""`` when none is close enough.
    """
    close = difflib.get_close_matches(name, list(options), n=1, cutoff=0.5)
    return f" Did you mean {close[0]!r}?" if close else ""
