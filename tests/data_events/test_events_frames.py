"""Event -> frame binning and the frame cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from events_helpers import random_events
from hypothesis import given, settings
from hypothesis import strategies as st

from spikebit.data.events import (
    EventFrameDataset,
    array_samples,
    events_to_frames,
    make_events,
    time_major_batches,
    to_time_major,
)
from spikebit.errors import DataError


@pytest.mark.parametrize("mode", ["time", "count"])
@pytest.mark.parametrize("down", [None, 48, (20, 33)])
@pytest.mark.parametrize("seed", [0, 1])
def test_counts_preserved(mode, down, seed):
    ev = random_events(7919, (128, 128), seed)
    frames = events_to_frames(ev, (128, 128), T=7, mode=mode, downsample_to=down)
    h, w = (128, 128) if down is None else ((down, down) if isinstance(down, int) else down)
    assert frames.shape == (7, 2, h, w) and frames.dtype == torch.float32
    assert frames.sum().item() == ev.size
    assert frames[:, 1].sum().item() == int(ev["p"].sum())


def test_time_bins_are_equal_windows():
    t = np.arange(1000) * 10 + 5
    ev = make_events(t, t % 34, t % 3, t % 2)
    frames = events_to_frames(ev, (34, 34), T=4, mode="time")
    assert frames.sum(dim=(1, 2, 3)).tolist() == [250.0] * 4


def test_count_bins_hold_equal_numbers_even_for_bursty_times():
    t = np.concatenate([np.zeros(90, np.int64), np.full(10, 10**6)])
    ev = make_events(t, np.zeros(100), np.zeros(100), np.ones(100))
    per_bin = events_to_frames(ev, (4, 4), T=4, mode="count").sum(dim=(1, 2, 3))
    assert per_bin.tolist() == [25.0] * 4
    per_bin = events_to_frames(ev, (4, 4), T=4, mode="time").sum(dim=(1, 2, 3))
    assert per_bin.tolist() == [90.0, 0.0, 0.0, 10.0]


def test_downsampling_scales_coordinates():
    ev = make_events([0, 1], [127, 64], [0, 127], [1, 0])
    frames = events_to_frames(ev, (128, 128), T=1, downsample_to=48)
    assert frames[0, 1, 0, 47] == 1 and frames[0, 0, 47, 24] == 1


def test_accepts_tonic_style_arrays_and_empty_streams():
    tonic_dtype = np.dtype([("x", np.int16), ("y", np.int16), ("t", np.int64), ("p", bool)])
    ev = np.zeros(3, dtype=tonic_dtype)
    ev["x"], ev["y"], ev["t"], ev["p"] = [1, 2, 3], [0, 0, 1], [5, 6, 7], [True, False, True]
    frames = events_to_frames(ev, (4, 4), T=2)
    assert frames[:, 1].sum() == 2 and frames.sum() == 3
    assert events_to_frames(ev[:0], (4, 4), T=3).abs().sum() == 0


def test_rejects_bad_input():
    ev = make_events([0], [40], [0], [1])
    with pytest.raises(DataError, match="outside the sensor"):
        events_to_frames(ev, (34, 34), T=2)
    with pytest.raises(DataError, match="frame mode"):
        events_to_frames(ev, (64, 64), T=2, mode="rate")  # type: ignore[arg-type]
    with pytest.raises(DataError, match="structured"):
        events_to_frames(np.zeros((3, 4)), (64, 64), T=2)


def test_frame_cache_converts_once(tmp_path):
    events = [random_events(200 + i, (34, 34), i) for i in range(6)]
    labels = np.arange(6) % 3
    calls = []

    def samples():
        out = array_samples("toy", events, labels)
        return [type(s)(s.source, s.label, lambda s=s: calls.append(1) or s.load()) for s in out]

    ds = EventFrameDataset(samples(), (34, 34), T=5, mode="count", cache_dir=tmp_path)
    assert ds.decoded == 6 and len(calls) == 6 and len(list(tmp_path.glob("*/*.npy"))) == 6
    again = EventFrameDataset(samples(), (34, 34), T=5, mode="count", cache_dir=tmp_path)
    assert again.decoded == 0 and len(calls) == 6
    assert torch.equal(again.frames, ds.frames) and again.frames.shape == (6, 5, 2, 34, 34)
    assert again.labels.tolist() == labels.tolist()
    other = EventFrameDataset(samples(), (34, 34), T=3, mode="count", cache_dir=tmp_path)
    assert other.decoded == 6  # a different T is a different cache key
    x, y = again[2]
    assert x.shape == (5, 2, 34, 34) and y == 2 and x.sum() == events[2].size


def test_time_major_batches(tmp_path):
    events = [random_events(50, (16, 16), i) for i in range(10)]
    ds = EventFrameDataset(array_samples("b", events, np.arange(10)), (16, 16), T=4)
    batches = list(time_major_batches(ds, batch_size=4, seed=3))
    assert [b[0].shape for b in batches] == [(4, 4, 2, 16, 16)] * 2 + [(4, 2, 2, 16, 16)]
    seen = torch.cat([b[1] for b in batches])
    assert sorted(seen.tolist()) == list(range(10))
    x, y = batches[0]
    assert torch.equal(x[:, 0], ds.frames[y[0]])
    assert torch.equal(to_time_major(ds.frames[:3]), ds.frames[:3].transpose(0, 1))
    again = [b[1].tolist() for b in time_major_batches(ds, 4, seed=3)]
    assert again == [b[1].tolist() for b in batches]
    assert len(list(time_major_batches(ds, 4, drop_last=True))) == 2


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(0, 400),
    h=st.integers(1, 64),
    w=st.integers(1, 64),
    T=st.integers(1, 12),
    mode=st.sampled_from(["time", "count"]),
    scale=st.floats(0.1, 1.0),
    seed=st.integers(0, 2**16),
)
def test_counts_preserved_property(n, h, w, T, mode, scale, seed):
    ev = random_events(n, (h, w), seed, t_max=int(seed) + 1)
    out = (max(1, int(h * scale)), max(1, int(w * scale)))
    frames = events_to_frames(ev, (h, w), T=T, mode=mode, downsample_to=out)
    assert frames.shape == (T, 2, *out) and frames.sum().item() == n
    assert (frames >= 0).all()
