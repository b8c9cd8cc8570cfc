"""2 gloo processes on the same global batch follow the 1-process run (within tolerance)."""

import json
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import spikebit

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import torch
    from spikebit.data import ArrayDataset
    from spikebit.data.catalog import register_dataset
    from spikebit.train import config_from_dict, load_checkpoint, train_from_config

    def toy(train):
        g = torch.Generator().manual_seed(0 if train else 1)
        n = 128
        labels = torch.randint(0, 2, (n,), generator=g)
        images = torch.rand(n, 1, 8, 8, generator=g) * 0.3
        images[labels == 0, :, :, :4] += 0.6
        images[labels == 1, :, :, 4:] += 0.6
        return ArrayDataset(images.clamp(0, 1), labels, 2, "toy")

    register_dataset("toy", fetch=lambda root: root, summary="toy")(lambda f, train: toy(train))
    cfg = json.loads(sys.argv[1])
    metrics, run_dir = train_from_config(config_from_dict(cfg))
    if not torch.distributed.is_initialized() or torch.distributed.get_rank() == 0:
        ckpt = load_checkpoint(run_dir / "last.safetensors")
        w = ckpt.section("model")
        out = {"metrics": metrics, "weights": {k: v.flatten().tolist() for k, v in w.items()}}
        (run_dir / "result.json").write_text(json.dumps(out))
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(tmp_path, name, nproc):
    cfg = {
        "name": name, "seed": 1, "out_dir": str(tmp_path), "plots": False,
        "model": {"name": "albsnn-mnist", "args": {"spec": "4C3-AP2-6C3-GAP", "steps": 2,
                                                   "batchnorm": False}},
        "data": {"name": "toy"},
        "optim": {"epochs": 2, "batch_size": 32, "lr": 0.01},
    }
    script = tmp_path / "train_toy.py"
    script.write_text(SCRIPT)
    cmd = [sys.executable, str(script), json.dumps(cfg)]
    if nproc > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes=1",
               f"--nproc_per_node={nproc}", "--master_addr=127.0.0.1",
               f"--master_port={_free_port()}", *cmd[1:]]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                          env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin",
                               # the checkout under test, not whatever spikebit is installed
                               "PYTHONPATH": str(Path(spikebit.__file__).parents[1])})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((tmp_path / name / "result.json").read_text())


@pytest.mark.slow
def test_two_gloo_processes_match_one_process(tmp_path):
    one = _run(tmp_path, "one", 1)
    two = _run(tmp_path, "two", 2)
    for key in ("train_loss", "test_acc", "test_loss"):
        assert two["metrics"][key] == pytest.approx(one["metrics"][key], abs=1e-4), key
    for name, w in one["weights"].items():
        assert two["weights"][name] == pytest.approx(w, abs=1e-4), name
