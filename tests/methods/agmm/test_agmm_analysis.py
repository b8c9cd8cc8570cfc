"""modulation_report: gate, BN scale and gradient-to-weight ratios of binary units."""

import pytest
import torch

from spikebit.methods.agmm import AGMM
from spikebit.methods.agmm.analysis import binary_units, modulation_report
from spikebit.models import build_model

TINY = {"width": 1 / 32, "in_shape": (3, 16, 16), "num_classes": 5}


def _batch():
    g = torch.Generator().manual_seed(1)
    return torch.rand(8, 3, 16, 16, generator=g), torch.randint(0, 5, (8,), generator=g)


@pytest.mark.parametrize("agmm", [True, False])
def test_report_reads_every_binary_unit_and_leaves_the_model_unchanged(agmm):
    torch.manual_seed(0)
    model = build_model("agmm-resnet19", quantizer="sign", agmm=agmm, **TINY)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    report = modulation_report(model, *_batch())
    units = binary_units(model)
    assert len(report["layers"]) == len(units) == 16  # 8 double-skip blocks x 2 binary convs
    for row, unit in zip(report["layers"], units):
        gamma = unit.bn.weight.abs().mean().item()
        assert row["bn_gamma_abs"] == pytest.approx(gamma)
        if agmm:
            assert isinstance(unit.agmm, AGMM) and 0 < row["gate"] < 1
            assert row["effective_gain"] == pytest.approx(row["gate"] * gamma)
        else:
            assert row["gate"] is None and row["effective_gain"] == pytest.approx(gamma)
        assert row["latent_grad_abs"] > 0
        assert row["grad_to_weight"] == pytest.approx(
            row["latent_grad_abs"] / row["latent_weight_abs"])
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # BN statistics restored
    assert all(p.grad is None for p in model.parameters())


def test_gate_is_sigmoid_of_the_cumulative_mean_of_the_bn_output():
    """A fresh AGMM (alpha = 1): gate[t, b] = sigmoid(mean_{s<=t} mean_features BN_out[s, b])."""
    torch.manual_seed(0)
    model = build_model("agmm-resnet19", quantizer="sign", agmm=True, steps=2, **TINY)
    bn_out = []
    unit = binary_units(model)[0]
    handle = unit.bn.register_forward_hook(lambda m, i, o: bn_out.append(o.detach()))
    report = modulation_report(model, *_batch())
    handle.remove()
    m = bn_out[0].reshape(2, 8, -1).mean(-1)  # BN sees [T*B, C, H, W]; m is [T, B]
    by_hand = torch.stack([torch.sigmoid(m[0]), torch.sigmoid((m[0] + m[1]) / 2)])
    assert report["layers"][0]["gate"] == pytest.approx(float(by_hand.mean()), rel=1e-5)


def test_flat_vggsnn_bodies_are_read_too():
    torch.manual_seed(0)
    model = build_model("agmm-vggsnn", width=1 / 16, in_shape=(2, 16, 16), num_classes=5,
                        steps=2)
    x = torch.rand(2, 4, 2, 16, 16)  # [T, B, C, H, W] frames
    report = modulation_report(model, x, torch.tensor([0, 1, 2, 3]))
    assert len(report["layers"]) == 7  # 8 convs, the first full precision
    assert all(0 < row["gate"] < 1 for row in report["layers"])
