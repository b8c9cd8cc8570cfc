"""Surrogate spike functions: exact Heaviside forward, smooth-derivative backward.

Each surrogate is a small frozen dataclass with
``derivative(x)`` (the backward shape, ``x = u - V``) and ``primitive(x)``
(the smooth function whose derivative it is, used by the gradient tests).
``spike(x, surrogate)`` is the differentiable Heaviside ``H(x)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from spikebit.registry import Registry

SURROGATES: Registry[type[Surrogate]] = Registry("surrogate")


@dataclass(frozen=True)
class Surrogate:
    """Base class. ``width`` is the support/steepness parameter of the shape."""

    width: float = 1.0

    def derivative(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError("subclasses define the surrogate derivative")

    def primitive(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError("subclasses define the smooth primitive")


@SURROGATES.register("rectangle")
@dataclass(frozen=True)
class Rectangle(Surrogate):
    """``h(x) = 1/a * 1(|x| < a/2)`` (ALBSNN eq. 15, ``a = width``)."""

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        a = self.width
        return (x.abs() < a / 2).to(x.dtype) / a

    def primitive(self, x: torch.Tensor) -> torch.Tensor:
        a = self.width
        return (x / a + 0.5).clamp(0.0, 1.0)


@SURROGATES.register("triangle")
@dataclass(frozen=True)
class Triangle(Surrogate):
    """``h(x) = max(0, g - |x|) / g^2`` (AGMM family, ``g = width``)."""

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        g = self.width
        return (g - x.abs()).clamp(min=0.0) / (g * g)

    def primitive(self, x: torch.Tensor) -> torch.Tensor:
        g = self.width
        xc = x.clamp(-g, g)
        left = 0.5 * (xc + g) ** 2 / (g * g)
        right = 1.0 - 0.5 * (g - xc) ** 2 / (g * g)
        return torch.where(xc < 0, left, right)


@SURROGATES.register("sigmoid")
@dataclass(frozen=True)
class Sigmoid(Surrogate):
    """Derivative of ``sigmoid(k x)`` with ``k = 4 / width`` (peak 1/width)."""

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        k = 4.0 / self.width
        s = torch.sigmoid(k * x)
        return k * s * (1.0 - s)

    def primitive(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(4.0 / self.width * x)


@SURROGATES.register("atan")
@dataclass(frozen=True)
class ArcTan(Surrogate):
    """Derivative of ``atan(pi/2 * k x)/pi + 1/2`` with ``k = 2 / width`` (peak 1/width)."""

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        k = 2.0 / self.width
        return (k / 2.0) / (1.0 + (math.pi / 2.0 * k * x) ** 2)

    def primitive(self, x: torch.Tensor) -> torch.Tensor:
        k = 2.0 / self.width
        return torch.atan(math.pi / 2.0 * k * x) / math.pi + 0.5


def get_surrogate(name: str | Surrogate, width: float = 1.0) -> Surrogate:
    """Return a surrogate instance from its registered name (or pass one through)."""
    if isinstance(name, Surrogate):
        return name
    return SURROGATES.get(name)(width=width)


class _Spike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, surrogate: Surrogate) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.surrogate = surrogate
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad * ctx.surrogate.derivative(x), None


def spike(x: torch.Tensor, surrogate: Surrogate) -> torch.Tensor:
    """Heaviside ``H(x) = 1[x >= 0]`` with the surrogate's derivative in backward."""
    return _Spike.apply(x, surrogate)
