"""MFP neurons are causal on non-finite inputs in every backend: a NaN or inf at the last
step leaves the earlier spikes and gradients as they are (eager used to multiply the
zeros above M's diagonal by the future NaN/inf). Hand-computed values.

Neuron: T=4, V=1, tau=0.5 (``M[t, i] = 0.5^(t-i)``), rectangle surrogate of width 4
(derivative 1/4 where ``|H - V| < 2``). Input ``X = [1, 1, 1, bad]``:
``H = [1, 1.5, 1.75, bad']``, spikes ``[1, 1, 1, S3]``, and with ``dL/dS = 1`` and
``g = [1/4, 1/4, 1/4, 0]`` (the rectangle's derivative of NaN or inf is 0)::

    grad_X[i] = sum_{t >= i} M[t, i] g[t] = [(1 + .5 + .25)/4, (1 + .5)/4, 1/4, 0]
    grad_M[t, i] = g[t] X[i] (i <= t): 1/4 in rows 0-2; row 3: 0 * 1 = 0, and
    grad_M[3, 3] = 0 * bad = NaN
"""

import pytest
import torch

from spikebit.functional.surrogate import get_surrogate
from spikebit.methods.mfp import MFPNeuron, native
from spikebit.methods.mfp.kernel import BACKENDS, mfp_backward

NAN, INF = float("nan"), float("inf")
GRAD_X = [0.4375, 0.375, 0.25, 0.0]
GRAD_M = [[0.25, 0, 0, 0], [0.25, 0.25, 0, 0], [0.25, 0.25, 0.25, 0], [0, 0, 0, NAN]]


def _backends() -> list[str]:
    return [b for b in BACKENDS if b != "native" or native.library(4) is not None]


@pytest.mark.parametrize("backend", _backends())
@pytest.mark.parametrize(("bad", "last_spike"), [(NAN, 0.0), (INF, 1.0)])
def test_a_bad_last_step_leaves_earlier_spikes_and_gradients(backend, bad, last_spike):
    n = MFPNeuron(4, threshold=1.0, tau=0.5, surrogate="rectangle", width=4.0,
                  backend=backend)
    x = torch.tensor([1.0, 1.0, 1.0, bad]).reshape(4, 1, 1).requires_grad_()
    s = n(x)
    assert s.flatten().tolist() == [1.0, 1.0, 1.0, last_spike]
    s.sum().backward()
    assert x.grad.flatten().tolist() == GRAD_X
    torch.testing.assert_close(n.mixing.weight.grad, torch.tensor(GRAD_M), equal_nan=True)


@pytest.mark.parametrize("backend", _backends())
def test_random_inputs_with_nan_and_inf_agree_with_the_clean_past(backend):
    """Columns with a NaN/inf at step k: steps < k spike as without it, and equal the
    eager reference everywhere (float64 dyadic values: every sum exact)."""
    g = torch.Generator().manual_seed(0)
    steps = 6
    m = (torch.randint(-4, 5, (steps, steps), generator=g) / 4.0).double()
    clean = (torch.randint(-8, 9, (steps, 40), generator=g) / 4.0).double()
    x = clean.clone()
    x[5, :10], x[3, 10:20], x[4, 20:30] = NAN, INF, -INF
    sur = get_surrogate("rectangle", 2.0)
    n, eager = (MFPNeuron(steps, 0.25, surrogate=sur, backend=b).double()
                for b in (backend, "eager"))
    with torch.no_grad():
        n.mixing.weight.copy_(m)
        eager.mixing.weight.copy_(m)
    s, s_clean = n(x), n(clean)
    assert torch.equal(s[:5, :10], s_clean[:5, :10])
    assert torch.equal(s[:3, 10:20], s_clean[:3, 10:20])
    assert torch.equal(s[:4, 20:30], s_clean[:4, 20:30])
    assert torch.equal(s[:, 30:], s_clean[:, 30:])
    assert torch.equal(s, eager(x))


@pytest.mark.parametrize("backend", _backends())
def test_a_nan_upstream_gradient_stays_in_its_past(backend):
    """``dL/dS`` NaN at step 0 only: ``grad_X[i] = sum_{t >= i} M[t, i] g[t]`` is NaN at
    ``i = 0`` and unchanged for ``i >= 1`` (eager's ``mm(M^T, g)`` used to spread it)."""
    m = torch.tensor([[1.0, 0.0], [0.5, 1.0]], dtype=torch.float64)
    x = torch.tensor([[0.5], [0.5]], dtype=torch.float64)  # H = [0.5, 0.75], V = 1
    grad_s = torch.tensor([[NAN], [1.0]], dtype=torch.float64)
    gx, gm = mfp_backward(x, m, grad_s, 1.0, get_surrogate("rectangle", 1.0), backend)
    assert gx[0].isnan().all() and gx[1].tolist() == [1.0]  # g[1] = 1 * 1 (|H - V| < 0.5)
    assert gm[1].tolist() == [0.5, 0.5] and gm[0, 0].isnan() and gm[0, 1] == 0
