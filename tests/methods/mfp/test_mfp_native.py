"""The native (C++) MFP kernel against the eager reference (issue 22 item 3).

Float64: spikes equal wherever ``H`` is not within 1e-9 of ``V``; ``grad_X`` and ``grad_M``
(the mixing weight's gradient, mask and ``alpha`` included) allclose, on FC ``[T, B, F]``
and conv ``[T, B, C, H, W]`` inputs, neuron counts that are not whole SIMD blocks or
chunks (the zero-padded tail path) and the neurons split over threads. One input-sized
tensor saved for backward. Unsupported cases fall back to eager.
"""

import pytest
import torch
from torch._subclasses.fake_tensor import FakeTensorMode

from spikebit.functional.surrogate import SURROGATES, get_surrogate
from spikebit.methods.mfp import MFPNeuron, native
from spikebit.methods.mfp.kernel import mfp_backward, mfp_sequence, resolve_backend

NATIVE_SURROGATES = ["rectangle", "triangle", "atan"]


@pytest.fixture(scope="module", autouse=True)
def _needs_native():
    if native.library(4) is None:  # no C++ compiler: MFPNeuron falls back to eager
        pytest.skip("the native MFP kernel cannot be built here (no C++ compiler)")


def _random_m(steps: int, seed: int, dtype=torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(steps, steps, generator=g) * 0.7).to(dtype)  # upper part must be ignored


def _neuron_pair(steps: int, surrogate: str, seed: int, mixing: str = "full", alpha: float = 1.0):
    out = []
    for backend in ("eager", "native"):
        n = MFPNeuron(steps, threshold=0.3, surrogate=surrogate, width=0.9, mixing=mixing,
                      alpha=alpha, backend=backend).double()
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for p in n.mixing.parameters():
                p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) * 0.7)
        out.append(n)
    return out


def _fwd_bwd(neuron: MFPNeuron, x: torch.Tensor, grad: torch.Tensor):
    xr = x.clone().requires_grad_()
    neuron.zero_grad()
    s = neuron(xr)
    (s * grad).sum().backward()
    return s.detach(), xr.grad, [p.grad.clone() for p in neuron.mixing.parameters()]


@pytest.mark.parametrize("surrogate", NATIVE_SURROGATES)
@pytest.mark.parametrize("shape", [(7, 33), (3, 5, 6, 7)], ids=["fc", "conv"])
@pytest.mark.parametrize("steps", [1, 4, 10])
def test_native_equals_eager_float64(surrogate, shape, steps):
    eager, nat = _neuron_pair(steps, surrogate, seed=steps)
    torch.manual_seed(steps)
    x = torch.randn(steps, *shape, dtype=torch.float64) * 1.5
    grad = torch.randn_like(x)
    assert resolve_backend("native", x, nat.surrogate) == "native"
    s_e, gx_e, gm_e = _fwd_bwd(eager, x, grad)
    s_n, gx_n, gm_n = _fwd_bwd(nat, x, grad)
    m = eager.effective_matrix().detach()
    h = (m @ x.reshape(steps, -1)).reshape(x.shape)
    decided = (h - 0.3).abs() > 1e-9
    assert decided.all()  # random float64 inputs: no H within rounding of V
    assert torch.equal(s_n, s_e)
    assert 0.05 < float(s_e.mean()) < 0.95
    assert float(gx_e.abs().max()) > 0  # the surrogate window is hit
    torch.testing.assert_close(gx_n, gx_e, rtol=1e-12, atol=1e-12)
    for a, b in zip(gm_n, gm_e):
        torch.testing.assert_close(a, b, rtol=1e-11, atol=1e-11)
        assert torch.all(a.triu(1) == 0)


