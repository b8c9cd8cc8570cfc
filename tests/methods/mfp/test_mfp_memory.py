"""Inference memory accounting against hand counts on a tiny network."""

import torch

from spikebit.methods.mfp import fold_network, inference_memory
from spikebit.models import ModelConfig, build_network

# in 1x4x4, T=3: conv 1->2 (3x3, fp32, +BN) -> MFP -> AP2 -> fc 8->3 (qsnn, +BN) -> MFP -> fc 3->2
TINY = dict(spec="2C3-AP2-3", in_shape=(1, 4, 4), num_classes=2, steps=3, quantizer="qsnn",
            full_precision=[0])


def test_mfp_memory_equals_hand_count():
    r = inference_memory(build_network(ModelConfig(neuron="mfp", **TINY)))
    conv, fc, out = r.layers
    # conv: 18 fp32 weights = 72 B; BN 2 ch x 2 fp32 = 16 B; 2x4x4 = 32 neurons;
    # M: 3*4/2 = 6 fp32 = 24 B; LIF membrane 32 x 4 B; exact serial: (T-1) x 32 x 4 B
    assert (conv.params, conv.weight_bytes, conv.fp32_weight_bytes) == (18, 72, 72)
    assert conv.bn_bytes == 16
    assert (conv.neurons, conv.mixing_bytes, conv.lif_state_bytes) == (32, 24, 128)
    assert (conv.state_bytes, conv.serial_state_bytes, conv.neuron) == (0, 256, "mfp")
    # fc 8->3: 24 weights x 1 bit + 3 channels x 8-bit exponent = 48 bits = 6 B; BN 24 B
    assert (fc.params, fc.weight_bytes, fc.fp32_weight_bytes, fc.bn_bytes) == (24, 6, 96, 24)
    assert (fc.neurons, fc.mixing_bytes, fc.lif_state_bytes) == (3, 24, 12)
    assert fc.serial_state_bytes == 24
    # output fc 3->2 + bias: 6 bits + 2 x 8 bits + 2 x 32-bit bias = 86 bits -> 11 B
    assert (out.params, out.weight_bytes, out.fp32_weight_bytes, out.neuron) == (8, 11, 32, "-")
    assert r.other_bytes == 0
    assert r.baseline_bytes == (72 + 96 + 32) + (16 + 24) + (128 + 12)  # 380
    assert r.deployed_bytes == (72 + 6 + 11) + (16 + 24) + (24 + 24)  # 177
    assert r.serial_bytes == 177 + 256 + 24
    d = r.to_dict()
    assert d["baseline_fp_lif_bytes"] == 380 and d["deployed_bytes"] == 177
    assert d["ratio_baseline_to_deployed"] == 380 / 177


def test_fp_lif_model_is_its_own_baseline_and_folded_mfp_keeps_thresholds():
    lif = inference_memory(build_network(ModelConfig(neuron="lif", **dict(TINY, quantizer="fp"))))
    assert lif.deployed_bytes == lif.baseline_bytes == lif.serial_bytes == 380
    assert [layer.neuron for layer in lif.layers] == ["lif", "lif", "-"]
    folded = inference_memory(fold_network(build_network(ModelConfig(neuron="mfp", **TINY))))
    # eq. 9: no state at all; M replaced by T=3 fp32 thresholds per layer (12 B)
    assert folded.serial_bytes == folded.deployed_bytes == (72 + 6 + 11) + 40 + 2 * 12


def test_memory_report_does_not_disturb_rng_or_training_mode():
    net = build_network(ModelConfig(neuron="mfp", encoder="poisson", **TINY))
    net.train()
    torch.manual_seed(0)
    inference_memory(net)
    after = torch.rand(3)
    torch.manual_seed(0)
    assert torch.equal(after, torch.rand(3))
    assert net.training
