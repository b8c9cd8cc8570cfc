"""IDX reader: round-trips (gz and raw) and every corruption names the file."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
import torch
from static_formats import write_mnist

from spikebit.data import load_dataset
from spikebit.data.idx import read_idx, read_idx_pair, write_idx
from spikebit.errors import DataError


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_round_trip(tmp_path, gz):
    written = write_mnist(tmp_path / "mnist", gz=gz)
    for train, split in ((True, "train"), (False, "test")):
        ds = load_dataset("mnist", train=train, data_dir=tmp_path)
        x, y = written[split]
        assert ds.images.shape == (len(x), 1, 28, 28) and ds.images.dtype == torch.float32
        assert torch.equal(ds.images[:, 0], torch.from_numpy(x).float() / 255)
        assert ds.labels.tolist() == y.tolist() and ds.num_classes == 10
        assert ds.name == f"mnist/{split}"


def test_data_dir_may_point_straight_at_the_files(tmp_path):
    write_mnist(tmp_path, gz=False)
    assert len(load_dataset("mnist", train=False, data_dir=tmp_path)) == 5


def test_official_header_bytes(tmp_path):
    path = write_idx(tmp_path / "x-images-idx3-ubyte", np.zeros((3, 2, 4), np.uint8))
    raw = path.read_bytes()
    assert struct.unpack(">IIII", raw[:16]) == (2051, 3, 2, 4) and len(raw) == 16 + 24
    lab = write_idx(tmp_path / "l.gz", np.arange(5, dtype=np.uint8)).read_bytes()
    assert struct.unpack(">II", gzip.decompress(lab)[:8]) == (2049, 5)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_other_dtypes_round_trip(tmp_path, dtype):
    arr = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
    if dtype == np.uint8:
        arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    assert np.array_equal(read_idx(write_idx(tmp_path / "a.idx", arr)), arr)


def _labels(tmp_path, n=5):
    return write_idx(tmp_path / "labels-idx1-ubyte", np.arange(n, dtype=np.uint8) % 10)


def _images(tmp_path, n=5, name="images-idx3-ubyte"):
    return write_idx(tmp_path / name, np.zeros((n, 28, 28), np.uint8))


def test_truncated_file_reports_expected_and_actual_bytes(tmp_path):
    path = _images(tmp_path)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError) as err:
        read_idx(path, 2051)
    msg = str(err.value)
    assert str(path) in msg and "truncated" in msg and "3936" in msg and "3836" in msg


def test_truncated_gzip_names_file(tmp_path):
    path = _images(tmp_path, name="images-idx3-ubyte.gz")
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(DataError, match="cannot be decompressed") as err:
        read_idx(path)
    assert str(path) in str(err.value)


def test_not_gzip_names_file(tmp_path):
    path = tmp_path / "x-idx1-ubyte.gz"
    path.write_bytes(b"this is not gzip data at all")
    with pytest.raises(DataError, match=str(path)):
        read_idx(path)


def test_trailing_bytes(tmp_path):
    path = _images(tmp_path)
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(DataError, match="too long"):
        read_idx(path)


def test_swapped_magic_numbers(tmp_path):
    images, labels = _images(tmp_path), _labels(tmp_path)
    with pytest.raises(DataError, match="magic number 2049, expected 2051") as err:
        read_idx_pair(labels, images, 10)
    assert str(labels) in str(err.value)


def test_garbage_header(tmp_path):
    path = tmp_path / "junk"
    path.write_bytes(b"\x01\x02\x08\x01" + b"\0" * 8)
    with pytest.raises(DataError, match="invalid header"):
        read_idx(path)
    path.write_bytes(b"\0\0")
    with pytest.raises(DataError, match="only 2 bytes"):
        read_idx(path)


def test_count_mismatch_names_both_files(tmp_path):
    images, labels = _images(tmp_path, n=4), _labels(tmp_path, n=5)
    with pytest.raises(DataError, match="4 images but") as err:
        read_idx_pair(images, labels, 10)
    assert str(images) in str(err.value) and str(labels) in str(err.value)


def test_label_out_of_range(tmp_path):
    images = _images(tmp_path, n=2)
    labels = write_idx(tmp_path / "l-idx1-ubyte", np.array([0, 10], np.uint8))
    with pytest.raises(DataError, match="label 10"):
        read_idx_pair(images, labels, 10)


def test_missing_files_say_where_to_put_them(tmp_path):
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz") as err:
        load_dataset("mnist", train=True, data_dir=tmp_path)
    assert str(tmp_path / "mnist") in str(err.value)
