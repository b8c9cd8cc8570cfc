"""Every zoo model: exported exactly (spikes and predictions equal model.double()) or refused."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import torch

from spikebit.deploy import ExportError, export_packed, load_packed
from spikebit.metrics import model_storage
from spikebit.models import MODELS
from spikebit.quant import quantized_layers

from .helpers import REFUSED, calibrate, in_shape, neuron_outputs, small_model


def _payload_bytes(model) -> int:
    """Exact bytes of the packed weights: k bits (binary), b bits (uniform), 32 (fp)."""
    total = 0
    for _, layer in quantized_layers(model):
        n = layer.weight.numel()
        bits = layer.quantizer.weight_bits if layer.quantize else 32
        if layer.quantize and type(layer.quantizer).__name__ == "UniformQuantizer":
            total += bits * ((n + 7) // 8)  # one packed plane per bit
        else:
            total += (bits * n + 7) // 8
    return total


def _data_bytes(path) -> int:
    raw = path.read_bytes()
    (header,) = struct.unpack("<Q", raw[:8])
    return len(raw) - 8 - header


def check_exact(model, path, batch: int = 3) -> dict:
    """Export, load, run; assert size accounting and float64 exactness. Returns stats."""
    shape = in_shape(model)
    x = torch.rand(batch, *shape) * 1.5
    calibrate(model, x)
    report = export_packed(model, path)
    storage = model_storage(model).total_bits / 8
    assert report.file_bytes == path.stat().st_size
    assert report.file_bytes <= 1.02 * (storage + report.folded_bytes) + 4096
    extra = sum(m.steps * (m.steps + 1) // 2 * 4 for m in model.modules()
                if type(m).__name__ == "MFPNeuron")  # fp32 lower triangle of the T x T mixing
    assert _data_bytes(path) == _payload_bytes(model) + report.folded_bytes + extra
    engine = load_packed(path)
    got = engine.run(x.numpy(), record=True)
    ref, spikes, _ = neuron_outputs(model.double(), x.double())
    assert set(got.spikes) == set(spikes)
    fired = 0
    for name, s in spikes.items():
        np.testing.assert_array_equal(got.spikes[name], s, err_msg=name)
        fired += s.sum()
    assert fired > 0, "no spikes: the test would compare zeros"
    np.testing.assert_allclose(got.outputs, ref, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(got.predictions, ref.mean(0).argmax(-1))
    return {"spikes": int(fired)}


@pytest.mark.parametrize("name", MODELS.names())
def test_zoo_model_exports_exactly_or_is_refused(name, tmp_path):
    model = small_model(name)
    path = tmp_path / "m.sbit"
    if name.startswith(REFUSED):
        with pytest.raises(ExportError, match=r"\w"):
            export_packed(model, path)
        assert list(tmp_path.iterdir()) == [], "a refused export left a file behind"
        return
    check_exact(model, path)


@pytest.mark.parametrize("quantizer,kwargs", [
    ("sign", {}), ("qsnn", {}), ("abc", {"bases": 1}), ("abc", {"bases": 2}),
    ("abc", {"bases": 3}), ("uniform", {"bits": 2}), ("uniform", {"bits": 4}),
])
def test_every_quantizer_packs_exactly(quantizer, kwargs, tmp_path):
    model = small_model("albsnn-mnist", quantizer=quantizer, quantizer_kwargs=kwargs,
                        full_precision=[0])
    check_exact(model, tmp_path / "m.sbit")


def test_binary_weights_on_multithreshold_counts(tmp_path):
    """Counts 0..O_max and average-pooled counts feed binary layers as bit planes."""
    model = small_model("mt-fmnist-cnn", spec="6C3-AP2-8C3-P2-16", quantizer="abc",
                        full_precision=[0], pool="avg", max_spikes=5)
    check_exact(model, tmp_path / "m.sbit")


def test_agmm_vggsnn_without_agmm_exports(tmp_path):
    check_exact(small_model("agmm-vggsnn", agmm=False), tmp_path / "m.sbit")


def test_binary_first_layer_with_real_input(tmp_path):
    """A binary layer fed the real-valued image runs in float (the encoding layer)."""
    model = small_model("albsnn-mnist", quantizer="sign", full_precision=[])
    check_exact(model, tmp_path / "m.sbit")


def test_normalized_model_and_sequence_input(tmp_path):
    from spikebit.train.build import Normalized

    net = small_model("mfp-vggsnn-fmnist")
    model = Normalized(net, [0.3], [0.7])
    x = torch.rand(2, 1, 28, 28)
    calibrate(model, x)
    export_packed(model, tmp_path / "n.sbit")
    with torch.no_grad():
        ref = model.double()(x.double()).numpy()
    got = load_packed(tmp_path / "n.sbit").run(x.numpy()).outputs
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-9)
    export_packed(net, tmp_path / "s.sbit")  # a [T, B, ...] sequence (e.g. event frames)
    seq = torch.rand(net.steps, 2, 1, 28, 28) * 2
    with torch.no_grad():
        ref_seq = net(seq.double()).numpy()
    got_seq = load_packed(tmp_path / "s.sbit").run(seq.numpy()).outputs
    np.testing.assert_allclose(got_seq, ref_seq, rtol=1e-9, atol=1e-9)
