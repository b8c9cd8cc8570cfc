"""Firing functions: membrane potential -> spike output, with surrogate gradient.

A firing function maps the pre-reset potential ``h`` to an output ``s`` and
gives the surrogate derivatives ``ds/dh`` (``grad``) and ``ds/dV`` (``grad_threshold``,
for learnable thresholds); ``threshold`` may be a tensor broadcastable to ``h``.
``BinaryFiring`` is the Heaviside ``H(h - V)``; ``StaircaseFiring`` is the multi-threshold count
``min(floor(h / V), O_max)`` for ``h >= V`` (0 below).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch

from spikebit.functional.surrogate import Rectangle, Surrogate


@dataclass(frozen=True)
class BinaryFiring:
    """``s = H(h - V)``; backward ``surrogate.derivative(h - V)``."""

    threshold: float = 1.0
    surrogate: Surrogate = field(default_factory=Rectangle)

    max_output: int = 1

    def fire(self, h: torch.Tensor) -> torch.Tensor:
        return (h >= self.threshold).to(h.dtype)

    def grad(self, h: torch.Tensor) -> torch.Tensor:
        return self.surrogate.derivative(h - self.threshold)

    def grad_threshold(self, h: torch.Tensor) -> torch.Tensor:
        """``ds/dV = -surrogate'(h - V)``."""
        return -self.grad(h)


@dataclass(frozen=True)
class StaircaseFiring:
    """``s = clamp(floor(h / V), 0, O_max)``: an integer spike count per step.

    Backward: the staircase surrogate ``curve`` (a function of ``h / V`` with one
    bump per level), scaled by ``1 / V`` by the chain rule.
    """

    threshold: float = 1.0
    max_output: int = 15
    curve: Surrogate = field(default_factory=Rectangle)

    def fire(self, h: torch.Tensor) -> torch.Tensor:
        return torch.floor(h / self.threshold).clamp(0, self.max_output)

    def grad(self, h: torch.Tensor) -> torch.Tensor:
        return self.curve.derivative(h / self.threshold) / self.threshold

    def grad_threshold(self, h: torch.Tensor) -> torch.Tensor:
        """``ds/dV = -curve'(h / V) * h / V^2 = -grad(h) * h / V``."""
        return -self.grad(h) * h / self.threshold


Firing = BinaryFiring | StaircaseFiring


class _Fire(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h: torch.Tensor, firing: Firing) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(h)
        ctx.firing = firing
        return firing.fire(h)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        (h,) = ctx.saved_tensors
        return grad * ctx.firing.grad(h), None


def fire(h: torch.Tensor, firing: Firing) -> torch.Tensor:
    """Differentiable firing of a single step (used by the step APIs)."""
    return _Fire.apply(h, firing)


def fire_at(h: torch.Tensor, firing: Firing, threshold: torch.Tensor) -> torch.Tensor:
    """:func:`fire` of ``h`` through ``firing`` with a tensor ``threshold`` ``V``
    (broadcastable to ``h``) that receives a gradient too.

    Binary: ``H((h - V) - 0)``; staircase: ``floor((h / V) / 1)``, so autograd of the
    subtraction/division carries ``ds/dV`` (same values and surrogate as :func:`fire`).
    """
    if isinstance(firing, StaircaseFiring):
        return _Fire.apply(h / threshold, replace(firing, threshold=1.0))
    return _Fire.apply(h - threshold, replace(firing, threshold=0.0))
