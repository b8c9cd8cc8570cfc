"""``$CXX`` and the native MFP kernel build: a set ``$CXX`` is the only compiler tried; one
that names nothing executable is a failed build (one RuntimeWarning naming it, then the
eager reference), never a silent switch to ``c++``. No real compiler runs here."""

import os
import stat
import subprocess
import warnings
from pathlib import Path

import pytest
import torch

from spikebit.functional.surrogate import get_surrogate
from spikebit.methods.mfp import native


@pytest.fixture(autouse=True)
def fresh_caches(tmp_path, monkeypatch):
    """Empty build/warning caches and a kernel cache of its own, restored afterwards."""
    monkeypatch.setenv("SPIKEBIT_KERNEL_CACHE", str(tmp_path / "kernels"))
    native.library.cache_clear()
    native._WARNED.clear()
    yield
    native.library.cache_clear()
    native._WARNED.clear()


def _executable(path: Path) -> Path:
    path.write_text("#!/bin/sh\nexit 1\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def _no_build(*args, **kwargs):
    raise AssertionError("nothing may be compiled")


def _library_warnings(*steps: int) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for t in steps:
            assert native.library(t) is None
    return [str(w.message) for w in caught if w.category is RuntimeWarning]


@pytest.mark.parametrize("kind", ["missing", "not-executable", "not-on-path"])
def test_unusable_cxx_fails_the_build_with_one_warning(tmp_path, monkeypatch, kind):
    if kind == "missing":
        cxx = str(tmp_path / "no-such-c++")
    elif kind == "not-executable":
        plain = tmp_path / "plain-c++"
        plain.write_text("#!/bin/sh\n")
        plain.chmod(0o644)
        cxx = str(plain)
    else:
        cxx = "spikebit-no-such-compiler-xyz"
    monkeypatch.setenv("CXX", cxx)
    monkeypatch.setattr(native, "_build", _no_build)
    _executable(tmp_path / "c++")  # a working-looking default that must not be used
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}")
    assert native.compiler() is None
    messages = _library_warnings(3, 5)  # two horizons: still one warning
    assert len(messages) == 1
    assert f"$CXX={cxx!r} names no executable compiler" in messages[0]
    assert "no other compiler is used" in messages[0] and "eager reference" in messages[0]
    x = torch.zeros(3, 4)
    assert not native.supports(x, get_surrogate("triangle", width=1.0))


def test_empty_cxx_counts_as_unset(tmp_path, monkeypatch):
    gxx = _executable(tmp_path / "g++")  # the only compiler on this PATH
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("CXX", "  ")
    assert native.compiler() == str(gxx)


def test_cxx_with_arguments_is_run_as_given(tmp_path, monkeypatch):
    wrapper = _executable(tmp_path / "wrap")
    monkeypatch.setenv("CXX", f"{wrapper} --driver 'g++'")
    calls = []

    def fake_run(argv, **kwargs):
        calls.append(argv)
        raise subprocess.CalledProcessError(1, argv, stderr="no")

    monkeypatch.setattr(native.subprocess, "run", fake_run)
    assert native.compiler() == str(wrapper)
    messages = _library_warnings(2)
    # -march=native first, then default flags: both with the wrapper and its arguments
    assert [argv[:3] for argv in calls] == [[str(wrapper), "--driver", "g++"]] * 2
    assert len(messages) == 1 and f"building it with {wrapper} --driver g++ failed" in messages[0]


def _failing_compiler(calls: list):
    """A stand-in ``subprocess.run`` of a compiler that exists but fails (``CXX=false``):
    exit status 1, nothing on stderr, so the detail is the command line with its
    temporary paths, different for every build."""

    def run(argv, **kwargs):
        calls.append(argv)
        raise subprocess.CalledProcessError(1, argv, stderr="")

    return run


def test_a_failing_compiler_warns_once_for_every_horizon(tmp_path, monkeypatch):
    monkeypatch.setenv("CXX", str(_executable(tmp_path / "false")))
    calls: list = []
    monkeypatch.setattr(native.subprocess, "run", _failing_compiler(calls))
    messages = _library_warnings(2, 3, 5)
    assert len(calls) == 6  # every horizon tried, with and without -march=native
    assert len(messages) == 1  # one cause: this compiler command
    assert f"building it with {tmp_path / 'false'} failed (T=2: -march=native:" in messages[0]
    assert "returned non-zero exit status 1" in messages[0]  # the first failure's detail
    monkeypatch.setenv("CXX", str(_executable(tmp_path / "other")))
    messages = _library_warnings(7, 9)  # another compiler: another cause, one warning
    assert len(messages) == 1 and str(tmp_path / "other") in messages[0]


def test_the_warning_points_at_the_callers_line(tmp_path, monkeypatch):
    from spikebit.methods.mfp import MFPNeuron

    monkeypatch.setenv("CXX", str(_executable(tmp_path / "false")))
    monkeypatch.setattr(native.subprocess, "run", _failing_compiler([]))
    neuron = MFPNeuron(3, backend="native")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = neuron(torch.zeros(3, 1, 2))  # through nn.Module.__call__ and the kernel
    assert out.shape == (3, 1, 2)  # the eager reference ran
    (warning,) = [w for w in caught if w.category is RuntimeWarning]
    assert warning.filename == __file__
