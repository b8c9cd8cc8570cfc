"""Optimizer state to and from checkpoint tensors, with every part checked on restore."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from spikebit.errors import CheckpointError

if TYPE_CHECKING:
    from spikebit.train.checkpoint import Checkpoint

_PER_PARAM = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq", "momentum_buffer")
"""State entries shaped like their parameter (Adam/AdamW moments, SGD momentum)."""
_STATE_KEYS = {
    torch.optim.Adam: {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"},
    torch.optim.AdamW: {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"},
    torch.optim.SGD: {"momentum_buffer"},
}


def optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """Split an optimizer state dict into tensors and JSON-able parts.

    Args:
        optimizer: any torch optimizer.

    Returns:
        ``(tensors, meta)``: per-parameter state tensors named ``optim.<index>.<key>``
        (e.g. ``optim.0.exp_avg``), and ``{"param_groups": ..., "scalars":
        {index: {key: value}}}`` holding the groups (hyper-parameters, learning rates)
        and every non-tensor state entry.
    """
    sd = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, state in sd["state"].items():
        for key, value in state.items():
            if torch.is_tensor(value):
                tensors[f"optim.{idx}.{key}"] = value
            else:
                scalars.setdefault(str(idx), {})[key] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def _fail(field: str, why: str) -> CheckpointError:
    return CheckpointError(
        f"checkpoint optimizer state {field!r} {why}; the checkpoint does not belong to this "
        "run's optimizer and model (resume with the config it was trained with)"
    )


def restore_optimizer(optimizer: torch.optim.Optimizer, ckpt: Checkpoint,
                      trained_steps: int = 0) -> None:
    """Load the optimizer state saved by :func:`optimizer_tensors` from ``ckpt``.

    Args:
        optimizer: the run's optimizer over the same parameters, in the same groups;
            changed in place.
        ckpt: a training checkpoint (``optim.*`` tensors and ``optimizer`` metadata).
        trained_steps: optimizer steps the checkpoint has trained; when positive, a
            stateful optimizer (Adam, AdamW, SGD with momentum) must find its state.

    Raises:
        CheckpointError: groups or parameter counts differ, a state entry names no
            parameter or is not one of the optimizer's, a per-parameter tensor has the
            wrong shape, the state was dropped although ``trained_steps > 0`` (the
            optimizer would silently restart), or torch refuses the state dict.
    """
    info = ckpt.meta["optimizer"]
    params = [p for g in optimizer.param_groups for p in g["params"]]
    saved_groups = info["param_groups"]
    sizes = [len(g["params"]) for g in optimizer.param_groups]
    if [len(g["params"]) for g in saved_groups] != sizes:
        raise _fail("param_groups", "has a different number of groups or parameters")
    state: dict[int, dict[str, Any]] = {}
    for key, value in ckpt.section("optim").items():
        idx, name = key.split(".", 1)
        state.setdefault(int(idx), {})[name] = value
    for idx, extra in info["scalars"].items():
        if not str(idx).isdigit():
            raise _fail(f"scalars.{idx}", "is not a parameter index")
        state.setdefault(int(idx), {}).update(extra)
    allowed = _STATE_KEYS.get(type(optimizer))
    ids = [i for g in saved_groups for i in g["params"]]
    for idx, entry in state.items():
        if idx not in ids:
            raise _fail(f"optim.{idx}", "names no parameter")
        param = params[ids.index(idx)]
        for name, value in entry.items():
            if allowed is not None and name not in allowed:
                raise _fail(f"optim.{idx}.{name}",
                            f"is not a {type(optimizer).__name__} state entry {sorted(allowed)}")
            if name in _PER_PARAM and (not torch.is_tensor(value) or value.shape != param.shape):
                shape = tuple(value.shape) if torch.is_tensor(value) else type(value).__name__
                raise _fail(f"optim.{idx}.{name}",
                            f"has shape {shape}, its parameter {tuple(param.shape)}")
    stateful = allowed is not None and (type(optimizer) is not torch.optim.SGD
                                        or any(g.get("momentum", 0) for g in saved_groups))
    if trained_steps > 0 and stateful and not state:
        raise _fail("optim.*", f"is missing although {trained_steps} steps were trained "
                    "(resuming would silently restart the optimizer)")
    try:
        optimizer.load_state_dict({"state": state, "param_groups": saved_groups})
    except (ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise _fail("param_groups", f"cannot be loaded ({exc})") from None
