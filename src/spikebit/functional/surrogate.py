"""Surrogate spike functions: exact Heaviside forward, smooth-derivative backward.

Each surrogate is a small frozen dataclass with
``derivative(x)`` (the backward shape, ``x = u - V``) and ``primitive(x)``
(the smooth function whose derivative it is, used by the gradient tests).
``spike(x, surrogate)`` is the differentiable Heaviside ``H(x)``.

Numerics: every formula is evaluated in a form without cancellation, so that it is
accurate to the rounding of the working dtype over the whole range and exactly symmetric
where the formula is (e.g. the sigmoid derivative uses ``exp(-|kx|)``, never
``s * (1 - s)``, which is 0 in float32 from ``kx ~ 17`` above the threshold while the
mirror point below is ~4e-8 k). Half-precision inputs (float16, bfloat16) are computed in
float32 and the result cast back: :class:`Surrogate` wraps the ``derivative`` and
``primitive`` of every subclass (:func:`upcast_half`), so plug-in surrogates get this too.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from spikebit.registry import Registry

SURROGATES: Registry[type[Surrogate]] = Registry("surrogate")


HALF_DTYPES = (torch.float16, torch.bfloat16)


def upcast_half(fn: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    """Wrap ``fn(self, x)``: float16/bfloat16 ``x`` is computed in float32, cast back.

    Args:
        fn: a ``derivative`` or ``primitive`` method (wrapped once; a wrapped one is
            returned as is).

    Returns:
        The wrapped method.
    """
    if getattr(fn, "_upcasts_half", False):
        return fn

    @functools.wraps(fn)
    def wrapper(self: object, x: torch.Tensor) -> torch.Tensor:
        if x.dtype in HALF_DTYPES:
            return fn(self, x.float()).to(x.dtype)
        return fn(self, x)

    wrapper._upcasts_half = True  # type: ignore[attr-defined]
    return wrapper


def logistic_density(y: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """``scale * sigmoid'(y) = scale * e / (1 + e)^2`` with ``e = exp(-|y|)``, any shape.

    Stable on both sides of 0 and exactly even (``sigmoid(y) * (1 - sigmoid(y))`` is 0 in
    float32 from ``y ~ 17``, where the mirror point is ~4e-8). ``scale * e`` is evaluated
    as ``exp(log(scale) - |y|)`` so it does not underflow before the result does.
    Half-precision ``y`` is computed in float32 and cast back.

    Args:
        y: any tensor.
        scale: a positive factor (``scale > 0``).

    Returns:
        The density, same shape and dtype as ``y``.
    """
    if y.dtype in HALF_DTYPES:
        return logistic_density(y.float(), scale).to(y.dtype)
    scaled = torch.exp(y.abs().neg_().add_(math.log(scale)))
    return scaled.div(scaled.div(scale).add_(1.0).square_())


def sech2(y: torch.Tensor) -> torch.Tensor:
    """``1 - tanh(y)^2 = sech(y)^2 = 4 sigmoid'(2y)``, without the cancellation of
    ``1 - tanh^2`` (0 in float32 from ``|y| ~ 9``; the true value there is ~6e-8).

    Args:
        y: any tensor.

    Returns:
        ``sech(y)^2``, same shape and dtype as ``y``.
    """
    return logistic_density(2.0 * y, scale=4.0)


@dataclass(frozen=True)
class Surrogate:
    """Base class of the surrogate spike functions.

    Subclasses define ``derivative(x)`` and ``primitive(x)`` (``x = u - V``, any shape);
    both are wrapped by :func:`upcast_half` when the subclass is created.

    Args:
        width: support/steepness of the shape, in units of the potential ``x`` (each
            subclass states how it enters its formula).
    """

    width: float = 1.0

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        for name in ("derivative", "primitive"):
            if name in cls.__dict__:
                setattr(cls, name, upcast_half(cls.__dict__[name]))

    def derivative(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """The surrogate ``dH/dx`` used in backward (defined by each subclass).

        Args:
            x: ``u - V``, the membrane potential minus the threshold, any shape (same unit as
                the potential).

        Returns:
            The derivative at ``x``, same shape and dtype as ``x``.

        Raises:
            NotImplementedError: on the base class itself.
        """
        raise NotImplementedError("subclasses define the surrogate derivative")

    def primitive(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """The smooth step whose derivative is :meth:`derivative` (0 far below, 1 far above).

        Args:
            x: ``u - V``, the membrane potential minus the threshold, any shape (same unit as
                the potential).

        Returns:
            The primitive at ``x``, same shape and dtype as ``x``.

        Raises:
            NotImplementedError: on the base class itself.
        """
        raise NotImplementedError("subclasses define the smooth primitive")


@SURROGATES.register("rectangle")
@dataclass(frozen=True)
class Rectangle(Surrogate):
    """``h(x) = 1/a * 1(|x| < a/2)`` (ALBSNN eq. 15).

    Args:
        width: ``a``, the support of the rectangle, in units of the potential ``x = u - V``.
    """

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        """``1/a`` where ``|x| < a/2``, else 0 (ALBSNN eq. 15, ``a = width``).

        Args:
            x: ``u - V``, the membrane potential minus the threshold, any shape (same unit as
                the potential).

        Returns:
            The derivative at ``x``, same shape and dtype as ``x``.
        """
        a = self.width
        return (x.abs() < a / 2).to(x.dtype) / a

    def primitive(self, x: torch.Tensor) -> torch.Tensor:
        """``clamp((x + a/2) / a, 0, 1)``, the ramp whose derivative is the rectangle.

        Args:
            x: ``u - V``, the membrane potential minus the threshold, any shape (same unit as
                the potential).

        Returns:
            The primitive at ``x`` in ``[0, 1]``, same shape and dtype as ``x``.
        """
        a = self.width
        # (x + a/2) / a, not x/a + 1/2: the latter cancels near the lower edge x = -a/2
        return ((x + a / 2) / a).clamp(0.0, 1.0)


@SURROGATES.register("triangle")
@dataclass(frozen=True)
class Triangle(Surrogate):
    """``h(x) = max(0, g - |x|) / g^2`` (AGMM family).

    Args:
        width: ``g``, the half-support of the triangle, in units of the potential.
    """

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        """``max(0, g - |x|) / g^2`` (``g = width``; the peak ``1/g`` is at ``x = 0``).

        Args:
            x: ``u - V``, the membrane potential minus the threshold, any shape (same unit as
                the potential).

        Returns:
            The derivative at ``x``, same shape and dtype as ``x``.
        """
        g = self.width
        return (g - x.abs()).clamp(min=0.0) / (g * g)

    def primitive(self, x: torch.Tensor) -> torch.Tensor:
        """The piecewise-quadratic ramp from 0 at ``x = -g`` to 1 at ``x = g``.

        Args:
            x: ``u - V``, the membrane potential minus the threshold, any shape (same unit as
                the potential).

        Returns:
            The primitive at ``x`` in ``[0, 1]``, same shape and dtype as ``x``.
        """
        g = self.width
        xc = x.clamp(-g, g)
        left = 0.5 * (xc + g) ** 2 / (g * g)
        right = 1.0 - 0.5 * (g - xc) ** 2 / (g * g)
        return torch.where(xc < 0, left, right)


@SURROGATES.register("sigmoid")
@dataclass(frozen=True)
class Sigmoid(Surrogate):
    """Derivative of ``sigmoid(k x)`` with ``k = 4 / width`` (peak 1/width).

    Computed as ``k e / (1 + e)^2`` with ``e = exp(-|k x|)``: a function of ``|x|`` (exactly
    symmetric) with no cancellation (``k s (1 - s)`` loses all digits above the threshold).
    The numerator ``k e`` is evaluated as ``exp(log k - |k x|)``, so it does not underflow
    before the result does. The primitive is ``e / (1 + e)`` below the threshold and
    ``1 / (1 + e)`` above (``torch.sigmoid`` flushes to 0 from ``k x ~ -88`` in float32).

    Args:
        width: ``4 / k``, in units of the potential; the derivative peaks at ``1 / width``.
    """

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        """``k sigmoid'(k x)`` with ``k = 4 / width``, evaluated without cancellation.

        Args:
            x: ``u - V``, the membrane potential minus the threshold, any shape (same unit as
                the potential).

        Returns:
            The derivative at ``x`` (peak ``1/width``), same shape and dtype as ``x``.
        """
        k = 4.0 / self.width
        return logistic_density(k * x, scale=k)

    def primitive(self, x: torch.Tensor) -> torch.Tensor:
        """``sigmoid(k x)`` with ``k = 4 / width``, accurate in both tails.

        Args:
            x: ``u - V``, the membrane potential minus the threshold, any shape (same unit as
                the potential).

        Returns:
            The primitive at ``x`` in ``[0, 1]``, same shape and dtype as ``x``.
        """
        y = 4.0 / self.width * x
        e = torch.exp(-y.abs())
        return torch.where(y < 0, e, torch.ones_like(e)).div_(e.add_(1.0))


@SURROGATES.register("atan")
@dataclass(frozen=True)
class ArcTan(Surrogate):
    """Derivative of ``atan(pi/2 * k x)/pi + 1/2`` with ``k = 2 / width`` (peak 1/width).

    The ATan surrogate of SpikingJelly (Fang et al. 2021).

    Args:
        width: ``2 / k``, in units of the potential; the derivative peaks at ``1 / width``.
    """

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        """``(k/2) / (1 + (pi/2 k x)^2)`` with ``k = 2 / width``.

        Args:
            x: ``u - V``, the membrane potential minus the threshold, any shape (same unit as
                the potential).

        Returns:
            The derivative at ``x`` (peak ``1/width``), same shape and dtype as ``x``.
        """
        k = 2.0 / self.width
        return (k / 2.0) / (1.0 + (math.pi / 2.0 * k * x) ** 2)

    def primitive(self, x: torch.Tensor) -> torch.Tensor:
        """``atan(pi/2 k x) / pi + 1/2`` with ``k = 2 / width``, via ``atan2``.

        Args:
            x: ``u - V``, the membrane potential minus the threshold, any shape (same unit as
                the potential).

        Returns:
            The primitive at ``x`` in ``[0, 1]``, same shape and dtype as ``x``.
        """
        # atan(y)/pi + 1/2 = atan2(1, -y)/pi, which keeps its digits as y -> -inf (the sum
        # cancels there)
        k = 2.0 / self.width
        y = math.pi / 2.0 * k * x
        return torch.atan2(torch.ones_like(y), -y) / math.pi


def get_surrogate(name: str | Surrogate, width: float = 1.0) -> Surrogate:
    """A surrogate instance from its registered name (or pass one through).

    Args:
        name: a name registered in ``SURROGATES`` (``"rectangle"``, ``"triangle"``,
            ``"sigmoid"``, ``"atan"``, plug-ins) or a :class:`Surrogate` instance, returned
            as is.
        width: the shape's width, in units of the potential ``x = u - V`` (ignored when
            ``name`` is an instance).

    Returns:
        The surrogate, ``SURROGATES[name](width=width)``.

    Raises:
        RegistryError: ``name`` is not registered (the message lists the known names).
    """
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
    """Heaviside ``H(x) = 1[x >= 0]`` with the surrogate's derivative in backward.

    Args:
        x: ``u - V``, the potential minus the threshold, any shape (e.g. ``[B, C, H, W]``
            at one time step).
        surrogate: the surrogate whose ``derivative(x)`` is the backward's ``dH/dx``.

    Returns:
        Spikes in ``{0, 1}``, same shape and dtype as ``x``.
    """
    return _Spike.apply(x, surrogate)
