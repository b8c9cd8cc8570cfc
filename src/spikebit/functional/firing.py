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
    """``s = H(h - V)``; backward ``surrogate.derivative(h - V)``.

    The binary spike of the LIF neuron (ALBSNN, AGMM and the MFP-QSNN baselines).

    Args:
        threshold: firing threshold ``V`` (same unit as the potential ``h``).
        surrogate: the surrogate whose ``derivative`` replaces ``dH/dh`` in backward.
        max_output: largest output per step (1: binary spikes).
    """

    threshold: float = 1.0
    surrogate: Surrogate = field(default_factory=Rectangle)

    max_output: int = 1

    def fire(self, h: torch.Tensor) -> torch.Tensor:
        """Spikes ``H(h - V)`` (1 where ``h >= V``).

        Args:
            h: pre-reset membrane potential, any shape (e.g. ``[B, C, H, W]`` per step).

        Returns:
            0/1 spikes of the shape and dtype of ``h``.
        """
        return (h >= self.threshold).to(h.dtype)

    def grad(self, h: torch.Tensor) -> torch.Tensor:
        """Surrogate derivative ``ds/dh = surrogate'(h - V)``.

        Args:
            h: pre-reset membrane potential, any shape.

        Returns:
            The surrogate derivative, shape of ``h``.
        """
        return self.surrogate.derivative(h - self.threshold)

    def grad_threshold(self, h: torch.Tensor) -> torch.Tensor:
        """``ds/dV = -surrogate'(h - V)``.

    Args:
        h: pre-reset membrane potential, any shape.

    Returns:
        The threshold derivative, shape of ``h``.
    """
        return -self.grad(h)


@dataclass(frozen=True)
class StaircaseFiring:
    """``s = clamp(floor(h / V), 0, O_max)``: an integer spike count per step.

    Backward: the staircase surrogate ``curve`` (a function of ``h / V`` with one
    bump per level), scaled by ``1 / V`` by the chain rule. The multi-threshold LIF's
    graded output (multi-threshold LIF paper, eq. 4-5).

    Args:
        threshold: base threshold ``V`` (the step of the staircase, unit of ``h``).
        max_output: ``O_max``, the largest spike count per step.
        curve: the staircase surrogate, a function of ``h / V``.
    """

    threshold: float = 1.0
    max_output: int = 15
    curve: Surrogate = field(default_factory=Rectangle)

    def fire(self, h: torch.Tensor) -> torch.Tensor:
        """Spike counts ``clamp(floor(h / V), 0, O_max)``.

        Args:
            h: pre-reset membrane potential, any shape.

        Returns:
            Integer-valued counts in ``[0, O_max]``, shape and dtype of ``h``.
        """
        return torch.floor(h / self.threshold).clamp(0, self.max_output)

    def grad(self, h: torch.Tensor) -> torch.Tensor:
        """Surrogate derivative ``ds/dh = curve'(h / V) / V``.

        Args:
            h: pre-reset membrane potential, any shape.

        Returns:
            The surrogate derivative, shape of ``h``.
        """
        return self.curve.derivative(h / self.threshold) / self.threshold

    def grad_threshold(self, h: torch.Tensor) -> torch.Tensor:
        """``ds/dV = -curve'(h / V) * h / V^2 = -grad(h) * h / V``.

    Args:
        h: pre-reset membrane potential, any shape.

    Returns:
        The threshold derivative, shape of ``h``.
    """
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
    """Differentiable firing of a single step (used by the step APIs).

    Args:
        h: pre-reset membrane potential of one step, e.g. ``[B, C, H, W]``.
        firing: the firing function (:class:`BinaryFiring` or :class:`StaircaseFiring`).

    Returns:
        ``firing.fire(h)`` (shape of ``h``); backward multiplies by ``firing.grad(h)``.
    """
    return _Fire.apply(h, firing)


def fire_at(h: torch.Tensor, firing: Firing, threshold: torch.Tensor) -> torch.Tensor:
    """:func:`fire` of ``h`` through ``firing`` with a tensor ``threshold`` ``V``
    (broadcastable to ``h``) that receives a gradient too.

    Binary: ``H((h - V) - 0)``; staircase: ``floor((h / V) / 1)``, so autograd of the
    subtraction/division carries ``ds/dV`` (same values and surrogate as :func:`fire`).

    Args:
        h: pre-reset membrane potential of one step, e.g. ``[B, C, H, W]``.
        firing: the firing function; its own ``threshold`` is replaced.
        threshold: ``V`` as a tensor broadcastable to ``h`` (e.g. ``[]`` or ``[C, 1, 1]``).

    Returns:
        Spikes (binary) or counts (staircase), shape of ``h``.
    """
    if isinstance(firing, StaircaseFiring):
        return _Fire.apply(h / threshold, replace(firing, threshold=1.0))
    return _Fire.apply(h - threshold, replace(firing, threshold=0.0))
