"""AEDAT 3.1 (DVS128 Gesture) and AEDAT 2.0 (CIFAR10-DVS): round trips and malformed files."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from events_helpers import random_events

from spikebit.data.events import (
    GESTURE_SENSOR,
    cifar10dvs_files,
    decode_aedat3,
    decode_cifar10dvs,
    gesture_samples,
    read_aedat3,
    read_cifar10dvs,
    read_gesture_labels,
    read_gesture_samples,
)
from spikebit.data.events.writers import (
    encode_aedat3,
    encode_cifar10dvs,
    write_aedat3,
    write_cifar10dvs,
    write_gesture_labels,
)
from spikebit.errors import DataError

HEAD3 = b"#!AER-DAT3.1\r\n#!END-HEADER\r\n"
HEAD2 = b"#!AER-DAT2.0\r\n# comment\r\n"


def packet(etype: int, words: list[int], overflow: int = 0) -> bytes:
    n = len(words) // 2
    return struct.pack("<hhiiiiii", etype, 1, 8, 4, overflow, n, n, n) + struct.pack(
        f"<{len(words)}I", *words
    )


def test_aedat3_round_trip_across_ts_overflow(tmp_path):
    ev = random_events(20_000, GESTURE_SENSOR, seed=2, t_max=3 << 31)  # spans 2 overflows
    path = tmp_path / "user01_fluorescent.aedat"
    write_aedat3(path, ev, packet_events=1000)
    back = read_aedat3(path)
    np.testing.assert_array_equal(back, ev)
    assert back["t"].max() > 1 << 32


def test_aedat3_bit_layout_invalid_and_special_packets():
    data = (100 << 17) | (5 << 2) | (1 << 1) | 1
    invalid = (3 << 17) | (3 << 2)  # valid bit clear: dropped
    raw = HEAD3 + packet(0, [1, 0]) + packet(1, [data, 77, invalid, 78], overflow=2)
    ev = decode_aedat3(raw)
    assert ev.tolist() == [((2 << 31) | 77, 100, 5, 1)]


def test_aedat3_bad_header():
    with pytest.raises(DataError, match=r"g\.aedat.*byte offset 0"):
        decode_aedat3(b"#!AER-DAT2.0\r\n" + b"\0" * 8, "g.aedat")
    with pytest.raises(DataError, match=r"g\.aedat.*END-HEADER.*byte offset 14"):
        decode_aedat3(b"#!AER-DAT3.1\r\n\x01\x02\x03", "g.aedat")


def test_aedat3_truncated_packet_names_offset(tmp_path):
    ev = random_events(50, GESTURE_SENSOR, seed=3)
    good = encode_aedat3(ev, packet_events=10, special_packet=False)
    path = tmp_path / "cut.aedat"
    path.write_bytes(good[:-3])
    last = len(good) - (28 + 10 * 8)  # the fifth packet
    with pytest.raises(DataError, match=rf"cut\.aedat: truncated packet at byte offset {last}"):
        read_aedat3(path)
    np.testing.assert_array_equal(read_aedat3(path, strict=False), ev[:40])
    path.write_bytes(good + b"\0" * 10)
    with pytest.raises(DataError, match=rf"truncated packet header at byte offset {len(good)}"):
        read_aedat3(path)


def test_aedat3_out_of_range_names_offset():
    ok = (1 << 17) | (1 << 2) | 1
    bad = (200 << 17) | (1 << 2) | 1
    raw = HEAD3 + packet(1, [ok, 1, bad, 2])
    offset = len(HEAD3) + 28 + 8
    with pytest.raises(DataError, match=rf"byte offset {offset}.*x=200"):
        decode_aedat3(raw, "x.aedat")
    assert decode_aedat3(raw, strict=False).size == 1


def test_gesture_labels_and_samples(tmp_path):
    ev = random_events(3000, GESTURE_SENSOR, seed=4, t_max=10_000_000)
    aedat = tmp_path / "user02_led.aedat"
    write_aedat3(aedat, ev)
    rows = [(0, 1_000_000, 3_000_000), (10, 4_000_000, 4_500_000), (4, 6_000_000, 9_000_000)]
    write_gesture_labels(tmp_path / "user02_led_labels.csv", rows)
    table = read_gesture_labels(tmp_path / "user02_led_labels.csv")
    assert table.tolist() == [list(r) for r in rows]
    samples = read_gesture_samples(aedat)
    assert [s[0] for s in samples] == [0, 10, 4]
    for (_, part), (_, a, b) in zip(samples, rows):
        np.testing.assert_array_equal(part, ev[(ev["t"] >= a) & (ev["t"] < b)])
    (tmp_path / "trials_to_train.txt").write_text("user02_led.aedat\n")
    listed = gesture_samples(tmp_path, train=True)
    assert [s.label for s in listed] == [0, 10, 4]
    np.testing.assert_array_equal(listed[2].load(), samples[2][1])


def test_gesture_labels_bad_csv(tmp_path):
    path = tmp_path / "l.csv"
    path.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(DataError, match=r"l\.csv.*class"):
        read_gesture_labels(path)
    path.write_text("class,startTime_usec,endTime_usec\n12,5,9\n")
    with pytest.raises(DataError, match="line 2"):
        read_gesture_labels(path)


def test_cifar10dvs_round_trip(tmp_path):
    ev = random_events(10_000, (128, 128), seed=5, t_max=2_000_000)
    path = tmp_path / "cifar10_cat_0.aedat"
    write_cifar10dvs(path, ev)
    np.testing.assert_array_equal(read_cifar10dvs(path), ev)
    swapped = decode_cifar10dvs(encode_cifar10dvs(ev, transpose=True), transpose=True)
    np.testing.assert_array_equal(swapped, ev)


def test_cifar10dvs_bit_layout_specials_and_wrap():
    def rec(addr: int, t: int) -> bytes:
        return struct.pack(">II", addr, t)

    raw = HEAD2 + rec(0, 10) + rec((5 << 8) | (9 << 1) | 1, 20) + rec(0x8000, 30)
    raw += rec(0, (1 << 32) - 5) + rec(0, 3)  # the 32-bit clock wraps
    ev = decode_cifar10dvs(raw)
    assert ev["x"].tolist() == [127, 127 - 9, 127, 127]
    assert ev["y"].tolist() == [127, 127 - 5, 127, 127]
    assert ev["p"].tolist() == [1, 0, 1, 1]  # raw polarity bit 0 = ON
    assert ev["t"].tolist() == [10, 20, (1 << 32) - 5, (1 << 32) + 3]
    t_ev = decode_cifar10dvs(raw, transpose=True)
    assert t_ev["x"].tolist()[1] == 127 - 5 and t_ev["y"].tolist()[1] == 127 - 9


def test_cifar10dvs_malformed(tmp_path):
    path = tmp_path / "bad.aedat"
    path.write_bytes(b"\x00\x01garbage")
    with pytest.raises(DataError, match=r"bad\.aedat.*byte offset 0"):
        read_cifar10dvs(path)
    path.write_bytes(HEAD2 + b"\0" * 8 * 4 + b"\0" * 5)
    with pytest.raises(DataError, match=rf"bad\.aedat: truncated .* byte offset {len(HEAD2) + 32}"):
        read_cifar10dvs(path)
    assert read_cifar10dvs(path, strict=False).size == 4
    path.write_bytes(HEAD2 + b"\0" * 8 + struct.pack(">II", 1 << 20, 5))
    with pytest.raises(DataError, match=rf"byte offset {len(HEAD2) + 8}.*DVS128"):
        read_cifar10dvs(path)


def test_cifar10dvs_folder_layout(tmp_path):
    for cls in ("airplane", "truck"):
        (tmp_path / cls).mkdir()
        write_cifar10dvs(tmp_path / cls / f"cifar10_{cls}_0.aedat", random_events(5, (128, 128), 0))
    files, labels = cifar10dvs_files(tmp_path)
    assert labels == [0, 9] and files[0].name == "cifar10_airplane_0.aedat"
    with pytest.raises(DataError, match="airplane"):
        cifar10dvs_files(tmp_path / "empty")
