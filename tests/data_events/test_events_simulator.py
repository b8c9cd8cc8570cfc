"""The saccade DVS simulator, the event store and the registered simulated datasets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spikebit.data.events import (
    EventFrameDataset,
    SaccadeConfig,
    event_dataset_names,
    fetch_event_dataset,
    load_event_dataset,
    make_event_dataset,
    save_event_dataset,
    shape_images,
    simulate_saccade_events,
)
from spikebit.data.events import fetch as fetch_module
from spikebit.data.events.simulator import saccade_path
from spikebit.errors import DataError


def square(size: int = 28, lo: int = 8, hi: int = 20) -> np.ndarray:
    img = np.zeros((size, size), np.float32)
    img[lo:hi, lo:hi] = 1.0
    return img


def test_flat_images_give_no_events():
    for v in (0.0, 0.4, 1.0):
        assert simulate_saccade_events(np.full((28, 28), v, np.float32), seed=0).size == 0
    assert simulate_saccade_events(np.full((34, 34), 0.7, np.float32), seed=0).size == 0


def test_events_lie_near_the_edges_of_a_square():
    cfg = SaccadeConfig()
    ev = simulate_saccade_events(square(), seed=0, cfg=cfg)
    assert ev.size > 500 and set(np.unique(ev["p"])) == {0, 1}
    # The 28x28 image sits at offset 3 on the 34x34 sensor: square edges at 11 and 23.
    lo, hi = 8 + 3, 20 + 3
    reach = np.abs(saccade_path(cfg)[1]).max() + 1.5  # path radius + bilinear blur
    x, y = ev["x"].astype(float) + 0.5, ev["y"].astype(float) + 0.5
    dist_x = np.minimum(np.abs(x - lo), np.abs(x - hi))
    dist_y = np.minimum(np.abs(y - lo), np.abs(y - hi))
    inside_x = (x > lo - reach) & (x < hi + reach)
    inside_y = (y > lo - reach) & (y < hi + reach)
    near_edge = ((dist_x <= reach) & inside_y) | ((dist_y <= reach) & inside_x)
    assert near_edge.all()
    centre = (np.abs(x - 17) < 2) & (np.abs(y - 17) < 2)
    assert not centre.any()


def test_polarity_follows_motion():
    # First saccade moves the image right and down: a bright square's right edge
    # advances (pixels brighten: ON), its left edge recedes (pixels darken: OFF).
    ev = simulate_saccade_events(square(), seed=0)
    first = ev[ev["t"] < 100_000]
    mid_rows = (first["y"] > 14) & (first["y"] < 20)
    right = first[mid_rows & (first["x"] >= 22)]
    left = first[mid_rows & (first["x"] <= 12)]
    assert right.size > 20 and left.size > 20
    assert right["p"].mean() > 0.95 and left["p"].mean() < 0.05


def test_stream_is_sorted_in_range_and_in_time():
    ev = simulate_saccade_events(shape_images(1, seed=3)[0][0], seed=1)
    assert np.all(np.diff(ev["t"]) >= 0)
    assert ev["t"].min() >= 0 and ev["t"].max() <= 300_000
    assert ev["x"].max() < 34 and ev["y"].max() < 34 and ev["x"].min() >= 0
    t, d = saccade_path(SaccadeConfig())
    assert t[-1] == 300_000 and np.allclose(d[0], d[-1])


def test_deterministic_under_seed_with_noise_and_mismatch():
    cfg = SaccadeConfig(threshold_sigma=0.03, noise_rate_hz=5.0)
    img = square()
    a = simulate_saccade_events(img, seed=7, cfg=cfg)
    np.testing.assert_array_equal(a, simulate_saccade_events(img, seed=7, cfg=cfg))
    assert not np.array_equal(a, simulate_saccade_events(img, seed=8, cfg=cfg))
    noisy = simulate_saccade_events(np.zeros((28, 28), np.float32), seed=7, cfg=cfg)
    assert noisy.size > 0 and np.all(np.diff(noisy["t"]) >= 0)


def test_dataset_matches_single_image_simulation():
    images, labels = shape_images(10, seed=0)
    cfg = SaccadeConfig(threshold_sigma=0.02, noise_rate_hz=2.0)
    ds = make_event_dataset(images[:, None], labels, seed=5, cfg=cfg, chunk=4)
    assert len(ds) == 10 and ds.sensor_size == (34, 34)
    for i in (0, 3, 9):
        np.testing.assert_array_equal(ds.events[i], simulate_saccade_events(images[i], (5, i), cfg))
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        make_event_dataset(images * 255, labels)


def test_store_round_trip(tmp_path):
    images, labels = shape_images(6, seed=1)
    ds = make_event_dataset(images, labels, seed=0)
    ds.events[2] = ds.events[2][:0]  # an empty sample survives too
    save_event_dataset(tmp_path / "d.npz", ds)
    back = load_event_dataset(tmp_path / "d.npz")
    assert back.name == ds.name and back.sensor_size == ds.sensor_size
    assert back.labels.tolist() == labels.tolist()
    for a, b in zip(ds.events, back.events):
        np.testing.assert_array_equal(a, b)
    (tmp_path / "junk.npz").write_bytes(b"nope")
    with pytest.raises(DataError, match=r"junk\.npz"):
        load_event_dataset(tmp_path / "junk.npz")


def test_fetch_builds_once_and_caches(tmp_path, monkeypatch):
    assert {"nfmnist", "nmnist-subset", "shapes"} <= set(event_dataset_names())
    first = fetch_event_dataset("shapes", tmp_path, train=True, limit=12)
    files = list((tmp_path / "events").glob("shapes-train-*.npz"))
    assert len(files) == 1 and len(first) == 12

    def boom(*args, **kwargs):
        raise AssertionError("should have been read from the cache")

    monkeypatch.setattr(fetch_module, "make_event_dataset", boom)
    second = fetch_event_dataset("shapes", tmp_path, train=True, limit=12)
    for a, b in zip(first.events, second.events):
        np.testing.assert_array_equal(a, b)


def test_nfmnist_uses_load_dataset(tmp_path, monkeypatch):
    calls = []

    def fake_static(name, train, data_dir):
        calls.append((name, train))
        return shape_images(5, seed=int(train))

    monkeypatch.setattr(fetch_module, "_static_images", fake_static)
    ds = fetch_event_dataset("nfmnist", tmp_path, train=False, limit=3)
    assert calls == [("fashion-mnist", False)] and len(ds) == 3
    fetch_event_dataset("nmnist-subset", tmp_path, train=True)
    assert calls[-1] == ("mnist-subset", True)
    with pytest.raises(KeyError, match="nfmnist"):
        fetch_event_dataset("nfminst", tmp_path)


@pytest.fixture
def one_thread():
    """Tiny matmuls run fastest single-threaded (and do not fight other jobs for cores)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_logistic_regression_beats_chance_on_simulated_shapes(one_thread):
    images, labels = shape_images(400, seed=0, classes=("hbar", "vbar"), jitter=3)
    ds = make_event_dataset(images, labels, seed=0)
    frames = EventFrameDataset(ds.samples(), ds.sensor_size, T=3, downsample_to=17)
    x = frames.frames.flatten(1)
    x = x / (x.amax(dim=1, keepdim=True) + 1)
    y = frames.labels
    train, test = slice(0, 300), slice(300, 400)
    torch.manual_seed(0)
    model = torch.nn.Linear(x.shape[1], 2)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(40):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x[train]), y[train]).backward()
        opt.step()
    acc = (model(x[test]).argmax(1) == y[test]).float().mean().item()
    assert acc > 0.8, acc
