"""Registry, cache location and the fetch contract of every registered dataset."""

from __future__ import annotations

import pytest

from spikebit.data import DATASETS, cache_dir, dataset_names, digits, fetch, load_dataset, mnist
from spikebit.data import packages as packages_mod
from spikebit.errors import DataError, RegistryError

STATIC = [
    "cifar10",
    "cifar100",
    "digits",
    "fashion-mnist",
    "imagefolder",
    "imagenet",
    "mnist",
    "mnist-subset",
    "tinyimagenet",
]


def test_names():
    # tests elsewhere register toy sets in the same process; the shipped ones are all there
    assert set(STATIC) <= set(dataset_names())
    assert all(DATASETS.get(n).summary for n in STATIC)


def test_unknown_name_suggests_a_fix():
    with pytest.raises(RegistryError, match="Did you mean 'cifar10'"):
        load_dataset("cifar-10", train=True)


def test_cache_dir_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SPIKEBIT_DATA", raising=False)
    assert cache_dir() == tmp_path / "home" / ".cache" / "spikebit"
    monkeypatch.setenv("SPIKEBIT_DATA", str(tmp_path / "env"))
    assert cache_dir() == tmp_path / "env"
    assert cache_dir(tmp_path / "arg") == tmp_path / "arg"
    assert cache_dir(str(tmp_path)) == tmp_path


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No registry clients, no system copy, no reachable URL, no scikit-learn."""

    def refuse(cmd, cwd, what):
        raise DataError(f"cannot fetch {what}: offline in tests")

    monkeypatch.setattr(packages_mod, "_run", refuse)
    monkeypatch.setattr(mnist, "FASHION_SYSTEM_DIR", tmp_path / "no-system-copy")
    monkeypatch.setattr(mnist, "FASHION_URL", "http://127.0.0.1:9/")  # discard port: refused
    monkeypatch.setattr(digits, "_sklearn_bytes", lambda: None)


@pytest.mark.parametrize("name", STATIC)
def test_every_dataset_fails_clearly_when_absent(name, offline, isolated_cache):
    with pytest.raises(DataError) as err:
        load_dataset(name, train=True)
    assert str(isolated_cache) in str(err.value)
    leftovers = (
        [p for p in isolated_cache.rglob("*") if p.is_file()] if isolated_cache.exists() else []
    )
    assert leftovers == []  # a failed fetch leaves no file that could pass as data


def test_fetch_uses_env_var_unless_data_dir_is_given(isolated_cache, tmp_path):
    from static_formats import write_mnist

    write_mnist(isolated_cache / "mnist")
    write_mnist(tmp_path / "other" / "mnist", n_test=3)
    assert fetch("mnist") == isolated_cache / "mnist"
    assert fetch("mnist", tmp_path / "other") == tmp_path / "other" / "mnist"
    assert len(load_dataset("mnist", train=False, data_dir=tmp_path / "other")) == 3
