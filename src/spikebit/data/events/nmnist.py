"""N-MNIST / N-Caltech101 ``.bin`` reader (Orchard et al. 2015), vectorized.

Each record is 5 bytes, big-endian bit fields over 40 bits::

    byte0      x (pixels)
    byte1      y (pixels); y == 240 marks a timestamp-overflow record
    byte2      bit 7 polarity (1 = ON), bits 6..0 = timestamp bits 22..16
    byte3,4    timestamp bits 15..0 (microseconds)

Every overflow record adds ``overflow_increment`` (2**13 = 8192 us, the
convention of Orchard's ``eventvision.py`` that tonic copies) to the timestamps
of all later records; the overflow records themselves are dropped. Sensor 34x34.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from spikebit.data.events.core import (
    PathArg,
    first_out_of_range,
    make_events,
    read_bytes,
)
from spikebit.errors import DataError

NMNIST_SENSOR = (34, 34)
"""N-MNIST sensor size ``(H, W)``."""
NMNIST_RECORD_BYTES = 5
NMNIST_OVERFLOW_Y = 240
NMNIST_OVERFLOW_INCREMENT = 1 << 13


def decode_nmnist(
    data: bytes | np.ndarray,
    name: str = "<bytes>",
    sensor_size: tuple[int, int] = NMNIST_SENSOR,
    strict: bool = True,
    overflow_increment: int = NMNIST_OVERFLOW_INCREMENT,
) -> np.ndarray:
    """Decode N-MNIST bytes into events ``[N]`` of :data:`EVENT_DTYPE` (t in us).

    Format: the N-MNIST / N-Caltech101 binary of Orchard et al. 2015 (5-byte records,
    see the module docstring); overflow records (``y == 240``) are dropped after
    adding ``overflow_increment`` to every later timestamp.

    Args:
        data: the file's bytes, or a uint8 array of them.
        name: the file name, for error messages.
        sensor_size: ``(H, W)`` in pixels (34x34 for N-MNIST; pass the real size for
            N-Caltech101).
        strict: ``False`` drops a truncated last record and out-of-sensor events
            instead of raising.
        overflow_increment: microseconds added per overflow record (8192, as in
            Orchard's ``eventvision.py`` and Tonic).

    Returns:
        Events ``[N]`` of :data:`EVENT_DTYPE` in file order, ``p`` = 1 for ON.

    Raises:
        DataError: (``strict``) a length that is not a multiple of 5 bytes, or an
            event outside ``sensor_size``.
    """
    raw = np.frombuffer(data, dtype=np.uint8) if isinstance(data, bytes | bytearray) else data
    n_full, rest = divmod(raw.size, NMNIST_RECORD_BYTES)
    if rest and strict:
        raise DataError(
            f"{name}: truncated N-MNIST record at byte offset {n_full * NMNIST_RECORD_BYTES} "
            f"(file size {raw.size} is not a multiple of {NMNIST_RECORD_BYTES}); re-download "
            "the file, or pass strict=False to drop the partial record."
        )
    rec = raw[: n_full * NMNIST_RECORD_BYTES].reshape(n_full, NMNIST_RECORD_BYTES)
    y = rec[:, 1]
    b2 = rec[:, 2].astype(np.int64)
    ts = ((b2 & 0x7F) << 16) | (rec[:, 3].astype(np.int64) << 8) | rec[:, 4]
    is_overflow = y == NMNIST_OVERFLOW_Y
    if is_overflow.any():
        ts += np.cumsum(is_overflow, dtype=np.int64) * overflow_increment
    keep = ~is_overflow
    x = rec[:, 0][keep].astype(np.int16)
    y = y[keep].astype(np.int16)
    height, width = sensor_size
    bad = first_out_of_range(x, y, height, width)
    if bad >= 0:
        if strict:
            record = int(np.flatnonzero(keep)[bad])
            raise DataError(
                f"{name}: event at byte offset {record * NMNIST_RECORD_BYTES} has "
                f"(x={int(x[bad])}, y={int(y[bad])}) outside the {height}x{width} sensor; "
                "the file is corrupt or not N-MNIST (pass sensor_size for N-Caltech101, or "
                "strict=False to drop such events)."
            )
        ok = (x < width) & (y < height)
        return make_events(ts[keep][ok], x[ok], y[ok], (b2[keep][ok] >> 7).astype(np.int8))
    return make_events(ts[keep], x, y, (b2[keep] >> 7).astype(np.int8))


def read_nmnist(
    path: PathArg,
    sensor_size: tuple[int, int] = NMNIST_SENSOR,
    strict: bool = True,
    overflow_increment: int = NMNIST_OVERFLOW_INCREMENT,
) -> np.ndarray:
    """Read one N-MNIST ``.bin`` file into events ``[N]`` (:data:`EVENT_DTYPE`).

    Args:
        path: an N-MNIST (or N-Caltech101) ``.bin`` file (Orchard et al. 2015).
        sensor_size: ``(H, W)`` in pixels.
        strict: ``False`` drops a truncated last record and out-of-sensor events.
        overflow_increment: microseconds added per timestamp-overflow record.

    Returns:
        Events ``[N]`` of :data:`EVENT_DTYPE`, timestamps in microseconds.

    Raises:
        DataError: the file is missing or fails :func:`decode_nmnist`.
    """
    raw = read_bytes(path)
    return decode_nmnist(raw, str(path), sensor_size, strict, overflow_increment)


def nmnist_files(root: PathArg, train: bool = True) -> tuple[list[Path], list[int]]:
    """List ``root/{Train,Test}/<digit>/*.bin`` (the official layout) with labels 0..9.

    Args:
        root: the folder holding the unpacked ``Train/`` and ``Test/``.
        train: ``True`` lists ``Train/``, ``False`` ``Test/``.

    Returns:
        ``(files, labels)``: sorted paths per digit, digits in order, and the digit
        of each file.

    Raises:
        DataError: the split folder is missing or holds no ``<digit>/*.bin`` file.
    """
    split = Path(root) / ("Train" if train else "Test")
    if not split.is_dir():
        raise DataError(
            f"{split}: N-MNIST split folder not found; unpack Train.zip/Test.zip from the "
            "N-MNIST release so that <root>/Train/0/00002.bin exists (see docs/events.md)."
        )
    files: list[Path] = []
    labels: list[int] = []
    for digit in range(10):
        found = sorted((split / str(digit)).glob("*.bin"))
        files += found
        labels += [digit] * len(found)
    if not files:
        raise DataError(f"{split}: no .bin files under {split}/<digit>/; check the unpacking.")
    return files, labels
