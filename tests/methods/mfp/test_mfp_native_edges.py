"""Edge cases of the native MFP kernel against hand-computed values and the eager reference.

Surrogate window edges and threshold ties hit exactly (dyadic values, every sum exact),
negative zero, infinite upstream gradients, the documented triangle-of-NaN difference,
surrogate constants too large to fold into ``M`` (they used to turn every zero derivative
into a NaN gradient), horizons around the 4 x 4 tiles, neuron counts off the SIMD blocks,
two threads on a real layer size, and the neuron with a frozen ``M`` or an ``x`` without
gradient.
"""

import pytest
import torch

from spikebit.functional.surrogate import get_surrogate
from spikebit.methods.mfp import MFPNeuron, native
from spikebit.methods.mfp.kernel import mfp_backward, mfp_sequence

NAN, INF = float("nan"), float("inf")
DTYPES = [torch.float32, torch.float64]
BACKENDS = ["eager", "native"]


@pytest.fixture(scope="module", autouse=True)
def _needs_native():
    if native.library(2) is None:
        pytest.skip("the native MFP kernel cannot be built here (no C++ compiler)")


def _grads(backend, x, m, threshold, sur, grad_s=None):
    xr, mr = x.clone().requires_grad_(), m.clone().requires_grad_()
    s = mfp_sequence(xr, mr, threshold, sur, backend)
    s.backward(torch.ones_like(s) if grad_s is None else grad_s)
    return s.detach(), xr.grad, mr.grad


# T = 2, M = [[1, 0], [0.5, 1]], V = 1, X[0] = -8 (H[0] = -8: no derivative), X[1] = u + 5:
# H[1] - V = u, so g = [0, h'(u)], grad_X = [0.5 h'(u), h'(u)], grad_M[1] = [-8, u + 5] h'(u).
M2 = [[1.0, 0.0], [0.5, 1.0]]
EDGES = {  # width 0.5: rectangle 2 where |u| < 0.25; triangle max(0, 0.5 - |u|) / 0.25
    "rectangle": ([0.25, -0.25, 0.125, 0.0, -0.375], [0.0, 0.0, 2.0, 2.0, 0.0]),
    "triangle": ([0.5, -0.5, 0.25, -0.125, 0.0], [0.0, 0.0, 1.0, 1.5, 2.0]),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(EDGES))
def test_window_edges_and_threshold_tie_are_exact(backend, dtype, name):
    us, d = EDGES[name]
    x = torch.tensor([[-8.0] * len(us), [u + 5.0 for u in us]], dtype=dtype)
    s, gx, gm = _grads(backend, x, torch.tensor(M2, dtype=dtype), 1.0, get_surrogate(name, 0.5))
    assert s[0].tolist() == [0.0] * len(us)
    assert s[1].tolist() == [float(u >= 0) for u in us]  # u = 0: H == V spikes
    assert gx.tolist() == [[0.5 * v for v in d], d]
    dot = sum(v * (u + 5.0) for u, v in zip(us, d))
    assert gm.tolist() == [[0.0, 0.0], [-8.0 * sum(d), dot]]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["rectangle", "triangle", "atan"])
def test_negative_zero_input_at_zero_threshold_spikes_with_the_peak_derivative(
        backend, dtype, name):
    """``X = -0`` everywhere: ``H = -0 >= V = 0`` spikes, ``h'(-0)`` is the peak ``1/width``
    (2 for width 0.5) for all three surrogates; ``grad_X[i] = 2 sum_{t >= i} M[t, i]``."""
    x = torch.full((3, 2), -0.0, dtype=dtype)
    m = torch.tensor([[1.0, 0, 0], [0.5, 1.0, 0], [0.25, -0.5, 2.0]], dtype=dtype)
    s, gx, gm = _grads(backend, x, m, 0.0, get_surrogate(name, 0.5))
    assert s.tolist() == [[1.0, 1.0]] * 3
    assert gx.tolist() == [[3.5, 3.5], [1.0, 1.0], [4.0, 4.0]]
    assert gm.abs().sum() == 0


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_threshold_between_two_floats_is_compared_in_the_dtype(dtype):
    """``V = 0.7`` rounds down to float32: ``H = float32(0.7)`` spikes in both backends, the
    next float below does not (the threshold is cast to the dtype before comparing)."""
    v = torch.tensor(0.7, dtype=dtype)
    x = torch.stack([v, torch.nextafter(v, torch.tensor(0.0, dtype=dtype))]).reshape(1, 2)
    m = torch.ones(1, 1, dtype=dtype)
    for backend in BACKENDS:
        assert mfp_sequence(x, m, 0.7, get_surrogate("rectangle"), backend).tolist() == [[1, 0]]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["rectangle", "triangle"])
