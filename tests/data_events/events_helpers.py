"""Shared generators for the event tests (the format writers live in the package)."""

from __future__ import annotations

import numpy as np

from spikebit.data.events import make_events


def random_events(n: int, sensor: tuple[int, int], seed: int, t_max: int = 1_000_000) -> np.ndarray:
    """``n`` events sorted by t, uniform over the sensor and ``[0, t_max]`` us."""
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, t_max + 1, n))
    return make_events(
        t,
        rng.integers(0, sensor[1], n),
        rng.integers(0, sensor[0], n),
        rng.integers(0, 2, n),
    )
