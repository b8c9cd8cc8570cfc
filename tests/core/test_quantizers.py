import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from spikebit.errors import RegistryError
from spikebit.quant import (
    QUANTIZERS,
    ABCQuantizer,
    QConv2d,
    QLinear,
    QSNNQuantizer,
    SignQuantizer,
    UniformQuantizer,
    get_quantizer,
)

shapes = st.sampled_from([(4, 3, 3, 3), (8, 2, 1, 1), (5, 7), (1, 16)])
seeds = st.integers(0, 2**16)


def _weight(shape, seed, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g, dtype=dtype) * 0.3


@pytest.mark.parametrize("name", QUANTIZERS.names())
def test_contract_every_quantizer(name):
    """No NaN, weight gets a gradient, output shape kept, storage exact and <= fp32."""
    q = get_quantizer(name)
    w = _weight((6, 3, 3, 3), 0).requires_grad_()
    y = q(w)
    assert y.shape == w.shape and torch.isfinite(y).all()
    (y * torch.randn_like(y)).sum().backward()
    assert w.grad is not None and torch.isfinite(w.grad).all() and w.grad.abs().sum() > 0
    assert isinstance(q.bits(w), int) and q.bits(w) <= 32 * w.numel()


@given(shapes, seeds)
@settings(max_examples=30, deadline=None)
def test_sign_is_scaled_binary_per_channel(shape, seed):
    w = _weight(shape, seed)
    y = SignQuantizer()(w)
    for c in range(shape[0]):
        vals = y[c].abs().unique()
        assert len(vals) == 1
        assert torch.isclose(vals[0], w[c].abs().mean())
    assert SignQuantizer().bits(w) == w.numel() + 32 * shape[0]


@given(shapes, seeds, st.integers(1, 5))
@settings(max_examples=30, deadline=None)
def test_abc_least_squares_is_optimal(shape, seed, k):
    w = _weight(shape, seed, torch.float64)
    q = ABCQuantizer(k)
    bases, alpha = q.decompose(w)
    assert bases.abs().eq(1).all()
    w_eff = q(w)
    err = (w - w_eff).pow(2).sum()
    for _ in range(5):  # any perturbation of alpha is no better
        alt = alpha + 0.01 * torch.randn_like(alpha)
        assert (w - torch.einsum("k,k...->...", alt, bases)).pow(2).sum() >= err - 1e-9
    assert q.bits(w) == k * w.numel() + 32 * k


def test_abc_error_decreases_with_more_bases():
    w = _weight((32, 16, 3, 3), 3, torch.float64)
    errs = [(w - ABCQuantizer(k)(w)).pow(2).sum().item() for k in (1, 2, 3, 5)]
    assert errs == sorted(errs, reverse=True) and errs[-1] < 0.5 * errs[0]


def test_abc_single_convolution_equals_three_convolutions_eq14():
    torch.manual_seed(0)
    w = _weight((8, 4, 3, 3), 1, torch.float64)
    x = torch.randn(2, 4, 9, 9, dtype=torch.float64)
    q = ABCQuantizer(3)
    bases, alpha = q.decompose(w)
    three = sum(a * F.conv2d(x, b, padding=1) for a, b in zip(alpha, bases))
    one = F.conv2d(x, q(w), padding=1)
    torch.testing.assert_close(one, three)


@given(seeds, st.integers(2, 8))
@settings(max_examples=30, deadline=None)
def test_uniform_levels(seed, bits):
    w = _weight((6, 5), seed, torch.float64)
    y = UniformQuantizer(bits)(w)
    levels = 2 ** (bits - 1) - 1
    steps = y / (w.abs().max() / levels)
    torch.testing.assert_close(steps, steps.round())
    assert steps.abs().max() <= levels + 1e-9
    assert (y - w).abs().max() <= w.abs().max() / levels / 2 + 1e-12


def test_qsnn_power_of_two_scale_and_schedule():
    w = _weight((4, 3, 3, 3), 2)
    q = QSNNQuantizer()
    y = q(w)
    for c in range(4):
        mags = y[c].abs().unique()
        assert len(mags) == 1
        assert torch.log2(mags[0]).item() == round(torch.log2(mags[0]).item())
    assert q.t == pytest.approx(0.1)
    q.set_progress(0.5)
    assert q.t == pytest.approx(1.0)
    q.set_progress(1.0)
    assert q.t == pytest.approx(10.0)


def test_qsnn_backward_matches_formula():
    q = QSNNQuantizer()
    q.set_progress(0.75)
    t = q.t
    w_hat = torch.randn(50, dtype=torch.float64, requires_grad=True)
    from spikebit.quant.quantizers import _QSNNBinarize

    _QSNNBinarize.apply(w_hat, t).sum().backward()
    k = max(1 / t, 1)
    torch.testing.assert_close(w_hat.grad, k * t * (1 - torch.tanh(t * w_hat.detach()) ** 2))


def test_quantized_layers_switch_at_run_time_and_count_bits():
    conv = QConv2d(3, 8, 3, padding=1, bias=False, quantizer=SignQuantizer())
    x = torch.randn(2, 3, 6, 6)
    y_q = conv(x)
    assert conv.storage_bits() == 8 * 27 + 32 * 8
    conv.quantize = False
    torch.testing.assert_close(conv(x), F.conv2d(x, conv.weight, padding=1))
    assert not torch.allclose(y_q, conv(x))
    assert conv.storage_bits() == 32 * 8 * 27
    lin = QLinear(10, 4, quantizer=ABCQuantizer(3))
    assert lin.storage_bits() == 3 * 40 + 3 * 32 + 32 * 4


def test_unknown_quantizer_name():
    with pytest.raises(RegistryError, match="unknown quantizer 'sgn'.*Did you mean 'sign'"):
        get_quantizer("sgn")
    with pytest.raises(ValueError, match="bits >= 2"):
        UniformQuantizer(1)
