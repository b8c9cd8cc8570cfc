"""The resume policy: what may change when a run continues, and how changes are applied.

May change (applied for real): ``optim.epochs`` (the cosine schedule is
stretched to the new length), ``optim.lr`` (every parameter group and the
scheduler's base learning rate; the schedule continues from the current step),
``optim.eval_batch_size``, ``optim.grad_clip``, ``log_every``, ``tensorboard``,
``plots``, ``out_dir``, ``data.data_dir``, ``data.workers`` and ``device``.

May not change (the run would no longer be the one that was saved): the model
and its arguments, ``seed``, ``name``, the data (name, limits, augmentation,
frames), the loss, the optimizer and its other settings, the schedule, the
batch size and the callbacks. Changing them raises :class:`ConfigError`.
"""

from __future__ import annotations

import json
import math
from typing import Any

import torch

from spikebit.errors import CheckpointError, ConfigError
from spikebit.train.callbacks import load_callback_state
from spikebit.train.checkpoint import load_checkpoint, restore_model
from spikebit.train.checkpoint_meta import require_training_sections
from spikebit.train.device import restore_device_state
from spikebit.train.optim_state import restore_optimizer
from spikebit.train.state import TrainerView, TrainState

RESUMABLE = frozenset({
    "optim.epochs", "optim.lr", "optim.eval_batch_size", "optim.grad_clip", "log_every",
    "tensorboard", "plots", "out_dir", "data.data_dir", "data.workers",
})
RESUMABLE_SECTIONS = ("device",)


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(d, dict) and (d or not prefix):
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: d}


def _resumable(key: str) -> bool:
    return key in RESUMABLE or key.split(".", 1)[0] in RESUMABLE_SECTIONS


