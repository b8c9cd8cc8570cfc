"""The AGMM block against an independent loop formula, autograd and finite differences."""

import pytest
import torch
from torch import nn

from spikebit.errors import ShapeError
from spikebit.methods.agmm import AGMM
from spikebit.models import ModelConfig, build_network
from spikebit.models.blocks import BLOCKS
from spikebit.neurons import IntegrateFireNeuron

MODES = [  # (causal, per_step)
    (True, False),
    (False, False),
    (True, True),
]


def reference(x: torch.Tensor, alpha: torch.Tensor, causal: bool, per_step: bool) -> torch.Tensor:
    """X'[t, b] = sigmoid(alpha_t * mean of x[s, b] over s in the window and all features)."""
    steps, batch = x.shape[:2]
    out = torch.empty_like(x)
    for t in range(steps):
        window = [t] if per_step else (range(t + 1) if causal else range(steps))
        for b in range(batch):
            total = sum(x[s, b].sum() for s in window)
            mean = total / (len(window) * x[t, b].numel())
            out[t, b] = torch.sigmoid(alpha[t] * mean) * x[t, b]
    return out


def _inputs(shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g, dtype=torch.float64) + 0.3
    alpha = torch.randn(shape[0], generator=g, dtype=torch.float64) * 2
    return x, alpha


def _module(steps, causal, per_step, alpha):
    m = AGMM(steps, causal=causal, per_step=per_step).double()
    with torch.no_grad():
        m.alpha.copy_(alpha)
    return m


@pytest.mark.parametrize("causal, per_step", MODES)
@pytest.mark.parametrize("shape", [(3, 2, 4, 3, 3), (4, 3, 5)])
def test_forward_and_gradient_match_the_written_formula(causal, per_step, shape):
    x, alpha = _inputs(shape)
    m = _module(shape[0], causal, per_step, alpha)
    x1 = x.clone().requires_grad_()
    x2 = x.clone().requires_grad_()
    a2 = alpha.clone().requires_grad_()
    y1, y2 = m(x1), reference(x2, a2, causal, per_step)
    torch.testing.assert_close(y1, y2)
    g = torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    (y1 * g).sum().backward()
    (y2 * g).sum().backward()
    torch.testing.assert_close(x1.grad, x2.grad)
    torch.testing.assert_close(m.alpha.grad, a2.grad)


@pytest.mark.parametrize("causal, per_step", MODES)
def test_gradcheck_against_finite_differences(causal, per_step):
    x, alpha = _inputs((3, 2, 3, 2, 2), seed=2)
    m = _module(3, causal, per_step, alpha)
    x.requires_grad_()
    a = alpha.clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda x_, a_: _functional(m, x_, a_), (x, a))
    assert torch.autograd.gradgradcheck(lambda x_, a_: _functional(m, x_, a_), (x, a))


def _functional(m: AGMM, x: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """The module's forward with ``alpha`` as an explicit input (for gradcheck)."""
    return torch.func.functional_call(m, {"alpha": alpha}, (x,))


def test_detach_mean_gives_the_papers_eq15_gradient():
    """With the mean's gradient dropped, dL/dX[t] = sigmoid(E[t]) * dL/dX'[t] exactly."""
    x, alpha = _inputs((3, 2, 4), seed=3)
    m = AGMM(3, detach_mean=True).double()
    with torch.no_grad():
        m.alpha.copy_(alpha)
    x.requires_grad_()
    g = torch.randn_like(x)
    (m(x) * g).sum().backward()
    gate = m.gate(x.detach())
    torch.testing.assert_close(x.grad, gate * g)
    assert bool((gate < 1).all() and (gate > 0).all())


def test_causal_mean_never_looks_ahead():
    x, alpha = _inputs((4, 2, 6), seed=4)
    x2 = x.clone()
    x2[2:] += 5.0
    causal, all_t = _module(4, True, False, alpha), _module(4, False, False, alpha)
    torch.testing.assert_close(causal(x)[:2], causal(x2)[:2])
    assert not torch.allclose(all_t(x)[:2], all_t(x2)[:2])


def test_defaults_registry_and_errors():
    m = BLOCKS.get("agmm")(5)
    assert isinstance(m, AGMM) and m.causal and not m.per_step
    assert torch.equal(m.alpha.detach(), torch.ones(5))
    with pytest.raises(ShapeError, match="steps=3"):
        m(torch.rand(3, 2, 4))
    with pytest.raises(ShapeError, match=r"\[T, B, N\]"):
        AGMM(2)(torch.rand(2, 4))
    with pytest.raises(ValueError, match="per_step"):
        AGMM(2, causal=False, per_step=True)


def test_model_config_block_inserts_agmm_after_bn_of_binary_layers():
    cfg = ModelConfig(spec="4C3-8C3-AP2-8C3-16", in_shape=(1, 8, 8), steps=2, quantizer="sign",
                      full_precision=[0, -1], block="agmm", block_kwargs={"causal": False})
    body = list(build_network(cfg).body)
    where = [i for i, mod in enumerate(body) if isinstance(mod, AGMM)]
    assert len(where) == 3  # 8C3, 8C3, 16 (binary); not the first conv nor the output FC
    for i in where:
        assert isinstance(body[i - 1].module, nn.BatchNorm2d | nn.BatchNorm1d)
        assert isinstance(body[i + 1], IntegrateFireNeuron)
        assert not body[i].causal and body[i].steps == 2
