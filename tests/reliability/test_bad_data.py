"""Issue 20, data files and specs: the smallest failing inputs, each now handled."""

import pickle
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from spikebit.data.cifar import read_batch
from spikebit.data.decode import read_images
from spikebit.data.events import events_to_frames
from spikebit.data.events.aedat3 import decode_aedat3, read_gesture_labels
from spikebit.data.events.writers import encode_aedat3
from spikebit.data.idx import read_idx
from spikebit.errors import DataError, SpecError
from spikebit.models.network import ModelConfig, build_network

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fuzz"))


def test_idx_dimension_product_that_wraps_2_64(tmp_path):
    path = tmp_path / "x.idx"
    path.write_bytes(bytes.fromhex("00000803" "00400000" "00200000" "00200000"))
    with pytest.raises(DataError, match="truncated: header"):
        read_idx(path)


def _batch(tmp_path, batch):
    path = tmp_path / "data_batch"
    path.write_bytes(pickle.dumps(batch, protocol=2))
    return path


def test_cifar_mixed_keys_empty_batch_and_nested_bomb(tmp_path):
    data = np.arange(2 * 3072, dtype=np.uint64).astype(np.uint8).reshape(2, 3072)
    images, labels = read_batch(_batch(tmp_path, {b"data": data, "labels": [3, 4], 7: None}),
                                "labels")
    assert images.shape == (2, 3, 32, 32) and labels.tolist() == [3, 4]
    images, labels = read_batch(_batch(tmp_path, {b"data": np.zeros((0, 3072), np.uint8),
                                                  b"labels": []}), "labels")
    assert images.shape == (0, 3, 32, 32) and labels.shape == (0,)
    nested: list = [0]
    for _ in range(27):  # 2**27 leaves through shared references
        nested = [nested, nested]
    for key in (b"data", b"labels"):
        batch = {b"data": data, b"labels": [1, 2], key: nested}
        path = _batch(tmp_path, batch)
        assert path.stat().st_size < 7000 + (6144 if key == b"labels" else 0)
        start = time.perf_counter()
        with pytest.raises(DataError, match="expected"):
            read_batch(path, "labels")
        assert time.perf_counter() - start < 0.5


def test_cifar_out_of_range_memo_index_is_refused_before_unpickling(tmp_path):
    path = tmp_path / "data_batch"
    path.write_bytes(b"\x80\x02}r\xff\xff\xff\x0f.")  # LONG_BINPUT 268435455
    start = time.perf_counter()
    with pytest.raises(DataError, match="memo index"):
        read_batch(path, "labels")
    assert time.perf_counter() - start < 0.5


def test_png_decompression_bomb_header(tmp_path):
    from formats_other import _png_claiming

    path = tmp_path / "bomb.png"
    path.write_bytes(_png_claiming(30000, 30000))
    assert path.stat().st_size < 100
    with pytest.raises(DataError, match="too large|claims 30000x30000"):
        read_images([path], "test")


def test_16_bit_png_and_float_tiff_keep_their_range(tmp_path):
    from PIL import Image

    Image.fromarray(np.array([[0, 257, 65535]], dtype=np.uint16)).save(tmp_path / "a.png")
    Image.fromarray(np.array([[0.0, 0.5, 1.0]], dtype=np.float32)).save(tmp_path / "b.tif")
    assert read_images([tmp_path / "a.png"], "t")[0, 0].tolist() == [[0, 1, 255]]
    assert read_images([tmp_path / "b.tif"], "t")[0, 0].tolist() == [[0, 128, 255]]
    Image.fromarray(np.array([[0.0, 3e5]], dtype=np.float32)).save(tmp_path / "c.tif")
    with pytest.raises(DataError, match="values up to"):
        read_images([tmp_path / "c.tif"], "t")


def test_aedat3_large_overflow_counter_bins_exactly():
    from spikebit.data.events import make_events

    t = np.array([0, 2**30 << 31, (2**30 << 31) + 5], dtype=np.int64)  # overflow 2**30
    events = make_events(t, np.array([1, 2, 3]), np.array([4, 5, 6]), np.array([0, 1, 1]))
    decoded = decode_aedat3(encode_aedat3(events))
    assert decoded["t"].tolist() == t.tolist()
    frames = events_to_frames(decoded, (128, 128), 4)
    # bins by exact integers: 0 -> bin 0; the two late events -> bin 3
    assert frames.sum().item() == 3 and frames[0].sum().item() == 1
    assert frames[3].sum().item() == 2


def test_labels_csv_with_a_70_bit_integer(tmp_path):
    path = tmp_path / "l.csv"
    path.write_text(f"class,startTime_usec,endTime_usec\n1,0,{2**70}\n")
    with pytest.raises(DataError, match=r"line 2 has times 0\.\.1180591620717411303424"):
        read_gesture_labels(path)


def test_spec_size_limits():
    with pytest.raises(SpecError, match="at most 65536 channels"):
        build_network(ModelConfig(spec="9999999C3-GAP"))
    with pytest.raises(SpecError, match="needs more than 268,435,456 weights"):
        build_network(ModelConfig(spec="40000C3-40000C3-GAP"))
    with pytest.raises(SpecError, match="at most 65536"):
        build_network(ModelConfig(spec="9" * 5000 + "C3-GAP"))  # not int()'s digit limit


def test_non_square_input_sizes_fc_from_height_and_width():
    net = build_network(ModelConfig(spec="4C3-AP2-16", in_shape=(1, 8, 20), num_classes=3))
    fc = [m for m in net.modules() if isinstance(m, torch.nn.Linear)][0]
    assert fc.in_features == 4 * (8 // 2) * (20 // 2)  # C x H' x W' ('same' padding)
    assert net(torch.zeros(2, 1, 8, 20)).shape[-2:] == (2, 3)


def test_png_with_bad_crc_is_a_data_error(tmp_path):
    from formats_other import _png_claiming

    raw = bytearray(_png_claiming(2, 2))
    raw[29] ^= 0xFF  # inside the IHDR CRC
    (tmp_path / "x.png").write_bytes(bytes(raw))
    with pytest.raises(DataError):
        read_images([tmp_path / "x.png"], "t")
