import pytest
import torch

from spikebit.errors import ShapeError
from spikebit.functional.surrogate import get_surrogate, spike
from spikebit.methods.mfp import MIXINGS, MFPNeuron
from spikebit.models import ModelConfig, build_network
from spikebit.neurons import LIF, NEURONS


def _random_lower(neuron: MFPNeuron, seed: int) -> None:
    """Give the neuron a random M (any sign, diagonal away from zero)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in neuron.mixing.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.7)


def _serial(neuron: MFPNeuron, x: torch.Tensor) -> torch.Tensor:
    state, out = None, []
    for t in range(x.shape[0]):
        s, state = neuron.step(x[t], state)
        out.append(s)
    return torch.stack(out)


def test_hand_trace_without_reset():
    # tau=0.5, V=1: M = [[1,0,0],[.5,1,0],[.25,.5,1]]
    n = MFPNeuron(steps=3, threshold=1.0, tau=0.5)
    torch.testing.assert_close(
        n.effective_matrix(), torch.tensor([[1.0, 0, 0], [0.5, 1, 0], [0.25, 0.5, 1]]))
    # x = 0.6 each step: H = 0.6, 0.9, 1.05 -> spikes 0, 0, 1
    assert n(torch.full((3, 1), 0.6)).flatten().tolist() == [0.0, 0.0, 1.0]
    # x = 1.2, 0.5, 0: H = 1.2, 1.1, 0.55 -> 1, 1, 0 (no reset; a hard-reset LIF gives 1, 0, 0)
    x = torch.tensor([[1.2], [0.5], [0.0]])
    assert n(x).flatten().tolist() == [1.0, 1.0, 0.0]
    assert LIF(threshold=1.0, tau=0.5)(x).flatten().tolist() == [1.0, 0.0, 0.0]


def test_alpha_scales_the_mixing_and_gain_form_is_eq6():
    n = MFPNeuron(steps=3, alpha=2.0, mixing="gain")
    with torch.no_grad():
        n.mixing.gains.copy_(torch.tensor([1.0, 0.5, 0.25]))
    # eq. 6: H[t] = alpha * sum_{i<=t} tau_i X[i]
    expected = 2.0 * torch.tensor([[1.0, 0, 0], [1.0, 0.5, 0], [1.0, 0.5, 0.25]])
    torch.testing.assert_close(n.effective_matrix(), expected)
    x = torch.tensor([[0.3], [0.4], [1.0]])  # H = 0.6, 1.0, 1.5 -> 0, 1, 1
    assert n(x).flatten().tolist() == [0.0, 1.0, 1.0]
    assert set(MIXINGS.names()) >= {"full", "gain"}


@pytest.mark.parametrize("mixing", ["full", "gain"])
@pytest.mark.parametrize("steps", [1, 4, 10])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_serial_step_spikes_equal_parallel_exactly(mixing, steps, dtype):
    """Random inputs, random lower-triangular M: bit-identical spikes, every step."""
    n = MFPNeuron(steps=steps, threshold=0.3, mixing=mixing)
    _random_lower(n, seed=steps)
    torch.manual_seed(steps)
    x = (torch.randn(steps, 16, 3, 7, 7) * 1.5).to(dtype)
    s_par = n(x)
    s_ser = _serial(n, x)
    assert 0.05 < float(s_par.detach().mean()) < 0.95  # both outcomes occur
    assert torch.equal(s_par, s_ser)


def test_serial_gradients_match_parallel_float64():
    n = MFPNeuron(steps=5, threshold=0.5, surrogate="sigmoid").double()
    _random_lower(n, seed=3)
    x = torch.randn(5, 4, 6, dtype=torch.float64).requires_grad_()
    x2 = x.detach().clone().requires_grad_()
    g = torch.randn(5, 4, 6, dtype=torch.float64)
    (n(x) * g).sum().backward()
    grad_m_par = n.mixing.weight.grad.clone()
    n.zero_grad()
    (_serial(n, x2) * g).sum().backward()
    torch.testing.assert_close(x.grad, x2.grad, atol=1e-12, rtol=1e-10)
    torch.testing.assert_close(grad_m_par, n.mixing.weight.grad, atol=1e-12, rtol=1e-10)


def _written_formula(m_param, mask, alpha, x, threshold, surrogate):
    """Eq. 7 with plain autograd: S = spike(alpha * (M * mask) @ X - V)."""
    t = x.shape[0]
    h = alpha * (m_param * mask) @ x.reshape(t, -1)
    return spike(h - threshold, surrogate).reshape(x.shape)


@pytest.mark.parametrize("surrogate", ["rectangle", "triangle", "sigmoid", "atan"])
def test_fused_backward_equals_autograd_of_written_formula(surrogate):
    n = MFPNeuron(steps=4, threshold=0.4, alpha=1.5, surrogate=surrogate).double()
    _random_lower(n, seed=7)
    torch.manual_seed(0)
    x = torch.randn(4, 3, 5, dtype=torch.float64).requires_grad_()
    x2 = x.detach().clone().requires_grad_()
    m2 = n.mixing.weight.detach().clone().requires_grad_()
    g = torch.randn(4, 3, 5, dtype=torch.float64)
    (n(x) * g).sum().backward()
    s2 = _written_formula(m2, n.mixing.mask.double(), 1.5, x2, 0.4, n.surrogate)
    (s2 * g).sum().backward()
    torch.testing.assert_close(n.mixing.weight.grad, m2.grad, atol=1e-12, rtol=1e-10)
    torch.testing.assert_close(x.grad, x2.grad, atol=1e-12, rtol=1e-10)
    upper = torch.ones(4, 4).triu(1).bool()
    assert torch.all(n.mixing.weight.grad[upper] == 0)  # masked entries never learn


def test_gradient_of_m_matches_finite_differences_of_smooth_stand_in():
    """The surrogate backward is the exact derivative of L(M) = sum g * P(alpha M X - V),
    P the surrogate's smooth primitive (sigmoid here): check against central differences."""
    n = MFPNeuron(steps=4, threshold=0.3, alpha=0.8, surrogate="sigmoid", width=2.0).double()
    _random_lower(n, seed=11)
    torch.manual_seed(1)
    x = torch.randn(4, 2, 3, dtype=torch.float64)
    g = torch.randn(4, 2, 3, dtype=torch.float64)
    (n(x) * g).sum().backward()
    grad = n.mixing.weight.grad
    prim = get_surrogate("sigmoid", 2.0).primitive

    def smooth_loss(m: torch.Tensor) -> float:
        h = 0.8 * (m * n.mixing.mask.double()) @ x.reshape(4, -1)
        return float((g.reshape(4, -1) * prim(h - 0.3)).sum())

    m0 = n.mixing.weight.detach().clone()
    eps = 1e-6
    for t in range(4):
        for i in range(t + 1):
            up, down = m0.clone(), m0.clone()
            up[t, i] += eps
            down[t, i] -= eps
            fd = (smooth_loss(up) - smooth_loss(down)) / (2 * eps)
            assert grad[t, i].item() == pytest.approx(fd, rel=1e-6, abs=1e-9)


