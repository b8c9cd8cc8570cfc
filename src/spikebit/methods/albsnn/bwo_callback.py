"""The ``albsnn-bwo`` callback: BWO (ALBSNN §3.5) during training, with every reading of
which gradient, when and how often (``docs/methods/albsnn.md``).

*When*: in the last ``epochs`` epochs of the run it is part of. Put into a fine-tuning run
that starts from a trained model (the ``init-weights`` callback, ``epochs`` covering the
whole run), it gives the post-training reading ("the adjusted binary weights will be
recombined into full precision weights, and it needs to be trained again").
*How often*: ``times`` applications spread evenly over that window (:func:`.bwo.schedule`;
``times = epochs`` is once per epoch, ``times`` >= the window's steps every step).
*Which gradient*: ``gradient="batch"``, the step's minibatch gradient; ``"mean"``, the mean
of the minibatch gradients since the previous application
(:func:`.bwo.accumulation_starts`). *Which adjustment*: ``"lr-grad"``, ``lr * g`` (the
text); ``"optimizer"``, the optimizer's actual step on the weight at that step (Adam's,
not ``lr * g``).
"""

from __future__ import annotations

from bisect import bisect_left
from typing import TYPE_CHECKING, Any

import torch

from spikebit.errors import ConfigError
from spikebit.methods.albsnn.bwo import (
    BWOSettings,
    accumulation_starts,
    apply_bwo_steps,
    bwo_layers,
    kbase_layers,
    schedule,
)
from spikebit.train.callbacks import CALLBACKS, Callback

if TYPE_CHECKING:
    from spikebit.train.trainer import Trainer

BWO_GRADIENTS = ("batch", "mean")
BWO_ADJUSTMENTS = ("lr-grad", "optimizer")


