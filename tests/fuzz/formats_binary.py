"""Fuzz generators for the binary data formats, each with an independent reference decoder."""

from __future__ import annotations

import gzip
import math
import pickle
import random
import struct
from pathlib import Path

import numpy as np
from harness import Case, mutate

from spikebit.data.cifar import read_batch
from spikebit.data.events import events_to_frames
from spikebit.data.events.aedat2 import decode_cifar10dvs
from spikebit.data.events.aedat3 import decode_aedat3, read_gesture_labels
from spikebit.data.events.nmnist import decode_nmnist
from spikebit.data.events.writers import encode_aedat3, encode_cifar10dvs, encode_nmnist
from spikebit.data.idx import read_idx, write_idx

_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _events(rng: random.Random, n: int, h: int, w: int, t_max: int) -> np.ndarray:
    from spikebit.data.events import make_events

    t = np.sort(np.array([rng.randrange(t_max) for _ in range(n)], dtype=np.int64))
    return make_events(t, np.array([rng.randrange(w) for _ in range(n)]),
                       np.array([rng.randrange(h) for _ in range(n)]),
                       np.array([rng.randrange(2) for _ in range(n)]))


def _same_events(got: np.ndarray, expected: list[tuple[int, int, int, int]]) -> None:
    assert len(got) == len(expected), (len(got), len(expected))
    for e, (t, x, y, p) in zip(got, expected):
        assert (int(e["t"]), int(e["x"]), int(e["y"]), int(e["p"])) == (t, x, y, p)


# -- IDX -----------------------------------------------------------------------------------
def _idx_reference(raw: bytes) -> np.ndarray | None:
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] not in _IDX_DTYPES:
        return None
    ndim = raw[3]
    if len(raw) < 4 + 4 * ndim:
        return None
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    if len(raw) != 4 + 4 * ndim + math.prod(dims) * dtype.itemsize:
        return None
    return np.frombuffer(raw, dtype, offset=4 + 4 * ndim).reshape(dims)


def idx_case(rng: random.Random, work: Path) -> Case:
    code = rng.choice(list(_IDX_DTYPES))
    dims = [rng.randint(0, 5) for _ in range(rng.randint(1, 3))]
    array = np.frombuffer(rng.randbytes(math.prod(dims) * np.dtype(_IDX_DTYPES[code]).itemsize),
                          _IDX_DTYPES[code]).reshape(dims)
    raw = write_idx(work / "x.idx", array).read_bytes()
    if rng.random() < 0.1:  # the dimension-product overflow of issue 20
        raw = bytes.fromhex("00000803") + bytes.fromhex("00400000 00200000 00200000")
    raw = mutate(raw, rng)
    zipped = rng.random() < 0.3
    path = work / ("x.idx.gz" if zipped else "x.idx")
    path.write_bytes(gzip.compress(raw, mtime=0) if zipped else raw)

    def check(result: np.ndarray) -> None:
        expected = _idx_reference(raw)
        assert expected is not None, "accepted an invalid IDX file"
        assert result.shape == expected.shape
        assert np.array_equal(result.view(np.uint8), expected.astype(
            expected.dtype.newbyteorder("=")).view(np.uint8))

    return (lambda: read_idx(path)), check


# -- CIFAR ---------------------------------------------------------------------------------
def cifar_case(rng: random.Random, work: Path) -> Case:
    kind = rng.randrange(6)
    n = rng.choice([0, 1, 2, 3]) if kind in (0, 1, 5) else rng.choice([1, 2, 3])  # 0: valid
    data = np.frombuffer(rng.randbytes(n * 3072), np.uint8).reshape(n, 3072)
    labels: object = [rng.randrange(10) for _ in range(n)]
    batch: dict = {b"data": data, b"labels": labels, b"batch_label": b"fuzz"}
    if kind == 1:  # mixed key types
        batch[rng.choice([1, 2.5, (1, 2), None])] = 0
    elif kind == 2:  # a small pickle that expands to a huge nested list when traversed
        inner = [0] * 10_000
        batch[rng.choice([b"data", b"labels"])] = [inner] * 10_000
    elif kind == 3:
        batch[b"labels"] = rng.choice([np.zeros(n, np.float32), "abc", [2**80] * n,
                                       np.zeros((n, 1), np.int64), [[1]] * n])
    elif kind == 4:
        batch[b"data"] = rng.choice([np.zeros((n, 3000), np.uint8), data.astype(np.int16),
                                     data.tolist(), np.zeros(3, object)])
    raw = pickle.dumps(batch, protocol=rng.choice([2, 4]))
    raw = mutate(raw, rng, protect=2) if kind == 5 else raw
    path = work / "data_batch"
    path.write_bytes(raw)

    def check(result: tuple[np.ndarray, np.ndarray]) -> None:
        images, got = result
        assert kind in (0, 1, 5), f"accepted an invalid batch (kind {kind})"
        assert images.dtype == np.uint8 and images.shape[1:] == (3, 32, 32)
        assert got.shape == (len(images),) and got.dtype.kind in "iu"
        if kind in (0, 1):
            assert np.array_equal(images.reshape(n, 3072), data)
            assert got.tolist() == labels

    return (lambda: read_batch(path, "labels")), check


