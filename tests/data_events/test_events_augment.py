"""Seeded event augmentations keep coordinates on the sensor."""

from __future__ import annotations

import numpy as np
import pytest
from events_helpers import random_events

from spikebit.data.events import (
    drop_events,
    flip_horizontal,
    make_events,
    random_flip,
    random_shift,
    shift,
)
from spikebit.errors import DataError

SENSOR = (34, 40)


@pytest.mark.parametrize("seed", range(8))
def test_random_shift_stays_on_sensor_and_is_seeded(seed):
    ev = random_events(500, SENSOR, seed)
    out = random_shift(ev, SENSOR, max_shift=6, rng=seed)
    assert (
        (out["x"] >= 0) & (out["x"] < SENSOR[1]) & (out["y"] >= 0) & (out["y"] < SENSOR[0])
    ).all()
    np.testing.assert_array_equal(out, random_shift(ev, SENSOR, 6, rng=seed))
    assert np.all(np.diff(out["t"]) >= 0)


def test_shift_moves_and_drops():
    ev = make_events([0, 1, 2], [0, 10, 39], [0, 5, 33], [1, 0, 1])
    out = shift(ev, SENSOR, dx=2, dy=-1)
    assert out["x"].tolist() == [12] and out["y"].tolist() == [4] and out["t"].tolist() == [1]


def test_flip_horizontal():
    ev = random_events(300, SENSOR, 1)
    out = flip_horizontal(ev, SENSOR)
    np.testing.assert_array_equal(out["x"], SENSOR[1] - 1 - ev["x"])
    np.testing.assert_array_equal(flip_horizontal(out, SENSOR), ev)
    flips = {bool((random_flip(ev, SENSOR, rng=s)["x"] != ev["x"]).any()) for s in range(20)}
    assert flips == {True, False}
    with pytest.raises(DataError):
        flip_horizontal(make_events([0], [40], [0], [0]), SENSOR)


@pytest.mark.parametrize("fraction", [0.0, 0.3, 1.0])
def test_drop_events(fraction):
    ev = random_events(1000, SENSOR, 2)
    out = drop_events(ev, fraction, rng=7)
    assert out.size == 1000 - round(fraction * 1000)
    assert np.isin(out["t"], ev["t"]).all() and np.all(np.diff(out["t"]) >= 0)
    np.testing.assert_array_equal(out, drop_events(ev, fraction, rng=7))
    with pytest.raises(DataError):
        drop_events(ev, 1.5, rng=0)
