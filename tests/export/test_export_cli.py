"""``spikebit export``: a trained checkpoint to NIR and ONNX, and its bad inputs."""

from __future__ import annotations

import onnxruntime as ort
import pytest
import torch
import yaml
from export_clients import run_spikebit

from spikebit.cli.export import FORMATS
from spikebit.cli.main import main
from spikebit.export import from_nir
from spikebit.train import model_from_checkpoint


@pytest.fixture
def checkpoint(tmp_path, toy_config):
    toy_config["model"]["args"]["neuron_kwargs"] = {"threshold": 0.5, "tau": 0.25,
                                                    "reset": "hard"}
    toy_config["data"]["normalize"] = True  # the checkpoint carries an input normalization
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(toy_config))
    assert main(["train", str(path)]) == 0
    return tmp_path / "runs" / "toy" / "best.safetensors"


def _images(n: int = 4) -> torch.Tensor:
    return torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(2))


def test_export_nir_and_onnx_from_a_trained_checkpoint(checkpoint, tmp_path, capsys):
    assert {"nir", "onnx"} <= set(FORMATS.names())
    model, _, _ = model_from_checkpoint(checkpoint)
    model.eval()
    x = _images()
    ref, ref_spikes = run_spikebit(model, x)
    assert main(["export", str(checkpoint), "--format", "nir", "-o", str(tmp_path / "m.nir")]) == 0
    assert "wrote" in capsys.readouterr().out
    back = from_nir(tmp_path / "m.nir")  # normalization from the graph's metadata
    assert back.export_metadata["normalization"] is not None
    out, spikes = run_spikebit(back, x)
    assert all(torch.equal(a, b) for a, b in zip(spikes, ref_spikes)) and len(spikes) == 2
    assert torch.allclose(out, ref, atol=1e-5)

    assert main(["export", str(checkpoint), "--format", "onnx", "-o",
                 str(tmp_path / "m.onnx")]) == 0
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    logits, *onnx_spikes = sess.run(None, {"x": x.numpy()})
    assert torch.allclose(torch.from_numpy(logits), ref, atol=1e-5)
    assert all(torch.equal(torch.from_numpy(a), b) for a, b in zip(onnx_spikes, ref_spikes))


def test_export_errors_are_one_line_and_leave_no_file(checkpoint, tmp_path, capsys):
    out = tmp_path / "out" / "m.nir"
    assert main(["export", str(tmp_path / "missing.safetensors"), "--format", "nir",
                 "-o", str(out)]) == 2
    assert "does not exist" in capsys.readouterr().err
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(checkpoint.read_bytes()[:200])
    assert main(["export", str(corrupt), "--format", "nir", "-o", str(out)]) == 2
    assert "corrupt" in capsys.readouterr().err
    assert main(["export", str(checkpoint), "--format", "nirr", "-o", str(out)]) == 2
    assert "Did you mean 'nir'" in capsys.readouterr().err
    assert not out.exists() and not (out.parent.exists() and any(out.parent.iterdir()))


def test_soft_reset_checkpoint_is_refused_unless_approximated(tmp_path, toy_config, capsys):
    toy_config["model"]["args"]["neuron_kwargs"] = {"threshold": 0.5, "tau": 0.25,
                                                    "reset": "soft"}
    toy_config["optim"]["epochs"] = 1
    cfg = tmp_path / "toy.yaml"
    cfg.write_text(yaml.safe_dump(toy_config))
    assert main(["train", str(cfg)]) == 0
    ckpt = tmp_path / "runs" / "toy" / "best.safetensors"
    out = tmp_path / "m.nir"
    assert main(["export", str(ckpt), "--format", "nir", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "layer 'body.2'" in err and "--approximate soft-reset" in err and not out.exists()
    with pytest.warns(UserWarning, match="approximate"):
        assert main(["export", str(ckpt), "--format", "nir", "-o", str(out),
                     "--approximate", "soft-reset"]) == 0
    assert out.exists()
