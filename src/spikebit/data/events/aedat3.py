"""AEDAT 3.1 reader for DVS128 Gesture (Amir et al. 2017), vectorized per packet.

File: ASCII header lines starting with ``#`` (first ``#!AER-DAT3.1``), ended by
``#!END-HEADER\\r\\n``; then packets. Each packet is a 28-byte little-endian
header ``int16 eventType, int16 eventSource, int32 eventSize, int32 eventTSOffset,
int32 eventTSOverflow, int32 eventCapacity, int32 eventNumber, int32 eventValid``
followed by ``eventCapacity * eventSize`` bytes (cAER writes capacity ==
number to files; the first ``eventNumber`` events are decoded). Polarity events
(type 1) are 8 bytes: ``uint32 data`` (bit 0 valid, bit 1 polarity,
bits 2..16 y, bits 17..31 x) and ``int32 timestamp``; the full timestamp is
``(eventTSOverflow << 31) | timestamp`` in microseconds. Other packet types are
skipped and events whose valid bit is 0 are dropped. Sensor 128x128.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from spikebit.data.events.core import (
    PathArg,
    empty_events,
    first_out_of_range,
    make_events,
    read_bytes,
)
from spikebit.errors import DataError

GESTURE_SENSOR = (128, 128)
"""DVS128 Gesture sensor size ``(H, W)``."""
GESTURE_CLASSES = 11
AEDAT3_MAGIC = b"#!AER-DAT3"
AEDAT3_HEADER_END = b"#!END-HEADER\r\n"
PACKET_HEADER = struct.Struct("<hhiiiiii")
POLARITY_EVENT = 1
POLARITY_EVENT_BYTES = 8


def aedat3_data_start(raw: bytes, name: str) -> int:
    """Check the ASCII header and return the byte offset of the first packet.

    Format: AEDAT 3.1 (iniVation cAER), ``#`` header lines starting with
    ``#!AER-DAT3.1`` and ending with ``#!END-HEADER\\r\\n``.

    Args:
        raw: the whole file's bytes.
        name: the file name, for error messages.

    Returns:
        Byte offset just after the ``#!END-HEADER`` line.

    Raises:
        DataError: the magic ``#!AER-DAT3`` is missing, or there is no
            ``#!END-HEADER`` line (truncated or corrupt file).
    """
    if not raw.startswith(AEDAT3_MAGIC):
        raise DataError(
            f"{name}: bad AEDAT 3.1 header at byte offset 0: expected {AEDAT3_MAGIC!r}..., got "
            f"{raw[:16]!r}; this is not an AEDAT 3.x file (CIFAR10-DVS uses AEDAT 2.0: "
            "read_cifar10dvs)."
        )
    pos = 0
    while pos < len(raw):
        if raw[pos : pos + 1] != b"#":
            break
        nl = raw.find(b"\n", pos)
        if nl < 0:
            break
        if raw[pos : nl + 1] == AEDAT3_HEADER_END:
            return nl + 1
        pos = nl + 1
    raise DataError(
        f"{name}: bad AEDAT 3.1 header: no '#!END-HEADER\\r\\n' line (header lines stop at "
        f"byte offset {pos}); the file is truncated or corrupt, re-download it."
    )


def _packets(raw: bytes, start: int, name: str, strict: bool) -> list[tuple[int, int, int]]:
    """Walk packet headers; return ``(data_offset, eventNumber, tsOverflow)`` of polarity ones.

    With ``strict=False`` a truncated last packet ends the walk instead of raising.
    """
    out: list[tuple[int, int, int]] = []
    pos, size = start, len(raw)
    while pos < size:
        if size - pos < PACKET_HEADER.size:
            if not strict:
                break
            raise DataError(
                f"{name}: truncated packet header at byte offset {pos} ({size - pos} of "
                f"{PACKET_HEADER.size} bytes); the file was cut short, re-download it."
            )
        etype, _src, esize, tsoff, tsovf, cap, num, _valid = PACKET_HEADER.unpack_from(raw, pos)
        if esize < 0 or cap < 0 or num < 0 or num > cap or tsovf < 0:
            raise DataError(
                f"{name}: bad packet header at byte offset {pos} (eventSize={esize}, "
                f"eventCapacity={cap}, eventNumber={num}, eventTSOverflow={tsovf}); corrupt file."
            )
        data = pos + PACKET_HEADER.size
        end = data + cap * esize
        if end > size:
            if not strict:
                break
            raise DataError(
                f"{name}: truncated packet at byte offset {pos}: header declares {cap * esize} "
                f"bytes of events but only {size - data} remain; re-download the file."
            )
        if etype == POLARITY_EVENT and num:
            if esize != POLARITY_EVENT_BYTES or tsoff != 4:
                raise DataError(
                    f"{name}: polarity packet at byte offset {pos} has eventSize={esize}, "
                    f"eventTSOffset={tsoff}; expected 8 and 4 (AEDAT 3.1 polarity events)."
                )
            out.append((data, num, tsovf))
        pos = end
    return out


def decode_aedat3(
    raw: bytes,
    name: str = "<bytes>",
    sensor_size: tuple[int, int] = GESTURE_SENSOR,
    strict: bool = True,
) -> np.ndarray:
    """Decode AEDAT 3.1 bytes into events ``[N]`` (:data:`EVENT_DTYPE`, t in us).

    Format: AEDAT 3.1 packets (see the module docstring); only polarity packets
    (type 1) are decoded, events whose valid bit is 0 are dropped, and timestamps are
    ``(eventTSOverflow << 31) | timestamp`` microseconds. ``p`` is the polarity bit
    (1 = ON).

    Args:
        raw: the whole file's bytes, header included.
        name: the file name, for error messages.
        sensor_size: ``(H, W)`` in pixels; events must lie inside.
        strict: ``False`` drops a truncated last packet and out-of-sensor events
            instead of raising.

    Returns:
        Events ``[N]`` of :data:`EVENT_DTYPE` in file order (empty when the file
        has no polarity events).

    Raises:
        DataError: a bad header, a packet header with negative or inconsistent
            sizes, a polarity packet whose event size is not 8 bytes, or (``strict``)
            a truncated packet or an event outside ``sensor_size``.
    """
    packets = _packets(raw, aedat3_data_start(raw, name), name, strict)
    if not packets:
        return empty_events()
    words = np.concatenate(
        [np.frombuffer(raw, dtype="<u4", count=2 * n, offset=off) for off, n, _ in packets]
    ).reshape(-1, 2)
    counts = np.array([n for _, n, _ in packets], dtype=np.int64)
    overflow = np.repeat(np.array([o for _, _, o in packets], dtype=np.int64), counts)
    data = words[:, 0]
    ts = (overflow << 31) | (words[:, 1].astype(np.int64) & 0x7FFFFFFF)
    valid = (data & 1).astype(bool)
    x = ((data >> 17) & 0x7FFF).astype(np.int16)
    y = ((data >> 2) & 0x7FFF).astype(np.int16)
    height, width = sensor_size
    bad = first_out_of_range(np.where(valid, x, 0), np.where(valid, y, 0), height, width)
    if bad >= 0:
        if strict:
            starts = np.cumsum(counts) - counts
            k = int(np.searchsorted(starts, bad, side="right") - 1)
            offset = packets[k][0] + POLARITY_EVENT_BYTES * (bad - int(starts[k]))
            raise DataError(
                f"{name}: polarity event at byte offset {offset} has (x={int(x[bad])}, "
                f"y={int(y[bad])}) outside the {height}x{width} sensor; corrupt file or wrong "
                "sensor_size (pass strict=False to drop such events)."
            )
        valid &= (x < width) & (y < height)
    p = ((data >> 1) & 1).astype(np.int8)
    return make_events(ts[valid], x[valid], y[valid], p[valid])


def read_aedat3(
    path: PathArg, sensor_size: tuple[int, int] = GESTURE_SENSOR, strict: bool = True
) -> np.ndarray:
    """Read one AEDAT 3.1 file (e.g. ``user01_fluorescent.aedat``) into events ``[N]``.

    Args:
        path: an AEDAT 3.1 file, e.g. from the DVS128 Gesture release.
        sensor_size: ``(H, W)`` in pixels (128x128 for DVS128 Gesture).
        strict: ``False`` drops a truncated last packet and out-of-sensor events.

    Returns:
        Events ``[N]`` of :data:`EVENT_DTYPE`, timestamps in microseconds.

    Raises:
        DataError: the file is missing or fails :func:`decode_aedat3`.
    """
    return decode_aedat3(read_bytes(path), str(path), sensor_size, strict)


def read_gesture_labels(path: PathArg) -> np.ndarray:
    """Read ``userXX_<light>_labels.csv`` -> int64 ``[K, 3]`` of (label 0-based, start, end) us.

    Format: the DVS128 Gesture release's label CSV, header
    ``class,startTime_usec,endTime_usec`` (commas or whitespace); classes 1..11
    become 0..10.

    Args:
        path: the ``*_labels.csv`` file.

    Returns:
        int64 ``[K, 3]``: one row ``(label, start, end)`` per gesture, times in
        microseconds (``start <= t < end`` selects its events).

    Raises:
        DataError: the file is missing, the header lacks a column, a row is not three
            integers, a time is outside ``[0, 2**62)``, a class outside 1..11, or
            ``end < start``.
    """
    text = read_bytes(path).decode("ascii", errors="replace")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]

    def cells(line: str) -> list[str]:
        return [c.strip() for c in line.split(",")] if "," in line else line.split()

    want = ["class", "startTime_usec", "endTime_usec"]
    head = cells(lines[0]) if lines else []
    if any(w not in head for w in want):
        raise DataError(
            f"{path}: bad label header {head!r} on line 1; expected columns {want} as in the "
            "DvsGesture release's *_labels.csv."
        )
    cols = [head.index(w) for w in want]
    rows = []
    for i, line in enumerate(lines[1:], start=2):
        c = cells(line)
        try:
            label, start, end = (int(c[j]) for j in cols)
        except (ValueError, IndexError):
            raise DataError(f"{path}: line {i} {line!r} is not 3 integers; fix the CSV.") from None
        if not (0 <= start < 2**62 and 0 <= end < 2**62):
            raise DataError(
                f"{path}: line {i} has times {start}..{end} us; expected 0 <= time < 2**62 "
                "(a microsecond timestamp); fix the CSV."
            )
        if not 1 <= label <= GESTURE_CLASSES or end < start:
            raise DataError(
                f"{path}: line {i} has class {label} (expected 1..{GESTURE_CLASSES}) or end "
                f"{end} < start {start}; fix the CSV."
            )
        rows.append((label - 1, start, end))
    return np.array(rows, dtype=np.int64).reshape(-1, 3)


def split_by_labels(events: np.ndarray, table: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """Cut ``events`` into ``(label, events with start <= t < end)`` per row of ``table``.

    Args:
        events: events ``[N]`` of :data:`EVENT_DTYPE` (binary search when sorted by
            ``t``, a mask per row otherwise).
        table: int64 ``[K, 3]`` rows ``(label, start, end)`` in microseconds, as from
            :func:`read_gesture_labels`.

    Returns:
        ``K`` pairs ``(label, events)`` in table order.
    """
    t = events["t"]
    if t.size and bool(np.all(t[1:] >= t[:-1])):
        lo = np.searchsorted(t, table[:, 1], side="left")
        hi = np.searchsorted(t, table[:, 2], side="left")
        return [(int(r[0]), events[a:b]) for r, a, b in zip(table, lo, hi)]
    return [(int(r[0]), events[(t >= r[1]) & (t < r[2])]) for r in table]


def read_gesture_samples(
    aedat_path: PathArg, labels_path: PathArg | None = None, strict: bool = True
) -> list[tuple[int, np.ndarray]]:
    """Decode one recording and cut it into ``(label 0..10, events)`` gesture samples.

    Args:
        aedat_path: the AEDAT 3.1 recording, e.g. ``user01_fluorescent.aedat``.
        labels_path: its label CSV; ``None`` uses ``<stem>_labels.csv`` beside it.
        strict: passed to :func:`read_aedat3`.

    Returns:
        One ``(label, events [n] of EVENT_DTYPE)`` pair per labelled gesture.

    Raises:
        DataError: either file is missing or malformed (see :func:`read_aedat3`,
            :func:`read_gesture_labels`).
    """
    aedat = Path(aedat_path)
    csv = Path(labels_path) if labels_path else aedat.with_name(aedat.stem + "_labels.csv")
    return split_by_labels(read_aedat3(aedat, strict=strict), read_gesture_labels(csv))


def gesture_files(root: PathArg, train: bool = True) -> list[Path]:
    """The recordings listed in ``root/trials_to_{train,test}.txt`` (the official split).

    Args:
        root: the unpacked DvsGesture folder.
        train: ``True`` reads ``trials_to_train.txt``, ``False`` ``trials_to_test.txt``.

    Returns:
        ``root / name`` for each non-empty line, in listing order (not checked to exist).

    Raises:
        DataError: the listing file is missing.
    """
    root = Path(root)
    listing = root / ("trials_to_train.txt" if train else "trials_to_test.txt")
    if not listing.is_file():
        raise DataError(
            f"{listing}: not found; point at the unpacked DvsGesture folder that holds "
            "trials_to_train.txt and the user*.aedat files (see docs/events.md)."
        )
    names = [ln.strip() for ln in listing.read_text().splitlines() if ln.strip()]
    return [root / n for n in names]
