"""Every registered component runs on the ``meta`` device and in float64/bf16/fp16.

``meta`` tensors carry shape, dtype and device but no data: a tensor created inside a
forward or backward without the device of its inputs lands on the CPU and the op
fails ("Tensor on device cpu is not on the expected device"). The dtype runs (on the
CPU) check that outputs and gradients keep the input's dtype and that no op needs
float32 (e.g. ``linalg.solve`` of ABC-Net alphas on a half-precision model).
Where the CPU has no half/bfloat16 kernel for an op, the case is skipped naming it.
"""

from __future__ import annotations

import pytest
import torch
from contract_helpers import (
    DTYPE_IDS,
    DTYPES,
    assert_grads_follow,
    run_or_skip,
    small_model,
)

from spikebit.functional.encoders import ENCODERS
from spikebit.functional.staircase import STAIRCASES, get_staircase
from spikebit.functional.surrogate import SURROGATES, Surrogate, get_surrogate, spike
from spikebit.models.blocks import BLOCKS
from spikebit.models.zoo import MODELS
from spikebit.neurons.base import NEURONS
from spikebit.quant import QUANTIZERS, get_quantizer

T, B = 3, 2
QUANT_CASES = [(n, {}) for n in QUANTIZERS.names()] + [("abc", {"bases": 1}), ("abc", {"bases": 2})]
QUANT_IDS = [f"{n}{kw.get('bases', '')}" for n, kw in QUANT_CASES]


def _neuron(name: str) -> torch.nn.Module:
    cls = NEURONS.get(name)
    return cls(steps=T) if getattr(cls, "needs_steps", False) else cls()


def _block(name: str) -> torch.nn.Module:
    return BLOCKS.get(name)(steps=T)


def _has_primitive(curve: Surrogate) -> bool:
    """Some staircase curves define only the derivative (the primitive is optional)."""
    return type(curve).primitive is not Surrogate.primitive


# ---------------------------------------------------------------- meta (shapes only)


@pytest.mark.parametrize(("name", "kwargs"), QUANT_CASES, ids=QUANT_IDS)
def test_quantizer_on_meta(name, kwargs):
    q = get_quantizer(name, **kwargs).to("meta")
    w = torch.empty(6, 3, 3, 3, device="meta", requires_grad=True)
    y = q(w)
    assert y.device.type == "meta" and y.shape == w.shape and y.dtype == w.dtype
    y.sum().backward()
    assert w.grad is not None and w.grad.device.type == "meta"
    levels = q.levels(w)
    assert levels.scales.device.type == "meta" and levels.codes.device.type == "meta"
    assert levels.weight().shape == w.shape


@pytest.mark.parametrize("name", NEURONS.names())
def test_neuron_on_meta(name):
    neuron = _neuron(name).to("meta")
    x = torch.empty(T, B, 4, 5, 5, device="meta", requires_grad=True)
    s = neuron(x)
    assert s.device.type == "meta" and s.shape == x.shape
    s.sum().backward()
    assert x.grad is not None and x.grad.device.type == "meta"
    if getattr(neuron, "needs_steps", False):
        return  # MFP mixes whole sequences (its step() runs its serial form elsewhere)
    s_t, state = neuron.step(x[0].detach())
    assert s_t.device.type == "meta" and s_t.shape == x.shape[1:]


@pytest.mark.parametrize("name", BLOCKS.names())
def test_block_on_meta(name):
    block = _block(name).to("meta")
    x = torch.empty(T, B, 4, 5, 5, device="meta", requires_grad=True)
    y = block(x)
    assert y.device.type == "meta" and y.shape == x.shape
    y.sum().backward()
    assert_grads_follow(block)


@pytest.mark.parametrize("name", SURROGATES.names())
def test_surrogate_on_meta(name):
    sg = get_surrogate(name)
    x = torch.empty(7, 5, device="meta", requires_grad=True)
    spike(x, sg).sum().backward()
    assert x.grad.device.type == "meta"
    assert sg.primitive(x.detach()).device.type == "meta"


