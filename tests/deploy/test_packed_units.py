"""Kernels against hand-computed values, refusals, the file format's failure modes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from spikebit.deploy import ExportError, PackedFileError, export_packed, load_packed
from spikebit.deploy.kernels import (
    binary_dot,
    event_affine,
    float_conv,
    pack_patches,
    pack_rows,
)
from spikebit.layers import TimeDistributed
from spikebit.models.network import ModelConfig, build_network
from spikebit.neurons.base import NeuronDynamics, SpikingNeuron

from .helpers import calibrate, neuron_outputs


def test_binary_dot_hand_computed():
    # x = [1, 0, 1, 1], B = [+1, -1, -1, +1]: 1 - 1 + 1 = 1; with counts x = [3, 0, 1, 2]:
    # 3 - 1 + 2 = 4.
    b = pack_rows(np.array([[1, 0, 0, 1]], dtype=np.uint8))
    x = np.array([1, 0, 1, 1], dtype=np.uint8).reshape(1, 1, 1, 4)
    assert binary_dot(pack_patches(x, 1, 1, 0, 1, 1), b)[0, 0] == 1
    counts = np.array([3, 0, 1, 2], dtype=np.uint8).reshape(1, 1, 1, 4)
    assert binary_dot(pack_patches(counts, 1, 1, 0, 1, 2), b)[0, 0] == 4


@settings(max_examples=25, deadline=None)
@given(c=st.integers(1, 70), o=st.integers(1, 5), k=st.sampled_from([1, 3]),
       pad=st.integers(0, 1), stride=st.integers(1, 2), vmax=st.sampled_from([1, 3, 15]),
       seed=st.integers(0, 2**31))
def test_packed_conv_equals_integer_conv(c, o, k, pad, stride, vmax, seed):
    """Bit-plane im2col + popcount equals an integer convolution with ±1 weights."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, vmax + 1, size=(2, 5, 6, c)).astype(np.uint8)
    w = rng.integers(0, 2, size=(o, k, k, c)).astype(np.uint8)  # 1 = +1, 0 = -1
    got = binary_dot(pack_patches(x, k, k, pad, stride, vmax.bit_length()),
                     pack_rows(w.reshape(o, -1)))
    ref = torch.nn.functional.conv2d(
        torch.from_numpy(x).permute(0, 3, 1, 2).double(),
        torch.from_numpy(w * 2.0 - 1.0).permute(0, 3, 1, 2), padding=pad, stride=stride)
    np.testing.assert_array_equal(got, ref.permute(0, 2, 3, 1).reshape(-1, o).numpy())


@settings(max_examples=15, deadline=None)
@given(c=st.integers(1, 40), o=st.integers(1, 4), vmax=st.sampled_from([1, 4]),
       seed=st.integers(0, 2**31))
