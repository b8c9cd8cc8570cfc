"""Seeds: every generator from a run's seed (:func:`seed_everything`), and seed repeats
of experiment runs (which repeat is running, and how it renames a run).

``spikebit reproduce NAME --seeds N`` runs an experiment's runner N times inside
:func:`seed_repeat`; every training the runner starts through
:func:`spikebit.train.train_or_reuse` then gets ``seed + k`` and the run name
``NAME-seed{k}`` for repeat ``k >= 1`` (repeat 0 keeps the config as written, so a
single-seed run already on disk is reused as the first repeat).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import numpy as np
import torch

from spikebit.errors import ConfigError

_REPEAT: ContextVar[int] = ContextVar("seed_repeat", default=0)


def current_repeat() -> int:
    """The running seed repeat ``k`` (0 outside :func:`seed_repeat`)."""
    return _REPEAT.get()


@contextmanager
def seed_repeat(k: int) -> Iterator[int]:
    """Run the body as seed repeat ``k`` (``k >= 0``).

    A context manager; the repeat is held in a context variable and reset on exit.

    Args:
        k: the repeat index; ``k >= 1`` renames runs and shifts their seed (see
            :func:`with_repeat_seed`).

    Yields:
        ``k``.

    Raises:
        ConfigError: a negative ``k``.
    """
    if k < 0:
        raise ConfigError(f"a seed repeat index is >= 0, got {k}.")
    token = _REPEAT.set(k)
    try:
        yield k
    finally:
        _REPEAT.reset(token)


def with_repeat_seed(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` (a run-config mapping) for the running repeat: ``seed + k`` and name
    ``NAME-seed{k}`` for ``k >= 1``; unchanged for repeat 0.

    Args:
        config: a run-config mapping (``seed`` defaults to 0, ``name`` to ``"run"``).

    Returns:
        ``config`` itself for repeat 0, else a shallow copy with the new seed and name.
    """
    k = current_repeat()
    if k == 0:
        return config
    out = dict(config)
    out["seed"] = int(config.get("seed", 0)) + k
    out["name"] = f"{config.get('name', 'run')}-seed{k}"
    return out


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy (``seed mod 2**32``) and torch (all devices).

    Args:
        seed: the run's seed (``config.seed``); any integer.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
