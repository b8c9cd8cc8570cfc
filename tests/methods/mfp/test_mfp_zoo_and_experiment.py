"""Zoo entries, shipped configs and the registered experiment."""

from pathlib import Path

import pytest
import torch
import yaml

from spikebit.data import fetch
from spikebit.errors import DataError
from spikebit.methods.mfp import MFPNeuron
from spikebit.methods.mfp.experiments import _accuracy, run_config
from spikebit.methods.mfp.zoo import vggsnn_spec
from spikebit.models import MODELS, build_model
from spikebit.neurons import LIF
from spikebit.quant import quantized_layers
from spikebit.reproduce import EXPERIMENTS
from spikebit.train import config_from_dict, load_config

CONFIGS = Path(__file__).resolve().parents[3] / "configs" / "mfp"
MFP_MODELS = [n for n in MODELS.names() if n.startswith("mfp-")]


def test_vggsnn_spec_and_width():
    assert vggsnn_spec() == ("64C3-128C3-AP2-256C3-256C3-AP2-512C3-512C3-AP2-512C3-512C3-AP2")
    assert vggsnn_spec(0.25).startswith("16C3-32C3-AP2-64C3")
    with pytest.raises(ValueError, match="width"):
        vggsnn_spec(0)


@pytest.mark.parametrize("name", MFP_MODELS)
def test_zoo_entries_build_narrow_and_train_one_step(name):
    m = build_model(name, width=1 / 32, steps=2)
    shape = m.config.in_shape
    out = m(torch.rand(2, *shape))
    assert out.shape == (2, 2, 10)
    out.mean(0).logsumexp(-1).sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    is_mfp = not name.endswith("fp-lif")
    neuron = MFPNeuron if is_mfp else LIF
    assert all(isinstance(x, neuron) for x in m.body if isinstance(x, MFPNeuron | LIF))
    flags = [q.quantize and q.quantizer.weight_bits == 1 for _, q in quantized_layers(m)]
    assert flags == ([False] + [True] * (len(flags) - 1) if is_mfp else [False] * len(flags))


@pytest.mark.parametrize("kind", ["mfp", "fp-lif"])
def test_shipped_configs_are_the_cpu_budget(kind):
    path = CONFIGS / f"fmnist-vggsnn-{kind}.yaml"
    assert load_config(path) == config_from_dict(run_config(kind, "cpu", "runs/mfp"))
    assert yaml.safe_load(path.read_text())["callbacks"] == [{"name": "mfp-memory"}]


def test_experiment_smoke_budget(tmp_path):
    try:
        fetch("fashion-mnist")
    except DataError as err:
        pytest.skip(f"Fashion-MNIST not available: {err}")
    result = EXPERIMENTS.get("mfp-fmnist").runner("smoke", tmp_path)
    models = [r["model"] for r in result["rows"]]
    assert models[:2] == ["fp-lif", "mfp"] and len(models) == 4
    mfp = result["details"]["mfp"]
    assert mfp["checks"]["serial_output_max_abs_diff"] < 1e-5
    for path in ("parallel", "serial", "eq9_rowsum", "eq9_diagonal"):  # shares beside each
        assert {f"{path}_acc", f"{path}_no_output", f"{path}_tied"} <= set(mfp["checks"])
    assert result["rows"][1]["memory_ratio"] > 1.0
    assert set(result["columns"]) <= set(result["rows"][0])


def test_mfp_check_accuracy_counts_undecided_samples_as_wrong():
    # time-mean readouts [B=4, K=3]: silent and tied samples of label 0 are wrong
    out = torch.tensor([[[0.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]])
    model = torch.nn.Identity()
    result = _accuracy(model, out, torch.tensor([0, 0, 1, 0]), forward=lambda x: x, batch=4)
    assert result == {"acc": 0.5, "no_output": 0.25, "tied": 0.25}
