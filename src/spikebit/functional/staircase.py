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

Numerics (as for :mod:`spikebit.functional.surrogate`): half-precision inputs are
computed in float32; sums over levels add the bumps of levels ``k`` and ``O_max + 1 - k``
first (pairs from the outside in), so that curves symmetric about the middle of the
staircase are exactly symmetric in floating point too; primitives use ``erfc`` where
``1 + erf`` would cancel.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from spikebit.functional.surrogate import SURROGATES, Rectangle, Surrogate, get_surrogate
from spikebit.registry import Registry

STAIRCASES: Registry[type[StaircaseCurve]] = Registry("staircase surrogate")


def sum_over_levels(
    bump: Callable[[torch.Tensor, int], torch.Tensor], x: torch.Tensor, levels: int
) -> torch.Tensor:
    """``sum_{k=1..levels} bump(x, k)``, mirror-symmetric in floating point.

    Levels ``k`` and ``levels + 1 - k`` are added first (``a + b == b + a`` exactly), then
    the pairs from the outside in, so a sum symmetric about ``(levels + 1) / 2`` in exact
    arithmetic is also symmetric when rounded. One pair at a time: peak memory stays at a
    few tensors of ``x``'s size.

    Args:
        bump: ``bump(x, k)``, the curve of level ``k``, same shape as ``x``.
        x: the normalized potential ``h / V``, any shape.
        levels: ``O_max``, the number of levels.

    Returns:
        The sum, same shape as ``x``.
    """
    out = torch.zeros_like(x)
    for k in range(1, levels // 2 + 1):
        out += bump(x, k) + bump(x, levels + 1 - k)
    if levels % 2:
        out += bump(x, (levels + 1) // 2)
    return out


@dataclass(frozen=True)
class StaircaseCurve(Surrogate):
    """Base of the staircase surrogates of the multi-threshold LIF.

    Args:
        width: ``b``, the bump's width (a variance for the ``mt-*`` curves), in units of the
            normalized potential ``x = h / V``.
        height: ``a``, the bump height.
        levels: ``O_max``, the number of levels (most spikes per step).
    """

    height: float = 1.0
    levels: int = 15

    def _distance_to_level(self, x: torch.Tensor) -> torch.Tensor:
        nearest = torch.round(x).clamp(1, self.levels)
        return x - nearest


@STAIRCASES.register("mt-sum")
@dataclass(frozen=True)
class SumOfGaussians(StaircaseCurve):
    """Curve 1: unnormalized Gaussian bumps summed over levels (can exceed ``a``).

    ``g1(x) = a * sum_{k=1..O_max} exp(-(x - k)^2 / b)`` (multi-threshold LIF paper,
    section 2.2.2, curve 1; formula as reconstructed in ``docs/methods/multithreshold.md``).

    Args:
        width: ``b``, the bump's variance, in units of the normalized potential ``x`` squared.
        height: ``a``, the bump's height (per unit of ``x``).
        levels: ``O_max``, the number of levels (most spikes per step), levels ``1 .. O_max``.
    """

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        """``g1(x) = a * sum_k exp(-(x - k)^2 / b)``, summed mirror-symmetrically.

        Args:
            x: ``h / V``, the normalized membrane potential, any shape.

        Returns:
            The surrogate ``do/dx`` at ``x``, same shape and dtype as ``x``.
        """
        def bump(x: torch.Tensor, k: int) -> torch.Tensor:
            return torch.exp((x - k).square_().mul_(-1.0 / self.width))

        return sum_over_levels(bump, x, self.levels).mul_(self.height)

    def primitive(self, x: torch.Tensor) -> torch.Tensor:
        """``a * sum_k sqrt(pi b)/2 * erfc(-(x - k) / sqrt(b))``, the integral of ``g1``.

        Args:
            x: ``h / V``, the normalized membrane potential, any shape.

        Returns:
            The primitive at ``x`` (0 far below level 1), same shape and dtype as ``x``
            (peak memory ``O_max`` times that of ``x``).
        """
        levels = torch.arange(1, self.levels + 1, dtype=x.dtype, device=x.device)
        s = self.width**0.5
        d = (x.unsqueeze(-1) - levels) / s
        half_sqrt_pi = 0.886226925452758
        # 1 + erf(d) = erfc(-d), without the cancellation as d -> -inf
        return (self.height * s * half_sqrt_pi * torch.erfc(-d)).sum(-1)


@STAIRCASES.register("mt-gauss")
@dataclass(frozen=True)
class NearestGaussian(StaircaseCurve):
    """Curve 2: a Gaussian around the nearest level, bounded by ``a``.

    ``g2(x) = a * exp(-d(x)^2 / b)``, ``d(x)`` the distance to the nearest level in
    ``1 .. O_max`` (multi-threshold LIF paper, section 2.2.2, curve 2, the paper's choice;
    formula as reconstructed in ``docs/methods/multithreshold.md``).

    Args:
        width: ``b``, the bump's variance, in units of the normalized potential ``x`` squared.
        height: ``a``, the bump's height (per unit of ``x``).
        levels: ``O_max``, the number of levels (most spikes per step), levels ``1 .. O_max``.
    """

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        """``g2(x) = a * exp(-d(x)^2 / b)``, ``d`` the distance to the nearest level.

        Args:
            x: ``h / V``, the normalized membrane potential, any shape.

        Returns:
            The surrogate ``do/dx`` at ``x``, same shape and dtype as ``x``.
        """
        d = self._distance_to_level(x)
        return torch.exp(d.square_().mul_(-1.0 / self.width)).mul_(self.height)


@STAIRCASES.register("mt-cauchy")
@dataclass(frozen=True)
class NearestCauchy(StaircaseCurve):
    """Curve 3: a Cauchy (Lorentzian) bump around the nearest level, bounded by ``a``.

    ``g3(x) = a / (1 + d(x)^2 / b)``, ``d(x)`` the distance to the nearest level in
    ``1 .. O_max`` (multi-threshold LIF paper, section 2.2.2, curve 3; formula as
    reconstructed in ``docs/methods/multithreshold.md``).

    Args:
        width: ``b``, the bump's variance, in units of the normalized potential ``x`` squared.
        height: ``a``, the bump's height (per unit of ``x``).
        levels: ``O_max``, the number of levels (most spikes per step), levels ``1 .. O_max``.
    """

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        """``g3(x) = a / (1 + d(x)^2 / b)``, ``d`` the distance to the nearest level.

        Args:
            x: ``h / V``, the normalized membrane potential, any shape.

        Returns:
            The surrogate ``do/dx`` at ``x``, same shape and dtype as ``x``.
        """
        d = self._distance_to_level(x)
        return d.square_().mul_(1.0 / self.width).add_(1.0).reciprocal_().mul_(self.height)


@dataclass(frozen=True)
class SummedBumps(StaircaseCurve):
    """A plain surrogate repeated at every level: ``a * sum_{k=1..O_max} base(x - k)``.

    Args:
        width: the base surrogate's width (kept for the record; ``base`` carries its own).
        height: ``a``, the factor applied to the sum.
        levels: ``O_max``, the number of levels, bumps at ``x = 1 .. O_max``.
        base: the plain :class:`~spikebit.functional.surrogate.Surrogate` repeated at each
            level (a :class:`~spikebit.functional.surrogate.Rectangle` is counted in a few
            passes instead of ``O_max``).
    """

    base: Surrogate = Surrogate()

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        """``a * sum_k base.derivative(x - k)`` over levels ``k = 1 .. O_max``.

        Args:
            x: ``h / V``, the normalized membrane potential, any shape.

        Returns:
            The surrogate ``do/dx`` at ``x``, same shape and dtype as ``x``.
        """
        if isinstance(self.base, Rectangle):
            return self._rectangles(x)
        def bump(x: torch.Tensor, k: int) -> torch.Tensor:
            return self.base.derivative(x - k)

        return sum_over_levels(bump, x, self.levels).mul_(self.height)

    def _rectangles(self, x: torch.Tensor) -> torch.Tensor:
        # sum_k 1(|x - k| < w/2) / w = (number of levels k in [1, O_max] with |x - k| < w/2)
        # / w, counted over the few integers k = round(x) + j that can be that close (a few
        # passes instead of O_max). The test is on the rounded distance |x - k| itself, which
        # is mirror-symmetric (x + w/2 rounds differently from its mirror image).
        half = self.base.width / 2
        reach = math.ceil(half + 0.5)
        if 2 * reach + 1 >= self.levels:
            def bump(x: torch.Tensor, k: int) -> torch.Tensor:
                return ((x - k).abs_() < half).to(x.dtype)

            count = sum_over_levels(bump, x, self.levels)
        else:
            nearest = torch.round(x)
            count = torch.zeros_like(x)
            for j in range(-reach, reach + 1):
                k = nearest + j
                count += ((x - k).abs_() < half) & (k >= 1) & (k <= self.levels)
        return count.mul_(self.height / self.base.width)

    def primitive(self, x: torch.Tensor) -> torch.Tensor:
        """``a * sum_k base.primitive(x - k)`` over levels ``k = 1 .. O_max``.

        Args:
            x: ``h / V``, the normalized membrane potential, any shape.

        Returns:
            The primitive at ``x`` (0 far below level 1), same shape and dtype as ``x``
            (peak memory ``O_max`` times that of ``x``).
        """
        levels = torch.arange(1, self.levels + 1, dtype=x.dtype, device=x.device)
        return self.height * self.base.primitive(x.unsqueeze(-1) - levels).sum(-1)


def get_staircase(
    name: str | Surrogate, levels: int, height: float = 1.0, width: float = 1.0
) -> Surrogate:
    """A staircase surrogate by name (``mt-*`` curves or any plain surrogate name).

    Args:
        name: ``"mt-sum"``, ``"mt-gauss"``, ``"mt-cauchy"`` (``STAIRCASES``), any name in
            ``SURROGATES`` (repeated at every level as :class:`SummedBumps`), or a
            :class:`~spikebit.functional.surrogate.Surrogate` instance, returned as is.
        levels: ``O_max``, the number of levels (most spikes per step).
        height: ``a``, the bump height.
        width: ``b`` for the ``mt-*`` curves (a variance, in units of the normalized
            potential squared); the plain surrogate's width otherwise.

    Returns:
        The staircase surrogate (its ``derivative(x)`` takes ``x = h / V``).

    Raises:
        RegistryError: ``name`` is neither a staircase nor a surrogate name.
    """
    if isinstance(name, Surrogate):
        return name
    if name in SURROGATES:
        base = get_surrogate(name, width)
        return SummedBumps(width=width, height=height, levels=levels, base=base)
    return STAIRCASES.get(name)(width=width, height=height, levels=levels)
