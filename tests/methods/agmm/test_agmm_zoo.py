"""AGMM networks: structure, parameter counts, forward/backward at tiny width."""

import pytest
import torch

from spikebit.methods.agmm import AGMM, DoubleSkipBlock, vggsnn_spec
from spikebit.models import MODELS, build_model
from spikebit.neurons import LIF
from spikebit.quant import quantized_layers

TINY = {
    "agmm-resnet19": {"width": 1 / 32, "in_shape": (3, 16, 16), "num_classes": 5},
    "agmm-resnet18": {"width": 1 / 16, "in_shape": (3, 32, 32), "num_classes": 5},
    "agmm-vggsnn": {"width": 1 / 16, "in_shape": (2, 16, 16), "num_classes": 5, "steps": 3},
}


@pytest.mark.parametrize("name", sorted(TINY))
@pytest.mark.parametrize("quantizer, agmm", [("sign", True), ("sign", False), ("fp", False)])
def test_tiny_models_run_forward_and_backward(name, quantizer, agmm):
    torch.manual_seed(0)
    m = build_model(name, quantizer=quantizer, agmm=agmm, **TINY[name])
    steps = m.config.steps
    out = m(torch.rand(3, *TINY[name]["in_shape"]))
    assert out.shape == (steps, 3, 5) and torch.isfinite(out).all()
    out.mean(0).logsumexp(-1).sum().backward()
    for pname, p in m.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname
    n_agmm = sum(isinstance(x, AGMM) for x in m.modules())
    n_binary = sum(layer.quantize for _, layer in quantized_layers(m))
    assert n_agmm == (n_binary if agmm else 0)
    seq = torch.rand(steps, 2, *TINY[name]["in_shape"])  # a sequence input [T, B, ...]
    assert m(seq).shape == (steps, 2, 5)


def test_resnet19_structure_and_paper_size():
    """Full width, 100 classes: 12,615,396 parameters = 50.46 MB in fp32 (Table 2's FP-SNN).

    stem 3*128*9 = 3,456; 3x3 convs: stage 1 6*128*128*9 = 884,736, stage 2
    128*256*9 + 5*256*256*9 = 3,244,032, stage 3 256*512*9 + 3*512*512*9 = 8,257,536;
    1x1 shortcuts 128*256 + 256*512 = 163,840; FC 512*100 + 100 = 51,300;
    BN 2*(128 + 6*128 + 6*256 + 256 + 4*512 + 512) = 10,496.
    """
    m = build_model("agmm-resnet19", num_classes=100, quantizer="fp", agmm=False)
    assert sum(p.numel() for p in m.parameters()) == 12_615_396
    m = build_model("agmm-resnet19", num_classes=100)
    blocks = [b for b in m.body if isinstance(b, DoubleSkipBlock)]
    assert len(blocks) == 8
    layers = quantized_layers(m)
    binary = [layer for _, layer in layers if layer.quantize]
    assert len(binary) == 16 and all(layer.kernel_size == (3, 3) for layer in binary)
    fp = [name for name, layer in layers if not layer.quantize]
    assert fp == ["body.0.module", "body.6.shortcut1.1.module", "body.9.shortcut1.1.module",
                  "body.12.module"]  # stem, two 1x1 downsampling convs, output FC
    agmm = [x for x in m.modules() if isinstance(x, AGMM)]
    assert len(agmm) == 16 and all(x.steps == 2 and x.causal for x in agmm)
    lif = [x for x in m.modules() if isinstance(x, LIF)]
    assert len(lif) == 17 and all(x.reset == "hard" and x.tau == 0.5 for x in lif)
    assert lif[0].threshold == 1.0 and type(lif[0].firing.surrogate).__name__ == "Triangle"


def test_agmm_options_reach_the_blocks():
    m = build_model("agmm-resnet19", width=1 / 32, causal=False, steps=3,
                    agmm_kwargs={"detach_mean": True})
    agmm = [x for x in m.modules() if isinstance(x, AGMM)]
    assert agmm and all(not x.causal and x.detach_mean and x.steps == 3 for x in agmm)
    v = build_model("agmm-vggsnn", width=1 / 16, causal=False)
    assert all(not x.causal for x in v.modules() if isinstance(x, AGMM))


def test_vggsnn_spec_and_registry():
    assert vggsnn_spec() == "64C3-128C3-AP2-256C3-256C3-AP2-512C3-512C3-AP2-512C3-512C3-AP2"
    assert vggsnn_spec(0.25) == "16C3-32C3-AP2-64C3-64C3-AP2-128C3-128C3-AP2-128C3-128C3-AP2"
    m = build_model("agmm-vggsnn", width=0.25)
    flags = [layer.quantize for _, layer in quantized_layers(m)]
    assert flags == [False] + [True] * 7 + [False]  # first conv and output FC full precision
    assert {"agmm-resnet19", "agmm-resnet18", "agmm-vggsnn"} <= set(MODELS.names())


def test_named_options_and_agmm_kwargs_must_agree():
    from spikebit.errors import ConfigError

    kw = {**TINY["agmm-resnet19"], "agmm_kwargs": {"mean": "sample", "causal": True}}
    with pytest.raises(ConfigError, match=r"mean='channel' vs agmm_kwargs.mean='sample'"):
        build_model("agmm-resnet19", mean="channel", **kw)
    m = build_model("agmm-resnet19", mean="sample", position="before-bn", **kw)  # no clash
    blocks = [x for x in m.modules() if isinstance(x, AGMM)]
    assert blocks and all(b.mean == "sample" and b.position == "before-bn" for b in blocks)


@pytest.mark.parametrize("name", ["causal", "per_step", "detach_mean"])
def test_agmm_flags_must_be_bools(name):
    from spikebit.errors import ConfigError

    with pytest.raises(ConfigError, match=f"{name} must be true or false, got 'maybe'"):
        AGMM(2, **{name: "maybe"})
