"""N-MNIST .bin: round trip, overflow records, malformed files."""

from __future__ import annotations

import numpy as np
import pytest
from events_helpers import random_events

from spikebit.data.events import (
    NMNIST_SENSOR,
    decode_nmnist,
    nmnist_files,
    nmnist_samples,
    read_nmnist,
)
from spikebit.data.events.writers import encode_nmnist, write_nmnist
from spikebit.errors import DataError


def record(x: int, y: int, p: int, ts: int) -> bytes:
    return bytes([x, y, (p << 7) | (ts >> 16), (ts >> 8) & 0xFF, ts & 0xFF])


def test_round_trip_with_overflow_records(tmp_path):
    # t up to 2**23 + 5 * 8192 us forces the writer to insert overflow records.
    ev = random_events(5000, NMNIST_SENSOR, seed=1, t_max=(1 << 23) + 5 * 8192)
    path = tmp_path / "00002.bin"
    write_nmnist(path, ev)
    raw = np.frombuffer(path.read_bytes(), np.uint8).reshape(-1, 5)
    assert (raw[:, 1] == 240).sum() >= 5
    back = read_nmnist(path)
    np.testing.assert_array_equal(back, ev)
    assert back.dtype.names == ("t", "x", "y", "p")


def test_overflow_adds_8192_to_later_events_and_is_dropped():
    data = record(1, 2, 1, 100) + record(0, 240, 0, 0) + record(3, 4, 0, 50)
    data += record(0, 240, 0, 0) + record(5, 6, 1, 7)
    ev = decode_nmnist(data)
    assert ev["t"].tolist() == [100, 8192 + 50, 2 * 8192 + 7]
    assert ev["x"].tolist() == [1, 3, 5] and ev["p"].tolist() == [1, 0, 1]


def test_bit_layout_by_hand():
    ts = (0x5A << 16) | 0x1234
    ev = decode_nmnist(record(33, 7, 1, ts) + record(0, 0, 0, 0x7FFFFF))
    assert (ev["x"].tolist(), ev["y"].tolist(), ev["p"].tolist()) == ([33, 0], [7, 0], [1, 0])
    assert ev["t"].tolist() == [ts, (1 << 23) - 1]
    assert encode_nmnist(ev) == record(33, 7, 1, ts) + record(0, 0, 0, 0x7FFFFF)


def test_truncated_file_names_file_and_offset(tmp_path):
    path = tmp_path / "cut.bin"
    path.write_bytes(record(1, 1, 1, 5) * 3 + b"\x01\x02")
    with pytest.raises(DataError, match=r"cut\.bin.*byte offset 15"):
        read_nmnist(path)
    assert read_nmnist(path, strict=False).size == 3


def test_out_of_range_names_offset(tmp_path):
    path = tmp_path / "bad.bin"
    path.write_bytes(record(1, 1, 1, 5) + record(0, 240, 0, 0) + record(40, 3, 0, 9))
    with pytest.raises(DataError, match=r"bad\.bin.*byte offset 10.*x=40"):
        read_nmnist(path)
    assert read_nmnist(path, strict=False).size == 1


def test_missing_file_is_data_error(tmp_path):
    with pytest.raises(DataError, match="not found"):
        read_nmnist(tmp_path / "nope.bin")


def test_official_folder_layout(tmp_path):
    for split in ("Train", "Test"):
        for digit in (0, 3):
            d = tmp_path / split / str(digit)
            d.mkdir(parents=True)
            write_nmnist(d / "00001.bin", random_events(10, NMNIST_SENSOR, seed=digit))
    files, labels = nmnist_files(tmp_path, train=True)
    assert labels == [0, 3] and files[1].parent.name == "3"
    samples = nmnist_samples(tmp_path, train=False)
    assert [s.label for s in samples] == [0, 3] and samples[0].load().size == 10
    with pytest.raises(DataError, match="Train"):
        nmnist_files(tmp_path / "missing")
