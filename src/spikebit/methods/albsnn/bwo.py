"""Binary weight optimization (ALBSNN §3.5), as read in ``docs/methods/albsnn.md``.

For a binarized layer with latent weight ``W`` ``[c_out, ...]``, its ABC decomposition
``W_eff = sum_i alpha_i B_i`` (``B`` ``[k, ...]`` of ±1, ``alpha`` ``[k]``) and the
gradient ``g = dL/dW`` (the STE gradient, equal to ``dL/dW_eff``), per weight element:

1. contributions ``c_i = alpha_i B_i`` and the adjustment ``d = lr * g``;
2. the base ``i*`` whose contribution is closest to the adjustment,
   ``i* = argmin_i |c_i - d|``;
3. it is removed if ``|c_i* - d| <= tolerance * ref`` with ``ref = |g|`` (``bound="grad"``,
   the literal "must not exceed L 100 times", ``L`` being the gradient) or
   ``ref = |lr g|`` (``bound="update"``: "BW x alpha much larger than L x lr"), and, with
   ``descent_only``, if removing it moves the weight against the gradient
   (``c_i* * g > 0``: removal changes the weight by ``-c_i*``, which approximates the
   step ``-lr g``); ``max_fraction`` (our addition) keeps at most that fraction of the
   layer's elements, those with the smallest ``|c_i* - d| / ref``;
4. recombination: the weight becomes ``sum_i alpha_i B'_i`` with ``B'_i* = 0`` where
   removed. By default only the adjusted elements take this value ("the adjusted binary
   weights will be recombined into full precision weights"); ``recombine_all=True``
   writes the recombined value into every element of the latent weight.

Training then continues (fine-tuning): ABC-Net recomputes bases and alphas from the
new latent weight at each forward, so the model stays a plain k-base binary model.
Full-precision layers (``quantize=False``) are never touched.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from spikebit.errors import ConfigError
from spikebit.quant import QuantizedMixin, quantized_layers
from spikebit.registry import Registry
from spikebit.train.callbacks import CALLBACKS, Callback

if TYPE_CHECKING:
    from torch import nn

    from spikebit.train.trainer import Trainer


# bound reference ``ref(grad, lr)``: a removal needs |c_i* - lr g| <= tolerance * ref
BoundRef = Callable[[torch.Tensor, float], torch.Tensor]
BWO_BOUNDS: Registry[BoundRef] = Registry("BWO bound")
BWO_BOUNDS.register("grad")(lambda grad, lr: grad.abs())
BWO_BOUNDS.register("update")(lambda grad, lr: (lr * grad).abs())


@dataclass(frozen=True)
class BWOSettings:
    """How BWO decides (module docstring, steps 3-4; ALBSNN §3.5).

    Args:
        tolerance: a base is removable if ``|c_i* - lr g| <= tolerance * ref`` (the
            paper's 100).
        bound: name in ``BWO_BOUNDS`` of ``ref``: ``"grad"`` (``|g|``) or ``"update"``
            (``|lr g|``).
        descent_only: only removals that move the weight along ``-g`` (``c_i* g > 0``).
        max_fraction: at most this fraction of a layer's elements per application
            (those with the smallest ``|c_i* - lr g| / ref``), or ``None`` for no cap.
        recombine_all: write the recombined value into every element, not only the
            adjusted ones.

    Raises:
        RegistryError: unknown ``bound``.
        ConfigError: ``tolerance < 0`` or ``max_fraction`` outside ``[0, 1]``.
    """

    tolerance: float = 100.0
    bound: str = "grad"
    descent_only: bool = True
    max_fraction: float | None = None
    recombine_all: bool = False

    def __post_init__(self) -> None:
        BWO_BOUNDS.get(self.bound)
        if self.tolerance < 0 or not (self.max_fraction is None or 0 <= self.max_fraction <= 1):
            raise ConfigError(
                f"BWO needs tolerance >= 0 and max_fraction in [0, 1] (or None); got "
                f"tolerance={self.tolerance}, max_fraction={self.max_fraction}"
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


@torch.no_grad()
def bwo_update(
    w: torch.Tensor, grad: torch.Tensor, bases: torch.Tensor, alpha: torch.Tensor,
    lr: float, settings: BWOSettings | None = None,
) -> BWOStep:
    """One BWO update of a weight ``w`` with decomposition ``(bases [k, ...], alpha [k])``.

    ALBSNN §3.5, steps 1-4 of the module docstring, per weight element.

    Args:
        w: latent weight, e.g. ``[c_out, c_in, k, k]``.
        grad: ``dL/dW``, shape of ``w``.
        bases: the ±1 bases ``B`` ``[k, *w.shape]`` of the ABC decomposition.
        alpha: the base scales ``[k]``.
        lr: learning rate of the adjustment ``d = lr * g``.
        settings: the decision rule; default :class:`BWOSettings()`.

    Returns:
        A new :class:`BWOStep`: the new latent weight (dtype of ``w``) and the ``removed`` mask
            ``[k, *w.shape]``.

    Raises:
        ConfigError: shapes of ``grad``, ``bases`` or ``alpha`` do not match ``w``.
    """
    s = settings or BWOSettings()
    if bases.shape[1:] != w.shape or grad.shape != w.shape or alpha.shape != bases.shape[:1]:
        raise ConfigError(
            f"BWO expects bases [k, *w], alpha [k] and grad like w; got w {tuple(w.shape)}, "
            f"grad {tuple(grad.shape)}, bases {tuple(bases.shape)}, alpha {tuple(alpha.shape)}"
        )
    k = alpha.numel()
    contrib = alpha.reshape(k, *([1] * w.ndim)) * bases
    dist = (contrib - lr * grad).abs()
    best_dist, best = dist.min(0)
    chosen = contrib.gather(0, best.unsqueeze(0)).squeeze(0)
    ref = BWO_BOUNDS.get(s.bound)(grad, lr)
    ok = best_dist <= s.tolerance * ref
    if s.descent_only:
        ok &= chosen * grad > 0
    if s.max_fraction is not None:
        ok &= _best_fraction(torch.where(ok, best_dist / ref, torch.inf), s.max_fraction)
    removed = (torch.arange(k, device=w.device).reshape(k, *([1] * w.ndim)) == best) & ok
    recombined = (contrib * (~removed)).sum(0)
    weight = recombined if s.recombine_all else torch.where(ok, recombined, w)
    return BWOStep(weight.to(w.dtype), removed)


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
def apply_bwo(model: nn.Module, lr: float, settings: BWOSettings | None = None) -> dict[str, int]:
    """BWO on every binarized layer of ``model`` using its ``weight.grad``.

    ALBSNN §3.5; the latent weights are overwritten in place.

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
    counts = {}
    for name, layer in bwo_layers(model):
        grad = layer.weight.grad
        if grad is None:
            continue
        bases, alpha = layer.quantizer.decompose(layer.weight)  # type: ignore[operator]
        result = bwo_update(layer.weight, grad, bases, alpha, lr, settings)
        layer.weight.copy_(result.weight)
        counts[name] = result.adjusted
    return counts


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


@CALLBACKS.register("albsnn-bwo")
class BinaryWeightOptimization(Callback):
    """BWO ``times`` times during the last ``epochs`` epochs, fine-tuning in between.

    Each application runs after a step's optimizer update and uses that step's
    gradients. ``lr`` defaults to the optimizer's current learning rate; the other
    arguments are :class:`BWOSettings`. Adds ``metrics["albsnn"]["bwo"]`` (applications
    and adjusted elements per layer so far). ALBSNN §3.5.

    Args:
        epochs: the BWO window: the last ``epochs`` epochs of training.
        times: number of BWO applications in the window.
        lr: learning rate of the adjustment (``None``: the optimizer's current one).
        tolerance: see :class:`BWOSettings`.
        bound: see :class:`BWOSettings` (``"grad"`` or ``"update"``).
        descent_only: see :class:`BWOSettings`.
        max_fraction: see :class:`BWOSettings`.
        recombine_all: see :class:`BWOSettings`.

    Raises:
        ConfigError: ``epochs < 1``, ``times < 1`` or invalid settings.
        RegistryError: unknown ``bound``.
    """

    def __init__(
        self, epochs: int = 1, times: int = 20, lr: float | None = None,
        tolerance: float = 100.0, bound: str = "grad", descent_only: bool = True,
        max_fraction: float | None = None, recombine_all: bool = False,
    ) -> None:
        if epochs < 1 or times < 1:
            raise ConfigError(
                f"albsnn-bwo needs epochs >= 1 and times >= 1; got epochs={epochs}, times={times}"
            )
        self.epochs, self.times, self.lr = epochs, times, lr
        self.settings = BWOSettings(tolerance, bound, descent_only, max_fraction, recombine_all)
        self.steps: set[int] = set()
        self.applied = 0
        self.adjusted: dict[str, int] = {}

    def on_train_start(self, trainer: Trainer) -> None:
        """Compute the BWO steps with :func:`schedule` from the run's epochs and batches.

        Args:
            trainer: the trainer (``config.optim.epochs`` and ``batches`` are read).
        """
        self.steps = set(schedule(trainer.config.optim.epochs, len(trainer.batches),
                                  self.epochs, self.times))

    def on_step_end(self, trainer: Trainer, step: int, loss: float) -> None:
        """At a scheduled step, apply BWO with this step's gradients (:func:`apply_bwo`).

        Args:
            trainer: the running trainer (``model`` and ``optimizer`` are used).
            step: the global optimizer step just taken.
            loss: the step's loss (unused).

        Raises:
            ConfigError: a binarized layer's quantizer is not k-base.
        """
        if step not in self.steps:
            return
        lr = self.lr if self.lr is not None else trainer.optimizer.param_groups[0]["lr"]
        counts = apply_bwo(trainer.model, lr, self.settings)
        self.applied += 1
        for name, n in counts.items():
            self.adjusted[name] = self.adjusted.get(name, 0) + n

    def on_epoch_end(self, trainer: Trainer, epoch: int, metrics: dict[str, Any]) -> None:
        """Add ``metrics["albsnn"]["bwo"] = {"applied": n, "adjusted": {layer: count}}``.

        Args:
            trainer: the running trainer (unused).
            epoch: the finished epoch (unused).
            metrics: the epoch's metrics, updated in place.
        """
        metrics.setdefault("albsnn", {})["bwo"] = {
            "applied": self.applied, "adjusted": dict(self.adjusted),
        }

    def state_dict(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """No tensors; the counts ``applied`` and ``adjusted`` as JSON state."""
        return {}, {"applied": self.applied, "adjusted": self.adjusted}

    def load_state_dict(self, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
        """Restore the counts of :meth:`state_dict`.

        Args:
            tensors: unused (BWO checkpoints no tensors).
            meta: ``{"applied": int, "adjusted": {layer: int}}``.
        """
        self.applied = int(meta.get("applied", 0))
        self.adjusted = {str(k): int(v) for k, v in meta.get("adjusted", {}).items()}
