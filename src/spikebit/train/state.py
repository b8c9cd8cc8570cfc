"""What a running training holds, as callbacks and the resume policy see it.

:class:`TrainState` is the progress saved in every checkpoint; :class:`TrainerView` is
the part of :class:`spikebit.train.trainer.Trainer` that callbacks
(:mod:`spikebit.train.callbacks`) and :func:`spikebit.train.resume.restore_trainer` read
and change. Both live here so that those modules need not import the trainer (which
imports them): imports inside ``spikebit.train`` go one way
(``tests/train/test_import_graph.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from spikebit.train.schema import RunConfig


@dataclass
class TrainState:
    """Where training stands; saved in every checkpoint and restored on resume.

    Args:
        epoch: epochs completed (0 before the first one).
        step: optimizer steps taken so far (batches, over all epochs).
        best_acc: best test accuracy so far, in [0, 1] (``-1.0`` before any epoch).
        history: one metrics dict per completed epoch (the CSV rows of the run).
    """

    epoch: int = 0
    step: int = 0
    best_acc: float = -1.0
    history: list[dict[str, Any]] = field(default_factory=list)


class TrainerView(Protocol):
    """The running trainer as a callback sees it (a structural type; the
    :class:`~spikebit.train.trainer.Trainer` is one).

    Attributes:
        config: the run's validated configuration.
        model: the network being trained (not the DDP wrapper), on ``device``.
        optimizer: the optimizer over the model's parameter groups.
        scheduler: the learning-rate scheduler, stepped once per batch.
        state: epochs and steps done, best accuracy, history (:class:`TrainState`).
        total_steps: optimizer steps of the whole run (batches per epoch times epochs).
        run_dir: where checkpoints and logs are written.
        train_set: the training set (images ``[N, C, H, W]`` or frames
            ``[N, T, C, H, W]``).
        test_set: the evaluation set, same layout.
        loss_fn: the loss, ``loss_fn(output, labels)``; a callback may replace it.
        device: where the model and batches are.
        callbacks: every callback of the run, the built-in ones first.
    """

    config: RunConfig
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    state: TrainState
    total_steps: int
    run_dir: Path
    train_set: Any
    test_set: Any
    loss_fn: Any
    device: torch.device
    callbacks: list[Any]
