"""Procedural grey images of simple shapes: an offline source for the simulator and tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from spikebit.errors import DataError

ShapeFn = Callable[[np.ndarray, np.ndarray, float], np.ndarray]


def _hbar(yy: np.ndarray, xx: np.ndarray, r: float) -> np.ndarray:
    return (np.abs(yy) <= r / 3) & (np.abs(xx) <= r)


def _vbar(yy: np.ndarray, xx: np.ndarray, r: float) -> np.ndarray:
    return (np.abs(xx) <= r / 3) & (np.abs(yy) <= r)


def _square(yy: np.ndarray, xx: np.ndarray, r: float) -> np.ndarray:
    return (np.abs(xx) <= r * 0.8) & (np.abs(yy) <= r * 0.8)


def _disk(yy: np.ndarray, xx: np.ndarray, r: float) -> np.ndarray:
    return xx**2 + yy**2 <= r**2


def _ring(yy: np.ndarray, xx: np.ndarray, r: float) -> np.ndarray:
    d2 = xx**2 + yy**2
    return (d2 <= r**2) & (d2 >= (0.55 * r) ** 2)


def _cross(yy: np.ndarray, xx: np.ndarray, r: float) -> np.ndarray:
    return _hbar(yy, xx, r) | _vbar(yy, xx, r)


SHAPES: dict[str, ShapeFn] = {
    "hbar": _hbar,
    "vbar": _vbar,
    "square": _square,
    "disk": _disk,
    "ring": _ring,
    "cross": _cross,
}
"""Shape name -> mask function ``(yy, xx, radius) -> bool [H, W]`` (coords from the centre)."""


def shape_images(
    n: int,
    seed: int,
    classes: Sequence[str] = ("hbar", "vbar", "square", "disk"),
    size: int = 28,
    jitter: int = 2,
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images float32 ``[n, size, size]`` in [0, 1] and int64 labels ``[n]``.

    Label ``i`` draws ``classes[i]`` with random radius (0.22..0.32 of ``size``),
    centre offset (``±jitter`` px) and brightness (0.6..1.0) on black; labels cycle.

    Args:
        n: number of images.
        seed: seed of the ``numpy`` generator (same seed, same images).
        classes: shape names from ``SHAPES`` (``hbar``, ``vbar``, ``square``,
            ``disk``, ``ring``, ``cross``); label ``k`` is ``classes[k]``.
        size: image side in pixels.
        jitter: largest centre offset in pixels along each axis.

    Returns:
        ``(images, labels)``: float32 ``[n, size, size]`` and int64 ``[n]`` with
        ``labels[j] = j % len(classes)``.

    Raises:
        DataError: a name in ``classes`` is not a known shape.
    """
    unknown = [c for c in classes if c not in SHAPES]
    if unknown:
        raise DataError(f"unknown shape(s) {unknown}; choose from {sorted(SHAPES)}.")
    rng = np.random.default_rng(seed)
    labels = np.arange(n, dtype=np.int64) % len(classes)
    images = np.zeros((n, size, size), dtype=np.float32)
    grid = np.arange(size, dtype=np.float32) - (size - 1) / 2
    for i, c in enumerate(labels):
        dy, dx = rng.integers(-jitter, jitter + 1, size=2)
        r = float(rng.uniform(0.22, 0.32) * size)
        yy, xx = np.meshgrid(grid - dy, grid - dx, indexing="ij")
        images[i][SHAPES[classes[c]](yy, xx, r)] = rng.uniform(0.6, 1.0)
    return images, labels
