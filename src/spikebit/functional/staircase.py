"""Staircase surrogates for the multi-threshold LIF (one bump per level).

The multi-threshold neuron outputs ``o = clamp(floor(x), 0, O_max)`` of the
normalized potential ``x = h / V``; its true derivative is a Dirac comb at
``x = 1 .. O_max``. The paper's three curve formulas were lost in extraction;
ours (documented in ``docs/methods/multithreshold.md``) are, with height ``a``
and width ``b`` (a variance), both in units of the normalized potential ``x``::

    curve 1 "mt-sum":   g1(x) = a * sum_k exp(-(x - k)^2 / b)   # may exceed a
    curve 2 "mt-gauss": g2(x) = a * exp(-d(x)^2 / b)            # bounded by a
    curve 3 "mt-cauchy":g3(x) = a / (1 + d(x)^2 / b)            # bounded by a

where ``d(x)`` is the distance from ``x`` to the nearest level ``k`` in
``1 .. O_max``. Integrals over one level ``[k - 1/2, k + 1/2]`` (one bump alone):
curve 2 ``a sqrt(pi b) erf(1 / (2 sqrt(b)))``, curve 3 ``2 a sqrt(b) atan(1 / (2 sqrt(b)))``;
each bump of curve 1 integrates to ``a sqrt(pi b)`` over the real line.
The paper states ``a`` and ``b`` for a potential in mV with ``V = 10 mV``;
``spikebit.methods.multithreshold.params`` translates them (``a -> 10 a``,
``b -> b / 100``). Any plain surrogate name (``rectangle`` ...) is also accepted
and becomes a sum of its bumps, one per level.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from spikebit.functional.surrogate import SURROGATES, Rectangle, Surrogate, get_surrogate
from spikebit.registry import Registry

STAIRCASES: Registry[type[StaircaseCurve]] = Registry("staircase surrogate")


@dataclass(frozen=True)
class StaircaseCurve(Surrogate):
    """Base: ``width`` is ``b``, ``height`` is ``a``, ``levels`` is ``O_max``."""

    height: float = 1.0
    levels: int = 15

    def _distance_to_level(self, x: torch.Tensor) -> torch.Tensor:
        nearest = torch.round(x).clamp(1, self.levels)
        return x - nearest


@STAIRCASES.register("mt-sum")
@dataclass(frozen=True)
class SumOfGaussians(StaircaseCurve):
    """Curve 1: unnormalized Gaussian bumps summed over levels (can exceed ``a``)."""

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        # One level at a time: peak memory stays at a few tensors of x's size.
        out = torch.zeros_like(x)
        for k in range(1, self.levels + 1):
            out += torch.exp((x - k).square_().mul_(-1.0 / self.width))
        return out.mul_(self.height)

    def primitive(self, x: torch.Tensor) -> torch.Tensor:
        levels = torch.arange(1, self.levels + 1, dtype=x.dtype, device=x.device)
        s = self.width**0.5
        d = (x.unsqueeze(-1) - levels) / s
        half_sqrt_pi = 0.886226925452758
        return (self.height * s * half_sqrt_pi * (1 + torch.erf(d))).sum(-1)


@STAIRCASES.register("mt-gauss")
@dataclass(frozen=True)
class NearestGaussian(StaircaseCurve):
    """Curve 2: a Gaussian around the nearest level, bounded by ``a``."""

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        d = self._distance_to_level(x)
        return torch.exp(d.square_().mul_(-1.0 / self.width)).mul_(self.height)


@STAIRCASES.register("mt-cauchy")
@dataclass(frozen=True)
class NearestCauchy(StaircaseCurve):
    """Curve 3: a Cauchy (Lorentzian) bump around the nearest level, bounded by ``a``."""

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        d = self._distance_to_level(x)
        return d.square_().mul_(1.0 / self.width).add_(1.0).reciprocal_().mul_(self.height)


@dataclass(frozen=True)
class SummedBumps(StaircaseCurve):
    """A plain surrogate repeated at every level: ``sum_k base(x - k)`` (times ``a``)."""

    base: Surrogate = Surrogate()

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        if isinstance(self.base, Rectangle):
            return self._rectangles(x)
        # One level at a time: peak memory stays at a few tensors of x's size.
        out = torch.zeros_like(x)
        for k in range(1, self.levels + 1):
            out += self.base.derivative(x - k)
        return out.mul_(self.height)

    def _rectangles(self, x: torch.Tensor) -> torch.Tensor:
        # sum_k 1(|x - k| < w/2) / w = (number of integers k in (x - w/2, x + w/2)
        # and in [1, O_max]) / w: a few passes instead of O_max.
        half = self.base.width / 2
        top = torch.ceil(x + half).sub_(1).clamp_(max=self.levels)
        bottom = torch.floor(x - half).add_(1).clamp_(min=1)
        count = top.sub_(bottom).add_(1).clamp_(min=0)
        return count.mul_(self.height / self.base.width)

    def primitive(self, x: torch.Tensor) -> torch.Tensor:
        levels = torch.arange(1, self.levels + 1, dtype=x.dtype, device=x.device)
        return self.height * self.base.primitive(x.unsqueeze(-1) - levels).sum(-1)


def get_staircase(
    name: str | Surrogate, levels: int, height: float = 1.0, width: float = 1.0
) -> Surrogate:
    """A staircase surrogate by name (``mt-*`` curves or any plain surrogate name)."""
    if isinstance(name, Surrogate):
        return name
    if name in SURROGATES:
        base = get_surrogate(name, width)
        return SummedBumps(width=width, height=height, levels=levels, base=base)
    return STAIRCASES.get(name)(width=width, height=height, levels=levels)