def test_infinite_upstream_gradients(backend, name):
    """``H = [1, 1, 3, 3]`` (``V = 1``, width 0.5: peak 2 at ``u = 0``, 0 at ``u = 2``),
    ``dL/dS = [inf, -inf, inf, 1]``: ``grad_X = [inf, -inf, 0 * inf = NaN, 0]``."""
    x = torch.tensor([[1.0, 1.0, 3.0, 3.0]])
    _, gx, gm = _grads(backend, x, torch.ones(1, 1), 1.0, get_surrogate(name, 0.5),
                       torch.tensor([[INF, -INF, INF, 1.0]]))
    torch.testing.assert_close(gx, torch.tensor([[INF, -INF, NAN, 0.0]]), equal_nan=True)
    assert gm.isnan().all()


def test_triangle_of_nan_is_zero_natively_and_nan_in_eager():
    """The documented difference (kernel module doc): ``H = NaN`` gives the triangle
    derivative 0 in the C++ kernel (one max instruction), NaN in eager (``clamp``)."""
    x, m, sur = torch.tensor([[NAN, 1.0]]), torch.ones(1, 1), get_surrogate("triangle", 0.5)
    gx_n, _ = mfp_backward(x, m, torch.ones_like(x), 1.0, sur, "native")
    gx_e, _ = mfp_backward(x, m, torch.ones_like(x), 1.0, sur, "eager")
    assert gx_n.tolist() == [[0.0, 2.0]]
    assert gx_e[0, 0].isnan() and gx_e[0, 1] == 2.0


@pytest.mark.parametrize(("dtype", "name", "width", "weight"), [
    (torch.float32, "triangle", 1e-20, 1.0),  # p1 = 1/g^2 = 1e40 overflows float32
    (torch.float32, "triangle", 1e-18, 1024.0),  # p1 = 1e36, p1 * M overflows
    (torch.float32, "rectangle", 1e-36, 1024.0),
    (torch.float64, "triangle", 1e-160, 1.0),
])
def test_a_surrogate_constant_that_cannot_be_folded_into_m_runs_the_reference(
        dtype, name, width, weight):
    """Neuron 0 at ``u = 0``, neuron 1 far outside the window: its gradient is 0, not the
    NaN of ``0 * (p1 M)`` with ``p1 M = inf``; all values equal eager's."""
    x = torch.tensor([[weight ** -1, 3.0]], dtype=dtype)
    m, sur = torch.full((1, 1), weight, dtype=dtype), get_surrogate(name, width)
    _, gx_n, gm_n = _grads("native", x, m, 1.0, sur)
    _, gx_e, gm_e = _grads("eager", x, m, 1.0, sur)
    assert gx_n[0, 1] == 0 and not gx_n.isnan().any()
    assert torch.equal(gx_n, gx_e) and torch.equal(gm_n, gm_e)
    with pytest.raises(native.FoldRangeError, match="not a normal"):
        native.backward(x, m, torch.ones_like(x), 1.0, sur)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("steps", [1, 2, 3, 16, 17])