def test_forward_saves_only_the_input_for_backward():
    n = MFPNeuron(steps=4)
    x = torch.randn(4, 8, 16, 5, 5, requires_grad=True)
    sizes = []

    def pack(t):
        sizes.append(t.numel())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        n(x)
    assert sum(s for s in sizes if s > 16) == x.numel()  # x itself; the rest is M (4x4)


def test_shape_errors_and_horizon():
    n = MFPNeuron(steps=3)
    with pytest.raises(ShapeError, match="exactly T=3"):
        n(torch.rand(4, 2))
    with pytest.raises(ShapeError, match="time-major"):
        n(torch.rand(3))
    state = None
    for _ in range(3):
        _, state = n.step(torch.rand(2), state)
    with pytest.raises(ShapeError, match="start a new sample"):
        n.step(torch.rand(2), state)
    with pytest.raises(ValueError, match="steps"):
        MFPNeuron(steps=0)


def test_forward_is_pure_and_registered_with_builder_passing_steps():
    n = MFPNeuron(steps=2)
    x = torch.rand(2, 3, 4) * 3
    assert torch.equal(n(x), n(x))
    assert NEURONS.get("mfp") is MFPNeuron
    net = build_network(ModelConfig(spec="4C3-AP2-8", in_shape=(1, 8, 8), steps=5, neuron="mfp",
                                    quantizer="qsnn"))
    neurons = [m for m in net.modules() if isinstance(m, MFPNeuron)]
    assert len(neurons) == 2 and all(m.steps == 5 for m in neurons)
    assert net(torch.rand(2, 1, 8, 8)).shape == (5, 2, 10)
