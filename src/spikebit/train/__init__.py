"""Training: config, trainer, callbacks, losses, checkpoints, distributed.

The names below are loaded on first use, so importing one submodule (a method's
``from spikebit.train.callbacks import Callback``) does not import the whole training
stack. Where each job lives: ``docs/design.md`` (Layout, ``train/``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "CALLBACKS": "callbacks",
    "Callback": "callbacks",
    "Checkpoint": "checkpoint",
    "load_checkpoint": "checkpoint",
    "save_checkpoint": "checkpoint",
    "RunConfig": "schema",
    "config_from_dict": "config",
    "load_config": "config",
    "LOSSES": "losses",
    "readout": "losses",
    "model_from_checkpoint": "build",
    "model_from_config": "build",
    "prepare": "run",
    "fit_from_config": "run",
    "train_from_config": "run",
    "train_or_reuse": "run",
    "Trainer": "trainer",
    "evaluate": "trainer",
}

__all__ = [
    "CALLBACKS",
    "LOSSES",
    "Callback",
    "Checkpoint",
    "RunConfig",
    "Trainer",
    "config_from_dict",
    "evaluate",
    "fit_from_config",
    "load_checkpoint",
    "load_config",
    "model_from_checkpoint",
    "model_from_config",
    "prepare",
    "readout",
    "save_checkpoint",
    "train_from_config",
    "train_or_reuse",
]

if TYPE_CHECKING:
    from spikebit.train.build import model_from_checkpoint, model_from_config
    from spikebit.train.callbacks import CALLBACKS, Callback
    from spikebit.train.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
    from spikebit.train.config import config_from_dict, load_config
    from spikebit.train.losses import LOSSES, readout
    from spikebit.train.run import fit_from_config, prepare, train_from_config, train_or_reuse
    from spikebit.train.schema import RunConfig
    from spikebit.train.trainer import Trainer, evaluate


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
