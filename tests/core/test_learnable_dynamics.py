"""Learnable leak and threshold: fused-kernel gradients vs finite differences and autograd."""

from dataclasses import dataclass

import pytest
import torch

from spikebit.errors import ConfigError
from spikebit.functional.lif import lif_sequence
from spikebit.models.network import ModelConfig, build_network
from spikebit.neurons import LIF, MultiThresholdLIF
from spikebit.train.checkpoint import (
    Checkpoint,
    load_checkpoint,
    model_tensors,
    restore_model,
    save_checkpoint,
)


@dataclass(frozen=True)
class SmoothFiring:
    """A differentiable "firing" ``sigmoid(k (h - V))`` whose derivatives are exact, so
    float64 finite differences of the forward check the kernel's BPTT algebra."""

    threshold: float | torch.Tensor = 1.0
    k: float = 3.0
    max_output: int = 1

    def fire(self, h: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.k * (h - self.threshold))

    def grad(self, h: torch.Tensor) -> torch.Tensor:
        s = torch.sigmoid(self.k * (h - self.threshold))
        return self.k * s * (1 - s)

    def grad_threshold(self, h: torch.Tensor) -> torch.Tensor:
        return -self.grad(h)


@pytest.mark.parametrize("reset", ["hard", "soft"])
@pytest.mark.parametrize("per_channel", [False, True])
def test_fused_gradients_match_float64_finite_differences(reset, per_channel):
    torch.manual_seed(0)
    x = (torch.randn(4, 2, 3, 2, dtype=torch.float64) * 1.5).requires_grad_()
    shape = (3, 1) if per_channel else ()
    tau = (torch.rand(shape, dtype=torch.float64) * 0.8 + 0.1).requires_grad_()
    thr = (torch.rand(shape, dtype=torch.float64) + 0.5).requires_grad_()

    def f(x, tau, thr):
        return lif_sequence(x, SmoothFiring(), tau, reset, threshold=thr)

    assert torch.autograd.gradcheck(f, (x, tau, thr), eps=1e-6, atol=1e-7)


def _step_loop(neuron, x):
    state, out = None, []
    for t in range(x.shape[0]):
        s, state = neuron.step(x[t], state)
        out.append(s)
    return torch.stack(out)


CASES = [
    (LIF, {"reset": "hard"}),
    (LIF, {"reset": "soft"}),
    (LIF, {"reset": "hard", "detach_reset": True}),
    (LIF, {"reset": "soft", "detach_reset": True}),
    (MultiThresholdLIF, {"max_spikes": 3, "surrogate": "mt-gauss"}),
]


@pytest.mark.parametrize(("cls", "kwargs"), CASES)
@pytest.mark.parametrize("per_channel", [False, True])
def test_fused_parameter_gradients_equal_autograd_loop(cls, kwargs, per_channel):
    """The fused kernel's leak/threshold gradients (reduced over batch and time) equal
    autograd through the step-by-step path (plain tensor ops, same surrogate)."""
    torch.manual_seed(3)
    n = cls(tau=0.6, threshold=0.8, learn_tau=True, learn_threshold=True,
            per_channel=per_channel, channels=4, **kwargs).double()
    with torch.no_grad():  # distinct per-channel values
        n.leak_logit.add_(torch.linspace(-0.5, 0.5, n.leak_logit.numel()).reshape(
            n.leak_logit.shape).double())
        n.v_threshold.add_(torch.linspace(0, 0.4, n.v_threshold.numel()).reshape(
            n.v_threshold.shape).double())
    x = (torch.randn(5, 3, 4, 2, dtype=torch.float64) * 2).requires_grad_()
    g = torch.randn(5, 3, 4, 2, dtype=torch.float64)
    s = n(x)
    grads = torch.autograd.grad((s * g).sum(), [x, n.leak_logit, n.v_threshold])
    x2 = x.detach().clone().requires_grad_()
    s2 = _step_loop(n, x2)
    ref = torch.autograd.grad((s2 * g).sum(), [x2, n.leak_logit, n.v_threshold])
    assert torch.equal(s, s2)
    assert s.sum() > 0  # the case exercises spikes and resets
    for a, b in zip(grads, ref):
        assert a.shape == b.shape
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-9)
    assert ref[1].abs().sum() > 0 and ref[2].abs().sum() > 0