@pytest.mark.parametrize("mixing", ["full", "gain"])
def test_native_equals_eager_with_alpha_and_gain_form(mixing):
    eager, nat = _neuron_pair(5, "triangle", seed=11, mixing=mixing, alpha=0.75)
    x = torch.randn(5, 4, 8, 3, 3, dtype=torch.float64) * 1.5
    grad = torch.randn_like(x)
    s_e, gx_e, gm_e = _fwd_bwd(eager, x, grad)
    s_n, gx_n, gm_n = _fwd_bwd(nat, x, grad)
    assert torch.equal(s_n, s_e)
    torch.testing.assert_close(gx_n, gx_e, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(gm_n[0], gm_e[0], rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("count", [1, 15, 16, 127, 128, 129, 1000])
def test_tails_and_thread_split(monkeypatch, dtype, count):
    """Neuron counts around the SIMD block (16/8 lanes) and chunk (8 blocks) sizes, and the
    neurons split over 3 threads with streaming stores, against the eager kernel."""
    steps = 6
    sur = get_surrogate("triangle", 1.0)
    g = torch.Generator().manual_seed(count)
    x = (torch.randn(steps, count, generator=g) * 1.5).to(dtype)
    grad = torch.randn(steps, count, generator=g).to(dtype)
    m = _random_m(steps, seed=count, dtype=dtype)
    tol = {"rtol": 1e-12, "atol": 1e-12} if dtype == torch.float64 else {"rtol": 1e-5,
                                                                         "atol": 1e-5}
    gx_e, gm_e = mfp_backward(x, m.tril(), grad, 0.3, sur, "eager")
    threads = torch.get_num_threads()
    for split in (False, True):
        if split:  # and streaming stores (aligned rows) on these small outputs
            monkeypatch.setattr(native, "MIN_NEURONS_PER_THREAD", 4)
            monkeypatch.setattr(native, "STREAM_BYTES", 0)
            torch.set_num_threads(3)
        try:
            ranges = native._ranges(count)
            assert ranges[0][0] == 0 and ranges[-1][1] == count
            assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
            assert len(ranges) == (3 if split and count == 1000 else 2 if split and count == 129
                                   else 1)
            gx, gm = native.backward(x, m, grad, 0.3, sur)
            s = native.forward(x, m, 0.3)
        finally:
            torch.set_num_threads(threads)
        h = m.tril().double() @ x.double()
        decided = (h - 0.3).abs() > 1e-4
        assert torch.equal(s[decided], (h >= 0.3).to(dtype)[decided])
        torch.testing.assert_close(gx, gx_e, **tol)
        torch.testing.assert_close(gm, gm_e, **tol)


def test_saves_one_input_sized_tensor_on_a_conv_layer():
    n = MFPNeuron(steps=4, surrogate="triangle", backend="native")
    x = torch.randn(4, 2, 8, 5, 5, requires_grad=True)
    saved: list[torch.Tensor] = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        s = n(x)
    big = [t for t in saved if t.numel() >= x[0].numel()]
    assert len(big) == 1 and big[0].numel() == x.numel()
    assert big[0].untyped_storage().data_ptr() == x.untyped_storage().data_ptr()  # X itself
    assert all(t.numel() <= 4 * 4 for t in saved if t is not big[0])  # M (and its mask)
    s.sum().backward()
    assert x.grad is not None and n.mixing.weight.grad is not None


def test_native_step_equals_forward_exactly():
    n = MFPNeuron(steps=6, threshold=0.3, surrogate="triangle", backend="native")
    with torch.no_grad():
        n.mixing.weight.copy_(_random_m(6, seed=5, dtype=torch.float32).tril())
    x = torch.randn(6, 5, 3, 4) * 1.5
    state, steps = None, []
    for t in range(6):
        s_t, state = n.step(x[t], state)
        steps.append(s_t)
    assert torch.equal(n(x), torch.stack(steps))


def test_unsupported_inputs_fall_back_to_eager(monkeypatch):
    tri = get_surrogate("triangle")
    x = torch.zeros(4, 3)
    assert resolve_backend("native", x, tri) == "native"
    with FakeTensorMode():  # torch.export / torch.compile trace with fake tensors
        fake = torch.zeros(4, 3)
    assert resolve_backend("native", fake, tri) == "eager"
    with monkeypatch.context() as mp:
        mp.setattr(torch.compiler, "is_compiling", lambda: True)
        assert resolve_backend("native", x, tri) == "eager"
    assert resolve_backend("native", x.half(), tri) == "eager"
    assert resolve_backend("native", torch.zeros(native.MAX_STEPS + 1, 3), tri) == "eager"
    assert resolve_backend("native", x, get_surrogate("sigmoid")) == "eager"
    assert resolve_backend("native", torch.zeros(4, 3, device="meta"), tri) == "eager"
    assert resolve_backend("compiled", x.half(), tri) == "compiled"  # others run as named
    assert native.surrogate_params(get_surrogate("sigmoid")) is None
    assert {"rectangle", "triangle", "atan"} <= set(SURROGATES.names())
    # the fallback gives the eager result
    n = MFPNeuron(steps=4, surrogate="sigmoid", backend="native")
    xs = torch.randn(4, 2, 3)
    assert torch.equal(n(xs), mfp_sequence(xs, n.effective_matrix(), 1.0, n.surrogate, "eager"))


def test_build_failure_warns_once_and_falls_back(monkeypatch, tmp_path):
    monkeypatch.setenv("SPIKEBIT_KERNEL_CACHE", str(tmp_path))
    monkeypatch.delenv("CXX", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no c++, g++ or clang++
    native.library.cache_clear()
    native._WARNED.clear()
    try:
        with pytest.warns(RuntimeWarning, match="not available: no C\\+\\+ compiler found"):
            assert not native.supports(torch.zeros(3, 2), get_surrogate("triangle"))
    finally:
        native.library.cache_clear()
        native._WARNED.clear()


def test_kernel_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SPIKEBIT_KERNEL_CACHE", str(tmp_path / "k"))
    assert native.cache_dir() == tmp_path / "k"
    monkeypatch.delenv("SPIKEBIT_KERNEL_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert native.cache_dir() == tmp_path / "spikebit" / "kernels"
