"""The fused (torch.compile) MFP kernel against the eager reference (issue 22 item 3); the
gradcheck and saved-memory tests cover every backend (native: ``test_mfp_native.py``).

Spikes: exactly equal on a dyadic grid, where every product and partial sum of
``M @ X`` is exact in float32 in any summation order (threshold ties included), and on
random float32 inputs wherever ``H`` is not within rounding of ``V``. Gradients: to
float32 tolerance, and each backend's backward against float64 finite differences of
its smooth stand-in (gradcheck). Memory: one input-sized tensor saved for backward.
"""

import pytest
import torch

from spikebit.errors import ConfigError
from spikebit.functional.surrogate import get_surrogate
from spikebit.methods.mfp import MFPNeuron
from spikebit.methods.mfp.kernel import BACKENDS, mfp_backward, mfp_sequence

T = 4  # one compiled kernel per (T, dtype): keep to a few


def _random_m(steps: int, seed: int, dtype=torch.float32) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(steps, steps, generator=g) * 0.7).tril().to(dtype)


def _run(backend: str, x: torch.Tensor, m: torch.Tensor, g: torch.Tensor, threshold: float,
         surrogate) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    xr, mr = x.clone().requires_grad_(), m.clone().requires_grad_()
    s = mfp_sequence(xr, mr, threshold, surrogate, backend)
    (s * g).sum().backward()
    return s.detach(), xr.grad, mr.grad


def test_backends_agree_exactly_on_a_dyadic_grid_including_threshold_ties():
    g = torch.Generator().manual_seed(0)
    sur = get_surrogate("triangle", 1.0)
    m = (torch.randint(-2, 3, (T, T), generator=g) / 2.0).tril()  # multiples of 1/2
    for shape in [(3, 5, 7), (2, 33)]:  # two neuron counts: one compiled kernel (dynamic N)
        x = torch.randint(-8, 9, (T, *shape), generator=g) / 4.0  # multiples of 1/4
        grad = torch.randn(T, *shape, generator=g)
        h = (m.double() @ x.double().reshape(T, -1)).reshape(x.shape)
        assert int((h == 0.5).sum()) > 5  # exact ties at the threshold occur
        s_e, gx_e, gm_e = _run("eager", x, m, grad, 0.5, sur)
        s_c, gx_c, gm_c = _run("compiled", x, m, grad, 0.5, sur)
        assert torch.equal(s_e, s_c)
        assert torch.equal(s_e, (h >= 0.5).float())
        torch.testing.assert_close(gx_c, gx_e)
        torch.testing.assert_close(gm_c, gm_e)


@pytest.mark.parametrize("surrogate", ["rectangle", "sigmoid"])
def test_backends_agree_on_random_float32(surrogate):
    sur = get_surrogate(surrogate, 0.8)
    torch.manual_seed(1)
    x = torch.randn(T, 16, 4, 9) * 1.5
    m = _random_m(T, seed=2)
    grad = torch.randn_like(x)
    s_e, gx_e, gm_e = _run("eager", x, m, grad, 0.3, sur)
    s_c, gx_c, gm_c = _run("compiled", x, m, grad, 0.3, sur)
    h = (m.double() @ x.double().reshape(T, -1)).reshape(x.shape)
    decided = (h - 0.3).abs() > 1e-5  # farther from V than float32 rounding of H
    assert decided.float().mean() > 0.99
    assert torch.equal(s_e[decided], s_c[decided])
    torch.testing.assert_close(gx_c, gx_e, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(gm_c, gm_e, rtol=1e-5, atol=1e-4)


class _SmoothProbe(torch.autograd.Function):
    """Forward: the smooth stand-in ``P(tril(m) x - V)`` (``P`` the surrogate's primitive);
    backward: the MFP kernel's backward, which must be its exact derivative."""

    @staticmethod
    def forward(ctx, x, m, threshold, surrogate, backend):  # type: ignore[override]
        ctx.save_for_backward(x, m)
        ctx.config = (threshold, surrogate, backend)
        return surrogate.primitive(m.tril() @ x - threshold)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        x, m = ctx.saved_tensors
        threshold, surrogate, backend = ctx.config
        gx, gm = mfp_backward(x, m, grad, threshold, surrogate, backend)
        return gx, gm, None, None, None


@pytest.mark.parametrize("surrogate", ["sigmoid", "atan"])  # smooth; native has atan built in
@pytest.mark.parametrize("backend", BACKENDS)
def test_backward_gradcheck_float64(backend, surrogate):
    sur = get_surrogate(surrogate, 1.5)
    torch.manual_seed(3)
    x = torch.randn(T, 6, dtype=torch.float64, requires_grad=True)
    m = _random_m(T, seed=4, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda x, m: _SmoothProbe.apply(x, m, 0.2, sur, backend), (x, m), atol=1e-7)


def test_compiled_neuron_step_equals_forward_and_gradients():
    n = MFPNeuron(steps=T, threshold=0.3, surrogate="triangle", backend="compiled")
    with torch.no_grad():
        n.mixing.weight.copy_(_random_m(T, seed=5))
    torch.manual_seed(6)
    x = (torch.randn(T, 5, 3, 4) * 1.5).requires_grad_()
    x2 = x.detach().clone().requires_grad_()
    s = n(x)
    state, steps = None, []
    for t in range(T):
        s_t, state = n.step(x2[t], state)
        steps.append(s_t)
    s_serial = torch.stack(steps)
    assert torch.equal(s, s_serial)  # same kernel, same rows: bit for bit
    g = torch.randn_like(s)
    (s * g).sum().backward()
    grad_m = n.mixing.weight.grad.clone()
    n.zero_grad()
    (s_serial * g).sum().backward()
    torch.testing.assert_close(x.grad, x2.grad)
    torch.testing.assert_close(n.mixing.weight.grad, grad_m)
    assert torch.all(grad_m.triu(1) == 0)  # masked entries never learn


@pytest.mark.parametrize("backend", BACKENDS)
def test_saves_one_input_sized_tensor(backend):
    x = torch.randn(T, 8, 32, requires_grad=True)
    m = _random_m(T, seed=7).requires_grad_()
    saved: list[torch.Tensor] = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        mfp_sequence(x, m, 0.5, get_surrogate("triangle"), backend)
    big = {t.untyped_storage().data_ptr() for t in saved if t.numel() >= x.numel()}
    assert len(big) == 1
    assert sum(t.numel() for t in saved if t.numel() < x.numel()) <= T * T


def test_unknown_backend_is_a_config_error():
    with pytest.raises(ConfigError, match="eager, compiled"):
        MFPNeuron(steps=3, backend="triton")
    with pytest.raises(ConfigError, match="backend"):
        mfp_sequence(torch.zeros(3, 2), torch.eye(3), 1.0, get_surrogate("rectangle"), "fast")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_backends_agree_on_cuda():
    sur = get_surrogate("triangle", 1.0)
    g = torch.Generator().manual_seed(8)
    m = (torch.randint(-8, 9, (T, T), generator=g) / 8.0).tril().cuda()
    x = (torch.randint(-64, 65, (T, 64, 100), generator=g) / 32.0).cuda()
    grad = torch.randn(T, 64, 100, generator=g).cuda()
    s_e, gx_e, gm_e = _run("eager", x, m, grad, 0.5, sur)
    s_c, gx_c, gm_c = _run("compiled", x, m, grad, 0.5, sur)
    assert torch.equal(s_e, s_c)
    torch.testing.assert_close(gx_c, gx_e)
    torch.testing.assert_close(gm_c, gm_e)