def test_event_driven_and_direct_float_convs_equal_torch(c, o, vmax, seed):
    """One add per spike (fp weights on counts) and the direct real-input conv equal
    ``conv2d`` in float64 up to summation order, with the folded scale and bias."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, vmax + 1, size=(2, 5, 4, c)).astype(np.uint8)
    w = rng.normal(size=(3, 3, c, o))
    scale, bias = rng.normal(size=o), rng.normal(size=o)
    xt = torch.from_numpy(x).permute(0, 3, 1, 2).double()
    ref = torch.nn.functional.conv2d(xt, torch.from_numpy(w).permute(3, 2, 0, 1), padding=1)
    ref = (ref.permute(0, 2, 3, 1).numpy() * scale + bias)
    got = event_affine(pack_patches(x, 3, 3, 1, 1, vmax.bit_length()), w.reshape(-1, o),
                       scale, bias)
    np.testing.assert_allclose(got.reshape(ref.shape), ref, rtol=1e-12, atol=1e-12)
    real = rng.normal(size=x.shape)
    ref = torch.nn.functional.conv2d(torch.from_numpy(real).permute(0, 3, 1, 2),
                                     torch.from_numpy(w).permute(3, 2, 0, 1), padding=1)
    ref = ref.permute(0, 2, 3, 1).numpy() * scale + bias
    np.testing.assert_allclose(float_conv(real, w, 1, 1, scale, bias), ref, rtol=1e-12,
                               atol=1e-12)


def _net(**kw) -> nn.Module:
    cfg = ModelConfig(spec="4C3-AP2-8C3-GAP", in_shape=(1, 8, 8), quantizer="sign",
                      neuron_kwargs={"threshold": 0.5, "tau": 0.25}, **kw)
    return build_network(cfg)


def test_agmm_gate_is_refused_and_no_file_is_left(tmp_path):
    model = _net(block="agmm", steps=2)
    path = tmp_path / "m.sbit"
    with pytest.raises(ExportError, match=r"body\.\d+ \(AGMM\).*input-dependent"):
        export_packed(model, path)
    assert not path.exists() and list(tmp_path.iterdir()) == []


def test_unfolded_batchnorm_after_a_neuron_is_refused(tmp_path):
    model = _net()
    neuron_at = next(i for i, m in enumerate(model.body) if hasattr(m, "step"))
    model.body.insert(neuron_at + 1, TimeDistributed(nn.BatchNorm2d(4)))
    with pytest.raises(ExportError, match=rf"body\.{neuron_at + 1}\.module: BatchNorm that "
                       "does not directly follow"):
        export_packed(model, tmp_path / "m.sbit")
    assert list(tmp_path.iterdir()) == []


class _PluginNeuron(nn.Module):
    def forward(self, x):
        return (x > 0).to(x.dtype)

    def step(self, x, state=None):
        return (x > 0).to(x.dtype), state


class _InexactPlugin(SpikingNeuron):
    """A registered-style neuron whose step does not reproduce its forward."""

    def forward(self, x):
        return (x > 0).to(x.dtype)

    @property
    def dynamics(self) -> NeuronDynamics:
        return NeuronDynamics(kind="plugin", threshold=0.0, leak=1.0, reset="hard",
                              max_spikes=1, needs_steps=False, time_mixing=False,
                              exact_step=False)


def test_plugin_neurons_without_known_exact_step_are_refused(tmp_path):
    model = _net()
    neuron_at = next(i for i, m in enumerate(model.body) if hasattr(m, "step"))
    model.body[neuron_at] = _PluginNeuron()
    with pytest.raises(ExportError, match=rf"body\.{neuron_at}.*_PluginNeuron"):
        export_packed(model, tmp_path / "m.sbit")
    model.body[neuron_at] = _InexactPlugin()
    with pytest.raises(ExportError, match=rf"body\.{neuron_at}: neuron _InexactPlugin .*exact"):
        export_packed(model, tmp_path / "m.sbit")
    assert list(tmp_path.iterdir()) == []


def test_random_encoder_and_residual_nets_are_refused(tmp_path):
    with pytest.raises(ExportError, match="poisson"):
        export_packed(_net(encoder="poisson"), tmp_path / "a.sbit")
    with pytest.raises(ExportError, match="not a spikebit SpikingNet"):
        export_packed(nn.Sequential(nn.Linear(2, 2)), tmp_path / "b.sbit")
    assert list(tmp_path.iterdir()) == []


def test_fp16_option_halves_fp_layers_and_stays_exact_to_rounded_weights(tmp_path):
    model = _net(full_precision=[0, -1], steps=2)
    x = torch.rand(3, 1, 8, 8) * 2
    calibrate(model, x)
    a = export_packed(model, tmp_path / "a.sbit")
    b = export_packed(model, tmp_path / "b.sbit", fp_dtype="float16")
    fp_params = sum(layer.weight.numel() for layer in (model.body[0].module, ))
    assert a.file_bytes - b.file_bytes >= 2 * fp_params
    with torch.no_grad():  # the same model with fp16-rounded fp weights
        for m in model.modules():
            if getattr(m, "quantize", True) is False:
                m.weight.copy_(m.weight.half().float())
    ref, spikes, _ = neuron_outputs(model.double(), x.double())
    got = load_packed(tmp_path / "b.sbit").run(x.numpy(), record=True)
    for name, s in spikes.items():
        np.testing.assert_array_equal(got.spikes[name], s)


def test_unreadable_files_raise_packed_file_error(tmp_path):
    with pytest.raises(PackedFileError, match="does not exist"):
        load_packed(tmp_path / "missing.sbit")
    bad = tmp_path / "bad.sbit"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}")
    with pytest.raises(PackedFileError, match="not a readable"):
        load_packed(bad)
    from safetensors.numpy import save_file

    save_file({"x": np.zeros(2)}, str(tmp_path / "other.sbit"),
              metadata={"spikebit.packed": '{"format": "x", "version": 9}'})
    with pytest.raises(PackedFileError, match="version"):
        load_packed(tmp_path / "other.sbit")