def test_fixed_floats_add_no_parameters_and_match_learnable_at_init():
    torch.manual_seed(1)
    fixed = LIF(tau=0.5, threshold=0.7, reset="soft")
    assert not list(fixed.parameters()) and not fixed.state_dict()
    learn = LIF(tau=0.5, threshold=0.7, reset="soft", learn_tau=True, learn_threshold=True)
    x = torch.randn(6, 4, 5) * 1.5
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    sa, sb = fixed(xa), learn(xb)
    assert torch.equal(sa, sb)
    sa.sum().backward()
    sb.sum().backward()
    torch.testing.assert_close(xa.grad, xb.grad)
    assert learn.leak.item() == pytest.approx(0.5)


def test_learned_parameters_are_in_state_dict_and_checkpoints(tmp_path):
    config = ModelConfig(spec="8C3-AP2-16", in_shape=(1, 8, 8), num_classes=3, steps=2,
                         neuron_kwargs={"learn_tau": True, "learn_threshold": True,
                                        "per_channel": True})
    net = build_network(config)
    sd = net.state_dict()
    shapes = sorted(tuple(v.shape) for k, v in sd.items()
                    if k.endswith(("leak_logit", "v_threshold")))
    assert shapes == [(8,), (8,), (16,), (16,)]
    out = net(torch.rand(2, 1, 8, 8))
    out.sum().backward()
    grads = [p.grad for n, p in net.named_parameters() if n.endswith("leak_logit")]
    assert all(g is not None and g.shape in {(8,), (16,)} for g in grads)
    with torch.no_grad():  # a trained value, not the initial one
        for n, p in net.named_parameters():
            if n.endswith(("leak_logit", "v_threshold")):
                p.add_(torch.linspace(-0.3, 0.3, p.numel()))
    path = tmp_path / "ckpt.safetensors"
    save_checkpoint(path, Checkpoint(model_tensors(net), {}))
    rebuilt = build_network(config)
    restore_model(rebuilt, load_checkpoint(path))
    for (n, a), (_, b) in zip(net.named_parameters(), rebuilt.named_parameters()):
        assert torch.equal(a, b), n
    assert torch.equal(rebuilt(torch.ones(1, 1, 8, 8)), net(torch.ones(1, 1, 8, 8)))


@pytest.mark.slow  # torch.compile of the loops: ~15 s on CPU
def test_compiled_backend_learnable_matches_eager():
    torch.manual_seed(2)
    kw = dict(tau=0.6, threshold=0.9, learn_tau=True, learn_threshold=True,
              per_channel=True, channels=3)
    a, b = LIF(backend="eager", **kw), LIF(backend="compiled", **kw)
    x = torch.randn(3, 2, 3) * 2
    sa, sb = a(x), b(x)
    assert torch.equal(sa, sb)
    ga = torch.autograd.grad(sa.sum(), [a.leak_logit, a.v_threshold])
    gb = torch.autograd.grad(sb.sum(), [b.leak_logit, b.v_threshold])
    for u, v in zip(ga, gb):
        torch.testing.assert_close(u, v)


def test_tau_error_explains_leak_factor_vs_time_constant():
    with pytest.raises(ConfigError, match=r"leak factor per step.*1 - 1/tau_m") as err:
        LIF(tau=2.0)
    assert "tau_m=2.0 -> tau=0.5" in str(err.value)
    with pytest.raises(ConfigError, match=r"strictly inside \(0, 1\)"):
        LIF(tau=1.0, learn_tau=True)
    with pytest.raises(ConfigError, match="channels"):
        LIF(learn_tau=True, per_channel=True)


def test_learnable_kernel_saves_only_h():
    """Saved for backward: ``h`` (the input's size) and the [C] leak/threshold tensors
    (same ``save_for_backward`` for both backends)."""
    n = LIF(tau=0.6, learn_tau=True, learn_threshold=True, per_channel=True, channels=3)
    x = (torch.randn(4, 2, 3, 5) * 2).requires_grad_()
    saved: list[int] = []

    def pack(t):
        saved.append(t.numel())
        return t

    # the parameters' own graph (sigmoid, reshape) saves small tensors too; the kernel
    # saves exactly one tensor of x's size
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        s = n(x)
    assert sorted(saved, reverse=True)[0] == x.numel()
    assert sum(1 for k in saved if k >= x[0].numel()) == 1
    s.sum().backward()
    assert n.leak_logit.grad.shape == (3,) and n.v_threshold.grad.shape == (3,)
