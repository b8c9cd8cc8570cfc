"""AEDAT 2.0 (jAER) reader for CIFAR10-DVS (Li et al. 2017), DVS128 address layout.

File: ASCII header lines starting with ``#`` (first ``#!AER-DAT2.0``), then
big-endian records ``uint32 address, uint32 timestamp`` (us). DVS128 address
(jAER ``DVS128.Extractor``): bit 0 polarity (raw 0 = ON), bits 1..7 ``x_raw``,
bits 8..14 ``y_raw``; bit 15 (external sync) or bit 31 (special) marks a
non-pixel event, which is dropped. jAER itself shows ``x = 127 - x_raw`` and
``y = y_raw`` with y pointing up; spikebit uses image rows (0 = top), so::

    x = 127 - x_raw,  y = 127 - y_raw,  p = 1 - (address & 1)

SpikingJelly's CIFAR10-DVS loader returns the transpose of this
(``x = 127 - y_raw, y = 127 - x_raw``); ``transpose=True`` reproduces it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from spikebit.data.events.core import PathArg, make_events, read_bytes
from spikebit.errors import DataError

CIFAR10DVS_SENSOR = (128, 128)
"""CIFAR10-DVS sensor size ``(H, W)``."""
CIFAR10DVS_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip
AEDAT2_MAGIC = b"#!AER-DAT2"
RECORD = np.dtype([("addr", ">u4"), ("t", ">u4")])
SPECIAL_BITS = 0x80008000  # bit 31: jAER special event; bit 15: DVS128 external sync
PIXEL_BITS = 0x7FFF


def aedat2_data_start(raw: bytes, name: str) -> int:
    """Check the ``#!AER-DAT2.x`` header and return the offset of the first record.

    Format: jAER AEDAT 2.0, ASCII header lines starting with ``#``, the first
    ``#!AER-DAT2.0``.

    Args:
        raw: the whole file's bytes.
        name: the file name, for error messages.

    Returns:
        Byte offset of the first 8-byte record (just after the last header line).

    Raises:
        DataError: the magic ``#!AER-DAT2`` is missing, or a header line never ends
            (truncated file).
    """
    if not raw.startswith(AEDAT2_MAGIC):
        raise DataError(
            f"{name}: bad AEDAT header at byte offset 0: expected {AEDAT2_MAGIC!r}..., got "
            f"{raw[:16]!r}; CIFAR10-DVS files are jAER AEDAT 2.0 (the .aedat4 re-encoding "
            "distributed by tonic is not supported)."
        )
    pos = 0
    while raw[pos : pos + 1] == b"#":
        nl = raw.find(b"\n", pos)
        if nl < 0:
            raise DataError(
                f"{name}: bad AEDAT header: line at byte offset {pos} never ends; the file is "
                "truncated, re-download it."
            )
        pos = nl + 1
    return pos


def decode_aedat2_raw(raw: bytes, name: str = "<bytes>", strict: bool = True) -> np.ndarray:
    """Decode records into a ``[N]`` array with fields ``addr`` (u4) and ``t`` (int64 us).

    Format: AEDAT 2.0 (jAER), big-endian records ``uint32 address, uint32 timestamp``
    (microseconds) after the ``#`` header. A 32-bit timestamp that wraps (a drop of
    more than 2**31 us) is unwrapped.

    Args:
        raw: the whole file's bytes, header included.
        name: the file name, for error messages.
        strict: raise on a partial trailing record; ``False`` drops it.

    Returns:
        Records ``[N]`` with fields ``addr`` (uint32, undecoded) and ``t`` (int64
        microseconds), including non-pixel events.

    Raises:
        DataError: a bad header (see :func:`aedat2_data_start`), or (``strict``) a
            length that is not a whole number of 8-byte records.
    """
    start = aedat2_data_start(raw, name)
    n, rest = divmod(len(raw) - start, RECORD.itemsize)
    if rest and strict:
        raise DataError(
            f"{name}: truncated AEDAT 2.0 record at byte offset {start + n * RECORD.itemsize} "
            f"({rest} stray bytes after {n} 8-byte records); re-download the file, or pass "
            "strict=False to drop the partial record."
        )
    rec = np.frombuffer(raw, dtype=RECORD, count=n, offset=start)
    t = rec["t"].astype(np.int64)
    if n > 1:
        wraps = np.diff(t) < -(1 << 31)
        if wraps.any():
            t[1:] += np.cumsum(wraps, dtype=np.int64) << 32
    out = np.empty(n, dtype=[("addr", np.uint32), ("t", np.int64)])
    out["addr"] = rec["addr"]
    out["t"] = t
    return out


def decode_cifar10dvs(
    raw: bytes, name: str = "<bytes>", strict: bool = True, transpose: bool = False
) -> np.ndarray:
    """Decode CIFAR10-DVS AEDAT 2.0 bytes into events ``[N]`` (:data:`EVENT_DTYPE`).

    Format: AEDAT 2.0 with the DVS128 address layout (see the module docstring); the
    dataset is CIFAR10-DVS (Li et al. 2017). Non-pixel events (external sync, jAER
    special) are dropped; ``x = 127 - x_raw``, ``y = 127 - y_raw`` (0 = top row),
    ``p = 1 - (address & 1)``.

    Args:
        raw: the whole ``.aedat`` file's bytes.
        name: the file name, for error messages.
        strict: raise on a partial record or an address outside the DVS128 space;
            ``False`` drops them.
        transpose: swap ``x`` and ``y`` (SpikingJelly's orientation).

    Returns:
        Events ``[N]`` of :data:`EVENT_DTYPE` on a 128x128 sensor, timestamps in
        microseconds.

    Raises:
        DataError: a bad header, or (``strict``) a truncated record or an address
            with bits outside 0..14 on a pixel event.
    """
    rec = decode_aedat2_raw(raw, name, strict)
    addr = rec["addr"]
    pixel = (addr & SPECIAL_BITS) == 0
    stray = pixel & ((addr & ~np.uint32(PIXEL_BITS | SPECIAL_BITS)) != 0)
    if stray.any():
        i = int(np.argmax(stray))
        if strict:
            raise DataError(
                f"{name}: record at byte offset {aedat2_data_start(raw, name) + 8 * i} has "
                f"address 0x{int(addr[i]):08x}, outside the DVS128 128x128 address space "
                "(bits 0..14); not a DVS128 recording, or corrupt (strict=False drops it)."
            )
        pixel &= ~stray
    a = addr[pixel]
    x = 127 - ((a >> 1) & 0x7F).astype(np.int16)
    y = 127 - ((a >> 8) & 0x7F).astype(np.int16)
    if transpose:
        x, y = y, x
    p = (1 - (a & 1)).astype(np.int8)
    return make_events(rec["t"][pixel], x, y, p)


def read_cifar10dvs(path: PathArg, strict: bool = True, transpose: bool = False) -> np.ndarray:
    """Read one CIFAR10-DVS ``.aedat`` file into events ``[N]`` on a 128x128 sensor.

    Args:
        path: an AEDAT 2.0 file from the CIFAR10-DVS release.
        strict: raise on a partial record or a non-DVS128 address; ``False`` drops them.
        transpose: swap ``x`` and ``y`` (SpikingJelly's orientation).

    Returns:
        Events ``[N]`` of :data:`EVENT_DTYPE` (see :func:`decode_cifar10dvs`).

    Raises:
        DataError: the file is missing, or fails :func:`decode_cifar10dvs`.
    """
    return decode_cifar10dvs(read_bytes(path), str(path), strict, transpose)


def cifar10dvs_files(root: PathArg) -> tuple[list[Path], list[int]]:
    """List ``root/<class>/*.aedat`` (folder per class, official names) with labels 0..9.

    Args:
        root: the folder holding ``airplane/``, ..., ``truck/`` (the unzipped release).

    Returns:
        ``(files, labels)``: sorted paths per class, in class order, and their labels
        (index into ``CIFAR10DVS_CLASSES``).

    Raises:
        DataError: no ``<class>/*.aedat`` file exists under ``root``.
    """
    root = Path(root)
    files: list[Path] = []
    labels: list[int] = []
    for label, cls in enumerate(CIFAR10DVS_CLASSES):
        found = sorted((root / cls).glob("*.aedat"))
        files += found
        labels += [label] * len(found)
    if not files:
        raise DataError(
            f"{root}: no <class>/*.aedat files; unzip airplane.zip ... truck.zip so that "
            f"{root}/airplane/cifar10_airplane_0.aedat exists (see docs/events.md)."
        )
    return files, labels
