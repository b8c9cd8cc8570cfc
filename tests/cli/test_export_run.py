"""``spikebit export --format packed`` and ``spikebit run`` end to end on the toy set."""

import json

import numpy as np
import pytest
import torch
import yaml

from spikebit.cli.main import main
from spikebit.metrics.readout import decide
from spikebit.train import model_from_checkpoint


@pytest.fixture
def trained(tmp_path, toy_config):
    toy_config["optim"]["epochs"] = 1
    toy_config["data"]["normalize"] = True
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(toy_config))
    assert main(["train", str(path)]) == 0
    return f"{toy_config['out_dir']}/toy/best.safetensors"


def test_export_then_run_on_data_and_npy(trained, tmp_path, capsys):
    out = tmp_path / "model.sbit"
    assert main(["export", trained, "--format", "packed", "-o", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    assert main(["run", str(out), "--data", "toy", "--batch-size", "16"]) == 0
    result = json.loads(capsys.readouterr().out)
    model, _, _ = model_from_checkpoint(trained)
    from spikebit.data import load_dataset

    test = load_dataset("toy", train=False)
    with torch.no_grad():
        scores = model.double().eval()(test.images.double()).mean(0)
    ref, d = scores.argmax(-1), decide(scores)  # no single top class: wrong, reported
    assert result["samples"] == len(test)
    assert result["accuracy"] == pytest.approx(d.correct(test.labels).double().mean().item())
    assert result["no_output"] == pytest.approx(d.no_output.double().mean().item())
    assert result["tied"] == pytest.approx(d.tied.double().mean().item())
    assert result["throughput_per_s"] > 0 and result["latency_ms_batch1_median"] > 0
    x = tmp_path / "x.npy"
    np.save(x, test.images[:5].numpy())
    assert main(["run", str(out), "--input", str(x), "-o", str(tmp_path / "p.npy")]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["predictions"] == ref[:5].tolist() == np.load(tmp_path / "p.npy").tolist()
    assert printed["no_output"] == torch.nonzero(d.no_output[:5]).flatten().tolist()
    assert printed["tied"] == torch.nonzero(d.tied[:5]).flatten().tolist()


def test_run_input_lists_samples_without_a_single_top_class(trained, tmp_path, capsys,
                                                            monkeypatch):
    """Hand-built readouts: all equal (no output), two top classes (tied), one decided."""
    from spikebit.deploy.engine import PackedModel, PackedOutput

    out = tmp_path / "model.sbit"
    assert main(["export", trained, "--format", "packed", "-o", str(out)]) == 0
    rows = np.array([[[0.0, 0.0, 0.0], [2.0, 2.0, 0.0], [0.0, 3.0, 1.0]]])  # [T=1, B=3, K=3]
    monkeypatch.setattr(PackedModel, "run", lambda self, x: PackedOutput(rows))
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((3, 1), dtype=np.float32))
    capsys.readouterr()
    assert main(["run", str(out), "--input", str(x)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == {"predictions": [0, 0, 1], "no_output": [0], "tied": [1]}


def test_export_refusal_is_one_line_and_writes_nothing(tmp_path, toy_config, capsys):
    toy_config["optim"]["epochs"] = 1
    toy_config["model"]["args"]["block"] = "agmm"
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(toy_config))
    assert main(["train", str(path)]) == 0
    capsys.readouterr()
    out = tmp_path / "m.sbit"
    ckpt = f"{toy_config['out_dir']}/toy/best.safetensors"
    assert main(["export", ckpt, "--format", "packed", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "AGMM" in err and "agmm=False" in err and not out.exists()