def test_horizons_and_counts_against_eager(dtype, steps):
    """Dyadic ``M``, ``X`` and ``dL/dS`` (every sum exact, threshold ties included): equal
    spikes, and with widths whose constants are powers of two equal gradients; widths
    1e-3 and 50 to the dtype's rounding."""
    g = torch.Generator().manual_seed(steps)
    m = (torch.randint(-4, 5, (steps, steps), generator=g) / 8.0).to(dtype)
    x = (torch.randint(-8, 9, (steps, 129), generator=g) / 8.0).to(dtype)
    grad = (torch.randint(-4, 5, (steps, 129), generator=g) / 4.0).to(dtype)
    rtol = 1e-5 if dtype == torch.float32 else 1e-12
    for name, width in [("rectangle", 0.5), ("triangle", 0.5), ("rectangle", 1e-3),
                        ("triangle", 50.0), ("atan", 1.0)]:
        sur = get_surrogate(name, width)
        for count in (1, 7, 129):
            xs, gs = x[:, :count].contiguous(), grad[:, :count].contiguous()
            s_n, s_e = (mfp_sequence(xs, m, 0.25, sur, b) for b in BACKENDS)
            assert torch.equal(s_n, s_e)
            (gx_n, gm_n), (gx_e, gm_e) = (mfp_backward(xs, m, gs, 0.25, sur, b)
                                          for b in BACKENDS)
            tol = 0.0 if width == 0.5 else rtol
            for a, b in ((gx_n, gx_e), (gm_n, gm_e)):
                torch.testing.assert_close(a, b, rtol=tol, atol=tol * float(b.abs().max()))


def test_two_threads_on_a_layer_that_splits(monkeypatch):
    """Float32, ``N = 2 * MIN_NEURONS_PER_THREAD + 129`` on 2 threads (two ranges, the last
    with a zero-padded tail) against a float64 eager reference."""
    count = 2 * native.MIN_NEURONS_PER_THREAD + 129
    g = torch.Generator().manual_seed(3)
    x, grad = torch.randn(2, 3, count, generator=g)
    m = torch.tensor([[1.0, 0, 0], [0.5, 1.0, 0], [0.25, -0.5, 2.0]])
    sur = get_surrogate("triangle", 1.0)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert len(native._ranges(count)) == 2
        gx, gm = mfp_backward(x, m, grad, 0.3, sur, "native")
        s = mfp_sequence(x, m, 0.3, sur, "native")
    finally:
        torch.set_num_threads(threads)
    h = m.double() @ x.double()
    decided = (h - 0.3).abs() > 1e-5
    assert torch.equal(s[decided], (h >= 0.3).float()[decided])
    gx_r, gm_r = mfp_backward(x.double(), m.double(), grad.double(), 0.3, sur, "eager")
    torch.testing.assert_close(gx.double(), gx_r, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(gm.double(), gm_r, rtol=0, atol=1e-4 * float(gm_r.abs().max()))


@pytest.mark.parametrize(("frozen", "x_grad"), [(True, True), (False, False)])
def test_frozen_m_or_x_without_gradient_on_a_non_contiguous_batch_of_one(frozen, x_grad):
    """Gain form, ``alpha = -1.5``, ``[T, 1, C, W]`` input transposed (not contiguous)."""
    out = []
    for backend in BACKENDS:
        n = MFPNeuron(5, threshold=0.2, alpha=-1.5, mixing="gain", surrogate="atan",
                      width=0.7, backend=backend).double()
        with torch.no_grad():
            n.mixing.gains.copy_(torch.tensor([0.5, -1.0, 0.75, 2.0, 1.0]))
        n.mixing.gains.requires_grad_(not frozen)
        g = torch.Generator().manual_seed(4)
        x = torch.randn(5, 1, 6, 4, generator=g, dtype=torch.float64).transpose(2, 3)
        x.requires_grad_(x_grad)
        assert not x.is_contiguous()
        s = n(x)
        (s * torch.arange(s.numel(), dtype=s.dtype).reshape(s.shape)).sum().backward()
        out.append((s, x.grad, n.mixing.gains.grad))
    (s_e, gx_e, gm_e), (s_n, gx_n, gm_n) = out
    assert torch.equal(s_n, s_e) and 0 < float(s_e.detach().mean()) < 1
    assert (gx_n is None) == (gx_e is None) == (not x_grad)
    assert (gm_n is None) == (gm_e is None) == frozen
    for a, b in ((gx_n, gx_e), (gm_n, gm_e)):
        if b is not None:
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
