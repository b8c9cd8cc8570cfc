"""IDX files (the MNIST format), plain or gzip-compressed.

Layout: two zero bytes, a dtype code, the number of dimensions ``d``, ``d`` big-endian
uint32 sizes, then the values in C order, big-endian. Label files have magic 2049
(``0x00000801``: ubyte, 1-d), image files 2051 (``0x00000803``: ubyte, 3-d).
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from spikebit.errors import DataError

LABELS_MAGIC = 2049
IMAGES_MAGIC = 2051
_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_CODES = {np.dtype(v).newbyteorder("="): k for k, v in _DTYPES.items()}
_FIX = "Delete it and fetch the dataset again, or replace it with a fresh copy."


MAX_BYTES = 2**33
"""Largest IDX body read (8 GiB); a header that declares more is refused before reading."""


def _declared_size(head: bytes) -> int | None:
    """Total bytes the header declares, or ``None`` if the header is incomplete/invalid."""
    if len(head) < 4 or head[2] not in _DTYPES:
        return None
    header = 4 + 4 * head[3]
    if len(head) < header:
        return None
    dims = struct.unpack(f">{head[3]}I", head[4:header])
    return header + math.prod(dims) * np.dtype(_DTYPES[head[2]]).itemsize


def _read_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise DataError(f"IDX file {path} does not exist. Place the dataset files there.")
    try:
        if path.suffix == ".gz":  # decompress no more than the header declares (+1)
            with gzip.open(path, "rb") as f:
                head = f.read(4 + 4 * 255)
                size = _declared_size(head)
                if size is not None and size > MAX_BYTES:
                    raise DataError(
                        f"IDX file {path} declares {size:,} bytes, over the {MAX_BYTES:,}-byte "
                        f"limit. {_FIX}"
                    )
                return head + f.read(max(0, (size or 0) - len(head)) + 1)
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(f"IDX file {path} cannot be decompressed ({err}). {_FIX}") from None


def read_idx(path: str | Path, magic: int | None = None) -> np.ndarray:
    """Read an IDX file (``.gz`` decompressed on the fly) into a native-endian array.

    Format: IDX as published with MNIST (LeCun et al., http://yann.lecun.com/exdb/mnist/):
    two zero bytes, a dtype code, the number of dimensions ``d``, ``d`` big-endian
    uint32 sizes, then the values in C order, big-endian. A ``.gz`` file is
    decompressed no further than its header declares (plus one byte).

    Args:
        path: an IDX file, plain or gzip-compressed (suffix ``.gz``).
        magic: expected magic number (2049 = ``LABELS_MAGIC``, 2051 =
            ``IMAGES_MAGIC``), or ``None`` to accept any valid header.

    Returns:
        The values with the header's shape (e.g. uint8 ``[N, 28, 28]`` for images,
        ``[N]`` for labels) and dtype, in native byte order.

    Raises:
        DataError: the file is missing or cannot be decompressed, its magic number
            differs from ``magic``, its header is invalid, it declares more than
            ``MAX_BYTES``, or its size disagrees with the header (truncated or too long).
    """
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise DataError(f"IDX file {path} is only {len(raw)} bytes long. {_FIX}")
    (found,) = struct.unpack(">I", raw[:4])
    code, ndim = raw[2], raw[3]
    if magic is not None and found != magic:
        kind = {LABELS_MAGIC: "label", IMAGES_MAGIC: "image"}.get(magic, "IDX")
        raise DataError(
            f"IDX file {path} has magic number {found}, expected {magic} for a {kind} file. "
            f"Check that images and labels are not swapped and the file is not corrupt."
        )
    if raw[:2] != b"\0\0" or code not in _DTYPES:
        raise DataError(f"IDX file {path} has an invalid header {raw[:4].hex()}. {_FIX}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"IDX file {path} is truncated inside its header. {_FIX}")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(_DTYPES[code])
    expected = header + math.prod(dims) * dtype.itemsize  # exact: no 64-bit wrap-around
    if len(raw) != expected:
        problem = "truncated" if len(raw) < expected else "too long"
        raise DataError(
            f"IDX file {path} is {problem}: header {dims} needs {expected} bytes "
            f"(decompressed), found {len(raw)}. {_FIX}"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)
    return data.astype(dtype.newbyteorder("="))


def write_idx(path: str | Path, array: np.ndarray) -> Path:
    """Write ``array`` as an IDX file (gzip-compressed when ``path`` ends in ``.gz``).

    The inverse of :func:`read_idx`; the gzip header's mtime is 0, so equal arrays
    give byte-identical files.

    Args:
        path: destination file; suffix ``.gz`` selects gzip compression.
        array: values of an IDX dtype (uint8, int8, int16, int32, float32, float64),
            any rank up to 255.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        DataError: ``array``'s dtype has no IDX code.
    """
    path = Path(path)
    array = np.asarray(array)
    code = _CODES.get(array.dtype.newbyteorder("="))
    if code is None:
        raise DataError(f"cannot write {path}: dtype {array.dtype} has no IDX code.")
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    body = header + array.astype(np.dtype(_DTYPES[code])).tobytes()
    path.write_bytes(gzip.compress(body, mtime=0) if path.suffix == ".gz" else body)
    return path


def read_idx_pair(
    images_path: str | Path, labels_path: str | Path, num_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Read matching image (``[N, H, W]`` uint8) and label (``[N]`` uint8) IDX files.

    Args:
        images_path: IDX image file (magic 2051), plain or ``.gz``.
        labels_path: IDX label file (magic 2049), plain or ``.gz``.
        num_classes: labels must lie in ``[0, num_classes)``.

    Returns:
        ``(images, labels)``: uint8 ``[N, H, W]`` and uint8 ``[N]``.

    Raises:
        DataError: either file fails :func:`read_idx`, holds a dtype other than
            unsigned bytes, the counts differ, or a label is ``>= num_classes``.
    """
    images = read_idx(images_path, IMAGES_MAGIC)
    labels = read_idx(labels_path, LABELS_MAGIC)
    if images.dtype != np.uint8 or labels.dtype != np.uint8:
        raise DataError(
            f"IDX files {images_path} / {labels_path} must hold unsigned bytes, found "
            f"{images.dtype} / {labels.dtype}. {_FIX}"
        )
    if len(images) != len(labels):
        raise DataError(
            f"IDX image file {images_path} holds {len(images)} images but label file "
            f"{labels_path} holds {len(labels)} labels; the two files are from different "
            "sets or one is damaged. Fetch both again."
        )
    if len(labels) and int(labels.max()) >= num_classes:
        raise DataError(
            f"IDX label file {labels_path} has label {int(labels.max())}, expected values "
            f"in [0, {num_classes}). Check that this is the right dataset."
        )
    return images, labels
