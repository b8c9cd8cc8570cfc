"""Exact quantizer forwards: each emits exactly its level set, with today's gradient.

``w + (w_eff - w).detach()`` rounds twice, so a 1-base ABC layer showed 3 distinct
values per channel instead of 2 and a 2-base one up to 19 instead of 4. Every
registered quantizer now emits exactly ``levels(w).weight()``: ``sum_i alpha_i B_i``
(binary) or ``code * scale`` (integer), at most ``2^k`` values per output channel for
``k`` binary bases and ``2^b - 1`` for ``b``-bit uniform codes.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from spikebit.quant import (
    QUANTIZERS,
    ABCQuantizer,
    QConv2d,
    QLinear,
    QSNNQuantizer,
    SignQuantizer,
    UniformQuantizer,
    WeightQuantizer,
    get_quantizer,
    sign_ste,
)
from spikebit.quant.quantizers import _QSNNBinarize

# every registered quantizer with its default arguments, these with several settings
VARIANTS = {"abc": [{"bases": k} for k in (1, 2, 3, 4)],
            "uniform": [{"bits": b} for b in (2, 3, 4, 8)]}
CASES = [(n, kw) for n in QUANTIZERS.names() for kw in VARIANTS.get(n, [{}])]
IDS = [f"{n}-{'-'.join(map(str, kw.values()))}" for n, kw in CASES]
shapes = st.sampled_from([(6, 3, 3, 3), (4, 7), (3, 16, 1, 1), (1, 40)])
dtypes = st.sampled_from([torch.float32, torch.float64, torch.bfloat16, torch.float16])


def test_every_registered_quantizer_is_covered():
    """A new quantizer (a method's module or a plugin) is checked here without editing
    this file; the settings above name only registered quantizers."""
    assert set(VARIANTS) <= set(QUANTIZERS.names())
    assert {"sign", "qsnn", "fp", "abc", "uniform"} <= {n for n, _ in CASES}
    assert {n for n, _ in CASES} == set(QUANTIZERS.names())


def _weight(shape, seed, dtype):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(shape, generator=g, dtype=torch.float64) * 0.3
    return (w + 0.05 * torch.randn(shape[0], *[1] * (len(shape) - 1), generator=g,
                                   dtype=torch.float64)).to(dtype)


def _max_levels(q: WeightQuantizer) -> int:
    if isinstance(q, UniformQuantizer):
        return 2**q.weight_bits - 1
    return 2**q.weight_bits


@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=IDS)
@given(shape=shapes, seed=st.integers(0, 2**16), dtype=dtypes)
@settings(max_examples=25, deadline=None)
def test_forward_emits_exactly_the_level_set(name, kwargs, shape, seed, dtype):
    q = get_quantizer(name, **kwargs)
    w = _weight(shape, seed, dtype)
    y = q(w)
    levels = q.levels(w)
    assert torch.equal(y, levels.weight())  # bit for bit, same dtype
    if levels.kind == "float":
        assert torch.equal(y, w)
        return
    allowed = levels.level_set()  # [C, n]
    for c in range(shape[0]):
        values = y[c].flatten().unique()
        assert values.numel() <= _max_levels(q)
        assert torch.isin(values, allowed[c]).all(), (c, values, allowed[c])


@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=IDS)
def test_levels_decomposition_matches_storage(name, kwargs):
    """``codes``/``scales``/``bits`` rebuild the weight and account for ``bits(w)``."""
    q = get_quantizer(name, **kwargs)
    w = _weight((5, 4, 3, 3), 1, torch.float32)
    lv = q.levels(w)
    assert lv.codes.shape == (lv.num_bases, *w.shape)
    assert lv.scales.shape == (lv.num_bases, w.shape[0])
    assert lv.bits * w.numel() <= q.bits(w) < (lv.bits + 1) * w.numel() + 64 * w.shape[0]
    if lv.kind == "binary":
        assert lv.codes.dtype == torch.bool and lv.bits == lv.num_bases
        signs = lv.codes.to(torch.float64) * 2 - 1
        manual = sum(lv.scales[i].double().view(-1, 1, 1, 1) * signs[i]
                     for i in range(lv.num_bases))
        torch.testing.assert_close(manual.float(), q(w).detach(), rtol=0, atol=1e-7)
    elif lv.kind == "integer":
        top = 2 ** (lv.bits - 1) - 1
        assert lv.codes.dtype == torch.int8 and lv.codes.abs().max() <= top
        manual = lv.scales[0].view(-1, 1, 1, 1) * lv.codes[0].float()
        assert torch.equal(manual, q(w).detach())
    if lv.exponents is not None:
        assert torch.equal(torch.exp2(lv.exponents.float()), lv.scales[0])


def test_abc_one_base_hand_computed():
    """1 base: ``B = sign(W - mean)``, ``alpha = <B, W> / n``: exactly ``{-alpha, +alpha}``."""
    w = torch.tensor([[0.1, -0.7, 0.3], [0.2, 0.5, -0.4]])
    # mean = 0; B = [+, -, +, +, +, -]; alpha = (0.1+0.7+0.3+0.2+0.5+0.4)/6 = 2.2/6
    y = ABCQuantizer(1)(w)
    alpha = torch.tensor(2.2 / 6)
    expected = alpha * torch.tensor([[1.0, -1.0, 1.0], [1.0, 1.0, -1.0]])
    torch.testing.assert_close(y, expected)
    assert y.unique().numel() == 2


def test_rounding_of_the_old_forward_is_gone():
    """The old ``w + (w_eff - w).detach()`` produced more values than the level set."""
    q = ABCQuantizer(2)
    w = _weight((8, 16, 3, 3), 0, torch.float32)
    w_eff = q.levels(w).weight()
    old = w + (w_eff - w)  # the former forward value
    new = q(w)
    assert max(old[c].unique().numel() for c in range(8)) > 4  # the fault, measured here
    assert max(new[c].unique().numel() for c in range(8)) <= 4


# -------------------------------------------------- gradient unchanged vs the former STE


def _former_sign(w):
    gamma = w.detach().abs().mean(dim=tuple(range(1, w.ndim)), keepdim=True)
    return gamma * sign_ste(w)


def _former_identity_ste(q):
    return lambda w: w + (q.levels(w).weight() - w).detach()


def _former_qsnn(q):
    def f(w):
        dims = tuple(range(1, w.ndim))
        mean = w.mean(dim=dims, keepdim=True)
        std = w.std(dim=dims, keepdim=True, unbiased=False).clamp_min(1e-8)
        w_hat = (w - mean) / std
        scale = torch.exp2(torch.round(torch.log2(w_hat.detach().abs().mean(dims, keepdim=True))))
        return scale * _QSNNBinarize.apply(w_hat, q.t)
    return f


@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=IDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
def test_straight_through_gradient_is_unchanged(name, kwargs, dtype):
    q = get_quantizer(name, **kwargs)
    if isinstance(q, QSNNQuantizer):
        q.set_progress(0.4)
        former = _former_qsnn(q)
    elif isinstance(q, SignQuantizer):
        former = _former_sign
    else:
        former = _former_identity_ste(q)
    w = _weight((6, 3, 3, 3), 7, dtype)
    upstream = torch.randn(w.shape, generator=torch.Generator().manual_seed(1), dtype=dtype)
    grads = []
    for fn in (q, former):
        leaf = w.clone().requires_grad_()
        (fn(leaf) * upstream).sum().backward()
        grads.append(leaf.grad)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-6, atol=1e-7)
    if not isinstance(q, SignQuantizer | QSNNQuantizer):
        assert torch.equal(grads[0], upstream)  # identity STE


# -------------------------------------------------- reprs show the quantizer (issue 19)


def test_layer_repr_names_the_quantizer_and_bits():
    assert "quantizer=fp(32 bits)" in repr(QConv2d(1, 8, 3))
    assert "quantizer=abc(3 bits)" in repr(QConv2d(1, 8, 3, quantizer=ABCQuantizer(3)))
    assert "quantizer=sign(1 bit)" in repr(QLinear(4, 2, quantizer=SignQuantizer()))
    assert "quantizer=uniform(4 bits)" in repr(QLinear(4, 2, quantizer=UniformQuantizer(4)))
    off = QLinear(4, 2, quantizer=ABCQuantizer(2), quantize=False)
    assert "quantizer=off (fp32)" in repr(off)


@pytest.mark.parametrize("quantize", [True, False])
def test_layer_weight_levels_match_the_effective_weight(quantize):
    conv = QConv2d(2, 3, 3, quantizer=ABCQuantizer(2), quantize=quantize)
    lin = QLinear(5, 4, quantizer=SignQuantizer(), quantize=quantize)
    for layer in (conv, lin):
        lv = layer.weight_levels()
        assert lv.kind == ("binary" if quantize else "float")
        assert torch.equal(lv.weight(), layer.effective_weight().detach())


def test_level_set_size():
    w = _weight((3, 5), 0, torch.float32)
    assert ABCQuantizer(3).levels(w).level_set().shape == (3, 8)
    assert UniformQuantizer(3).levels(w).level_set().shape == (3, 7)
    assert math.isclose(float(SignQuantizer().levels(w).level_set()[0, 1]),
                        float(w[0].abs().mean()), rel_tol=1e-6)
