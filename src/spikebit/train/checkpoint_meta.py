"""Structure checks for checkpoint metadata and optimizer state.

Every check raises :class:`~spikebit.errors.CheckpointError` naming the field
(e.g. ``trainer.epoch``), so a damaged or hand-edited checkpoint is refused
with a message instead of failing later with a ``KeyError`` or ``TypeError``.
"""

from __future__ import annotations

from typing import Any

import torch

from spikebit.errors import CheckpointError

Tensors = dict[str, torch.Tensor]
TRAINING_SECTIONS = ("config", "trainer", "optimizer", "scheduler", "callbacks")
"""Metadata sections that a checkpoint must hold to be resumed."""


def _fail(where: str, field: str, why: str) -> CheckpointError:
    return CheckpointError(
        f"checkpoint {where}: metadata field {field!r} {why}; the file was not written by "
        "this version of 'spikebit train' or was edited: use another checkpoint"
    )


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _check_trainer(t: Any, where: str) -> None:
    if not isinstance(t, dict):
        raise _fail(where, "trainer", f"must be a mapping, got {type(t).__name__}")
    for key in ("epoch", "step"):
        if not _is_int(t.get(key)) or t[key] < 0:
            raise _fail(where, f"trainer.{key}", f"must be an integer >= 0, got {t.get(key)!r}")
    if not _is_num(t.get("best_acc")):
        raise _fail(where, "trainer.best_acc", f"must be a number, got {t.get('best_acc')!r}")
    history = t.get("history")
    if not isinstance(history, list) or not all(isinstance(h, dict) for h in history):
        raise _fail(where, "trainer.history", "must be a list of per-epoch mappings")
    if len(history) != t["epoch"]:
        raise _fail(where, "trainer.history",
                    f"has {len(history)} entries for trainer.epoch={t['epoch']}")


def _check_optimizer(o: Any, tensors: Tensors, where: str) -> None:
    if not isinstance(o, dict):
        raise _fail(where, "optimizer", f"must be a mapping, got {type(o).__name__}")
    groups = o.get("param_groups")
    if not isinstance(groups, list) or not all(
        isinstance(g, dict) and isinstance(g.get("params"), list)
        and all(_is_int(i) for i in g["params"]) and _is_num(g.get("lr")) for g in groups
    ):
        raise _fail(where, "optimizer.param_groups",
                    "must be a list of groups with integer 'params' and a numeric 'lr'")
    if not isinstance(o.get("scalars"), dict):
        raise _fail(where, "optimizer.scalars", "must be a mapping")
    known = {i for g in groups for i in g["params"]}
    for key in [k for k in tensors if k.startswith("optim.")]:
        parts = key.split(".", 2)
        if len(parts) != 3 or not parts[1].isdigit() or int(parts[1]) not in known:
            raise _fail(where, key, "is not the state of a parameter in optimizer.param_groups")


_SECTION_TYPES: dict[str, type] = {
    "config": dict, "metrics": dict, "quantize": dict, "input": dict, "scheduler": dict,
    "callbacks": dict, "provenance": dict, "format": str, "device": dict,
}


def validate_meta(meta: dict[str, Any], tensors: Tensors, where: str) -> None:
    """Check the type of every known section of ``meta`` and its fields.

    Args:
        meta: the checkpoint's decoded JSON metadata.
        tensors: the file's tensors (for ``rng.torch`` and the optimizer state names).
        where: names the file in messages.

    Raises:
        CheckpointError: a section of the wrong type, non-bool ``quantize`` flags, a
            malformed ``input``, ``trainer`` or ``optimizer`` section, a missing or
            malformed ``rng.torch`` tensor, or optimizer state for an unknown
            parameter (the message names the field).
    """
    for key, kind in _SECTION_TYPES.items():
        if key in meta and not isinstance(meta[key], kind):
            raise _fail(where, key, f"must be a {kind.__name__}, got {type(meta[key]).__name__}")
    flags = meta.get("quantize", {})
    if not all(isinstance(v, bool) for v in flags.values()):
        raise _fail(where, "quantize", "must map layer names to true/false")
    shape = meta.get("input")
    if shape is not None:
        dims = shape.get("in_shape")
        if not isinstance(dims, list) or not dims or not all(_is_int(d) and d > 0 for d in dims):
            raise _fail(where, "input.in_shape",
                        f"must be a list of positive integers, got {dims!r}")
        if not _is_int(shape.get("num_classes")) or shape["num_classes"] < 1:
            raise _fail(where, "input.num_classes", "must be a positive integer")
    if "trainer" in meta:
        _check_trainer(meta["trainer"], where)
        rng = tensors.get("rng.torch")
        size = torch.get_rng_state().numel()
        if rng is None or rng.dtype != torch.uint8 or tuple(rng.shape) != (size,):
            raise _fail(where, "rng.torch", f"must be the uint8 torch RNG state tensor [{size}]")
    if "optimizer" in meta:
        _check_optimizer(meta["optimizer"], tensors, where)
    scaler = meta.get("device", {}).get("scaler")
    if scaler is not None and not isinstance(scaler, dict):
        raise _fail(where, "device.scaler", f"must be a mapping, got {type(scaler).__name__}")


def require_training_sections(meta: dict[str, Any], where: str) -> None:
    """``meta`` of the checkpoint at ``where`` must hold every section needed to resume
    (config, trainer, optimizer, scheduler, callbacks); else :class:`CheckpointError`.

    Args:
        meta: the checkpoint's decoded JSON metadata.
        where: names the file in messages.

    Raises:
        CheckpointError: a section is missing (e.g. an evaluation-only checkpoint).
    """
    missing = [k for k in TRAINING_SECTIONS if k not in meta]
    if missing:
        raise CheckpointError(
            f"checkpoint {where} lacks the metadata section(s) {missing} needed to resume; "
            "it is not a training checkpoint (evaluate it with 'spikebit eval' instead)"
        )
