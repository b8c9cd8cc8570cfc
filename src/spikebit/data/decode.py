"""Decode image files (PNG, JPEG, ...) into one uint8 array with Pillow.

Pillow is optional: it is imported only here, when image files are read.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from spikebit.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".gif", ".tif", ".tiff", ".webp")
_GRAY_MODES = ("1", "L", "I", "I;16", "I;16L", "I;16B", "I;16N", "F")
_DEEP_GRAY = ("I", "I;16", "I;16L", "I;16B", "I;16N", "F")
MAX_PIXELS = 2**26
"""Largest image decoded (8192 x 8192 pixels); larger claims are refused before decoding."""


def require_pillow(what: str) -> ModuleType:
    """Import ``PIL.Image`` or raise :class:`DataError` saying how to install it.

    Args:
        what: what is being read (a dataset name), for the error message.

    Returns:
        The ``PIL.Image`` module.

    Raises:
        DataError: Pillow is not installed (``pip install pillow``).
    """
    try:
        from PIL import Image
    except ImportError:
        raise DataError(
            f"reading {what} needs Pillow to decode PNG/JPEG files; install it with "
            "`pip install pillow` (or `pip install spikebit[images]`)."
        ) from None
    return Image


def is_image(path: Path) -> bool:
    """True for a regular file whose suffix is a known image type (any case).

    Args:
        path: file to test; its suffix is compared with ``IMAGE_SUFFIXES``. The
            file is not opened.

    Returns:
        Whether ``path`` is an existing regular file with an image suffix.
    """
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES


def _open(image: ModuleType, p: Path, what: str) -> Any:
    """Open (header only) with Pillow's bomb warning silenced: our pixel limit decides."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", image.DecompressionBombWarning)
            warnings.filterwarnings("ignore", module="PIL")  # corrupt-tag notes: we decide
            im = image.open(p)
    except image.DecompressionBombError as err:
        raise DataError(f"{what}: image {p} is too large ({err}). Remove or resize it.") from None
    except Exception as err:  # Pillow's plugins raise many types on corrupt files
        raise DataError(f"{what}: cannot read image {p} ({err}). Remove or replace the file.") \
            from None
    w, h = im.size
    if w * h > MAX_PIXELS or w <= 0 or h <= 0:
        im.close()
        raise DataError(
            f"{what}: image {p} claims {w}x{h} pixels; at most {MAX_PIXELS:,} pixels per image "
            "are decoded (a decompression-bomb guard). Remove or resize the file."
        )
    return im


def to_uint8_gray(im: Any, p: Path, what: str) -> np.ndarray:
    """A high-depth grayscale image to uint8 ``[H, W]`` by the range of its pixel format.

    16-bit modes (``I;16*``) scale ``0..65535`` to ``0..255``; 32-bit ``I`` scales
    ``0..255`` as is and ``0..65535`` as 16-bit; float ``F`` scales ``[0, 1]`` to
    ``0..255`` and ``[0, 255]`` as is.

    Args:
        im: the opened Pillow image (a grayscale mode such as ``I;16``, ``I`` or ``F``).
        p: its path, for messages.
        what: the dataset name, for messages.

    Returns:
        uint8 ``[H, W]``, rounded to nearest.

    Raises:
        DataError: negative, non-finite or out-of-range values for the mode.
    """
    arr = np.asarray(im)
    if im.mode.startswith("I;16"):
        return np.rint(arr.astype(np.float64) * (255 / 65535)).astype(np.uint8)
    values = arr.astype(np.float64)
    lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo < 0:
        raise DataError(
            f"{what}: image {p} ({im.mode}) has values in [{lo}, {hi}]; expected a range "
            "starting at 0 ([0, 1], [0, 255] or [0, 65535]). Rescale the file."
        )
    if im.mode == "F" and hi <= 1.0:
        scale = 255.0
    elif hi <= 255:
        scale = 1.0
    elif im.mode == "I" and hi <= 65535:
        scale = 255 / 65535
    else:
        raise DataError(
            f"{what}: image {p} ({im.mode}) has values up to {hi}; expected [0, 1] (float), "
            "[0, 255] or [0, 65535]. Rescale the file."
        )
    return np.rint(values * scale).astype(np.uint8)


def read_images(paths: list[Path], what: str, size: int | None = None) -> np.ndarray:
    """Decode ``paths`` into uint8 ``[N, C, H, W]``.

    ``C`` is 1 when every image is grayscale, else 3 (RGB; alpha dropped, palettes
    expanded). High-depth grayscale (16-bit PNG, float TIFF) is scaled by its own
    format's range (:func:`to_uint8_gray`). With ``size=None`` all images must share
    one size; otherwise each is resized (shorter side to ``size``, bilinear) and
    center-cropped to ``size x size``.

    Args:
        paths: image files (any format Pillow decodes), in output order.
        what: dataset name, for error messages.
        size: output side length in pixels, or ``None`` to keep the (common) size.

    Returns:
        uint8 ``[N, C, H, W]`` with ``C`` 1 (all grayscale) or 3 (RGB).

    Raises:
        DataError: Pillow is missing, an image cannot be opened or decoded, claims
            more than ``MAX_PIXELS`` pixels, has an unsupported value range, or (with
            ``size=None``) differs in size from the first image.
    """
    image = require_pillow(what)
    from PIL import ImageOps

    modes, sizes = [], []
    for p in paths:
        with _open(image, p, what) as im:
            modes.append(im.mode)
            sizes.append(im.size)
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
        with _open(image, p, what) as im, warnings.catch_warnings():
            warnings.filterwarnings("ignore", module="PIL")
            try:
                if mode == "L" and im.mode in _DEEP_GRAY:
                    im = image.fromarray(to_uint8_gray(im, p, what))
                im = im.convert(mode)
                if size is not None:
                    im = ImageOps.fit(im, (size, size), method=image.Resampling.BILINEAR)
                arr = np.asarray(im, dtype=np.uint8)
            except DataError:
                raise
            except Exception as err:  # truncated or corrupt pixel data
                raise DataError(
                    f"{what}: cannot decode image {p} ({err}). Remove or replace the file."
                ) from None
        if arr.shape[:2] != (h, w):
            raise DataError(f"{what}: image {p} decoded to {arr.shape}, expected {h}x{w}.")
        out[i] = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
    return out
