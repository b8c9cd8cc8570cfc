import pytest
import torch

from spikebit.errors import RegistryError
from spikebit.functional.staircase import STAIRCASES, get_staircase
from spikebit.functional.surrogate import SURROGATES, get_surrogate, spike

X = torch.linspace(-2.3, 2.3, 97, dtype=torch.float64)


@pytest.mark.parametrize("name", SURROGATES.names())
@pytest.mark.parametrize("width", [0.5, 1.0, 2.0])
def test_surrogate_is_derivative_of_its_primitive(name, width):
    s = get_surrogate(name, width)
    eps = 1e-6
    fd = (s.primitive(X + eps) - s.primitive(X - eps)) / (2 * eps)
    # rectangle/triangle have kinks: compare away from them
    kinks = torch.tensor([-width / 2, width / 2, -width, 0.0, width], dtype=torch.float64)
    far = (X.unsqueeze(-1) - kinks).abs().min(-1).values > 1e-3
    torch.testing.assert_close(s.derivative(X)[far], fd[far], atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("name", SURROGATES.names())
def test_spike_forward_is_heaviside_and_backward_is_surrogate(name):
    s = get_surrogate(name, 1.0)
    x = X.clone().requires_grad_()
    out = spike(x, s)
    assert torch.equal(out, (X >= 0).double())
    out.sum().backward()
    torch.testing.assert_close(x.grad, s.derivative(X))


def test_surrogate_primitive_spans_zero_to_one():
    for name in SURROGATES.names():
        s = get_surrogate(name, 1.0)
        big = torch.tensor([-50.0, 50.0], dtype=torch.float64)
        torch.testing.assert_close(s.primitive(big), torch.tensor([0.0, 1.0], dtype=torch.float64),
                                   atol=2e-2, rtol=0)


def test_rectangle_values_match_albsnn_eq15():
    s = get_surrogate("rectangle", 1.0)
    vals = s.derivative(torch.tensor([-0.6, -0.4, 0.0, 0.49, 0.5]))
    assert vals.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]


def test_unknown_surrogate_names_the_options():
    with pytest.raises(RegistryError, match="Did you mean 'triangle'"):
        get_surrogate("triangel")


@pytest.mark.parametrize("name", ["mt-sum", "rectangle", "sigmoid"])
def test_staircase_curve_derivative_of_primitive(name):
    c = get_staircase(name, levels=3, height=1.0, width=0.7)
    x = torch.linspace(-1, 5, 301, dtype=torch.float64)
    eps = 1e-6
    fd = (c.primitive(x + eps) - c.primitive(x - eps)) / (2 * eps)
    near_kink = torch.zeros_like(x, dtype=torch.bool)
    for k in (1, 2, 3):
        near_kink |= ((x - k).abs() - 0.35).abs() < 1e-3
    torch.testing.assert_close(c.derivative(x)[~near_kink], fd[~near_kink], atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("name", ["mt-gauss", "mt-cauchy"])
def test_bounded_curves_never_exceed_height(name):
    c = get_staircase(name, levels=5, height=1.0, width=2000.0)
    x = torch.linspace(-3, 9, 1000)
    assert c.derivative(x).max() <= 1.0 + 1e-6
    assert torch.isclose(c.derivative(torch.tensor([2.0])), torch.tensor([1.0]))


def test_curve1_can_exceed_height():
    c = get_staircase("mt-sum", levels=5, height=1.0, width=20.0)
    assert c.derivative(torch.tensor([3.0])).item() > 1.0


def test_staircase_integral_over_one_level_matches_docs():
    # docs: integral of curve 2 over [k-1/2, k+1/2] = a*sqrt(pi*b)*erf(1/(2 sqrt(b)))
    b, a = 0.3, 1.0
    c = get_staircase("mt-gauss", levels=4, height=a, width=b)
    x = torch.linspace(1.5, 2.5, 200001, dtype=torch.float64)
    integral = torch.trapezoid(c.derivative(x), x).item()
    expected = a * (torch.pi * b) ** 0.5 * torch.erf(torch.tensor(0.5 / b**0.5)).item()
    assert abs(integral - expected) < 1e-6
    assert {"mt-sum", "mt-gauss", "mt-cauchy"} <= set(STAIRCASES.names())  # a method may add more
