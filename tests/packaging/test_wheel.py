"""The built wheel works outside the source tree: version, shipped configs, a tiny demo run.

Builds the wheel offline (no build isolation), installs it with ``--no-deps --no-index``
into a fresh virtual environment that sees the pinned torch of the test environment
through a ``.pth`` path (so nothing is downloaded), and runs the ``spikebit`` command from
a temporary directory.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _run(cmd: list[str], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["OMP_NUM_THREADS"] = "1"
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def wheel_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
          "--quiet", "-w", str(tmp / "dist"), str(REPO)], cwd=tmp)
    (wheel,) = (tmp / "dist").glob("spikebit-*.whl")
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(venv),
                                                    "platbase": str(venv)}))
    # the test environment's packages (torch, numpy, ...) without its editable spikebit
    (site / "deps.pth").write_text(str(Path(torch.__file__).resolve().parents[1]) + "\n")
    _run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
          "--no-deps", "--no-index", "--quiet", str(wheel)], cwd=tmp)
    return venv


def test_wheel_ships_configs_and_a_version(wheel_env: Path, tmp_path: Path):
    exe = str(wheel_env / "bin" / "spikebit")
    version = _run([exe, "--version"], cwd=tmp_path).stdout
    import spikebit

    assert version.strip() == f"spikebit {spikebit.__version__}"
    names = _run([exe, "configs", "list"], cwd=tmp_path).stdout.split()
    assert "demo" in names and "albsnn/fmnist-albsnn" in names
    where = _run([str(wheel_env / "bin" / "python"), "-c",
                  "import spikebit; print(spikebit.__file__)"], cwd=tmp_path).stdout
    assert str(wheel_env) in where  # the wheel, not the checkout
    _run([exe, "configs", "copy", "demo", "mine"], cwd=tmp_path)
    assert (tmp_path / "mine" / "demo.yaml").read_text().startswith("# The main job")


def test_wheel_trains_the_demo_by_name_outside_the_checkout(wheel_env: Path, tmp_path: Path):
    exe = str(wheel_env / "bin" / "spikebit")
    _run([exe, "data", "fetch", "fashion-mnist"], cwd=tmp_path, timeout=600)
    out = _run([exe, "train", "demo", "--set", "optim.epochs=1",
                "--set", "data.train_limit=256", "--set", "data.test_limit=128",
                "--set", "optim.batch_size=64", "--set", f"out_dir={tmp_path / 'runs'}"],
               cwd=tmp_path).stdout
    assert "test accuracy" in out
    assert (tmp_path / "runs" / "demo" / "best.safetensors").is_file()
