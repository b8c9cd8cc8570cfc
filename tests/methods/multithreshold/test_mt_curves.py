"""Staircase surrogate curves: integrals, paper-unit translation, O_max=1 reduction."""

import math

import pytest
import torch

from spikebit.functional.firing import StaircaseFiring
from spikebit.functional.staircase import get_staircase
from spikebit.functional.surrogate import Surrogate
from spikebit.methods.multithreshold import mt_neuron_kwargs, paper_curve_params
from spikebit.neurons import LIF, MultiThresholdLIF


def _integral(curve, lo: float, hi: float) -> float:
    x = torch.linspace(lo, hi, 400001, dtype=torch.float64)
    return torch.trapezoid(curve.derivative(x), x).item()


@pytest.mark.parametrize("a,b", [(1.0, 0.2), (0.5, 0.05), (2.0, 1.0)])
def test_curve_integrals_over_one_level_match_the_docs(a, b):
    # docs: curve 2 -> a sqrt(pi b) erf(1/(2 sqrt b)); curve 3 -> 2 a sqrt(b) atan(1/(2 sqrt b));
    # one bump of curve 1 over the real line -> a sqrt(pi b)
    gauss = get_staircase("mt-gauss", levels=5, height=a, width=b)
    cauchy = get_staircase("mt-cauchy", levels=5, height=a, width=b)
    r = 1 / (2 * math.sqrt(b))
    assert _integral(gauss, 2.5, 3.5) == pytest.approx(a * math.sqrt(math.pi * b) * math.erf(r),
                                                       rel=1e-7)
    assert _integral(cauchy, 2.5, 3.5) == pytest.approx(2 * a * math.sqrt(b) * math.atan(r),
                                                        rel=1e-7)
    one = get_staircase("mt-sum", levels=1, height=a, width=b)
    assert _integral(one, -40, 40) == pytest.approx(a * math.sqrt(math.pi * b), rel=1e-7)
    five = get_staircase("mt-sum", levels=5, height=a, width=b)
    assert _integral(five, -40, 46) == pytest.approx(5 * a * math.sqrt(math.pi * b), rel=1e-7)


def test_curve_values_by_hand():
    x = torch.tensor([0.0, 1.0, 1.5, 2.3, 7.0], dtype=torch.float64)
    a, b = 2.0, 0.5
    d = torch.tensor([-1.0, 0.0, 0.5, 0.3, 4.0], dtype=torch.float64)  # to nearest of 1..3
    g2 = get_staircase("mt-gauss", levels=3, height=a, width=b).derivative(x)
    g3 = get_staircase("mt-cauchy", levels=3, height=a, width=b).derivative(x)
    torch.testing.assert_close(g2, a * torch.exp(-d**2 / b))
    torch.testing.assert_close(g3, a / (1 + d**2 / b))
    g1 = get_staircase("mt-sum", levels=3, height=a, width=b).derivative(x)
    ref = sum(a * torch.exp(-(x - k) ** 2 / b) for k in (1, 2, 3))
    torch.testing.assert_close(g1, ref)


@pytest.mark.parametrize("w", [0.5, 0.7, 1.0, 2.0, 3.0])
def test_rectangle_staircase_equals_explicit_sum_of_bumps(w):
    c = get_staircase("rectangle", levels=4, height=1.3, width=w)
    grid = torch.linspace(-3, 8, 4001, dtype=torch.float64)
    edges = torch.tensor([k + s * w / 2 for k in range(1, 5) for s in (-1, 1)], dtype=grid.dtype)
    grid = grid[(grid.unsqueeze(-1) - edges).abs().min(-1).values > 1e-9]  # no 1-ulp ties
    x = torch.cat([grid, torch.arange(-3, 9, 0.25, dtype=torch.float64)])  # exact edges
    ref = 1.3 * sum(((x - k).abs() < w / 2).double() / w for k in range(1, 5))
    torch.testing.assert_close(c.derivative(x), ref)


def test_paper_units_translation():
    # the paper's curve 2 as a function of u (mV), V = 10 mV, a = 1, b = 20:
    # d o / d u = a exp(-(u - k V)^2 / b) around level k
    assert paper_curve_params(1.0, 20.0) == {"height": 10.0, "width": 0.2}
    u = torch.tensor([3.0, 10.0, 12.0, 18.0, 31.0], dtype=torch.float64)
    nearest = torch.tensor([10.0, 10.0, 10.0, 20.0, 30.0], dtype=torch.float64)
    paper = torch.exp(-(u - nearest) ** 2 / 20.0)
    n = MultiThresholdLIF(**mt_neuron_kwargs(threshold=10.0))
    torch.testing.assert_close(n.firing.grad(u), paper)
    # the same curve on a network normalized to V = 1 (u = 10 h): d o / d h = 10 * d o / d u
    n1 = MultiThresholdLIF(**mt_neuron_kwargs(threshold=1.0))
    torch.testing.assert_close(n1.firing.grad(u / 10), 10 * paper)


@pytest.mark.parametrize("name", ["mt-sum", "mt-gauss", "mt-cauchy"])
def test_peak_of_paper_curves_per_mv(name):
    n = MultiThresholdLIF(**mt_neuron_kwargs(curve=name, a=1.0, b=20.0, threshold=10.0))
    at_level = n.firing.grad(torch.tensor([10.0, 20.0], dtype=torch.float64))
    if name == "mt-sum":
        assert (at_level > 1.0).all()  # curve 1 may exceed a
    else:
        torch.testing.assert_close(at_level, torch.ones(2, dtype=torch.float64))


class _AsBinary(Surrogate):
    """A staircase curve seen as a binary surrogate of ``x = h - V`` (for O_max = 1)."""

    def __init__(self, firing: StaircaseFiring) -> None:
        object.__setattr__(self, "width", 1.0)
        object.__setattr__(self, "_firing", firing)

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        return self._firing.grad(x + self._firing.threshold)


@pytest.mark.parametrize("name", ["mt-sum", "mt-gauss", "mt-cauchy", "triangle"])
@pytest.mark.parametrize("detach_reset", [False, True])
def test_omax_1_is_the_plain_soft_reset_lif(name, detach_reset):
    mt = MultiThresholdLIF(threshold=0.8, tau=0.6, max_spikes=1, surrogate=name, width=0.3,
                           height=1.5, detach_reset=detach_reset)
    lif = LIF(threshold=0.8, tau=0.6, reset="soft", surrogate=_AsBinary(mt.firing),
              detach_reset=detach_reset)
    torch.manual_seed(2)
    x = (torch.randn(6, 3, 5, dtype=torch.float64) * 1.5).requires_grad_()
    x2 = x.detach().clone().requires_grad_()
    s, s2 = mt(x), lif(x2)
    assert torch.equal(s, s2)
    g = torch.randn_like(s)
    (s * g).sum().backward()
    (s2 * g).sum().backward()
    torch.testing.assert_close(x.grad, x2.grad, atol=1e-12, rtol=1e-10)