# -- N-MNIST -------------------------------------------------------------------------------
def _nmnist_reference(raw: bytes) -> list[tuple[int, int, int, int]] | None:
    if len(raw) % 5:
        return None
    out, extra = [], 0
    for i in range(0, len(raw), 5):
        x, y, b2, b3, b4 = raw[i:i + 5]
        if y == 240:
            extra += 8192
            continue
        if x >= 34 or y >= 34:
            return None
        out.append((((b2 & 0x7F) << 16 | b3 << 8 | b4) + extra, x, y, b2 >> 7))
    return out


def nmnist_case(rng: random.Random, work: Path) -> Case:
    raw = encode_nmnist(_events(rng, rng.randint(0, 40), 34, 34, 1 << 20))
    raw = mutate(raw, rng) if rng.random() < 0.9 else rng.randbytes(rng.randrange(60))

    def check(result: np.ndarray) -> None:
        expected = _nmnist_reference(raw)
        assert expected is not None, "accepted an invalid N-MNIST file"
        _same_events(result, expected)

    return (lambda: decode_nmnist(raw)), check


# -- AEDAT 2.0 (CIFAR10-DVS) ----------------------------------------------------------------
def _aedat2_reference(raw: bytes) -> list[tuple[int, int, int, int]] | None:
    if not raw.startswith(b"#!AER-DAT2"):
        return None
    pos = 0
    while raw[pos:pos + 1] == b"#":
        nl = raw.find(b"\n", pos)
        if nl < 0:
            return None
        pos = nl + 1
    body = raw[pos:]
    if len(body) % 8:
        return None
    out, wrap, prev = [], 0, None
    for i in range(0, len(body), 8):
        addr, t = struct.unpack(">II", body[i:i + 8])
        if prev is not None and t - prev < -(1 << 31):
            wrap += 1 << 32
        prev = t
        if addr & 0x80008000:
            continue
        if addr & ~0x7FFF & 0xFFFFFFFF:
            return None
        out.append((t + wrap, 127 - ((addr >> 1) & 0x7F), 127 - ((addr >> 8) & 0x7F),
                    1 - (addr & 1)))
    return out


def aedat2_case(rng: random.Random, work: Path) -> Case:
    raw = encode_cifar10dvs(_events(rng, rng.randint(0, 30), 128, 128, 1 << 32))
    raw = mutate(raw, rng)

    def check(result: np.ndarray) -> None:
        expected = _aedat2_reference(raw)
        assert expected is not None, "accepted an invalid AEDAT 2.0 file"
        _same_events(result, expected)

    return (lambda: decode_cifar10dvs(raw)), check


# -- AEDAT 3.1 (DVS Gesture) ----------------------------------------------------------------
def aedat3_case(rng: random.Random, work: Path) -> Case:
    t_max = rng.choice([1 << 20, 1 << 40, 1 << 61])  # overflow counts up to 2**30
    raw = encode_aedat3(_events(rng, rng.randint(0, 30), 128, 128, t_max),
                        packet_events=rng.randint(1, 16))
    header = raw.index(b"#!END-HEADER\r\n") + 14
    raw = mutate(raw, rng, protect=header if rng.random() < 0.8 else 0)
    steps = rng.randint(1, 32)

    def run():
        events = decode_aedat3(raw)
        return events, events_to_frames(events, (128, 128), steps)

    def check(result) -> None:
        events, frames = result
        assert float(frames.sum()) == len(events)  # every event lands in one bin
        assert all(0 <= int(e["x"]) < 128 and 0 <= int(e["y"]) < 128 for e in events)
        assert (events["t"] >= 0).all()

    return run, check


# -- DVS Gesture labels CSV -----------------------------------------------------------------
def labels_case(rng: random.Random, work: Path) -> Case:
    def cell() -> str:
        return rng.choice([str(rng.randint(1, 11)), str(rng.randint(0, 10**7)), str(2**70),
                           "-5", "abc", "", "1.5", "0x10", " 7 ", "\u0663"])

    rows = [f"{rng.randint(1, 11)},{s},{s + rng.randint(0, 10**6)}"
            for s in (rng.randint(0, 10**7) for _ in range(rng.randint(0, 5)))]
    if rng.random() < 0.5:
        rows.append(",".join(cell() for _ in range(rng.randint(1, 4))))
    head = rng.choice(["class,startTime_usec,endTime_usec", "class startTime_usec endTime_usec",
                       "startTime_usec,class,endTime_usec", "cls,start,end", ""])
    text = "\n".join([head, *rows])
    raw = mutate(text.encode(), rng, protect=len(head)) if rng.random() < 0.3 else text.encode()
    path = work / "labels.csv"
    path.write_bytes(raw)

    def check(table: np.ndarray) -> None:
        assert table.dtype == np.int64 and table.ndim == 2 and table.shape[1] == 3
        assert ((table[:, 0] >= 0) & (table[:, 0] < 11)).all()
        assert (table[:, 1] <= table[:, 2]).all() and (table[:, 1] >= 0).all()

    return (lambda: read_gesture_labels(path)), check


