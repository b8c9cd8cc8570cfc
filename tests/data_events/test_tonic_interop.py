"""Tonic conventions: (W, H, P) sensor sizes, per-dataset dtypes, float/ms timestamps,
fixed-duration windows, 1-D (audio) events and batch-first frames."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spikebit.data.events import TonicFrames, events_to_frames, from_tonic, make_events
from spikebit.errors import DataError, ShapeError
from spikebit.models import ModelConfig, build_network

tonic = pytest.importorskip("tonic")
ToFrame = tonic.transforms.ToFrame

NMNIST_DTYPE = tonic.datasets.NMNIST.dtype  # x, y, t, p as int64
GESTURE_DTYPE = tonic.datasets.DVSGesture.dtype  # x, y int16, p bool, t int64
SHD_DTYPE = tonic.datasets.SHD.dtype  # t, x, p (1-D)


def _camera_events(dtype: np.dtype, n: int = 400, w: int = 34, h: int = 34, seed: int = 0):
    rng = np.random.default_rng(seed)
    ev = np.zeros(n, dtype=dtype)
    ev["x"] = rng.integers(0, w, n)
    ev["y"] = rng.integers(0, h, n)
    ev["t"] = np.sort(rng.integers(1_000, 301_000, n))
    ev["p"] = rng.integers(0, 2, n).astype(ev["p"].dtype)
    return ev


@pytest.mark.parametrize("dtype", [NMNIST_DTYPE, GESTURE_DTYPE], ids=["nmnist", "gesture"])
def test_tonic_sensor_order_and_dtypes_match_tonic_toframe(dtype):
    ev = _camera_events(dtype)
    ours = events_to_frames(ev, (34, 34, 2), mode="duration", window=50_000)
    theirs = ToFrame(sensor_size=(34, 34, 2), time_window=50_000, include_incomplete=True)(ev)
    assert ours.shape == theirs.shape  # [T, P, H, W]
    assert torch.equal(ours, torch.from_numpy(theirs.astype(np.float32)))


def test_non_square_tonic_sensor_is_read_as_w_h_p():
    ev = _camera_events(NMNIST_DTYPE, w=40, h=20)
    frames = events_to_frames(ev, (40, 20, 2), T=3)
    assert frames.shape == (3, 2, 20, 40)
    assert frames.sum() == len(ev)


def test_one_polarity_channel_sums_polarities():
    ev = _camera_events(NMNIST_DTYPE)
    both = events_to_frames(ev, (34, 34, 2), T=2)
    one = events_to_frames(ev, (34, 34, 1), T=2)
    assert one.shape == (2, 1, 34, 34)
    assert torch.equal(one[:, 0], both.sum(1))


def test_recording_anchored_windows_start_at_zero():
    ev = make_events(np.array([5, 12, 25, 31]), np.zeros(4), np.zeros(4), np.ones(4))
    # from the first event: [5, 15) [15, 25) [25, 35); from t = 0: [0, 10) [10, 20) ...
    first = events_to_frames(ev, (1, 1), mode="duration", window=10)
    rec = events_to_frames(ev, (1, 1), mode="duration", window=10, anchor="recording")
    assert first[:, 1, 0, 0].tolist() == [2.0, 0.0, 2.0]
    assert rec[:, 1, 0, 0].tolist() == [1.0, 1.0, 1.0, 1.0]
    # a fixed number of windows drops what comes after them
    two = events_to_frames(ev, (1, 1), 2, mode="duration", window=10, anchor="recording")
    assert two[:, 1, 0, 0].tolist() == [1.0, 1.0]


def test_float_seconds_need_a_unit_and_are_not_truncated():
    ev = np.zeros(4, dtype=[("t", np.float64), ("x", np.int16), ("y", np.int16), ("p", bool)])
    ev["t"] = [0.0, 0.25, 0.5, 0.75]
    ev["p"] = True
    with pytest.raises(DataError, match="time_unit"):
        events_to_frames(ev, (1, 1), T=4)
    frames = events_to_frames(ev, (1, 1), T=4, time_unit="s")
    assert frames[:, 1, 0, 0].tolist() == [1.0, 1.0, 1.0, 1.0]
    half = events_to_frames(ev, (1, 1), mode="duration", window=0.5, time_unit="s")
    assert half[:, 1, 0, 0].tolist() == [2.0, 2.0]  # the window is in the same unit


def test_audio_events_frame_to_t_p_n_like_tonic():
    rng = np.random.default_rng(1)
    ev = np.zeros(300, dtype=SHD_DTYPE)
    ev["t"] = np.sort(rng.integers(0, 100_000, 300))
    ev["x"] = rng.integers(0, 700, 300)
    frames = events_to_frames(ev, (700, 1, 1), mode="duration", window=25_000)
    theirs = ToFrame(sensor_size=(700, 1, 1), time_window=25_000, include_incomplete=True)(ev)
    assert frames.shape == theirs.shape == (frames.shape[0], 1, 700)
    assert torch.equal(frames, torch.from_numpy(theirs.astype(np.float32)))
    assert events_to_frames(ev, 700, T=5).shape == (5, 1, 700)


def test_bad_sensor_sizes_are_clear_errors():
    ev = _camera_events(NMNIST_DTYPE)
    for bad in [(34,), (34, 34, 3), (0, 34), (34, 34, 2, 1)]:
        with pytest.raises(DataError, match="sensor_size"):
            events_to_frames(ev, bad, T=2)


def test_tonic_int16_frames_and_a_dataset_feed_a_spiking_net():
    data = [(_camera_events(GESTURE_DTYPE, seed=i), i % 3) for i in range(4)]
    ds = TonicFrames(data, T=3, sensor_size=(34, 34, 2))
    loader = torch.utils.data.DataLoader(ds, batch_size=2)
    x, y = next(iter(loader))
    assert x.shape == (2, 3, 2, 34, 34) and y.tolist() == [0, 1]
    net = build_network(ModelConfig(spec="4C3-GAP", in_shape=(2, 34, 34), steps=3,
                                    num_classes=3)).eval()
    with torch.no_grad():
        bf = net(x, time_first=False)
        tm = net(x.transpose(0, 1))
        assert torch.equal(bf, tm)
        with pytest.raises(ShapeError, match="time_first=False"):
            net(x)  # [B=2, T=3, ...] read as T=2: refused
        tonic_frames = ToFrame(sensor_size=(34, 34, 2), n_time_bins=3)(data[0][0])
        assert tonic_frames.dtype == np.int16
        out = net(torch.from_numpy(tonic_frames).unsqueeze(1))  # int16 [T, 1, P, H, W]
        assert out.dtype == torch.float32 and out.shape == (3, 1, 3)
    assert from_tonic(tonic_frames).dtype == torch.float32


def test_from_tonic_dispatches_on_its_input():
    ev = _camera_events(NMNIST_DTYPE)
    assert from_tonic(ev, 4, sensor_size=(34, 34, 2)).shape == (4, 2, 34, 34)
    with pytest.raises(DataError, match="sensor_size"):
        from_tonic(ev, 4)
    with pytest.raises(DataError, match="expects"):
        from_tonic(42)
    ds = from_tonic([(ev, 1)], 2, sensor_size=(34, 34, 2))
    assert isinstance(ds, TonicFrames) and ds[0][0].shape == (2, 2, 34, 34)


def test_cached_frames_refuse_duration_mode_with_a_hint():
    from spikebit.data.events import EventFrameDataset
    from spikebit.data.events.sources import array_samples

    samples = array_samples("two-events", [make_events(np.array([0, 5]), np.zeros(2), np.zeros(2),
                                                       np.ones(2))], np.array([0]))
    with pytest.raises(DataError, match="TonicFrames"):
        EventFrameDataset(samples, (1, 1), 2, mode="duration")