@pytest.mark.parametrize("name", STAIRCASES.names())
def test_staircase_on_meta(name):
    curve = get_staircase(name, levels=4)
    x = torch.empty(7, 5, device="meta")
    assert curve.derivative(x).device.type == "meta"
    if _has_primitive(curve):
        assert curve.primitive(x).device.type == "meta"


@pytest.mark.parametrize("name", ENCODERS.names())
def test_encoder_on_meta(name):
    x = torch.empty(B, 1, 4, 4, device="meta")
    out = ENCODERS.get(name)(x, T)
    assert out.device.type == "meta" and out.shape == (T, *x.shape)


@pytest.mark.parametrize("name", MODELS.names())
def test_zoo_model_on_meta(name):
    """Built on the CPU, moved with ``.to('meta')``: a tensor kept outside the module's
    parameters and buffers, or made in a forward without ``device=``, fails here."""
    model, shape = small_model(name)
    model = model.to("meta")
    out = model(torch.empty(B, *shape, device="meta"))
    assert out.device.type == "meta" and out.dtype == torch.float32
    out.float().sum().backward()
    assert_grads_follow(model)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["float32", "bfloat16"])
@pytest.mark.parametrize("name", MODELS.names())
def test_zoo_model_on_cuda(name, dtype):
    """Where a GPU exists: the same step on CUDA, every output and gradient stays there."""
    model, shape = small_model(name)
    model = model.to("cuda", dtype)
    out = model(torch.rand(B, *shape, device="cuda", dtype=dtype))
    assert out.device.type == "cuda" and out.dtype == dtype and torch.isfinite(out).all()
    out.float().logsumexp(-1).sum().backward()
    assert_grads_follow(model)


# ---------------------------------------------------------------- dtypes (on the CPU)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize(("name", "kwargs"), QUANT_CASES, ids=QUANT_IDS)
def test_quantizer_dtype(name, kwargs, dtype):
    """Output and gradient in the weight dtype; ``levels().weight()`` bit-identical."""
    q = get_quantizer(name, **kwargs)
    g = torch.Generator().manual_seed(0)
    w = (0.3 * torch.randn(6, 3, 3, 3, generator=g)).to(dtype).requires_grad_()
    y = run_or_skip(lambda: q(w))
    assert y.dtype == dtype and torch.isfinite(y).all()
    y.float().square().sum().backward()
    assert w.grad.dtype == dtype and torch.isfinite(w.grad).all()
    levels = q.levels(w)
    assert torch.equal(levels.weight(), y.detach())
    expected_scale = torch.float64 if dtype == torch.float64 else torch.float32
    assert levels.scales.dtype == expected_scale  # statistics never in half precision


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("name", NEURONS.names())
def test_neuron_dtype(name, dtype):
    neuron = _neuron(name).to(dtype)
    g = torch.Generator().manual_seed(0)
    x = (2 * torch.rand(T, B, 4, 5, 5, generator=g)).to(dtype).requires_grad_()
    s = run_or_skip(lambda: neuron(x))
    assert s.dtype == dtype and torch.isfinite(s).all()
    s.float().sum().backward()
    assert x.grad.dtype == dtype
    assert_grads_follow(neuron)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("name", BLOCKS.names())
def test_block_dtype(name, dtype):
    block = _block(name).to(dtype)
    x = torch.rand(T, B, 4, 5, 5).to(dtype).requires_grad_()
    y = run_or_skip(lambda: block(x))
    assert y.dtype == dtype
    y.float().sum().backward()
    assert x.grad.dtype == dtype
    assert_grads_follow(block)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("name", SURROGATES.names())
