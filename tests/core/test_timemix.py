"""Causal time mixing: one ``mm`` for finite inputs, row sums for NaN/inf and while
tracing; both give ``H[t]`` from ``x[:t + 1]`` only. Hand-computed values."""

import pytest
import torch

from spikebit.functional.timemix import all_finite, causal_mix, causal_mix_transposed

NAN, INF = float("nan"), float("inf")
M = torch.tensor([[1.0, 5.0], [2.0, 3.0]])  # 5.0 above the diagonal: ignored


def test_finite_inputs_are_one_matmul_of_the_lower_triangle():
    x = torch.tensor([[1.0, 2.0], [4.0, -1.0]])
    assert causal_mix(M, x).tolist() == [[1.0, 2.0], [14.0, 1.0]]  # [1, 2], [2 + 12, 4 - 3]
    assert causal_mix(M, x, -1.0).tolist() == [[0.0, 1.0], [13.0, 0.0]]
    # G[0] = 1 g0 + 2 g1, G[1] = 3 g1
    assert causal_mix_transposed(M, x).tolist() == [[9.0, 0.0], [12.0, -3.0]]


def test_a_later_nan_or_inf_leaves_earlier_rows():
    x = torch.tensor([[1.0, 1.0], [INF, NAN]])
    h = causal_mix(M, x)
    assert h[0].tolist() == [1.0, 1.0] and h[1, 0] == INF and h[1, 1].isnan()
    assert torch.mm(M.tril(), x)[0].isnan().all()  # what a single mm gives instead
    g = torch.tensor([[NAN], [1.0]])
    gx = causal_mix_transposed(M, g)
    assert gx[0].isnan().all() and gx[1].tolist() == [3.0]


def test_tracing_sums_rows_and_equals_the_matmul(monkeypatch):
    g = torch.Generator().manual_seed(0)
    m = torch.randint(-4, 5, (5, 5), generator=g) / 4.0  # dyadic: every sum exact
    x = torch.randint(-8, 9, (5, 7), generator=g) / 4.0
    fast, fast_t = causal_mix(m, x, 0.5), causal_mix_transposed(m, x)
    assert torch.equal(causal_mix(m, x, 0.5, fast=False), fast)  # rows, as the caller says
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    calls = []
    monkeypatch.setattr(torch, "mm", lambda *a: calls.append(a))  # no single mm now
    assert torch.equal(causal_mix(m, x, 0.5), fast)
    assert torch.equal(causal_mix_transposed(m, x), fast_t)
    assert calls == []


def test_all_finite_is_one_sum_that_cannot_miss_a_nan_or_inf():
    assert all_finite(torch.ones(3, 4)) and all_finite(torch.zeros(0))
    for bad in (NAN, INF, -INF):
        assert not all_finite(torch.tensor([1.0, bad, 2.0]))
    # 100000 float16 ones sum to 1e5 > 65504 (float16's largest): summed in float32
    assert all_finite(torch.ones(100000, dtype=torch.float16))
    assert not all_finite(torch.full((2,), 3e38))  # an overflow reads as not finite


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_dtypes_are_kept(dtype):
    x = torch.tensor([[1.0], [INF]], dtype=dtype)
    assert causal_mix(M.to(dtype), x).dtype == dtype
    assert causal_mix(M.to(dtype), x)[0].tolist() == [1.0]
