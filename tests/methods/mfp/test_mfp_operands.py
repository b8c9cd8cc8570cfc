"""Every MFP backend refuses operands the C++ kernel could not read safely, the same way:
``m`` not ``[T, T]`` is a ShapeError, ``m`` (or ``grad_s``) in another dtype or on another
device than ``x`` a TensorTypeError (eager's ``torch.mm`` refused mixed dtypes; native
read float32 memory as float64). ``native.forward``/``backward`` check their operands
themselves before any pointer reaches C++. Nothing here needs the compiled library."""

import pytest
import torch

from spikebit.errors import ConfigError, ShapeError, TensorTypeError
from spikebit.functional.surrogate import get_surrogate
from spikebit.methods.mfp import MFPNeuron, native
from spikebit.methods.mfp.kernel import BACKENDS, mfp_backward, mfp_sequence

SG = get_surrogate("rectangle")
X8 = torch.randn(8, 2, 3)
M8 = MFPNeuron(8).effective_matrix()


@pytest.mark.parametrize("backend", BACKENDS)
def test_public_functions_refuse_mismatched_m_in_every_backend(backend):
    with pytest.raises(TensorTypeError, match=r"m is torch.float64 .* x is torch.float32"):
        mfp_sequence(X8, M8.double(), 1.0, SG, backend)
    with pytest.raises(TensorTypeError, match=r"m is torch.float32 .* x is torch.float64"):
        mfp_sequence(X8.double(), M8, 1.0, SG, backend)
    with pytest.raises(ShapeError, match=r"m must be \[T, T\] = \[8, 8\] .* got \[4, 4\]"):
        mfp_sequence(X8, M8[:4, :4], 1.0, SG, backend)
    with pytest.raises(TensorTypeError, match="meta"):
        mfp_sequence(X8, M8.to("meta"), 1.0, SG, backend)
    x, grad = X8.reshape(8, -1), torch.ones(8, 6)
    with pytest.raises(TensorTypeError, match="m is torch.float64"):
        mfp_backward(x, M8.double(), grad, 1.0, SG, backend)
    with pytest.raises(ShapeError, match=r"got \[8, 9\]"):
        mfp_backward(x, torch.zeros(8, 9), grad, 1.0, SG, backend)
    with pytest.raises(ShapeError, match=r"grad_s must have x's shape \[8, 6\]"):
        mfp_backward(x, M8, grad[:, :5], 1.0, SG, backend)
    with pytest.raises(TensorTypeError, match="grad_s is torch.float64"):
        mfp_backward(x, M8, grad.double(), 1.0, SG, backend)


def test_the_neuron_casts_its_matrix_to_the_input():
    n = MFPNeuron(4, threshold=0.5)  # float32 parameters
    x = torch.randn(4, 3, 2, dtype=torch.float64)
    ref = mfp_sequence(x, n.effective_matrix(torch.float64), 0.5, n.surrogate, "eager")
    assert n(x).dtype == torch.float64 and torch.equal(n(x), ref)


def test_native_entry_points_check_before_any_pointer_is_passed(monkeypatch):
    def no_library(steps):  # a check that passed would reach the library
        raise AssertionError("operands were not checked first")

    monkeypatch.setattr(native, "library", no_library)
    x, m, grad = torch.randn(4, 5), torch.eye(4), torch.ones(4, 5)
    cases = [
        ((torch.randn(5, 4).t(), m), ShapeError, "x must be contiguous"),
        ((x.reshape(4, 5, 1), m), ShapeError, r"x must be \[T, N\]"),
        ((torch.randn(native.MAX_STEPS + 1, 2), m), ShapeError, "1 <= T <= 32"),
        ((x.half(), m.half()), TensorTypeError, "CPU float32/float64"),
        ((x.to("meta"), m.to("meta")), TensorTypeError, "CPU float32/float64"),
        ((x, m.double()), TensorTypeError, "m is torch.float64"),
        ((x, m[:2, :2]), ShapeError, r"m must be \[T, T\] = \[4, 4\]"),
    ]
    for args, error, message in cases:
        with pytest.raises(error, match=message):
            native.forward(*args, 0.5)
        with pytest.raises(error, match=message):
            native.backward(*args, torch.ones_like(args[0]), 0.5, SG)
    for grad_s, error, message in [
        (grad.double(), TensorTypeError, "grad_s is torch.float64"),
        (grad[:, :4], ShapeError, r"grad_s must have x's shape"),
        (torch.ones(5, 4).t(), ShapeError, "grad_s must be contiguous"),
    ]:
        with pytest.raises(error, match=message):
            native.backward(x, m, grad_s, 0.5, SG)
    with pytest.raises(ConfigError, match="no Sigmoid surrogate"):
        native.backward(x, m, grad, 0.5, get_surrogate("sigmoid"))


def test_native_entry_points_refuse_a_missing_library(monkeypatch):
    monkeypatch.setattr(native, "library", lambda steps: None)
    x = torch.randn(4, 5)
    with pytest.raises(ConfigError, match="kernel for T=4 is not available"):
        native.forward(x, torch.eye(4), 0.5)
    with pytest.raises(ConfigError, match="kernel for T=4 is not available"):
        native.backward(x, torch.eye(4), torch.ones(4, 5), 0.5, SG)


@pytest.mark.parametrize("backend", ["eager", "native", "compiled"])
def test_zero_steps_is_a_shape_error(backend):
    from spikebit.errors import ShapeError
    from spikebit.functional.surrogate import Triangle
    from spikebit.methods.mfp.kernel import mfp_sequence

    with pytest.raises(ShapeError, match="no time steps"):
        mfp_sequence(torch.zeros(0, 2, 3), torch.zeros(0, 0), 1.0, Triangle(), backend)
