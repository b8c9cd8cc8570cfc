"""Training callbacks: how methods act per step and per epoch without editing the loop.

A hook receives the running trainer as a :class:`~spikebit.train.state.TrainerView`
(its ``model``, ``config``, ``state``, ``optimizer``, ``total_steps``, ...); this module
does not import the trainer, which imports it.
"""

from __future__ import annotations

from typing import Any

import torch

from spikebit.errors import CheckpointError
from spikebit.registry import Registry
from spikebit.train.state import TrainerView

CALLBACKS: Registry[type[Callback]] = Registry(
    "callback", discover=("spikebit.methods", "spikebit.metrics")
)


class Callback:
    """Base class; every hook is optional. ``state_dict`` is saved in checkpoints, keyed
    by the callback's registered name (:func:`callback_keys`), not by its position."""

    config_name: str | None = None  # the name it was built from (build.build_callbacks)

    def on_train_start(self, trainer: TrainerView) -> None:
        """Called once before the first (or resumed) epoch.

        Args:
            trainer: the running :class:`~spikebit.train.trainer.Trainer` (its
                ``model``, ``config``, ``state``, ``total_steps``, ...; see
                :class:`~spikebit.train.state.TrainerView`).
        """

    def on_step_start(self, trainer: TrainerView, step: int) -> None:
        """Called before the forward pass of global step ``step``.

        Args:
            trainer: the running trainer.
            step: global optimizer step, 0-based, counted over all epochs
                (``0 .. trainer.total_steps - 1``).
        """

    def on_step_end(self, trainer: TrainerView, step: int, loss: float) -> None:
        """Called after the optimizer and learning-rate scheduler steps.

        Args:
            trainer: the running trainer.
            step: global optimizer step just taken, 0-based.
            loss: this rank's batch loss (mean over the batch) at that step.
        """

    def on_epoch_end(self, trainer: TrainerView, epoch: int, metrics: dict[str, Any]) -> None:
        """Called after evaluation; may add JSON-able entries to ``metrics``.

        Args:
            trainer: the running trainer.
            epoch: the epoch just finished, 0-based.
            metrics: the epoch's record (``train_loss``, ``train_acc``, ``test_loss``,
                ``test_acc``, ``epoch`` (1-based), ``lr``, ``epoch_seconds``); entries
                added here are logged and saved in the history.
        """

    def on_train_end(self, trainer: TrainerView) -> None:
        """Called after the last epoch.

        Args:
            trainer: the running trainer.
        """

    def state_dict(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Tensors and JSON-able state to checkpoint (default: none)."""
        return {}, {}

    def load_state_dict(self, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (default: nothing to restore).

        Args:
            tensors: the tensors :meth:`state_dict` saved, keys without the
                ``callback.<key>.`` checkpoint prefix.
            meta: the JSON-able state :meth:`state_dict` saved.
        """


@CALLBACKS.register("quantizer-schedule")
class QuantizerSchedule(Callback):
    """Feed training progress (0 -> 1) to quantizers that anneal (e.g. Q-SNN's ``t``).

    Registered as ``quantizer-schedule``. Every module of ``trainer.model`` with a
    callable ``set_progress`` receives ``step / max(1, total_steps - 1)`` before each
    step.
    """

    def on_step_start(self, trainer: TrainerView, step: int) -> None:
        """Call ``set_progress(step / max(1, total_steps - 1))`` on every module that has it.

        Args:
            trainer: the running trainer (its ``model`` and ``total_steps`` are read).
            step: global optimizer step, 0-based.
        """
        progress = step / max(1, trainer.total_steps - 1)
        for module in trainer.model.modules():
            setter = getattr(module, "set_progress", None)
            if callable(setter):
                setter(progress)


@CALLBACKS.register("init-weights")
class InitWeights(Callback):
    """Start a fresh run from a trained model's weights (fine-tuning).

    Registered as ``init-weights``. At the start of a fresh run (step 0) it loads the
    model tensors (weights, BN statistics) and ``quantize`` flags of ``path`` into the
    run's model; a resumed run keeps its own checkpoint's state. The optimizer, schedule
    and step count start fresh. Put it first in ``callbacks`` so that the other
    callbacks' ``on_train_start`` sees the loaded weights.

    Args:
        path: a ``.safetensors`` checkpoint (or run directory) of the same model config.

    Raises:
        CheckpointError: (at train start) the file is missing, unreadable or holds another
            model's tensors.
    """

    def __init__(self, path: str) -> None:
        self.path = str(path)

    def on_train_start(self, trainer: TrainerView) -> None:
        """Load the weights and flags of ``path`` into ``trainer.model`` unless resumed.

        Args:
            trainer: the trainer (``state.step`` and ``model`` are used).

        Raises:
            CheckpointError: the checkpoint cannot be read or does not fit the model.
        """
        if trainer.state.step > 0:
            return
        from spikebit.train.checkpoint import load_checkpoint, restore_model

        restore_model(trainer.model, load_checkpoint(self.path))


def callback_keys(callbacks: list[Callback]) -> list[str]:
    """Stable checkpoint keys of ``callbacks``: the registered name (``flip-ratio``),
    ``name#2`` for a second callback of the same name; unregistered classes use their
    class name.

    Args:
        callbacks: the run's callbacks, in config order.

    Returns:
        One key per callback, in the same order.
    """
    registered = {}
    for name in CALLBACKS.names():
        registered.setdefault(CALLBACKS.get(name), name)
    keys, seen = [], {}
    for cb in callbacks:
        base = cb.config_name or registered.get(type(cb)) or type(cb).__name__
        seen[base] = seen.get(base, 0) + 1
        keys.append(base if seen[base] == 1 else f"{base}#{seen[base]}")
    return keys


def callback_state(callbacks: list[Callback]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Checkpoint tensors ``callback.KEY.NAME`` and JSON state ``{KEY: meta}`` of
    ``callbacks``, keyed by :func:`callback_keys`.

    Args:
        callbacks: the run's callbacks.

    Returns:
        ``(tensors, meta)``: every callback's tensors under ``callback.<key>.`` and its
        JSON-able state under ``<key>``.
    """
    tensors: dict[str, torch.Tensor] = {}
    meta: dict[str, Any] = {}
    for key, cb in zip(callback_keys(callbacks), callbacks):
        t, m = cb.state_dict()
        tensors.update({f"callback.{key}.{k}": v for k, v in t.items()})
        meta[key] = m
    return tensors, meta


def _load_by_position(callbacks: list[Callback], keys: list[str],
                      tensors: dict[str, torch.Tensor], meta: dict[str, Any],
                      source: object) -> None:
    """:func:`load_callback_state` for checkpoints that keyed callbacks ``"0"``, ``"1"``..."""
    if len(meta) != len(keys):
        raise CheckpointError(
            f"{source} holds state for {len(meta)} callbacks (saved by position) but "
            f"this run has {len(keys)} ({', '.join(keys)}); resume with the callbacks the "
            "checkpoint was trained with, in the same order")
    for i, cb in enumerate(callbacks):
        prefix = f"callback{i}."
        cb.load_state_dict({k[len(prefix):]: v for k, v in tensors.items()
                            if k.startswith(prefix)}, meta[str(i)])


def load_callback_state(callbacks: list[Callback], tensors: dict[str, torch.Tensor],
                        meta: dict[str, Any], source: object = "the checkpoint") -> None:
    """Give each of ``callbacks`` the state saved under its key in ``tensors`` (all the
    checkpoint's tensors) and ``meta`` (the checkpoint's ``"callbacks"`` entry); ``source``
    names the checkpoint in errors.

    Checkpoints written before keys were names (``"0"``, ``"1"``, ...) are read by
    position. Callbacks without state (saved ``{}``) need not match.

    Args:
        callbacks: the run's callbacks; each receives its state in place.
        tensors: all the checkpoint's tensors.
        meta: the checkpoint's ``"callbacks"`` metadata entry.
        source: names the checkpoint in errors.

    Raises:
        CheckpointError: the checkpoint's callbacks and the configured ones differ (a
            callback would otherwise get another's state, or none).
    """
    keys = callback_keys(callbacks)
    if meta and all(k.isdigit() for k in meta):  # positional (older checkpoints)
        _load_by_position(callbacks, keys, tensors, meta, source)
        return

    def has_state(key: str) -> bool:
        return bool(meta.get(key)) or any(k.startswith(f"callback.{key}.") for k in tensors)

    def fresh_state(cb: Callback) -> bool:
        t, m = cb.state_dict()
        return bool(t) or bool(m)

    # stateless callbacks (progress printers, schedules) need not match
    dropped = sorted(k for k in meta if k not in keys and has_state(k))
    fresh = sorted(k for k, cb in zip(keys, callbacks) if k not in meta and fresh_state(cb))
    if dropped or fresh:
        raise CheckpointError(
            f"{source} was saved with callbacks [{', '.join(sorted(meta))}] but the config "
            f"has [{', '.join(keys)}]: the state of {dropped or 'none'} would be dropped and "
            f"{fresh or 'none'} would start from scratch; resume with the checkpoint's "
            "callbacks (by name; their order does not matter), or start a new run")
    for key, cb in zip(keys, callbacks):
        if key not in meta:
            continue
        prefix = f"callback.{key}."
        cb.load_state_dict({k[len(prefix):]: v for k, v in tensors.items()
                            if k.startswith(prefix)}, meta[key])