def test_surrogate_dtype(name, dtype):
    sg = get_surrogate(name)
    x = torch.linspace(-2, 2, 41).to(dtype).requires_grad_()
    s = run_or_skip(lambda: spike(x, sg))
    assert s.dtype == dtype
    s.sum().backward()
    assert x.grad.dtype == dtype and torch.isfinite(x.grad).all()
    assert sg.primitive(x.detach()).dtype == dtype


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("name", STAIRCASES.names())
def test_staircase_dtype(name, dtype):
    curve = get_staircase(name, levels=4)
    x = torch.linspace(-1, 6, 57).to(dtype)
    d = run_or_skip(lambda: curve.derivative(x))
    assert d.dtype == dtype and torch.isfinite(d).all()
    if _has_primitive(curve):
        p = run_or_skip(lambda: curve.primitive(x))
        assert p.dtype == dtype and torch.isfinite(p).all()


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("name", ENCODERS.names())
def test_encoder_dtype(name, dtype):
    x = torch.rand(B, 1, 4, 4).to(dtype)
    out = run_or_skip(lambda: ENCODERS.get(name)(x, T))
    assert out.dtype == dtype and out.shape == (T, *x.shape)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("name", MODELS.names())
def test_zoo_model_dtype(name, dtype):
    """``model.to(dtype)`` trains a step: logits and every gradient in ``dtype``."""
    model, shape = small_model(name)
    model = model.to(dtype)
    x = torch.rand(B, *shape, generator=torch.Generator().manual_seed(0)).to(dtype)
    out = run_or_skip(lambda: model(x))
    assert out.dtype == dtype and torch.isfinite(out).all()
    run_or_skip(lambda: out.float().logsumexp(-1).sum().backward())
    assert_grads_follow(model)


# ---------------------------------------------------------------- callbacks' tensor math


@pytest.mark.parametrize("where", ["meta", "bfloat16", "float16", "float64"])
def test_bwo_update_keeps_device_and_dtype(where):
    """ALBSNN's BWO step (a callback) on the layer's device and dtype (its base index
    ``arange(k)`` used to be made on the CPU)."""
    from spikebit.methods.albsnn.bwo import bwo_update
    from spikebit.quant import ABCQuantizer

    device, dtype = ("meta", torch.float32) if where == "meta" else ("cpu", getattr(torch, where))
    g = torch.Generator().manual_seed(0)
    w = (0.3 * torch.randn(4, 3, 3, 3, generator=g)).to(device=device, dtype=dtype)
    grad = torch.randn(4, 3, 3, 3, generator=g).to(device=device, dtype=dtype)
    bases, alpha = ABCQuantizer(3).decompose(w)
    step = bwo_update(w, grad, bases, alpha, lr=0.1)
    assert step.weight.device.type == device and step.weight.dtype == dtype
    assert step.removed.shape == (3, *w.shape) and step.removed.device.type == device


# ---------------------------------------------------------------- converted SNNs


def _converted(method: str) -> torch.nn.Module:
    from spikebit.conversion import convert

    torch.manual_seed(0)
    ann = torch.nn.Sequential(
        torch.nn.Conv2d(2, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
        torch.nn.AvgPool2d(2), torch.nn.Flatten(), torch.nn.Linear(4 * 4 * 4, 3),
    ).eval()
    calibration = torch.rand(8, 2, 8, 8, generator=torch.Generator().manual_seed(1))
    if method == "qcfs":  # converts the thresholds learned by QCFS activations
        from spikebit.conversion import to_qcfs

        ann = to_qcfs(ann, calibration)
    return convert(ann, calibration, method)


def _conversion_methods() -> list[str]:
    from spikebit.conversion.dynamics import METHODS

    return METHODS.names()


@pytest.mark.parametrize("where", ["meta", "float64", "bfloat16", "float16"])
@pytest.mark.parametrize("method", _conversion_methods())
def test_converted_snn_keeps_device_and_dtype(method, where):
    """Every conversion method's simulation (its input coding included)."""
    device, dtype = ("meta", torch.float32) if where == "meta" else ("cpu", getattr(torch, where))
    snn = _converted(method).to(device=device, dtype=dtype)
    x = torch.rand(2, 2, 8, 8).to(device=device, dtype=dtype)
    out = run_or_skip(lambda: snn.simulate(x, 5))
    assert out.shape == (5, 2, 3) and out.device.type == device and out.dtype == dtype