def config_changes(saved: dict[str, Any], current: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """``{field: (saved, current)}`` for every leaf that differs (JSON-normalised).

    Args:
        saved: the config mapping recorded in the checkpoint.
        current: the config mapping of this run (``RunConfig.to_dict()``).

    Returns:
        Dotted leaf names (``"optim.lr"``) mapped to ``(saved, current)`` values, sorted
        by name; a leaf missing on one side has ``None`` there.
    """
    a = _flatten(json.loads(json.dumps(saved)))
    b = _flatten(json.loads(json.dumps(current)))
    return {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}


def check_resume(saved: dict[str, Any], current: dict[str, Any], epoch: int,
                 epochs: int, where: str) -> dict[str, tuple[Any, Any]]:
    """Compare the ``saved`` and ``current`` config mappings; return the allowed changes.

    Args:
        saved: the config mapping recorded in the checkpoint.
        current: the config mapping of this run.
        epoch: epochs the checkpoint has trained.
        epochs: the config's target ``optim.epochs``.
        where: the checkpoint path, for messages.

    Returns:
        The allowed changes, as :func:`config_changes` gives them.

    Raises:
        ConfigError: a change outside :data:`RESUMABLE` (and the ``device`` section),
            or ``epoch >= epochs`` (nothing left to train).
    """
    changes = config_changes(saved, current)
    refused = {k: v for k, v in changes.items() if not _resumable(k)}
    if refused:
        listing = "; ".join(f"{k}: {a!r} -> {b!r}" for k, a, b in
                            ((k, *v) for k, v in list(refused.items())[:6]))
        raise ConfigError(
            f"cannot resume from {where}: the config changes {listing}. A resumed run may only "
            f"change {', '.join(sorted(RESUMABLE))}. Resume with the original values, or start "
            "a new run under another name (--set name=...) without --resume"
        )
    if epoch >= epochs:
        raise ConfigError(
            f"cannot resume from {where}: it has already trained {epoch} epoch(s) and "
            f"optim.epochs is {epochs}, so there is nothing left to train; raise optim.epochs "
            f"(e.g. --set optim.epochs={epoch + 1}) to continue it"
        )
    return changes


def apply_changes(trainer: TrainerView, changes: dict[str, tuple[Any, Any]]) -> None:
    """Make allowed ``changes`` (from :func:`check_resume`) to ``optim.lr`` or
    ``optim.epochs`` take effect in ``trainer``'s optimizer and scheduler.

    The base learning rate becomes ``trainer.config.optim.lr``; a cosine schedule is
    stretched to ``trainer.total_steps`` and continues from its current step. Without
    either change the restored state is left untouched.

    Args:
        trainer: the trainer after its state was restored; changed in place.
        changes: the allowed changes returned by :func:`check_resume`.
    """
    if "optim.lr" not in changes and "optim.epochs" not in changes:
        return  # untouched: the restored state continues bit for bit
    lr = trainer.config.optim.lr
    sched = trainer.scheduler
    opt = trainer.optimizer
    for group in opt.param_groups:
        group["initial_lr"] = lr
    sched.base_lrs = [lr] * len(opt.param_groups)
    if hasattr(sched, "T_max"):  # cosine: same shape over the new total length
        sched.T_max = max(1, trainer.total_steps)
        t = min(sched.last_epoch, sched.T_max)
        shape = (1 + math.cos(math.pi * t / sched.T_max)) / 2
        values = [sched.eta_min + (b - sched.eta_min) * shape for b in sched.base_lrs]
    else:
        values = [lr] * len(opt.param_groups)
    for group, value in zip(opt.param_groups, values):
        group["lr"] = value
    sched._last_lr = list(values)


def _check_like(saved: Any, fresh: Any, field: str, where: str) -> None:
    """``saved`` must have the structure and value types of ``fresh`` (JSON-normalised)."""
    def fail(why: str) -> CheckpointError:
        return CheckpointError(f"checkpoint {where}: metadata field {field!r} {why}; the file "
                               "was edited or belongs to another schedule")

    if isinstance(fresh, bool) or fresh is None or isinstance(fresh, str):
        if type(saved) is not type(fresh) and not (fresh is None or saved is None):
            raise fail(f"must be {type(fresh).__name__}, got {saved!r}")
    elif isinstance(fresh, int):
        if not isinstance(saved, int) or isinstance(saved, bool) or saved < 0:
            raise fail(f"must be an integer >= 0, got {saved!r}")
    elif isinstance(fresh, float):
        if not isinstance(saved, int | float) or isinstance(saved, bool) \
                or not math.isfinite(saved):
            raise fail(f"must be a finite number, got {saved!r}")
    elif isinstance(fresh, list | tuple):
        if not isinstance(saved, list) or len(saved) != len(fresh):
            raise fail(f"must be a list of {len(fresh)}, got {saved!r}")
        for i, (a, b) in enumerate(zip(saved, fresh)):
            _check_like(a, b, f"{field}[{i}]", where)
    elif isinstance(fresh, dict):
        if not isinstance(saved, dict):
            raise fail(f"must be a mapping, got {saved!r}")
        for key, value in fresh.items():
            if key != "lr_lambdas":
                if key not in saved:
                    raise fail(f"lacks {key!r}")
                _check_like(saved[key], value, f"{field}.{key}", where)


def restore_trainer(trainer: TrainerView, path: Any = None) -> None:
    """Restore model, optimizer, scheduler, RNG, trainer state and callbacks from ``path``
    (default: the trainer's ``last.safetensors``).

    The checkpoint's config must agree with ``trainer.config`` except for the
    fields listed in :data:`RESUMABLE` (:func:`check_resume`); allowed changes
    are applied (:func:`apply_changes`).

    Args:
        trainer: the trainer to restore into; changed in place (also the global
            torch RNG state).
        path: a checkpoint file, or ``None`` for ``trainer.run_dir/last.safetensors``.

    Raises:
        CheckpointError: the checkpoint is missing, corrupt, not a complete training
            checkpoint, or does not match the model, optimizer, scheduler or callbacks.
        ConfigError: the config changed outside :data:`RESUMABLE`, or nothing is left
            to train.
    """
    where = str(path or trainer.run_dir / "last.safetensors")
    ckpt = load_checkpoint(where)
    require_training_sections(ckpt.meta, where)
    t = ckpt.meta["trainer"]
    changes = check_resume(ckpt.meta["config"], trainer.config.to_dict(), t["epoch"],
                           trainer.config.optim.epochs, where)
    restore_model(trainer.model, ckpt)
    restore_optimizer(trainer.optimizer, ckpt, trained_steps=t["step"])
    _check_like(ckpt.meta["scheduler"], trainer.scheduler.state_dict(), "scheduler", where)
    try:
        trainer.scheduler.load_state_dict(dict(ckpt.meta["scheduler"]))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CheckpointError(f"checkpoint {where}: metadata field 'scheduler' cannot be "
                              f"loaded ({type(exc).__name__}: {exc})") from None
    torch.set_rng_state(ckpt.tensors["rng.torch"])
    restore_device_state(trainer, ckpt)  # CUDA generator, fp16 gradient scaler
    trainer.state = TrainState(t["epoch"], t["step"], t["best_acc"], t["history"])
    try:
        load_callback_state(trainer.callbacks, ckpt.tensors, ckpt.meta["callbacks"], where)
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as exc:
        if isinstance(exc, CheckpointError):
            raise
        raise CheckpointError(f"checkpoint {where}: metadata field 'callbacks' cannot be "
                              f"loaded ({type(exc).__name__}: {exc})") from None
    apply_changes(trainer, changes)
