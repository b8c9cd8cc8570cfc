"""Binary weight optimization (ALBSNN §3.5): the update rule and the readings it allows.

§3.5 (quoted and discussed in ``docs/methods/albsnn.md``) leaves several choices open.
Those of one application are fields of :class:`BWOSettings`; which gradient, when and
how often are arguments of the ``albsnn-bwo`` callback (:mod:`.bwo_callback`).

For a binarized layer with latent weight ``W`` ``[c_out, ...]``, its ABC decomposition
``W_eff = sum_i alpha_i B_i`` (``B`` ``[k, ...]`` of ±1, ``alpha`` ``[k]``), the gradient
``g = dL/dW`` (the STE gradient, equal to ``dL/dW_eff``) and the adjustment ``d``
(``lr * g`` unless given: "its product with the learning rate lr is the adjustment on a
single weight"):

1. contributions ``c_i = alpha_i B_i``;
2. the base (``base``): ``"closest"``, ``i* = argmin_i |c_i - d|`` over all ``k`` bases
   ("BW_i x alpha_i is the closest to the adjustment (L x lr)"); ``"closest-descent"``,
   the closest among the bases whose removal moves the weight the way ``-d`` does
   (``c_i d > 0``);
3. the bound (``bound``, ``tolerance``): removed if ``|c_i* - d| <= tolerance * ref`` with
   ``ref = |g|`` (``"grad"``: "must not exceed L 100 times", ``L`` the gradient) or
   ``ref = |d|`` (``"update"``: "If BW x alpha is much larger than L x lr"); with
   ``descent_only`` also ``c_i* d > 0`` (removal changes the weight by ``-c_i*``, which
   should approximate ``-d``); ``max_fraction`` (our addition) keeps at most that
   fraction of the layer's elements, those with the smallest ``|c_i* - d| / ref``;
4. the scope (``scope``): ``"element"``, steps 2-3 per weight element ("the adjustment
   on a single weight"); ``"layer"``, one base of the whole layer, chosen and bounded by
   the layer means of ``|c_i - d|`` and ``ref`` (descent: ``sum c_i* d > 0``) and removed
   from every element ("delete this binary weight BW and its coefficient alpha, that
   is, the weight is only composed of the remaining two binary weights");
5. recombination: where a base was removed, the latent weight becomes
   ``sum_{i != i*} c_i`` ("the adjusted binary weights will be recombined into full
   precision weights"); the other elements keep their latent value unless
   ``recombine_all``, which writes ``W_eff`` there.

Training then continues ("it needs to be trained again"): ABC-Net recomputes bases and
alphas from the new latent weight at each forward, so the model stays a plain k-base
binary model. Full-precision layers (``quantize=False``) are never touched.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from spikebit.errors import ConfigError
from spikebit.quant import QuantizedMixin, quantized_layers
from spikebit.registry import Registry

if TYPE_CHECKING:
    from torch import nn


# bound reference ``ref(grad, adjustment)``: a removal needs |c_i* - d| <= tolerance * ref
BoundRef = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
BWO_BOUNDS: Registry[BoundRef] = Registry("BWO bound")
BWO_BOUNDS.register("grad")(lambda grad, adjustment: grad.abs())
BWO_BOUNDS.register("update")(lambda grad, adjustment: adjustment.abs())
BWO_BASES = ("closest", "closest-descent")
BWO_SCOPES = ("element", "layer")


@dataclass(frozen=True)
class BWOSettings:
    """How one BWO application decides (module docstring, steps 2-5; ALBSNN §3.5).

    The defaults are the literal rule (the paper's tolerance 100 on ``|g|``, no cap) plus
    ``descent_only``.

    Args:
        tolerance: a base is removable if ``|c_i* - d| <= tolerance * ref`` (the paper's
            100).
        bound: name in ``BWO_BOUNDS`` of ``ref``: ``"grad"`` (``|g|``) or ``"update"``
            (``|d|``, i.e. ``|lr g|``).
        descent_only: only removals that move the weight along ``-d`` (``c_i* d > 0``).
        max_fraction: at most this fraction of a layer's elements per application
            (those with the smallest ``|c_i* - d| / ref``), or ``None`` for no cap;
            ``scope="element"`` only.
        recombine_all: write the recombined value into every element, not only the
            adjusted ones.
        base: ``"closest"`` (over all bases) or ``"closest-descent"`` (over the bases with
            ``c_i d > 0``).
        scope: ``"element"`` (per weight element) or ``"layer"`` (one base per layer).

    Raises:
        RegistryError: unknown ``bound``.
        ConfigError: ``tolerance < 0`` or not a number, ``max_fraction`` not a number,
            outside ``[0, 1]`` or set with ``scope="layer"``, ``descent_only`` or
            ``recombine_all`` not a bool, or an unknown ``base`` or ``scope``.
    """

    tolerance: float = 100.0
    bound: str = "grad"
    descent_only: bool = True
    max_fraction: float | None = None
    recombine_all: bool = False
    base: str = "closest"
    scope: str = "element"

    def __post_init__(self) -> None:
        BWO_BOUNDS.get(self.bound)
        for name in ("descent_only", "recombine_all"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"BWO {name} must be true or false, got "
                                  f"{getattr(self, name)!r}")
        for name in ("tolerance", "max_fraction"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and not isinstance(value, bool)
                    or value is None and name == "max_fraction"):
                raise ConfigError(f"BWO {name} must be a number"
                                  f"{' or null (no cap)' if name == 'max_fraction' else ''}, "
                                  f"got {value!r}")
        if self.tolerance < 0 or not (self.max_fraction is None or 0 <= self.max_fraction <= 1):
            raise ConfigError(
                f"BWO needs tolerance >= 0 and max_fraction in [0, 1] (or None); got "
                f"tolerance={self.tolerance}, max_fraction={self.max_fraction}"
            )
        if self.base not in BWO_BASES or self.scope not in BWO_SCOPES:
            raise ConfigError(
                f"BWO base must be one of {BWO_BASES} and scope one of {BWO_SCOPES}; got "
                f"base={self.base!r}, scope={self.scope!r}"
            )
        if self.scope == "layer" and self.max_fraction is not None:
            raise ConfigError(
                "BWO max_fraction caps elements and needs scope='element'; a layer-scope "
                "removal changes every element (set max_fraction=None)"
            )


@dataclass(frozen=True)
class BWOStep:
    """Result for one layer: the new latent ``weight`` and the ``removed`` mask ``[k, ...]``.

    Args:
        weight: the new latent weight, shape of the layer's weight.
        removed: bool ``[k, *weight.shape]``, True where base ``i`` was removed.
    """

    weight: torch.Tensor
    removed: torch.Tensor

    @property
    def adjusted(self) -> int:
        """Number of weight elements that lost a base."""
        return int(self.removed.any(0).sum())


def _best_fraction(score: torch.Tensor, fraction: float) -> torch.Tensor:
    """Mask of the ``floor(fraction * n)`` smallest finite scores."""
    flat = score.reshape(-1)
    keep = torch.zeros_like(flat, dtype=torch.bool)
    n = min(int(fraction * flat.numel()), int(torch.isfinite(flat).sum()))
    if n > 0:
        keep[torch.topk(flat, n, largest=False, sorted=False).indices] = True
    return keep.reshape(score.shape)


def _element_choice(contrib: torch.Tensor, d: torch.Tensor, ref: torch.Tensor,
                    s: BWOSettings) -> tuple[torch.Tensor, torch.Tensor]:
    """Per element: the chosen base index and whether it is removed (steps 2-3)."""
    dist = (contrib - d).abs()
    if s.base == "closest-descent":
        dist = torch.where(contrib * d > 0, dist, torch.inf)
    best_dist, best = dist.min(0)
    chosen = contrib.gather(0, best.unsqueeze(0)).squeeze(0)
    ok = torch.isfinite(best_dist) & (best_dist <= s.tolerance * ref)
    if s.descent_only:
        ok &= chosen * d > 0
    if s.max_fraction is not None:
        ok &= _best_fraction(torch.where(ok, best_dist / ref, torch.inf), s.max_fraction)
    return best, ok


def _layer_choice(contrib: torch.Tensor, d: torch.Tensor, ref: torch.Tensor,
                  s: BWOSettings) -> tuple[torch.Tensor, torch.Tensor]:
    """One base for the whole layer, by layer means (step 4, ``scope="layer"``)."""
    k = contrib.shape[0]
    flat = contrib.reshape(k, -1)
    dist = (flat - d.reshape(1, -1)).abs().mean(1)
    descent = (flat * d.reshape(1, -1)).sum(1) > 0
    if s.base == "closest-descent":
        dist = torch.where(descent, dist, torch.inf)
    best_dist, best = dist.min(0)
    ok = torch.isfinite(best_dist) & (best_dist <= s.tolerance * ref.mean())
    if s.descent_only:
        ok &= descent[best]
    return best.expand(d.shape), ok.expand(d.shape)


@torch.no_grad()
def bwo_update(
    w: torch.Tensor, grad: torch.Tensor, bases: torch.Tensor, alpha: torch.Tensor,
    lr: float, settings: BWOSettings | None = None, adjustment: torch.Tensor | None = None,
) -> BWOStep:
    """One BWO update of a weight ``w`` with decomposition ``(bases [k, ...], alpha [k])``.

    ALBSNN §3.5, steps 1-5 of the module docstring.

    Args:
        w: latent weight, e.g. ``[c_out, c_in, k, k]``.
        grad: ``dL/dW``, shape of ``w`` (the ``|g|`` bound).
        bases: the ±1 bases ``B`` ``[k, *w.shape]`` of the ABC decomposition.
        alpha: the base scales ``[k]``.
        lr: learning rate of the adjustment ``d = lr * g`` (unused with ``adjustment``).
        settings: the decision rule; default :class:`BWOSettings()`.
        adjustment: the adjustment ``d`` itself, shape of ``w`` (e.g. the optimizer's step
            ``w_before - w_after``); default ``lr * grad``.

    Returns:
        A new :class:`BWOStep`: the new latent weight (dtype of ``w``) and the ``removed`` mask
            ``[k, *w.shape]``.

    Raises:
        ConfigError: shapes of ``grad``, ``adjustment``, ``bases`` or ``alpha`` do not
            match ``w``.
    """
    s = settings or BWOSettings()
    d = lr * grad if adjustment is None else adjustment
    if (bases.shape[1:] != w.shape or grad.shape != w.shape or d.shape != w.shape
            or alpha.shape != bases.shape[:1]):
        raise ConfigError(
            f"BWO expects bases [k, *w], alpha [k] and grad, adjustment like w; got w "
            f"{tuple(w.shape)}, grad {tuple(grad.shape)}, adjustment {tuple(d.shape)}, bases "
            f"{tuple(bases.shape)}, alpha {tuple(alpha.shape)}"
        )
    k = alpha.numel()
    contrib = alpha.reshape(k, *([1] * w.ndim)) * bases
    ref = BWO_BOUNDS.get(s.bound)(grad, d)
    choose = _layer_choice if s.scope == "layer" else _element_choice
    best, ok = choose(contrib, d, ref, s)
    removed = (torch.arange(k, device=w.device).reshape(k, *([1] * w.ndim)) == best) & ok
    recombined = (contrib * (~removed)).sum(0)
    weight = recombined if s.recombine_all else torch.where(ok, recombined, w)
    return BWOStep(weight.to(w.dtype), removed)


def kbase_layers(model: nn.Module) -> list[tuple[str, QuantizedMixin]]:
    """Every quantized layer of ``model`` with a k-base quantizer (``decompose()``), whether
    binarized now or not (e.g. for gradients accumulated while the ALE selection moves).

    Args:
        model: a model with :class:`~spikebit.quant.QuantizedMixin` layers.

    Returns:
        ``(name, layer)`` pairs in module order.
    """
    return [(name, layer) for name, layer in quantized_layers(model)
            if callable(getattr(layer.quantizer, "decompose", None))]


def bwo_layers(model: nn.Module) -> list[tuple[str, QuantizedMixin]]:
    """The layers BWO may change: binarized now (``quantize=True``) with a k-base quantizer.

    Args:
        model: a model with :class:`~spikebit.quant.QuantizedMixin` layers.

    Returns:
        ``(name, layer)`` pairs of the binarized layers, in module order.

    Raises:
        ConfigError: a binarized layer's quantizer has no ``decompose()`` (not k-base,
            e.g. not ``"abc"``).
    """
    out = []
    for name, layer in quantized_layers(model):
        if not layer.quantize:
            continue
        if not callable(getattr(layer.quantizer, "decompose", None)):
            raise ConfigError(
                f"BWO needs a k-base quantizer with decompose() (e.g. 'abc'), but layer "
                f"{name!r} uses {type(layer.quantizer).__name__}"
            )
        out.append((name, layer))
    return out


@torch.no_grad()
def apply_bwo_steps(
    model: nn.Module, lr: float, settings: BWOSettings | None = None,
    gradients: Mapping[str, torch.Tensor] | None = None,
    adjustments: Mapping[str, torch.Tensor] | None = None,
) -> dict[str, BWOStep]:
    """BWO on every binarized layer of ``model``; the latent weights are overwritten in place.

    ALBSNN §3.5 (:func:`bwo_update` per layer).

    Args:
        model: a model whose binarized layers use a k-base quantizer (``"abc"``).
        lr: learning rate of the adjustment ``d = lr * g``.
        settings: the decision rule; default :class:`BWOSettings()`.
        gradients: the gradient ``g`` per layer name (e.g. accumulated over an epoch);
            default: each layer's ``weight.grad``. Layers without one are skipped.
        adjustments: the adjustment ``d`` per layer name (default ``lr * g``).

    Returns:
        ``{layer name: BWOStep}`` for every layer BWO acted on.

    Raises:
        ConfigError: a binarized layer's quantizer is not k-base, or a given gradient or
            adjustment does not match its layer's weight.
    """
    steps = {}
    for name, layer in bwo_layers(model):
        grad = layer.weight.grad if gradients is None else gradients.get(name)
        if grad is None:
            continue
        adjustment = None if adjustments is None else adjustments.get(name)
        bases, alpha = layer.quantizer.decompose(layer.weight)  # type: ignore[operator]
        step = bwo_update(layer.weight, grad, bases, alpha, lr, settings, adjustment)
        layer.weight.copy_(step.weight)
        steps[name] = step
    return steps


def apply_bwo(model: nn.Module, lr: float, settings: BWOSettings | None = None) -> dict[str, int]:
    """BWO on every binarized layer of ``model`` using its ``weight.grad``.

    ALBSNN §3.5; the latent weights are overwritten in place (:func:`apply_bwo_steps`).

    Args:
        model: a model whose binarized layers use a k-base quantizer (``"abc"``).
        lr: learning rate of the adjustment ``d = lr * g``.
        settings: the decision rule; default :class:`BWOSettings()`.

    Returns:
        The number of adjusted weight elements per layer name (layers without a
            gradient are skipped).

    Raises:
        ConfigError: a binarized layer's quantizer is not k-base.
    """
    return {name: step.adjusted for name, step in apply_bwo_steps(model, lr, settings).items()}


def schedule(total_epochs: int, steps_per_epoch: int, epochs: int, times: int) -> list[int]:
    """Global steps after which BWO runs: ``times`` steps spread evenly over the last
    ``epochs`` epochs, the first at the window's first step (so fine-tuning follows each).

    Args:
        total_epochs: epochs of the whole training run.
        steps_per_epoch: optimizer steps per epoch.
        epochs: the last ``epochs`` epochs form the BWO window.
        times: number of BWO applications in the window.

    Returns:
        Sorted distinct 0-based global steps (fewer than ``times`` if the window is
            shorter; empty if it has no step).
    """
    start = max(0, total_epochs - epochs) * steps_per_epoch
    window = total_epochs * steps_per_epoch - start
    return sorted({start + (j * window) // times for j in range(times)}) if window > 0 else []


def accumulation_starts(steps: list[int], window: int, times: int) -> list[int]:
    """First step of the gradient average of each application (``gradient="mean"``).

    Application ``j`` at step ``steps[j]`` averages the batch gradients of steps
    ``starts[j] .. steps[j]``: those since the previous application, and for the first
    one the ``window // times`` steps up to it (fewer at the start of training).

    Args:
        steps: the sorted application steps (:func:`schedule`).
        window: steps in the BWO window.
        times: applications requested in the window.

    Returns:
        One start step per application, ``starts[j] <= steps[j]``.
    """
    gap = max(1, window // max(1, times))
    return [max(0, s - gap + 1) if j == 0 else steps[j - 1] + 1 for j, s in enumerate(steps)]