@CALLBACKS.register("albsnn-bwo")
class BinaryWeightOptimization(Callback):
    """BWO ``times`` times during the last ``epochs`` epochs, fine-tuning in between.

    Each application runs after a step's optimizer update. ``lr`` defaults to the
    learning rate that step used; ``tolerance`` ..
    ``scope`` are :class:`~spikebit.methods.albsnn.bwo.BWOSettings`. Adds
    ``metrics["albsnn"]["bwo"]``: ``applied``, and per layer ``adjusted`` (removals summed
    over applications), ``touched`` (elements adjusted at least once) and ``elements``
    (size of every layer BWO has acted on). ALBSNN §3.5.

    Args:
        epochs: the BWO window: the last ``epochs`` epochs of training.
        times: number of BWO applications in the window.
        lr: learning rate of the adjustment (``None``: the rate of the step just taken).
        tolerance: see :class:`~spikebit.methods.albsnn.bwo.BWOSettings`.
        bound: ``"grad"`` or ``"update"`` (``BWOSettings``).
        descent_only: see ``BWOSettings``.
        max_fraction: see ``BWOSettings``. ``None`` is the text's rule; over 20
            applications it adjusted 99% of a trained network's binarized weights and cost
            54 points of accuracy in ``albsnn-bwo-readings`` (3 seeds), so the shipped
            configs pass ``0.001``.
        recombine_all: see ``BWOSettings``.
        gradient: ``"batch"`` (the step's minibatch gradient) or ``"mean"`` (mean of the
            minibatch gradients since the previous application).
        adjustment: ``"lr-grad"`` (``d = lr * g``) or ``"optimizer"`` (``d`` = the
            optimizer's step, weight before minus after; needs ``gradient="batch"``).
        base: ``"closest"`` or ``"closest-descent"`` (``BWOSettings``).
        scope: ``"element"`` or ``"layer"`` (``BWOSettings``).

    Raises:
        ConfigError: ``epochs < 1``, ``times < 1``, an unknown ``gradient`` or
            ``adjustment``, ``adjustment="optimizer"`` with ``gradient="mean"``, or
            invalid settings.
        RegistryError: unknown ``bound``.
    """

    def __init__(
        self, epochs: int = 1, times: int = 20, lr: float | None = None,
        tolerance: float = 100.0, bound: str = "grad", descent_only: bool = True,
        max_fraction: float | None = None, recombine_all: bool = False,
        gradient: str = "batch", adjustment: str = "lr-grad", base: str = "closest",
        scope: str = "element",
    ) -> None:
        if epochs < 1 or times < 1:
            raise ConfigError(
                f"albsnn-bwo needs epochs >= 1 and times >= 1; got epochs={epochs}, times={times}"
            )
        if gradient not in BWO_GRADIENTS or adjustment not in BWO_ADJUSTMENTS:
            raise ConfigError(
                f"albsnn-bwo gradient must be one of {BWO_GRADIENTS} and adjustment one of "
                f"{BWO_ADJUSTMENTS}; got gradient={gradient!r}, adjustment={adjustment!r}"
            )
        if adjustment == "optimizer" and gradient != "batch":
            raise ConfigError(
                "albsnn-bwo adjustment='optimizer' is the optimizer's step at the application "
                "step and needs gradient='batch'"
            )
        self.epochs, self.times, self.lr = epochs, times, lr
        self.gradient, self.adjustment = gradient, adjustment
        self.settings = BWOSettings(tolerance, bound, descent_only, max_fraction,
                                    recombine_all, base, scope)
        self.steps: list[int] = []
        self.starts: list[int] = []
        self._scheduled: set[int] = set()
        self.applied = 0
        self.adjusted: dict[str, int] = {}
        self.touched: dict[str, torch.Tensor] = {}  # bool masks, elements adjusted so far
        self.grad_sum: dict[str, torch.Tensor] = {}
        self.grad_count: dict[str, int] = {}
        self._before: dict[str, torch.Tensor] = {}
        self._step_lr = 0.0

    def on_train_start(self, trainer: Trainer) -> None:
        """Compute the BWO steps with :func:`.bwo.schedule` from the run's epochs and batches.

        Args:
            trainer: the trainer (``config.optim.epochs`` and ``batches`` are read).
        """
        total, per_epoch = trainer.config.optim.epochs, len(trainer.batches)
        self.steps = schedule(total, per_epoch, self.epochs, self.times)
        window = min(self.epochs, total) * per_epoch
        self.starts = accumulation_starts(self.steps, window, self.times)
        self._scheduled = set(self.steps)

    def _accumulating(self, step: int) -> bool:
        j = bisect_left(self.steps, step)
        return j < len(self.steps) and self.starts[j] <= step

    def on_step_start(self, trainer: Trainer, step: int) -> None:
        """Before a scheduled step: note its learning rate and, with
        ``adjustment="optimizer"``, keep the weights.

        Args:
            trainer: the running trainer (``model`` and ``optimizer`` are read).
            step: the global optimizer step about to run.
        """
        if step not in self._scheduled:
            return
        self._step_lr = trainer.optimizer.param_groups[0]["lr"]
        if self.adjustment == "optimizer":
            self._before = {name: layer.weight.detach().clone()
                            for name, layer in bwo_layers(trainer.model)}

    @torch.no_grad()
    def _accumulate(self, trainer: Trainer) -> None:
        for name, layer in kbase_layers(trainer.model):
            if layer.weight.grad is None:
                continue
            g = layer.weight.grad.detach()
            prev = self.grad_sum.get(name)  # on the CPU after a resume
            self.grad_sum[name] = g.clone() if prev is None else prev.to(g.device) + g
            self.grad_count[name] = self.grad_count.get(name, 0) + 1

    def on_step_end(self, trainer: Trainer, step: int, loss: float) -> None:
        """Accumulate (``gradient="mean"``) and, at a scheduled step, apply BWO.

        Args:
            trainer: the running trainer (``model`` and ``optimizer`` are used).
            step: the global optimizer step just taken.
            loss: the step's loss (unused).

        Raises:
            ConfigError: a binarized layer's quantizer is not k-base.
        """
        if self.gradient == "mean" and self._accumulating(step):
            self._accumulate(trainer)
        if step not in self._scheduled:
            return
        lr = self.lr if self.lr is not None else self._step_lr
        gradients = None
        if self.gradient == "mean":
            gradients = {n: s / self.grad_count[n] for n, s in self.grad_sum.items()}
            self.grad_sum, self.grad_count = {}, {}
        adjustments = None
        if self.adjustment == "optimizer":
            layers = dict(bwo_layers(trainer.model))
            adjustments = {n: w - layers[n].weight.detach() for n, w in self._before.items()
                           if n in layers}
            self._before = {}
        results = apply_bwo_steps(trainer.model, lr, self.settings, gradients, adjustments)
        self.applied += 1
        for name, result in results.items():
            self.adjusted[name] = self.adjusted.get(name, 0) + result.adjusted
            mask = result.removed.any(0).cpu()
            self.touched[name] = self.touched[name] | mask if name in self.touched else mask

    def on_epoch_end(self, trainer: Trainer, epoch: int, metrics: dict[str, Any]) -> None:
        """Add ``metrics["albsnn"]["bwo"]``: ``applied`` and ``adjusted``, ``touched``,
        ``elements`` per layer (see the class docstring).

        Args:
            trainer: the running trainer (unused).
            epoch: the finished epoch (unused).
            metrics: the epoch's metrics, updated in place.
        """
        metrics.setdefault("albsnn", {})["bwo"] = {
            "applied": self.applied, "adjusted": dict(self.adjusted),
            "touched": {n: int(m.sum()) for n, m in self.touched.items()},
            "elements": {n: m.numel() for n, m in self.touched.items()},
        }

    def state_dict(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Tensors ``touched.<layer>`` and ``grad_sum.<layer>``; JSON ``applied``,
        ``adjusted``, ``grad_count``."""
        tensors = {f"touched.{n}": m for n, m in self.touched.items()}
        tensors.update({f"grad_sum.{n}": s for n, s in self.grad_sum.items()})
        return tensors, {"applied": self.applied, "adjusted": self.adjusted,
                         "grad_count": self.grad_count}

    def load_state_dict(self, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved (checkpoints without ``touched`` or
        ``grad_sum`` restore the counts only).

        Args:
            tensors: ``touched.<layer>`` (bool) and ``grad_sum.<layer>`` tensors.
            meta: ``{"applied": int, "adjusted": {layer: int}, "grad_count": {layer: int}}``.
        """
        self.applied = int(meta.get("applied", 0))
        self.adjusted = {str(k): int(v) for k, v in meta.get("adjusted", {}).items()}
        self.grad_count = {str(k): int(v) for k, v in meta.get("grad_count", {}).items()}
        self.touched = {k[len("touched."):]: v.bool() for k, v in tensors.items()
                        if k.startswith("touched.")}
        self.grad_sum = {k[len("grad_sum."):]: v for k, v in tensors.items()
                         if k.startswith("grad_sum.")}
