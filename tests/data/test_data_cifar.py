"""CIFAR-10/100 pickle batches in the official layout: round-trips and corruptions."""

from __future__ import annotations

import io
import pickle
import tarfile

import numpy as np
import pytest
import torch
from static_formats import cifar_expected, write_cifar10, write_cifar100, write_pickle

from spikebit.data import cifar, fetch, load_dataset
from spikebit.data.download import file_digest
from spikebit.errors import DataError


def test_cifar10_round_trip(tmp_path):
    folder = write_cifar10(tmp_path)
    train = load_dataset("cifar10", train=True, data_dir=tmp_path)
    test = load_dataset("cifar10", train=False, data_dir=tmp_path)
    assert train.images.shape == (20, 3, 32, 32) and test.images.shape == (4, 3, 32, 32)
    assert train.num_classes == 10 and train.name == "cifar10/train"
    x, y = cifar_expected(folder / "data_batch_2")
    assert torch.equal(train.images[4:8], torch.from_numpy(x).float() / 255)
    assert train.labels[4:8].tolist() == y.tolist()
    # channel planes: the first 1024 bytes are red, row-major
    raw = pickle.loads((folder / "test_batch").read_bytes(), encoding="bytes")[b"data"]
    assert test.images[0, 0, 0, 1] == raw[0, 1] / 255
    assert test.images[0, 2, 1, 0] == raw[0, 2048 + 32] / 255


def test_cifar100_uses_fine_labels(tmp_path):
    folder = write_cifar100(tmp_path)
    ds = load_dataset("cifar100", train=True, data_dir=tmp_path)
    _, fine = cifar_expected(folder / "train")
    assert ds.num_classes == 100 and ds.labels.tolist() == fine.tolist()
    assert max(fine) >= 20  # would not fit coarse labels
    assert len(load_dataset("cifar100", train=False, data_dir=tmp_path / "cifar-100-python")) == 6


def _corrupt(tmp_path, payload) -> str:
    folder = write_cifar10(tmp_path)
    path = folder / "data_batch_3"
    if isinstance(payload, bytes):
        path.write_bytes(payload)
    else:
        write_pickle(path, payload)
    with pytest.raises(DataError) as err:
        load_dataset("cifar10", train=True, data_dir=tmp_path)
    assert str(path) in str(err.value)
    return str(err.value)


def test_truncated_pickle(tmp_path):
    good = pickle.dumps({b"data": np.zeros((4, 3072), np.uint8), b"labels": [0] * 4}, 2)
    assert "not a readable pickle" in _corrupt(tmp_path, good[: len(good) // 2])


def test_missing_key(tmp_path):
    msg = _corrupt(tmp_path, {b"data": np.zeros((4, 3072), np.uint8), b"fine_labels": [0] * 4})
    assert "lacks the keys ['labels']" in msg


def test_wrong_shape(tmp_path):
    msg = _corrupt(tmp_path, {b"data": np.zeros((4, 3000), np.uint8), b"labels": [0] * 4})
    assert "expected uint8 [N, 3072]" in msg


def test_label_count_mismatch(tmp_path):
    msg = _corrupt(tmp_path, {b"data": np.zeros((4, 3072), np.uint8), b"labels": [0] * 3})
    assert "4 images" in msg


def test_not_a_dict(tmp_path):
    assert "not a dict" in _corrupt(tmp_path, [1, 2, 3])


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_pickle_cannot_run_code(tmp_path, capsys):
    msg = _corrupt(tmp_path, {b"data": _Evil(), b"labels": [0]})
    assert "forbidden global" in msg and "print" in msg
    assert "pwned" not in capsys.readouterr().out


def test_labels_out_of_range(tmp_path):
    folder = write_cifar10(tmp_path)
    write_pickle(
        folder / "test_batch", {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}
    )
    with pytest.raises(DataError, match=r"span \[0, 10\]"):
        load_dataset("cifar10", train=False, data_dir=tmp_path)


def test_missing_dataset_explains_where_to_put_it(tmp_path):
    with pytest.raises(DataError, match="cifar-10-python.tar.gz") as err:
        fetch("cifar10", tmp_path)
    assert str(tmp_path) in str(err.value)


def _tarball(tmp_path, monkeypatch):
    src = tmp_path / "src"
    write_cifar10(src)
    archive = tmp_path / "root" / "cifar-10-python.tar.gz"
    archive.parent.mkdir()
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    return archive


def test_official_tarball_is_extracted_once(tmp_path, monkeypatch):
    archive = _tarball(tmp_path, monkeypatch)
    monkeypatch.setitem(cifar.CIFAR10, "md5", file_digest(archive, "md5"))
    root = archive.parent
    assert fetch("cifar10", root) == root / "cifar-10-batches-py"
    assert fetch("cifar10", root) == root / "cifar-10-batches-py"  # idempotent
    assert len(load_dataset("cifar10", train=True, data_dir=root)) == 20
    assert sorted(p.name for p in root.iterdir()) == ["cifar-10-batches-py", archive.name]


def test_tarball_with_wrong_md5_is_refused(tmp_path, monkeypatch):
    archive = _tarball(tmp_path, monkeypatch)
    with pytest.raises(DataError, match="does not match the official md5") as err:
        fetch("cifar10", archive.parent)
    assert str(archive) in str(err.value)


def test_tarball_with_escaping_path_is_refused(tmp_path, monkeypatch):
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("../evil")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    monkeypatch.setitem(cifar.CIFAR10, "md5", file_digest(archive, "md5"))
    with pytest.raises(DataError, match="unsafe member"):
        fetch("cifar10", tmp_path)
    assert not (tmp_path.parent / "evil").exists()
