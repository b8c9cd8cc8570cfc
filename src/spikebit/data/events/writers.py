"""Writers for the official formats, the exact inverses of the readers.

Used by the tests (round trips) and the decode-speed benchmark, and handy to
export simulated events for other tools. Each takes events ``[N]`` of
:data:`EVENT_DTYPE` sorted by ``t`` and writes one file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from spikebit.data.events.aedat2 import CIFAR10DVS_SENSOR, RECORD
from spikebit.data.events.aedat3 import GESTURE_SENSOR, PACKET_HEADER, POLARITY_EVENT
from spikebit.data.events.core import PathArg, as_events, check_in_range
from spikebit.data.events.nmnist import (
    NMNIST_OVERFLOW_INCREMENT,
    NMNIST_OVERFLOW_Y,
    NMNIST_SENSOR,
)
from spikebit.errors import DataError

NMNIST_TS_MAX = (1 << 23) - 1


def _sorted(events: np.ndarray, what: str) -> np.ndarray:
    ev = as_events(events)
    if ev.size and not bool(np.all(ev["t"][1:] >= ev["t"][:-1])):
        raise DataError(f"{what}: events must be sorted by t; sort them with np.sort(order='t').")
    if ev.size and int(ev["t"][0]) < 0:
        raise DataError(f"{what}: timestamps must be >= 0 us.")
    return ev


def encode_nmnist(events: np.ndarray, overflow_increment: int = NMNIST_OVERFLOW_INCREMENT) -> bytes:
    """N-MNIST bytes; times above 2**23-1 us are reached by inserting overflow records.

    Format: the N-MNIST binary (Orchard et al. 2015), the inverse of
    :func:`~spikebit.data.events.nmnist.decode_nmnist` with the same
    ``overflow_increment``.

    Args:
        events: events ``[N]`` sorted by ``t`` (microseconds, ``>= 0``), inside the
            34x34 sensor, ``p`` in {0, 1}.
        overflow_increment: microseconds each overflow record adds (8192 by default).

    Returns:
        The file contents: 5 bytes per event plus 5 per overflow record.

    Raises:
        DataError: events not sorted by ``t``, a negative timestamp, or an event
            outside the 34x34 sensor.
    """
    ev = _sorted(events, "encode_nmnist")
    check_in_range(ev, NMNIST_SENSOR, "encode_nmnist")
    t = ev["t"]
    # Fewest overflow records k(t) with t - k*inc <= 2**23 - 1 (non-decreasing in t).
    k = np.maximum(0, -((NMNIST_TS_MAX - t) // overflow_increment))
    ts = t - k * overflow_increment
    n_over = int(k[-1]) if k.size else 0
    # Overflow record j goes right before the first event whose k exceeds j.
    pos = np.searchsorted(k, np.arange(1, n_over + 1), side="left")
    rows = np.zeros((ev.size + n_over, 5), dtype=np.uint8)
    is_event = np.ones(ev.size + n_over, dtype=bool)
    is_event[pos + np.arange(n_over)] = False
    rows[~is_event, 1] = NMNIST_OVERFLOW_Y
    r = rows[is_event]
    r[:, 0] = ev["x"]
    r[:, 1] = ev["y"]
    r[:, 2] = (ev["p"].astype(np.int64) << 7) | ((ts >> 16) & 0x7F)
    r[:, 3] = (ts >> 8) & 0xFF
    r[:, 4] = ts & 0xFF
    rows[is_event] = r
    return rows.tobytes()


def write_nmnist(path: PathArg, events: np.ndarray) -> None:
    """Write an N-MNIST ``.bin`` file (34x34 sensor).

    Args:
        path: destination file (overwritten).
        events: events ``[N]`` as for :func:`encode_nmnist`.

    Raises:
        DataError: as :func:`encode_nmnist`.
    """
    Path(path).write_bytes(encode_nmnist(events))


def encode_aedat3(
    events: np.ndarray, packet_events: int = 4096, special_packet: bool = True
) -> bytes:
    """AEDAT 3.1 bytes: header, then polarity packets of up to ``packet_events`` events.

    A packet never spans a change of ``t >> 31`` (its ``eventTSOverflow``). With
    ``special_packet`` a one-event special packet (type 0) is written first, which
    readers must skip. The inverse of :func:`~spikebit.data.events.aedat3.decode_aedat3`.

    Args:
        events: events ``[N]`` sorted by ``t`` (microseconds, ``>= 0``), inside the
            128x128 sensor.
        packet_events: largest number of events per polarity packet.
        special_packet: write a leading special packet (type 0).

    Returns:
        The file contents (ASCII header, then packets, little-endian).

    Raises:
        DataError: events not sorted by ``t``, a negative timestamp, or an event
            outside the 128x128 sensor.
    """
    ev = _sorted(events, "encode_aedat3")
    check_in_range(ev, GESTURE_SENSOR, "encode_aedat3")
    head = (
        b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n"
        b"#Start-Time: written by spikebit\r\n#!END-HEADER\r\n"
    )
    parts = [head]
    if special_packet:
        parts.append(PACKET_HEADER.pack(0, 1, 8, 4, 0, 1, 1, 1))
        parts.append(np.array([1, 0], dtype="<u4").tobytes())
    t = ev["t"]
    over = t >> 31
    data = (
        (ev["x"].astype(np.uint32) << 17)
        | (ev["y"].astype(np.uint32) << 2)
        | (ev["p"].astype(np.uint32) << 1)
        | 1
    )
    words = np.empty((ev.size, 2), dtype="<u4")
    words[:, 0] = data
    words[:, 1] = (t & 0x7FFFFFFF).astype(np.uint32)
    cuts = set(range(0, ev.size, packet_events)) | set(np.flatnonzero(np.diff(over)) + 1)
    bounds = sorted(cuts | {ev.size})
    for a, b in zip(bounds[:-1], bounds[1:]):
        n = b - a
        parts.append(PACKET_HEADER.pack(POLARITY_EVENT, 1, 8, 4, int(over[a]), n, n, n))
        parts.append(words[a:b].tobytes())
    return b"".join(parts)


def write_aedat3(path: PathArg, events: np.ndarray, packet_events: int = 4096) -> None:
    """Write an AEDAT 3.1 file (DVS128 Gesture layout, 128x128).

    Args:
        path: destination file (overwritten).
        events: events ``[N]`` as for :func:`encode_aedat3`.
        packet_events: largest number of events per polarity packet.

    Raises:
        DataError: as :func:`encode_aedat3`.
    """
    Path(path).write_bytes(encode_aedat3(events, packet_events))


def write_gesture_labels(path: PathArg, rows: list[tuple[int, int, int]]) -> None:
    """Write a ``*_labels.csv`` from ``(label 0-based, start_us, end_us)`` rows.

    The inverse of :func:`~spikebit.data.events.aedat3.read_gesture_labels`: header
    ``class,startTime_usec,endTime_usec``, classes written 1-based.

    Args:
        path: destination file (overwritten).
        rows: ``(label, start, end)`` per gesture, label 0-based, times in microseconds.
    """
    lines = ["class,startTime_usec,endTime_usec"] + [f"{c + 1},{s},{e}" for c, s, e in rows]
    Path(path).write_text("\n".join(lines) + "\n")


def encode_cifar10dvs(events: np.ndarray, transpose: bool = False) -> bytes:
    """jAER AEDAT 2.0 bytes with DVS128 addresses (inverse of ``decode_cifar10dvs``).

    Args:
        events: events ``[N]`` sorted by ``t`` (microseconds, in ``[0, 2**32)``),
            inside the 128x128 sensor.
        transpose: swap ``x`` and ``y`` first (inverse of ``transpose=True`` when
            decoding).

    Returns:
        The file contents: ``#`` header lines, then 8-byte big-endian records.

    Raises:
        DataError: events not sorted by ``t``, a timestamp outside ``[0, 2**32)``,
            or an event outside the 128x128 sensor.
    """
    ev = _sorted(events, "encode_cifar10dvs")
    check_in_range(ev, CIFAR10DVS_SENSOR, "encode_cifar10dvs")
    if ev.size and int(ev["t"][-1]) >= 1 << 32:
        raise DataError("encode_cifar10dvs: timestamps must be < 2**32 us in AEDAT 2.0.")
    x, y = (ev["y"], ev["x"]) if transpose else (ev["x"], ev["y"])
    rec = np.empty(ev.size, dtype=RECORD)
    rec["addr"] = (
        ((127 - y.astype(np.uint32)) << 8)
        | ((127 - x.astype(np.uint32)) << 1)
        | (1 - ev["p"].astype(np.uint32))
    )
    rec["t"] = ev["t"]
    head = (
        b"#!AER-DAT2.0\r\n# This is a raw AE data file - do not edit\r\n"
        b"# Data format is int32 address, int32 timestamp (8 bytes total), repeated for each "
        b"event\r\n# Timestamps tick is 1 us\r\n# created by spikebit\r\n"
    )
    return head + rec.tobytes()


def write_cifar10dvs(path: PathArg, events: np.ndarray) -> None:
    """Write a CIFAR10-DVS style AEDAT 2.0 file (128x128).

    Args:
        path: destination file (overwritten).
        events: events ``[N]`` as for :func:`encode_cifar10dvs`.

    Raises:
        DataError: as :func:`encode_cifar10dvs`.
    """
    Path(path).write_bytes(encode_cifar10dvs(events))
