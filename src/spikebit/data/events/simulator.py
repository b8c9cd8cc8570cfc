"""A DVS simulator: an event camera making three saccades over a still image (N-MNIST style).

Physics (ESIM-like, idealised pixel): each pixel tracks the log intensity
``L = log(I + eps)`` and a reference ``R`` (the level at its last event). While
the sensor moves, whenever ``|L - R|`` crosses ``k`` times the pixel's contrast
threshold ``C`` it emits ``k`` events (ON, p=1, for a rise; OFF, p=0, for a fall)
and moves ``R`` by ``k*C``. Event times are interpolated linearly between the
two grid steps at which each level was crossed. ``I`` is the image translated
(bilinear, sub-pixel) along a triangular path of three saccades, as N-MNIST's
pan-tilt unit moved the sensor in front of a monitor. Optional per-pixel
threshold mismatch and background-activity noise are drawn from a per-image
seeded RNG. Vectorized over a batch of images and pixels; loops only over time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from spikebit.data.events.core import make_events
from spikebit.data.events.store import EventDataset
from spikebit.errors import DataError
from spikebit.progress import ProgressBar

Seed = int | Sequence[int]


@dataclass(frozen=True)
class SaccadeConfig:
    """Simulator parameters (defaults mimic N-MNIST: 34x34, 3 x 100 ms).

    Attributes:
        sensor_size: ``(H, W)`` of the simulated sensor in pixels; images are centred
            on it.
        saccade_ms: duration of each of the three saccades, in milliseconds.
        amplitude_px: side of the triangular path, in pixels.
        dt_us: time-grid step in microseconds; event times are interpolated within it.
        threshold: contrast threshold ``C``, in log-intensity units.
        threshold_sigma: per-pixel standard deviation of ``C`` (mismatch), log units.
        eps: ``L = log(I + eps)``; bounds the contrast of black pixels.
        noise_rate_hz: background events per pixel per second (Hz).
        background: intensity of the scene beyond the image, in ``[0, 1]``; ``None``
            repeats the image's border.
    """

    sensor_size: tuple[int, int] = (34, 34)
    saccade_ms: float = 100.0  # duration of each of the three saccades
    amplitude_px: float = 3.0  # side of the triangular path, pixels
    dt_us: int = 2000  # time-grid step; event times are interpolated within it
    threshold: float = 0.25  # contrast threshold C, log-intensity units
    threshold_sigma: float = 0.0  # per-pixel std of C (mismatch), log units
    eps: float = 0.1  # L = log(I + eps); bounds the contrast of black pixels
    noise_rate_hz: float = 0.0  # background events per pixel per second
    background: float | None = None  # scene beyond the image; None = repeat its border

    def key(self) -> str:
        """A short text naming every parameter (for cache file names)."""
        h, w = self.sensor_size
        return (
            f"s{h}x{w}-m{self.saccade_ms:g}-a{self.amplitude_px:g}-dt{self.dt_us}"
            f"-c{self.threshold:g}-sd{self.threshold_sigma:g}-e{self.eps:g}"
            f"-n{self.noise_rate_hz:g}-b{self.background}"
        )


DEFAULT_SACCADE = SaccadeConfig()
"""The default simulator parameters (an immutable module constant)."""


def saccade_path(cfg: SaccadeConfig) -> tuple[np.ndarray, np.ndarray]:
    """Grid times ``[K+1]`` (us, from 0) and image displacements ``[K+1, 2]`` (dx, dy px).

    The path visits the corners of a triangle (side ``amplitude_px``, centred on
    the origin) at 0, 1, 2 and 3 saccade durations, at constant speed per leg.

    Args:
        cfg: the simulator parameters (``saccade_ms``, ``amplitude_px``, ``dt_us``).

    Returns:
        ``(t, d)``: float64 times ``[K+1]`` in microseconds, with
        ``K = max(3, round(3 * saccade_ms * 1000 / dt_us))``, and float64
        displacements ``[K+1, 2]`` in pixels.
    """
    a = cfg.amplitude_px
    corners = a * np.array([[0.0, 0.0], [0.5, np.sqrt(3) / 2], [1.0, 0.0], [0.0, 0.0]])
    corners -= corners[:3].mean(axis=0)
    total_us = 3 * cfg.saccade_ms * 1000.0
    steps = max(3, int(round(total_us / cfg.dt_us)))
    t = np.linspace(0.0, total_us, steps + 1)
    s = t / (cfg.saccade_ms * 1000.0)  # in saccades, 0..3
    d = np.stack([np.interp(s, [0, 1, 2, 3], corners[:, i]) for i in range(2)], axis=1)
    return t, d


def _as_batch(images: np.ndarray, sensor: tuple[int, int]) -> np.ndarray:
    arr = np.asarray(images, dtype=np.float32)
    if arr.ndim == 4 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 3:
        raise DataError(
            f"images must be [N, H, W] or [N, 1, H, W], got shape {arr.shape}; pass one "
            "grey image per sample."
        )
    if arr.shape[1] > sensor[0] or arr.shape[2] > sensor[1]:
        raise DataError(
            f"images of {arr.shape[1]}x{arr.shape[2]} do not fit the {sensor[0]}x{sensor[1]} "
            "sensor; resize them or enlarge SaccadeConfig.sensor_size."
        )
    if arr.size and (np.nanmin(arr) < 0 or np.nanmax(arr) > 1 or np.isnan(arr).any()):
        raise DataError("images must hold intensities in [0, 1]; divide 8-bit images by 255.")
    return arr


def _scene(images: np.ndarray, cfg: SaccadeConfig, margin: int) -> tuple[np.ndarray, int, int]:
    """Pad images to sensor + margin; returns the scene and the sensor's top-left in it."""
    (H, W), (h, w) = cfg.sensor_size, images.shape[1:]
    top, left = (H - h) // 2 + margin, (W - w) // 2 + margin
    pad = ((0, 0), (top, H - h - (H - h) // 2 + margin), (left, W - w - (W - w) // 2 + margin))
    if cfg.background is None:
        scene = np.pad(images, pad, mode="edge")
    else:
        scene = np.pad(images, pad, mode="constant", constant_values=cfg.background)
    return scene, margin, margin


def _view(scene: np.ndarray, y0: float, x0: float, H: int, W: int) -> np.ndarray:
    """Bilinear sample of ``scene`` on the sensor grid shifted to (y0, x0): ``[B, H, W]``."""
    iy, ix = int(np.floor(y0)), int(np.floor(x0))
    fy, fx = np.float32(y0 - iy), np.float32(x0 - ix)
    rows = scene[:, iy : iy + H + 1]
    left = rows[:, :, ix : ix + W]
    cols = left + fx * (rows[:, :, ix + 1 : ix + 1 + W] - left)  # [B, H+1, W]
    return cols[:, :H] + fy * (cols[:, 1:] - cols[:, :H])


def _noise(rng: np.random.Generator, cfg: SaccadeConfig, total_us: float) -> list[np.ndarray]:
    """Background activity: Poisson count, uniform pixel, time and polarity (t, x, y, p)."""
    H, W = cfg.sensor_size
    n = rng.poisson(cfg.noise_rate_hz * H * W * total_us * 1e-6)
    return [
        rng.integers(0, int(total_us) + 1, n),
        rng.integers(0, W, n),
        rng.integers(0, H, n),
        rng.integers(0, 2, n),
    ]


def simulate_batch(
    images: np.ndarray, seeds: Sequence[Seed], cfg: SaccadeConfig = DEFAULT_SACCADE
) -> list[np.ndarray]:
    """Simulate ``images [B, H, W]`` in [0, 1]; image ``i`` uses ``default_rng(seeds[i])``.

    The model is described in the module docstring (ESIM-like log-intensity pixels
    with contrast threshold ``C``, three saccades as in N-MNIST).

    Args:
        images: grey intensities in ``[0, 1]``, ``[B, H, W]`` or ``[B, 1, H, W]``,
            no larger than ``cfg.sensor_size`` (smaller images are centred).
        seeds: one seed per image (an int or a sequence of ints), for threshold
            mismatch and noise.
        cfg: the simulator parameters.

    Returns:
        A list of one :data:`EVENT_DTYPE` array per image, sorted by t (microseconds,
        from 0).

    Raises:
        DataError: ``images`` has the wrong rank, does not fit the sensor, holds
            values outside ``[0, 1]`` or NaN, or ``len(seeds) != B``.
    """
    imgs = _as_batch(images, cfg.sensor_size)
    B = imgs.shape[0]
    if len(seeds) != B:
        raise DataError(f"need one seed per image: {len(seeds)} seeds for {B} images.")
    H, W = cfg.sensor_size
    rngs = [np.random.default_rng(s) for s in seeds]
    if cfg.threshold_sigma > 0:
        jitter = np.stack([r.normal(0.0, cfg.threshold_sigma, (H, W)) for r in rngs])
        C = np.maximum(cfg.threshold + jitter, 0.25 * cfg.threshold).astype(np.float32)
    else:
        C = np.full((B, H, W), cfg.threshold, dtype=np.float32)
    C_flat = C.reshape(-1)
    t, disp = saccade_path(cfg)
    margin = int(np.ceil(np.abs(disp).max())) + 2
    scene, top, left = _scene(imgs, cfg, margin)
    eps = np.float32(cfg.eps)
    # The image moves by +d on the sensor, so pixel (r, c) sees scene point (r - dy, c - dx).
    L_prev = np.log(_view(scene, top - disp[0, 1], left - disp[0, 0], H, W) + eps)
    R = L_prev.copy()
    R_flat = R.reshape(-1)
    chunks: list[Chunk] = []
    for k in range(1, len(t)):
        L = np.log(_view(scene, top - disp[k, 1], left - disp[k, 0], H, W) + eps)
        diff = L - R
        idx = np.flatnonzero(np.abs(diff) >= C)
        if idx.size:
            chunks.append(_emit(idx, diff, C_flat, R_flat, L_prev, L, t[k - 1], t[k], H * W))
        L_prev = L
    return _collect(chunks, rngs, cfg, float(t[-1]), B)


Chunk = tuple[np.ndarray, np.ndarray, np.ndarray]  # flat pixel index, t (us), ON?


def _emit(
    idx: np.ndarray,
    diff: np.ndarray,
    C_flat: np.ndarray,
    R_flat: np.ndarray,
    L_prev: np.ndarray,
    L: np.ndarray,
    t0: float,
    t1: float,
    hw: int,
) -> Chunk:
    """Events of one grid step at flat pixel indices ``idx``; updates ``R_flat`` in place.

    Returns ``(flat index, t, polarity)`` ordered by (image, t).
    """
    d = diff.reshape(-1)[idx]
    Cf = C_flat[idx]
    cnt = np.floor(np.abs(d) / Cf).astype(np.int64)
    up = d > 0
    r0 = R_flat[idx]
    R_flat[idx] = r0 + np.where(up, cnt, -cnt) * Cf
    rep = np.repeat(np.arange(idx.size), cnt)
    j = np.arange(rep.size) - np.repeat(np.cumsum(cnt) - cnt, cnt) + 1
    l0, l1 = L_prev.reshape(-1)[idx][rep], L.reshape(-1)[idx][rep]
    level = r0[rep] + np.where(up[rep], j, -j) * Cf[rep]
    span = l1 - l0
    frac = np.clip((level - l0) / np.where(span == 0, 1, span), 0.0, 1.0)
    dt = np.rint(frac * (t1 - t0)).astype(np.int64)
    flat = idx[rep]
    order = np.argsort((flat // hw) * (int(t1 - t0) + 2) + dt, kind="stable")
    return flat[order], int(round(t0)) + dt[order], up[rep][order]


def _collect(
    chunks: list[Chunk],
    rngs: list[np.random.Generator],
    cfg: SaccadeConfig,
    total_us: float,
    B: int,
) -> list[np.ndarray]:
    """Merge per-step chunks (each ordered by image, t) and noise into per-image streams."""
    H, W = cfg.sensor_size
    if chunks:
        flat = np.concatenate([c[0] for c in chunks])
        b, rest = np.divmod(flat, H * W)
        y, x = np.divmod(rest, W)
        ts = np.concatenate([c[1] for c in chunks])
        p = np.concatenate([c[2] for c in chunks]).astype(np.int8)
    else:
        b = ts = x = y = np.empty(0, dtype=np.int64)
        p = np.empty(0, dtype=np.int8)
    if cfg.noise_rate_hz > 0:
        extra = [_noise(r, cfg, total_us) for r in rngs]
        nb = np.repeat(np.arange(B), [e[0].size for e in extra])
        parts = [np.concatenate([e[i] for e in extra]) for i in range(4)]
        b, ts = np.concatenate([b, nb]), np.concatenate([ts, parts[0]])
        x, y = np.concatenate([x, parts[1]]), np.concatenate([y, parts[2]])
        p = np.concatenate([p, parts[3].astype(np.int8)])
        order = np.lexsort((ts, b))
    else:  # chunks are in time order: a stable sort by image keeps each stream sorted
        order = np.argsort(b.astype(np.uint16) if B <= 65535 else b, kind="stable")
    ev = make_events(ts[order], x[order], y[order], p[order])
    bounds = np.searchsorted(b[order], np.arange(B + 1))
    return [ev[bounds[i] : bounds[i + 1]].copy() for i in range(B)]


def simulate_saccade_events(
    image: np.ndarray, seed: Seed = 0, cfg: SaccadeConfig = DEFAULT_SACCADE
) -> np.ndarray:
    """Events ``[N]`` (:data:`EVENT_DTYPE`) of a DVS saccading over ``image [H, W]`` in [0, 1].

    Args:
        image: one grey image ``[H, W]`` with intensities in ``[0, 1]``.
        seed: seed (an int or a sequence of ints) for threshold mismatch and noise.
        cfg: the simulator parameters.

    Returns:
        Events ``[N]`` sorted by t (microseconds, from 0).

    Raises:
        DataError: ``image`` is not 2-D, or fails the checks of :func:`simulate_batch`.
    """
    arr = np.asarray(image, dtype=np.float32)
    if arr.ndim != 2:
        raise DataError(f"image must be [H, W], got shape {arr.shape}.")
    return simulate_batch(arr[None], [seed], cfg)[0]


def make_event_dataset(
    images: np.ndarray,
    labels: np.ndarray,
    seed: int = 0,
    cfg: SaccadeConfig = DEFAULT_SACCADE,
    name: str = "simulated",
    chunk: int = 128,
) -> EventDataset:
    """Simulate every image ``[N, H, W]`` (or ``[N, 1, H, W]``) with seed ``(seed, i)``.

    Sample ``i`` equals ``simulate_saccade_events(images[i], (seed, i), cfg)``.
    Works in batches of ``chunk`` images to bound memory, with a progress bar.

    Args:
        images: grey intensities in ``[0, 1]``, ``[N, H, W]`` or ``[N, 1, H, W]``.
        labels: integer labels ``[N]``.
        seed: base seed; image ``i`` is simulated with ``(seed, i)``.
        cfg: the simulator parameters.
        name: dataset name; the result's name adds the seed and ``cfg.key()``.
        chunk: images simulated per batch.

    Returns:
        The dataset as an :class:`~spikebit.data.events.store.EventDataset` with ``N`` event arrays,
        int64 labels ``[N]`` and ``cfg.sensor_size``.

    Raises:
        DataError: the image and label counts differ, or the images fail the checks
            of :func:`simulate_batch`.
    """
    imgs = np.asarray(images, dtype=np.float32)
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    if len(imgs) != len(labels):
        raise DataError(f"{len(imgs)} images but {len(labels)} labels; pass one label each.")
    events: list[np.ndarray] = []
    with ProgressBar(len(imgs), f"simulate events ({name})", unit="image") as bar:
        for a in range(0, len(imgs), chunk):
            batch = imgs[a : a + chunk]
            events += simulate_batch(batch, [(seed, i) for i in range(a, a + len(batch))], cfg)
            bar.update(len(batch))
    return EventDataset(events, labels, cfg.sensor_size, f"{name}-seed{seed}-{cfg.key()}")
