"""Surrogates and staircase curves: accurate to rounding and mirror-symmetric in every dtype.

Issue 18 item 4: the sigmoid surrogate was ``k s (1 - s)``, which cancels above the
threshold (float32, width 0.04: 4.5417e-3 at +0.1 against 4.5396e-3 at -0.1, exactly 0
from +0.17 while the mirror point is 4.1e-6). Every registered surrogate and staircase
curve (derivative and primitive) is checked here against its own float64 evaluation at
mirrored points over a wide range, in float32, bfloat16 and float16.
"""

import math

import pytest
import torch

from spikebit.functional.staircase import STAIRCASES, SummedBumps, get_staircase
from spikebit.functional.surrogate import SURROGATES, get_surrogate, sech2, upcast_half

DTYPES = [torch.float32, torch.bfloat16, torch.float16]
EPS32 = torch.finfo(torch.float32).eps


def _magnitudes() -> torch.Tensor:
    """0, then 1e-8 .. 1e3 (log-spaced) and a fine grid over [0, 6], in float64."""
    return torch.cat([torch.zeros(1), torch.logspace(-8, 3, 400, dtype=torch.float64),
                      torch.linspace(0, 6, 601, dtype=torch.float64)])


def _mirrored(center: float, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Points ``center + y`` and ``center - y``, both exactly representable in ``dtype``."""
    y = _magnitudes()
    plus = (center + y).to(dtype)
    y = plus.double() - center
    minus = (center - y).to(dtype)
    exact = (minus.double() == center - y) & torch.isfinite(plus.double())
    return plus[exact], minus[exact]


def _assert_accurate(fn, x: torch.Tensor) -> None:
    """``fn(x)`` in ``x.dtype`` vs ``fn`` in float64: within the rounding of the output dtype,
    around the float64 values at ``x (1 +- eps32)`` (the conditioning of the formula at x;
    it also covers the float32 rounding of the curve's own parameters)."""
    got = fn(x).double()
    x64 = x.double()
    refs = torch.stack([fn(x64 * (1 + d)) for d in (-EPS32, 0.0, EPS32)])
    lo, hi = refs.min(0).values, refs.max(0).values
    info = torch.finfo(x.dtype)
    rtol = (8 * EPS32) if x.dtype == torch.float32 else info.eps + 8 * EPS32
    atol = 4 * info.smallest_normal * info.eps  # a few of the smallest subnormal
    slack = rtol * torch.maximum(lo.abs(), hi.abs()) + atol
    bad = (got < lo - slack) | (got > hi + slack)
    assert not bad.any(), (
        f"{int(bad.sum())} of {x.numel()} points off, e.g. x={x64[bad][:4].tolist()}: "
        f"got {got[bad][:4].tolist()}, float64 {refs[1][bad][:4].tolist()}")


def _surrogates() -> list:
    return list(_surrogate_params())


def _surrogate_params():
    for name in SURROGATES.names():
        for width in (0.04, 0.7, 1.0, 2.0):
            yield pytest.param(get_surrogate(name, width), id=f"{name}-w{width}")


def _curves() -> list:
    return list(_curve_params())


def _curve_params():
    for levels in (3, 4):
        for name in STAIRCASES.names():
            for width in (0.3, 2.0):
                yield pytest.param(get_staircase(name, levels, height=1.5, width=width),
                                   id=f"{name}-L{levels}-b{width}")
        for name in SURROGATES.names():
            yield pytest.param(get_staircase(name, levels, height=1.5, width=0.7),
                               id=f"sum-of-{name}-L{levels}")


def _has_primitive(curve) -> bool:
    return "primitive" in {k for cls in type(curve).__mro__[:-1] if cls.__name__ != "Surrogate"
                           for k in vars(cls)}


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("surrogate", _surrogates())
def test_surrogate_symmetric_and_accurate(surrogate, dtype):
    plus, minus = _mirrored(0.0, dtype)
    d_plus, d_minus = surrogate.derivative(plus), surrogate.derivative(minus)
    assert d_plus.dtype == dtype
    assert torch.equal(d_plus, d_minus)  # every registered shape is even
    assert torch.equal(surrogate.derivative(plus.double()),
                       surrogate.derivative(minus.double()))
    for x in (plus, minus):
        _assert_accurate(surrogate.derivative, x)
        _assert_accurate(surrogate.primitive, x)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("curve", _curves())
def test_staircase_curve_symmetric_and_accurate(curve, dtype):
    center = (curve.levels + 1) / 2  # every curve is symmetric about the staircase's middle
    plus, minus = _mirrored(center, dtype)
    d_plus, d_minus = curve.derivative(plus), curve.derivative(minus)
    assert d_plus.dtype == dtype
    assert torch.equal(d_plus, d_minus)
    for x in (plus, minus):
        _assert_accurate(curve.derivative, x)
        if _has_primitive(curve):
            _assert_accurate(curve.primitive, x)


@pytest.mark.parametrize("name", ["mt-gauss", "mt-cauchy"])
def test_nearest_level_curves_symmetric_about_every_level(name):
    curve = get_staircase(name, levels=5, height=1.0, width=0.2)
    d = torch.linspace(0, 0.5, 257)  # multiples of 2^-9: k +- d exact in float32
    for k in range(1, 6):
        assert torch.equal(curve.derivative(k + d), curve.derivative(k - d))


def test_sigmoid_regression_values_from_the_issue():
    s = get_surrogate("sigmoid", 0.04)  # k = 100
    x = torch.tensor([0.1, -0.1, 0.17, -0.17, 0.5, -0.5])
    got = s.derivative(x)

    def exact(v: float) -> float:  # k e / (1 + e)^2, e = exp(-k |x|), in float64
        e = math.exp(-100 * abs(v))
        return 100 * e / (1 + e) ** 2

    want = torch.tensor([exact(v) for v in x.double().tolist()], dtype=torch.float64)
    # exp(-k|x|) amplifies the rounding of k x by k |x| (the formula's conditioning)
    tol = 4 * EPS32 * (1 + 100 * x.double().abs()) * want
    assert ((got.double() - want).abs() <= tol).all(), (got, want)
    assert got[0] == got[1] and got[2] == got[3] and got[4] == got[5]
    assert abs(float(got[0]) - 4.5396e-3) < 1e-7  # was 4.5417e-3 above the threshold
    assert abs(float(got[2]) - 4.1399e-6) < 1e-9  # was exactly 0
    assert float(got[4]) > 0  # 1.9e-20, still a normal float32


def test_atan_primitive_keeps_digits_far_below_the_threshold():
    s = get_surrogate("atan", 1.0)  # P(x) = atan(pi x)/pi + 1/2 ~ 1 / (pi^2 |x|) for x -> -inf
    x = torch.tensor([-1e3, -1e5])
    want = torch.tensor([0.5 - math.atan(math.pi * v) / math.pi for v in (1e3, 1e5)])
    torch.testing.assert_close(s.primitive(x), want, rtol=4 * EPS32, atol=0)


def test_half_inputs_are_computed_in_float32():
    calls = []

    class Probe:
        @upcast_half
        def derivative(self, x):
            calls.append(x.dtype)
            return x * 2

    out = Probe().derivative(torch.ones(2, dtype=torch.bfloat16))
    assert calls == [torch.float32] and out.dtype == torch.bfloat16
    Probe().derivative(torch.ones(2, dtype=torch.float64))
    assert calls[-1] == torch.float64


def test_summed_bumps_of_each_surrogate_is_registered_shape():
    assert {SummedBumps} <= {type(get_staircase(n, 3)) for n in SURROGATES.names()}


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_sech2_is_one_minus_tanh_squared_without_cancellation(dtype):
    """The Q-SNN binarizer's backward ``k t (1 - tanh^2(t w))`` uses :func:`sech2`."""
    plus, minus = _mirrored(0.0, dtype)
    assert torch.equal(sech2(plus), sech2(minus))
    _assert_accurate(sech2, plus)
    y = torch.tensor([9.5, 20.0, 40.0], dtype=torch.float64)
    want = 1 / torch.cosh(y) ** 2
    torch.testing.assert_close(sech2(y.float()).double(), want, rtol=200 * EPS32, atol=0)
    assert (1 - torch.tanh(y.float()) ** 2 == 0).all()  # what the old formula gave


def test_qsnn_binarizer_gradient_far_from_zero():
    from spikebit.quant.ste import _QSNNBinarize

    w = torch.tensor([-2.0, 2.0], requires_grad=True)  # t w = -/+20: tanh rounds to 1
    _QSNNBinarize.apply(w, 10.0).sum().backward()
    want = 10.0 / math.cosh(20.0) ** 2  # k = 1, t = 10
    torch.testing.assert_close(w.grad, torch.full((2,), want), rtol=200 * EPS32, atol=0)
