"""The ALBSNN selector callback: ALE's ``R`` every step, applied one step late ("Box").

Timeline of global step ``s`` (paper Fig. 3; "Box" holds the last step's selection):

1. ``on_step_start(s)``: the Box's selection is applied, ``layer.quantize = l not in box``;
   step ``s`` trains with it.
2. ``on_step_end(s)`` (after the optimizer step): ``R`` is recomputed from the updated
   weights and the rule's new selection goes into the Box; it is used from step ``s+1``.

Before the first step (``on_train_start`` of a fresh run) the Box is filled from the
initial weights. Evaluation and checkpoints see the flags of the last trained step;
the Box is checkpointed, so a resumed run applies the same selection as an
uninterrupted one. Each epoch adds ``metrics["albsnn"]``: the rule, layer names, the
Box (1-based ``selected``), the flags of the last step (``applied``), ``R``/``A``/``M``/
``F``/``w_loss``, per layer the number of steps it was full precision (``fp_steps`` of
``steps``), the number of selection changes and the seconds spent in ALE.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import torch

from spikebit.errors import ConfigError
from spikebit.methods.albsnn.ale import THETA_METHODS, ALEScores, ale_scores
from spikebit.methods.albsnn.rules import SELECTION_RULES, select
from spikebit.quant import QuantizedMixin, WeightQuantizer, quantized_layers
from spikebit.train.callbacks import CALLBACKS, Callback

if TYPE_CHECKING:
    from torch import nn

    from spikebit.train.trainer import Trainer


@contextmanager
def intra_op_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads (``None``: unchanged), then restore.

    ALE is many small element-wise passes; on a busy CPU one thread avoids the
    synchronisation stalls that made it several times slower with two threads.

    Args:
        n: number of intra-op threads inside the block, or ``None`` to leave it.
    """
    before = torch.get_num_threads()
    if n is not None and n != before:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def selectable_layers(model: nn.Module) -> list[tuple[str, QuantizedMixin]]:
    """Quantizable layers in order; each must have a binarizing quantizer (not ``fp``).

    Args:
        model: a model with :class:`~spikebit.quant.QuantizedMixin` layers.

    Returns:
        ``(name, layer)`` pairs in module order.

    Raises:
        ConfigError: a layer uses the ``fp`` (identity) quantizer, or fewer than 2 layers.
    """
    layers = quantized_layers(model)
    exact = [n for n, layer in layers if type(layer.quantizer) is WeightQuantizer]
    if exact:
        raise ConfigError(
            f"albsnn-selector needs a binarizing quantizer on every layer, but {exact} use "
            "'fp' (no binarization error to estimate); set model.args.quantizer: abc"
        )
    if len(layers) < 2:
        raise ConfigError(f"albsnn-selector needs >= 2 quantizable layers, found {len(layers)}")
    return layers


def model_scores(
    layers: list[tuple[str, QuantizedMixin]], num_classes: int, eta: float = 1.0,
    theta: str = "direct",
) -> ALEScores:
    """ALE over ``layers`` (their latent weights and quantizers); ALBSNN eq. 5-10.

    Args:
        layers: ``(name, layer)`` pairs from :func:`selectable_layers`.
        num_classes: ``K`` of eq. 10.
        eta: the parabola's value at the ends (eq. 9).
        theta: name in :data:`THETA_METHODS` (``"direct"`` or ``"eq8"``).

    Returns:
        :class:`ALEScores` per layer.

    Raises:
        ConfigError: a single layer (eq. 9 needs L >= 2) or ``num_classes < 2``.
        RegistryError: unknown ``theta``.
    """
    return ale_scores([layer.weight for _, layer in layers],
                      [layer.quantizer for _, layer in layers], num_classes, eta, theta)


