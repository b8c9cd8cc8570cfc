"""Accuracy loss estimator (ALBSNN eq. 5-10): the criterion ``R`` per quantizable layer.

For layer ``l`` (1-based index ``x`` among the ``L`` quantizable layers, GAP conv
included) with latent weight ``W`` ``[c_out, c_in, k, k]`` (or ``[c_out, c_in]``) and
its binarized approximation ``W_eff = Q(W)`` (the layer's quantizer, e.g. ABC-Net
``sum_i alpha_i B_i``; computed whether or not the layer is binarized right now):

- eq. 5: ``w_loss = sum |W - W_eff|``
- eq. 6: ``A = w_loss / c_out``
- eq. 7: ``M = (theta_max - theta_1) / 2`` with ``theta_max`` = ``A`` of ``W`` reshaped
  to ``[1, c_out*c_in, k, k]`` and ``theta_1`` = ``A`` of ``[c_out*c_in, 1, k, k]``
  (:data:`THETA_METHODS`: ``"direct"`` quantizes the reshaped weights, ``"eq8"`` uses
  the paper's fast estimate ``w_loss / w_loss' = sqrt((c_out/c_out')^2 c_in/c_in')``)
- eq. 9: ``F(x) = eps (x - (L+1)/2)^2``, ``eps = 4 eta / (L-1)^2`` (``F(1) = F(L) = eta``)
- eq. 10: ``R = F / (A + M)`` for ``x <= (L+1)/2``, else ``log10(K) F / (A + M)``.

A large ``R`` means "keep this layer at full precision". All values are floats in
the weights' units (``w_loss``, ``A``, ``M``) or dimensionless (``F``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from spikebit.errors import ConfigError
from spikebit.quant import ABCQuantizer, UniformQuantizer, WeightQuantizer
from spikebit.registry import Registry

# Quantizers whose statistics (mean, std, alpha, scale) are taken over the whole
# tensor: W_eff does not depend on the tensor's shape, so the reshaped weights of
# eq. 7 have the same w_loss as W and need no extra quantization.
RESHAPE_INVARIANT: tuple[type[WeightQuantizer], ...] = (ABCQuantizer, UniformQuantizer)

Quantize = Callable[[torch.Tensor], torch.Tensor]
ThetaMethod = Callable[[torch.Tensor, WeightQuantizer, float], tuple[float, float]]
THETA_METHODS: Registry[ThetaMethod] = Registry("ALE theta method")


@dataclass(frozen=True)
class LayerError:
    """Eq. 5-7 for one layer: ``w_loss``, ``A``, ``theta_max``, ``theta_1`` and ``M``.

    ALBSNN eq. 5-7; all values in the weights' units.

    Args:
        w_loss: eq. 5, ``sum |W - Q(W)|``.
        A: eq. 6, ``w_loss / c_out``.
        theta_max: ``A`` of ``W`` reshaped to one output channel (eq. 7).
        theta_1: ``A`` of ``W`` reshaped to ``c_out * c_in`` output channels (eq. 7).
    """

    w_loss: float
    A: float
    theta_max: float
    theta_1: float

    @property
    def M(self) -> float:  # noqa: N802 - the paper's symbol
        """Eq. 7: ``M = (theta_max - theta_1) / 2`` (weights' units)."""
        return (self.theta_max - self.theta_1) / 2.0


def manhattan_error(w: torch.Tensor, quantizer: WeightQuantizer) -> float:
    """Eq. 5: ``w_loss = sum |W - Q(W)|`` (no gradient); ALBSNN eq. 5.

    Args:
        w: latent weight ``[c_out, c_in, k, k]`` or ``[c_out, c_in]`` (any shape works).
        quantizer: the binarizer ``Q`` (e.g. ABC-Net), applied to ``w`` as is.

    Returns:
        The Manhattan distance, in the weights' units.
    """
    with torch.no_grad():
        return float((w - quantizer(w)).abs().sum())


def _kernels(w: torch.Tensor) -> int:
    """Number of ``k x k`` kernels (``c_out * c_in``) of a conv or linear weight."""
    if w.ndim < 2:
        raise ConfigError(f"ALE needs a weight [c_out, c_in, ...], got shape {tuple(w.shape)}")
    return w.shape[0] * w.shape[1]


@THETA_METHODS.register("direct")
def theta_direct(w: torch.Tensor, quantizer: WeightQuantizer, w_loss: float) -> tuple[float, float]:
    """``theta_max``, ``theta_1`` by quantizing ``W`` reshaped to one and to ``c_out*c_in``
    output channels (eq. 7's definition). Shape-independent quantizers reuse ``w_loss``.

    Args:
        w: latent weight ``[c_out, c_in, k, k]`` or ``[c_out, c_in]``.
        quantizer: the layer's binarizer.
        w_loss: eq. 5's ``sum |W - Q(W)|`` of ``w``.

    Returns:
        ``(theta_max, theta_1)`` in the weights' units.

    Raises:
        ConfigError: ``w`` has fewer than 2 dimensions.
    """
    n = _kernels(w)
    rest = tuple(w.shape[2:])
    if isinstance(quantizer, RESHAPE_INVARIANT):
        one, many = w_loss, w_loss
    else:
        one = manhattan_error(w.reshape(1, n, *rest), quantizer)
        many = manhattan_error(w.reshape(n, 1, *rest), quantizer)
    return one / 1.0, many / n


@THETA_METHODS.register("eq8")
def theta_eq8(w: torch.Tensor, quantizer: WeightQuantizer, w_loss: float) -> tuple[float, float]:
    """Eq. 8's estimate: ``theta_max = w_loss / sqrt(c_out)``,
    ``theta_1 = w_loss / (c_out sqrt(c_in))`` (no extra quantization); ALBSNN eq. 8.

    Args:
        w: latent weight ``[c_out, c_in, ...]`` (only its first two sizes are read).
        quantizer: the layer's quantizer (unused by this estimate).
        w_loss: eq. 5's ``sum |W - Q(W)|`` of ``w``.

    Returns:
        ``(theta_max, theta_1)`` in the weights' units.
    """
    c_out, c_in = w.shape[0], w.shape[1]
    return w_loss / math.sqrt(c_out), w_loss / (c_out * math.sqrt(c_in))


def layer_error(
    w: torch.Tensor, quantizer: WeightQuantizer, theta: str = "direct"
) -> LayerError:
    """Eq. 5-7 for weight ``w`` binarized by ``quantizer`` (ALBSNN eq. 5-8).

    Args:
        w: latent weight ``[c_out, c_in, k, k]`` or ``[c_out, c_in]`` (detached).
        quantizer: the binarizer ``Q`` of the layer.
        theta: name in :data:`THETA_METHODS`: ``"direct"`` (eq. 7, quantizes the
            reshaped weights) or ``"eq8"`` (eq. 8's estimate).

    Returns:
        A new :class:`LayerError` (``w_loss``, ``A = w_loss / c_out``, ``theta_max``,
            ``theta_1``; ``M`` derived).

    Raises:
        RegistryError: unknown ``theta``.
        ConfigError: ``w`` has fewer than 2 dimensions (``"direct"``).
    """
    w = w.detach()
    w_loss = manhattan_error(w, quantizer)
    theta_max, theta_1 = THETA_METHODS.get(theta)(w, quantizer, w_loss)
    return LayerError(w_loss, w_loss / w.shape[0], theta_max, theta_1)


def parabola(x: int, num_layers: int, eta: float = 1.0) -> float:
    """Eq. 9: ``F(x) = eps (x - (L+1)/2)^2``, ``eps = 4 eta / (L-1)^2``, ``x`` 1-based.

    ALBSNN eq. 9: ``F(1) = F(L) = eta``, 0 in the middle.

    Args:
        x: 1-based layer index among the ``L`` quantizable layers.
        num_layers: ``L``, the number of quantizable layers.
        eta: the parabola's value at the first and last layer.

    Returns:
        ``F(x)`` (dimensionless).

    Raises:
        ConfigError: ``num_layers < 2``.
    """
    if num_layers < 2:
        raise ConfigError(f"ALE needs at least 2 quantizable layers, got {num_layers}")
    eps = 4.0 * eta / (num_layers - 1) ** 2
    return eps * (x - (num_layers + 1) / 2.0) ** 2


def criterion(f: float, error: LayerError, x: int, num_layers: int, num_classes: int) -> float:
    """Eq. 10: ``R = F/(A+M)``, times ``log10(K)`` in the back half (``x > (L+1)/2``).

    ``F = 0`` gives ``R = 0``; ``A + M = 0`` with ``F > 0`` gives ``inf``. ALBSNN eq. 10.

    Args:
        f: ``F(x)`` of eq. 9.
        error: the layer's :class:`LayerError` (``A`` and ``M``).
        x: 1-based layer index.
        num_layers: ``L``, the number of quantizable layers.
        num_classes: ``K``, the number of classes (``log10 K`` scales the back half).

    Returns:
        ``R`` (a large ``R``: keep the layer at full precision).
    """
    if f == 0.0:
        return 0.0
    scale = math.log10(num_classes) if x > (num_layers + 1) / 2.0 else 1.0
    denom = error.A + error.M
    return math.inf if denom == 0.0 else scale * f / denom


@dataclass(frozen=True)
class ALEScores:
    """Per-layer errors, parabola values ``F`` and criterion ``R`` (layer order).

    Args:
        errors: one :class:`LayerError` per quantizable layer (eq. 5-7).
        F: eq. 9's parabola per layer.
        R: eq. 10's criterion per layer.
    """

    errors: list[LayerError]
    F: list[float]
    R: list[float]

    def to_dict(self) -> dict[str, list[float]]:
        """JSON-able lists per layer: ``R``, ``F``, ``A``, ``M`` and ``w_loss``."""
        return {
            "R": self.R,
            "F": self.F,
            "A": [e.A for e in self.errors],
            "M": [e.M for e in self.errors],
            "w_loss": [e.w_loss for e in self.errors],
        }


def ale_scores(
    weights: Sequence[torch.Tensor],
    quantizers: Sequence[WeightQuantizer],
    num_classes: int,
    eta: float = 1.0,
    theta: str = "direct",
) -> ALEScores:
    """``R`` for every layer of a network, given its weights and quantizers in order.

    ALBSNN eq. 5-10 (the accuracy loss estimator, ALE).

    Args:
        weights: latent weights of the ``L`` quantizable layers, in network order
            (``[c_out, c_in, k, k]`` or ``[c_out, c_in]``).
        quantizers: the binarizer of each layer, same order.
        num_classes: ``K``, the number of classes.
        eta: the parabola's value at the ends (eq. 9).
        theta: name in :data:`THETA_METHODS` (``"direct"`` or ``"eq8"``).

    Returns:
        :class:`ALEScores` (errors, ``F`` and ``R`` per layer).

    Raises:
        ConfigError: ``weights`` and ``quantizers`` differ in length, ``num_classes < 2``,
            a single layer (eq. 9 needs L >= 2), or a weight with fewer than 2 dimensions.
        RegistryError: unknown ``theta``.
    """
    if len(weights) != len(quantizers):
        raise ConfigError(f"{len(weights)} weights but {len(quantizers)} quantizers")
    if num_classes < 2:
        raise ConfigError(f"ALE needs num_classes >= 2 (log10 K), got {num_classes}")
    n = len(weights)
    errors = [layer_error(w, q, theta) for w, q in zip(weights, quantizers)]
    f = [parabola(x, n, eta) for x in range(1, n + 1)]
    r = [criterion(f[i], errors[i], i + 1, n, num_classes) for i in range(n)]
    return ALEScores(errors, f, r)
