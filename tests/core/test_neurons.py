import pytest
import torch

from spikebit.errors import ShapeError
from spikebit.neurons import IF, LIF, NEURONS, MultiThresholdLIF


def test_lif_hard_reset_three_step_trace_by_hand():
    # V=1, tau=0.5: x = 0.6, 0.6, 0.6
    # h0=0.6 s0=0 v0=0.6; h1=0.3+0.6=0.9 s1=0 v1=0.9; h2=0.45+0.6=1.05 s2=1 v2=0
    n = LIF(threshold=1.0, tau=0.5, reset="hard")
    x = torch.full((3, 1), 0.6)
    assert n(x).flatten().tolist() == [0.0, 0.0, 1.0]
    s, st = None, None
    vs = []
    for t in range(3):
        s, st = n.step(x[t], st)
        vs.append(round(st.v.item(), 6))
    assert vs == [0.6, 0.9, 0.0]


def test_lif_soft_reset_keeps_residual():
    # V=1, tau=0.5, x=1.5, 0, 0: h0=1.5 s=1 v=0.5; h1=0.25 s=0; h2=0.125
    n = LIF(threshold=1.0, tau=0.5, reset="soft")
    x = torch.tensor([[1.5], [0.0], [0.0]])
    assert n(x).flatten().tolist() == [1.0, 0.0, 0.0]
    _, st = n.step(x[0])
    assert st.v.item() == pytest.approx(0.5)


def test_if_integrates_without_leak():
    n = IF(threshold=1.0)
    x = torch.full((4, 1), 0.4)  # 0.4, 0.8, 1.2->s,0.2+0.4=0.6
    assert n(x).flatten().tolist() == [0.0, 0.0, 1.0, 0.0]


def test_multithreshold_trace_with_clipping_and_carry():
    # V=1, tau=0.5, O_max=3: x=2.5 -> o=2 v=0.5; x=1.0 -> h=1.25 o=1 v=0.25;
    # x=7 -> h=7.125 o=3 (clipped) v=4.125; x=0 -> h=2.0625 o=2
    n = MultiThresholdLIF(threshold=1.0, tau=0.5, max_spikes=3)
    x = torch.tensor([[2.5], [1.0], [7.0], [0.0]])
    assert n(x).flatten().tolist() == [2.0, 1.0, 3.0, 2.0]


def test_multithreshold_with_omax_1_equals_lif():
    torch.manual_seed(0)
    x = torch.randn(6, 4, 5) * 2
    mt = MultiThresholdLIF(threshold=0.7, tau=0.5, max_spikes=1, surrogate="rectangle")
    lif = LIF(threshold=0.7, tau=0.5, reset="soft", surrogate="rectangle", width=0.7)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    sa, sb = mt(xa), lif(xb)
    assert torch.equal(sa, sb)
    g = torch.randn_like(sa)
    (sa * g).sum().backward()
    (sb * g).sum().backward()
    torch.testing.assert_close(xa.grad, xb.grad)


NEURON_ARGS = {"lif": {}, "if": {}, "mtlif": {"max_spikes": 4}, "mfp": {"steps": 5}}
NO_RESET = {"mfp"}  # memory-free neurons have no membrane state to reset


@pytest.mark.parametrize("name", NEURONS.names())
@pytest.mark.parametrize("reset", ["hard", "soft"])
@pytest.mark.parametrize("detach_reset", [False, True])
def test_every_neuron_sequence_and_step_agree(name, reset, detach_reset):
    """Contract over everything registered: no NaN, sequence == step (values and grads)."""
    cls = NEURONS.get(name)
    if name in NO_RESET:
        if reset == "soft" or detach_reset:
            pytest.skip("no reset options")
        kwargs = dict(NEURON_ARGS[name])
    else:
        kwargs = dict(NEURON_ARGS.get(name, {}), detach_reset=detach_reset)
    if name in NO_RESET:
        pass
    elif name != "mtlif":
        kwargs["reset"] = reset
    elif reset == "hard":
        pytest.skip("multi-threshold resets by subtraction only")
    n = cls(**kwargs)
    torch.manual_seed(1)
    x = (torch.randn(5, 3, 7, dtype=torch.float64) * 1.5).requires_grad_()
    x2 = x.detach().clone().requires_grad_()
    s = n(x)
    state, outs = None, []
    for t in range(x2.shape[0]):
        st, state = n.step(x2[t], state)
        outs.append(st)
    s2 = torch.stack(outs)
    assert torch.equal(s, s2)
    g = torch.randn_like(s)
    (s * g).sum().backward()
    (s2 * g).sum().backward()
    assert torch.isfinite(x.grad).all()
    torch.testing.assert_close(x.grad, x2.grad, atol=1e-12, rtol=1e-10)


def test_forward_leaves_no_state_behind():
    n = LIF()
    x = torch.rand(3, 2, 4) * 3
    assert torch.equal(n(x), n(x))
    assert not list(n.buffers())


def test_missing_time_dimension_is_a_clear_error():
    with pytest.raises(ShapeError, match=r"time-major sequence \[T, B, \.\.\.\]"):
        LIF()(torch.rand(5))


def test_invalid_neuron_arguments():
    with pytest.raises(ValueError, match="reset"):
        LIF(reset="zero")
    with pytest.raises(ValueError, match="tau"):
        LIF(tau=1.5)
    with pytest.raises(ValueError, match="no leak"):
        IF(tau=0.5)


def test_compiled_backend_matches_eager():
    torch.manual_seed(0)
    x = torch.randn(3, 2, 8) * 2
    a, b = LIF(backend="eager"), LIF(backend="compiled")
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    sa, sb = a(xa), b(xb)
    assert torch.equal(sa, sb)
    sa.sum().backward()
    sb.sum().backward()
    torch.testing.assert_close(xa.grad, xb.grad)


def test_compiled_lif_compiles_past_dynamos_default_recompile_limit():
    """Every neuron shape runs the compiled loop, even past dynamo's recompile limit: with
    the user's limit at 1, three shapes still give three compiled graphs (before, the
    second and third ran eagerly), and the user's limit is restored afterwards."""
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    before = counters["stats"]["unique_graphs"]
    compiled, eager = LIF(tau=0.5, backend="compiled"), LIF(tau=0.5, backend="eager")
    # config.patch, not monkeypatch: undoing a monkeypatch deletes the config entry
    with torch._dynamo.config.patch(recompile_limit=1), torch.no_grad():
        for shape in ((2, 3, 5), (2, 4, 5), (2, 6, 7)):
            x = torch.rand(shape) * 2
            assert torch.equal(compiled(x), eager(x))
        assert torch._dynamo.config.recompile_limit == 1
    assert counters["stats"]["unique_graphs"] - before == 3
    torch._dynamo.reset()