@CALLBACKS.register("albsnn-selector")
class ALBSNNSelector(Callback):
    """Adaptive local binarization: keep the layers the ``rule`` picks by ALE's ``R`` at FP.

    ALBSNN §3.3-3.4 (ALE eq. 5-10, selection rules of Table 8, the Box of Fig. 3).

    Args:
        rule: name in :data:`SELECTION_RULES` (``top-k``, ``sc1``..``sc4``).
        k: number of full-precision layers for ``top-k``.
        eta: the parabola's value at the ends (eq. 9).
        theta: ``direct`` or ``eq8``, how eq. 7's ``M`` is obtained.
        num_classes: ``K`` of eq. 10; default: the training set's.
        every: recompute ``R`` every ``every`` steps (1 as in the paper).
        threads: torch intra-op threads while computing ``R``; ``None`` keeps the
            process setting.

    Raises:
        RegistryError: unknown ``rule`` or ``theta``.
        ConfigError: ``every < 1``.
    """

    def __init__(
        self, rule: str = "top-k", k: int = 2, eta: float = 1.0, theta: str = "direct",
        num_classes: int | None = None, every: int = 1, threads: int | None = 1,
    ) -> None:
        SELECTION_RULES.get(rule)
        THETA_METHODS.get(theta)
        if every < 1:
            raise ConfigError(f"albsnn-selector: every must be >= 1 step, got {every}")
        self.rule, self.k, self.eta, self.theta = rule, k, eta, theta
        self.num_classes, self.every, self.threads = num_classes, every, threads
        self.layers: list[tuple[str, QuantizedMixin]] = []
        self.box: list[int] | None = None
        self.scores: ALEScores | None = None
        self._reset_epoch(0)

    def _reset_epoch(self, n_layers: int) -> None:
        self.fp_steps = [0] * n_layers
        self.steps = 0
        self.switches = 0
        self.ale_seconds = 0.0

    # -- core -------------------------------------------------------------------
    def bind(self, model: nn.Module, num_classes: int) -> None:
        """Attach to ``model``'s quantizable layers (called by ``on_train_start``).

    Args:
        model: the model being trained.
        num_classes: ``K`` of eq. 10, used unless set in the constructor or restored.

    Raises:
        ConfigError: a layer is not binarizing, fewer than 2 layers, or a restored Box
            selects a layer the model does not have.
    """
        self.layers = selectable_layers(model)
        self.num_classes = self.num_classes or num_classes
        if self.box is not None and max(self.box, default=-1) >= len(self.layers):
            raise ConfigError(
                f"albsnn-selector state selects layer {max(self.box) + 1} but the model has "
                f"{len(self.layers)} quantizable layers: the checkpoint is from another model"
            )
        if len(self.fp_steps) != len(self.layers):
            self.fp_steps = [0] * len(self.layers)

    def update_box(self) -> list[int]:
        """Recompute ``R`` from the current weights and put the new selection in the Box."""
        t0 = time.perf_counter()
        with intra_op_threads(self.threads):
            self.scores = model_scores(self.layers, int(self.num_classes or 0), self.eta,
                                       self.theta)
        new = select(self.rule, self.scores.R, self.k)
        if self.box is not None and new != self.box:
            self.switches += 1
        self.box = new
        self.ale_seconds += time.perf_counter() - t0
        return new

    def apply_box(self) -> None:
        """Set every layer's ``quantize`` flag from the Box (kept layers at full precision)."""
        keep = set(self.box or [])
        for i, (_, layer) in enumerate(self.layers):
            layer.quantize = i not in keep
            self.fp_steps[i] += int(i in keep)
        self.steps += 1

    def summary(self) -> dict[str, Any]:
        """The JSON-able epoch record (see module docstring)."""
        scores = self.scores.to_dict() if self.scores else {}
        return {
            "rule": self.rule,
            "k": self.k,
            "layers": [name for name, _ in self.layers],
            "selected": [i + 1 for i in self.box or []],
            "applied": [i + 1 for i, (_, la) in enumerate(self.layers) if not la.quantize],
            **scores,
            "fp_steps": list(self.fp_steps),
            "steps": self.steps,
            "switches": self.switches,
            "ale_seconds": self.ale_seconds,
        }

    # -- hooks ------------------------------------------------------------------
    def on_train_start(self, trainer: Trainer) -> None:
        """Bind to the model; a fresh run fills the Box from the initial weights.

        Args:
            trainer: the trainer (``model`` and ``train_set.num_classes`` are read).

        Raises:
            ConfigError: see :meth:`bind`.
        """
        self.bind(trainer.model, trainer.train_set.num_classes)
        if self.box is None:
            self.update_box()
            self.switches = 0

    def on_step_start(self, trainer: Trainer, step: int) -> None:
        """Apply the Box (last step's selection) to the layers' ``quantize`` flags.

        Args:
            trainer: the running trainer (unused).
            step: the global step about to run (unused).
        """
        self.apply_box()

    def on_step_end(self, trainer: Trainer, step: int, loss: float) -> None:
        """Every ``every`` steps, recompute ``R`` and refill the Box (used from the next step).

        Args:
            trainer: the running trainer (unused).
            step: the 0-based global step just taken.
            loss: the step's loss (unused).
        """
        if (step + 1) % self.every == 0:
            self.update_box()

    def on_epoch_end(self, trainer: Trainer, epoch: int, metrics: dict[str, Any]) -> None:
        """Add :meth:`summary` to ``metrics["albsnn"]`` and restart the epoch counters.

        Args:
            trainer: the running trainer (unused).
            epoch: the finished epoch (unused).
            metrics: the epoch's metrics, updated in place.
        """
        metrics.setdefault("albsnn", {}).update(self.summary())
        self._reset_epoch(len(self.layers))

    # -- checkpoint -------------------------------------------------------------
    def state_dict(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """No tensors; the Box, per-layer ``fp_steps``, ``steps``, ``switches`` and ``K``."""
        return {}, {
            "box": self.box, "fp_steps": self.fp_steps, "steps": self.steps,
            "switches": self.switches, "num_classes": self.num_classes,
        }

    def load_state_dict(self, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
        """Restore the state of :meth:`state_dict` (so a resumed run selects the same layers).

        Args:
            tensors: unused (the selector checkpoints no tensors).
            meta: the JSON state; empty leaves the selector as constructed.
        """
        if not meta:
            return
        self.box = None if meta.get("box") is None else [int(i) for i in meta["box"]]
        self.fp_steps = [int(v) for v in meta.get("fp_steps", [])]
        self.steps = int(meta.get("steps", 0))
        self.switches = int(meta.get("switches", 0))
        self.num_classes = meta.get("num_classes") or self.num_classes
