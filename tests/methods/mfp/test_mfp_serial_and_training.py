"""Serial (step-by-step) network inference and a tiny MFP-QSNN training."""

import json

import pytest
import torch

from spikebit.cli.report import info_report
from spikebit.methods.mfp import (
    MFPNeuron,
    SerialInferenceError,
    fold_network,
    layer_spike_mismatch,
    serial_forward,
)
from spikebit.models import ModelConfig, build_network
from spikebit.train import config_from_dict, load_checkpoint, model_from_checkpoint
from spikebit.train.run import train_from_config


def _randomize(net: torch.nn.Module) -> None:
    """Random BN statistics/affine and random lower-triangular M, so every path matters."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d | torch.nn.BatchNorm1d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.2)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            if isinstance(m, MFPNeuron):
                m.mixing.weight.copy_(torch.randn(m.steps, m.steps, generator=g) * 0.6 + 0.5)


@pytest.mark.parametrize("neuron", ["mfp", "lif"])
def test_serial_network_equals_parallel(neuron):
    torch.manual_seed(0)
    net = build_network(ModelConfig(spec="6C3-AP2-8C3-AP2-12", in_shape=(1, 8, 8), steps=4,
                                    neuron=neuron, quantizer="qsnn", full_precision=[0]))
    _randomize(net)
    net = net.double().eval()
    x = torch.rand(16, 1, 8, 8, dtype=torch.float64) * 2
    with torch.no_grad():
        torch.testing.assert_close(serial_forward(net, x), net(x), atol=1e-12, rtol=0)


def test_serial_needs_eval_mode():
    net = build_network(ModelConfig(spec="4C3", in_shape=(1, 4, 4), steps=2, neuron="mfp"))
    with pytest.raises(SerialInferenceError, match="eval"):
        serial_forward(net, torch.rand(1, 1, 4, 4))


def test_tiny_training_learns_and_records_memory(stripes_config):
    metrics, run_dir = train_from_config(config_from_dict(stripes_config))
    history = json.loads((run_dir / "metrics.json").read_text())["history"]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert metrics["test_acc"] > 0.6  # chance is 0.25
    # the time mixing is learned (it left its init tau^(t-i)) and stays lower-triangular
    model, _, _ = model_from_checkpoint(run_dir / "last.safetensors")
    neurons = [m for m in model.modules() if isinstance(m, MFPNeuron)]
    init = MFPNeuron(steps=3, tau=0.5).mixing.matrix()
    assert all(not torch.allclose(n.mixing.matrix(), init) for n in neurons)
    assert all(torch.equal(n.mixing.matrix().triu(1), torch.zeros(3, 3)) for n in neurons)
    # mfp-memory callback: in the epoch metrics, the checkpoint and `spikebit info`
    mem = metrics["mfp_memory"]
    assert mem["deployed_bytes"] < mem["baseline_fp_lif_bytes"]
    assert load_checkpoint(run_dir / "best.safetensors").meta["metrics"]["mfp_memory"]
    assert "mfp_memory" in info_report(run_dir / "last.safetensors", measure=False)
    # trained net: serial path = parallel; eq. 9 folding differs in some spikes
    model.eval()
    x = torch.rand(32, 1, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(serial_forward(model, x), model(x), atol=1e-5, rtol=0)
        assert any(v > 0 for v in layer_spike_mismatch(model, x).values())
        assert fold_network(model)(x).shape == model(x).shape
