"""Decode image files (PNG, JPEG, ...) into one uint8 array with Pillow.

Pillow is optional: it is imported only here, when image files are read.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import numpy as np

from spikebit.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".gif", ".tif", ".tiff", ".webp")
_GRAY_MODES = ("1", "L", "I", "I;16", "F")


def require_pillow(what: str) -> ModuleType:
    """Import ``PIL.Image`` or raise :class:`DataError` saying how to install it."""
    try:
        from PIL import Image
    except ImportError:
        raise DataError(
            f"reading {what} needs Pillow to decode PNG/JPEG files; install it with "
            "`pip install pillow` (or `pip install spikebit[images]`)."
        ) from None
    return Image


def is_image(path: Path) -> bool:
    """True for a regular file whose suffix is a known image type (any case)."""
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES


def read_images(paths: list[Path], what: str, size: int | None = None) -> np.ndarray:
    """Decode ``paths`` into uint8 ``[N, C, H, W]``.

    ``C`` is 1 when every image is grayscale, else 3 (RGB; alpha dropped, palettes
    expanded). With ``size=None`` all images must share one size; otherwise each is
    resized (shorter side to ``size``, bilinear) and center-cropped to ``size x size``.
    """
    image = require_pillow(what)
    from PIL import ImageOps

    modes, sizes = [], []
    for p in paths:
        try:
            with image.open(p) as im:
                modes.append(im.mode)
                sizes.append(im.size)
        except (OSError, ValueError) as err:
            raise DataError(
                f"{what}: cannot read image {p} ({err}). Remove or replace the file."
            ) from None
    if size is None and len(set(sizes)) > 1:
        bad = next(p for p, s in zip(paths, sizes) if s != sizes[0])
        raise DataError(
            f"{what}: image {bad} is {sizes[paths.index(bad)]} (width, height) but {paths[0]} "
            f"is {sizes[0]}; all images must share one size. Resize them first."
        )
    mode = "L" if all(m in _GRAY_MODES for m in modes) else "RGB"
    w, h = (size, size) if size is not None else (sizes[0] if sizes else (0, 0))
    out = np.empty((len(paths), 1 if mode == "L" else 3, h, w), dtype=np.uint8)
    for i, p in enumerate(paths):
        try:
            with image.open(p) as im:
                im = im.convert(mode)
                if size is not None:
                    im = ImageOps.fit(im, (size, size), method=image.Resampling.BILINEAR)
                arr = np.asarray(im, dtype=np.uint8)
        except (OSError, ValueError) as err:
            raise DataError(
                f"{what}: cannot decode image {p} ({err}). Remove or replace the file."
            ) from None
        out[i] = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
    return out
