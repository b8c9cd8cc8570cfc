"""Fetchers for public datasets, with the registries and mirrors replaced by local fakes."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from static_formats import write_mnist

from spikebit.data import digits, fetch, load_dataset, mnist, mnist_subset
from spikebit.data.download import file_digest
from spikebit.errors import DataError

FILES = list(mnist.FASHION_MD5)


def _fake_fashion(folder: Path) -> dict[str, bytes]:
    write_mnist(folder, n_train=20, n_test=10)
    return {f: (folder / f).read_bytes() for f in FILES}


def test_system_copy_is_used_in_place(tmp_path, monkeypatch, isolated_cache):
    system = tmp_path / "usr-share"
    _fake_fashion(system)
    monkeypatch.setattr(mnist, "FASHION_SYSTEM_DIR", system)
    assert fetch("fashion-mnist") == system
    ds = load_dataset("fashion-mnist", train=True)
    assert ds.images.shape == (20, 1, 28, 28) and ds.name == "fashion-mnist/train"
    assert not isolated_cache.exists()


@pytest.fixture
def fashion_mirror(tmp_path, monkeypatch, http_server):
    """Fake Fashion-MNIST served over local HTTP, with matching MD5s; no system copy."""
    files = _fake_fashion(tmp_path / "mirror")
    for name, body in files.items():
        http_server.files[f"/fm/{name}"] = body
    monkeypatch.setattr(mnist, "FASHION_SYSTEM_DIR", tmp_path / "absent")
    monkeypatch.setattr(mnist, "FASHION_URL", f"{http_server.url}/fm/")
    md5 = {n: hashlib.md5(b).hexdigest() for n, b in files.items()}
    monkeypatch.setattr(mnist, "FASHION_MD5", md5)
    return http_server


def test_url_fallback_without_apt(fashion_mirror, monkeypatch, isolated_cache):
    monkeypatch.setattr(mnist, "apt_available", lambda: False)
    assert fetch("fashion-mnist") == isolated_cache / "fashion-mnist"
    assert len(fashion_mirror.requests) == 4
    fetch("fashion-mnist")  # idempotent: nothing downloaded again
    assert len(fashion_mirror.requests) == 4
    assert len(load_dataset("fashion-mnist", train=False)) == 10


def test_failed_apt_falls_back_to_url(fashion_mirror, monkeypatch, isolated_cache):
    def broken(package, workdir):
        raise DataError("apt says no")

    monkeypatch.setattr(mnist, "apt_available", lambda: True)
    monkeypatch.setattr(mnist, "apt_download_extract", broken)
    assert fetch("fashion-mnist") == isolated_cache / "fashion-mnist"
    assert len(fashion_mirror.requests) == 4


def test_corrupt_mirror_leaves_nothing(fashion_mirror, monkeypatch, isolated_cache):
    monkeypatch.setattr(mnist, "apt_available", lambda: False)
    bad = "/fm/t10k-images-idx3-ubyte.gz"
    fashion_mirror.files[bad] = fashion_mirror.files[bad][:-5] + b"xxxxx"
    with pytest.raises(DataError, match="md5 check") as err:
        fetch("fashion-mnist")
    assert "t10k-images-idx3-ubyte.gz" in str(err.value)
    assert not (isolated_cache / "fashion-mnist" / "t10k-images-idx3-ubyte.gz").exists()
    assert [p.name for p in isolated_cache.rglob("*.part")] == []


def test_apt_route_verifies_payload(tmp_path, monkeypatch, isolated_cache):
    src = tmp_path / "deb"
    _fake_fashion(src)

    def fake_apt(package, workdir):
        tree = workdir / "tree"
        shutil.copytree(src, tree / "usr/share/datasets/fashion-mnist")
        return tree

    payload = {
        f[:-3]: hashlib.sha256(gzip.decompress((src / f).read_bytes())).hexdigest() for f in FILES
    }
    monkeypatch.setattr(mnist, "FASHION_SYSTEM_DIR", tmp_path / "absent")
    monkeypatch.setattr(mnist, "apt_available", lambda: True)
    monkeypatch.setattr(mnist, "apt_download_extract", fake_apt)
    monkeypatch.setattr(mnist, "FASHION_URL", "http://127.0.0.1:9/")
    monkeypatch.setattr(mnist, "FASHION_PAYLOAD_SHA256", payload)
    assert sorted(p.name for p in fetch("fashion-mnist").iterdir()) == sorted(FILES)
    assert sorted(p.name for p in isolated_cache.iterdir()) == ["fashion-mnist"]

    shutil.rmtree(isolated_cache)
    monkeypatch.setitem(payload, "train-images-idx3-ubyte", "0" * 64)  # "changed upstream"
    with pytest.raises(DataError, match="apt-get route failed first.*changed upstream"):
        fetch("fashion-mnist")


def _npm_tarball(path: Path, counts: list[int]) -> dict[int, np.ndarray]:
    rng = np.random.default_rng(0)
    pixels = {}
    with tarfile.open(path, "w:gz") as tar:
        for d, n in enumerate(counts):
            pixels[d] = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
            values = [round(v / 255, 3) for v in pixels[d].ravel().tolist()]
            body = json.dumps({"data": values}).encode()
            info = tarfile.TarInfo(f"package/src/digits/{d}.json")
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return pixels


def test_mnist_subset_from_npm_tarball(tmp_path, monkeypatch, isolated_cache):
    tgz = tmp_path / "mnist-1.1.0.tgz"
    counts = [5, 6, 4, 5, 5, 5, 5, 5, 5, 10]
    pixels = _npm_tarball(tgz, counts)

    def fake_pack(spec, workdir):
        assert spec == "mnist@1.1.0"
        return Path(shutil.copy(tgz, workdir))

    monkeypatch.setattr(mnist_subset, "npm_pack", fake_pack)
    monkeypatch.setattr(mnist_subset, "NPM_SHA256", file_digest(tgz))
    train = load_dataset("mnist-subset", train=True)
    test = load_dataset("mnist-subset", train=False)
    assert len(train) == sum(int(0.8 * n) for n in counts) == 43
    assert len(test) == 12 and test.labels.tolist().count(9) == 2
    # digit 9: first 8 train, last 2 test, pixels exact after the /255 round trip
    assert np.array_equal(test.images[-2:, 0].numpy() * 255, pixels[9][8:].astype(np.float32))
    assert np.array_equal((train.images[-8:, 0] * 255).round().numpy(), pixels[9][:8])


def test_mnist_subset_bad_tarball(tmp_path, monkeypatch, isolated_cache):
    tgz = isolated_cache / "mnist-subset" / "mnist-1.1.0.tgz"  # a hand-placed copy
    tgz.parent.mkdir(parents=True)
    tgz.write_bytes(b"junk")
    with pytest.raises(DataError, match="unexpected sha256") as err:
        fetch("mnist-subset")
    assert str(tgz) in str(err.value)
    monkeypatch.setattr(mnist_subset, "NPM_SHA256", file_digest(tgz))
    with pytest.raises(DataError, match="not the expected mnist@1.1.0 layout"):
        fetch("mnist-subset")


def _digits_csv(n_per_class: int = 10) -> bytes:
    rng = np.random.default_rng(1)
    rows = [list(rng.integers(0, 17, 64)) + [d] for _ in range(n_per_class) for d in range(10)]
    text = "\n".join(",".join(str(v) for v in r) for r in rows) + "\n"
    return gzip.compress(text.encode())


def test_digits_from_wheel(monkeypatch, isolated_cache):
    raw = _digits_csv()

    def fake_wheel(requirement, workdir):
        wheel = workdir / "scikit_learn-0-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as zf:
            zf.writestr(digits.MEMBER, raw)
        return wheel

    monkeypatch.setattr(digits, "_sklearn_bytes", lambda: None)
    monkeypatch.setattr(digits, "pip_download_wheel", fake_wheel)
    train = load_dataset("digits", train=True)
    test = load_dataset("digits", train=False)
    assert train.images.shape == (80, 1, 8, 8) and len(test) == 20
    table = np.loadtxt(io.BytesIO(gzip.decompress(raw)), delimiter=",")
    assert np.array_equal(train.images[0, 0].numpy() * 16, table[0, :64].reshape(8, 8))
    assert float(train.images.max()) <= 1.0


def test_digits_corrupt_file_names_it(isolated_cache):
    path = isolated_cache / "digits" / "digits.csv.gz"
    path.parent.mkdir(parents=True)
    path.write_bytes(gzip.compress(b"1,2,3\n"))
    with pytest.raises(DataError, match=r"expected \[N, 65\]") as err:
        load_dataset("digits", train=True)
    assert str(path) in str(err.value)
