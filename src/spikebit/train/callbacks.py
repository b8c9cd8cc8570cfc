"""Training callbacks: how methods act per step and per epoch without editing the loop."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from spikebit.registry import Registry

if TYPE_CHECKING:
    from spikebit.train.trainer import Trainer

CALLBACKS: Registry[type[Callback]] = Registry(
    "callback", discover=("spikebit.methods", "spikebit.metrics")
)


class Callback:
    """Base class; every hook is optional. ``state_dict`` is saved in checkpoints."""

    def on_train_start(self, trainer: Trainer) -> None:
        """Called once before the first (or resumed) epoch."""

    def on_step_start(self, trainer: Trainer, step: int) -> None:
        """Called before the forward pass of global step ``step``."""

    def on_step_end(self, trainer: Trainer, step: int, loss: float) -> None:
        """Called after the optimizer step."""

    def on_epoch_end(self, trainer: Trainer, epoch: int, metrics: dict[str, Any]) -> None:
        """Called after evaluation; may add JSON-able entries to ``metrics``."""

    def on_train_end(self, trainer: Trainer) -> None:
        """Called after the last epoch."""

    def state_dict(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Tensors and JSON-able state to checkpoint (default: none)."""
        return {}, {}

    def load_state_dict(self, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""


@CALLBACKS.register("quantizer-schedule")
class QuantizerSchedule(Callback):
    """Feed training progress (0 -> 1) to quantizers that anneal (e.g. Q-SNN's ``t``)."""

    def on_step_start(self, trainer: Trainer, step: int) -> None:
        progress = step / max(1, trainer.total_steps - 1)
        for module in trainer.model.modules():
            setter = getattr(module, "set_progress", None)
            if callable(setter):
                setter(progress)
