"""The paper's loss (eq. 6): squared error of output spike counts at every step.

``L = mean over t, b, i of (o_i[t] - y_i[t])^2``: ``o`` are the output layer's
spike counts per step ``[T, B, K]`` (a spiking output layer, see the zoo's
``spiking_output``) and ``y_i[t]`` the desired firing: ``target_count`` spikes per
step for the label's neuron, ``other_count`` for the others. The paper gives no
values ("the desired firing event" suggests 1); we use 4 and 0: with 1, output
neurons of different classes tie often (integer counts) and training was markedly
slower in our trials. This differs from the core ``"mse"`` loss, which compares
the *time-averaged* output with the one-hot target: per-step errors add the
variance over time, ``sum_t (o[t] - y)^2 = T (mean_t o - y)^2 + sum_t (o[t] - mean_t o)^2``.
"""

from __future__ import annotations

import warnings
from functools import partial
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from spikebit.errors import ShapeError
from spikebit.train.callbacks import CALLBACKS, Callback
from spikebit.train.losses import LOSSES

if TYPE_CHECKING:
    from spikebit.train.trainer import Trainer

TARGET_COUNT = 4.0
"""Ours (the paper gives no value): desired spikes per step of the label's neuron."""


def count_targets(target: torch.Tensor, classes: int, target_count: float = TARGET_COUNT,
                  other_count: float = 0.0) -> torch.Tensor:
    """Desired spikes per step ``[B, K]``: ``target_count`` at the label, else ``other_count``.

    ``y_i[t]`` of the multi-threshold LIF paper's eq. 6 (the same at every step).

    Args:
        target: class labels ``[B]`` (int64).
        classes: ``K``, the number of classes.
        target_count: desired spikes per step of the label's neuron.
        other_count: desired spikes per step of every other neuron.

    Returns:
        ``[B, K]`` in the default float dtype.
    """
    one_hot = F.one_hot(target, classes).to(torch.get_default_dtype())
    return other_count + (target_count - other_count) * one_hot


def count_mse(output: torch.Tensor, target: torch.Tensor, target_count: float = TARGET_COUNT,
              other_count: float = 0.0) -> torch.Tensor:
    """Per-step MSE between output counts ``[T, B, K]`` and desired counts (labels ``[B]``).

    Multi-threshold LIF paper eq. 6: ``mean over t, b, i of (o_i[t] - y_i[t])^2``.
    Registered as loss ``"mt-mse"``.

    Args:
        output: output spike counts per step ``[T, B, K]``.
        target: class labels ``[B]``.
        target_count: desired spikes per step of the label's neuron.
        other_count: desired spikes per step of every other neuron.

    Returns:
        The scalar loss (squared spikes per step), in float32 for half-precision outputs.

    Raises:
        ShapeError: ``output`` is not 3-D ``[T, B, K]``.
    """
    if output.ndim != 3:
        raise ShapeError(
            f"count_mse expects spike counts per step [T, B, K], got shape {tuple(output.shape)}; "
            "use a spiking network (ANN outputs [B, K] have no time axis)"
        )
    # in at least float32, like the built-in losses under autocast: a bf16 mean of squares
    # would round the logged loss (and its gradient's scale) to 8 bits
    output = output.to(torch.promote_types(output.dtype, torch.float32))
    desired = count_targets(target, output.shape[-1], target_count, other_count).to(output.dtype)
    return (output - desired.unsqueeze(0)).pow(2).mean()


LOSSES.register("mt-mse")(count_mse)


@CALLBACKS.register("mt-count-loss")
class CountLoss(Callback):
    """Deprecated: makes the trainer use :func:`count_mse` with the given desired counts.

    Configure the loss instead: ``loss: {name: mt-mse, args: {target_count: 4.0}}``.
    Kept so that older configs and checkpoints still run (with a warning).

    Args:
        target_count: desired spikes per step of the label's neuron.
        other_count: desired spikes per step of every other neuron.
    """

    def __init__(self, target_count: float = TARGET_COUNT, other_count: float = 0.0) -> None:
        self.target_count, self.other_count = float(target_count), float(other_count)

    def on_train_start(self, trainer: Trainer) -> None:
        """Warn (``DeprecationWarning``) and set ``trainer.loss_fn`` to :func:`count_mse`.

        Args:
            trainer: the trainer whose loss is replaced.
        """
        warnings.warn("callback 'mt-count-loss' is deprecated: set the run config's loss to "
                      "{name: mt-mse, args: {target_count: ...}} instead", DeprecationWarning,
                      stacklevel=2)
        trainer.loss_fn = partial(count_mse, target_count=self.target_count,
                                  other_count=self.other_count)

    def state_dict(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """No tensors; the desired counts as JSON state."""
        return {}, {"target_count": self.target_count, "other_count": self.other_count}
