"""One ``spikebit train``, start to end: config -> data and model -> trainer -> run directory.

Each step is its own module; this one only connects them, in order:

1. :mod:`spikebit.train.config` reads and validates the :class:`RunConfig`;
2. :mod:`spikebit.train.datasets` loads the splits and the augmentation
   (:func:`prepare`);
3. :mod:`spikebit.train.build` builds the model and the callbacks (:func:`prepare`);
4. :class:`spikebit.train.trainer.Trainer` runs the loop; :mod:`spikebit.train.rundir`
   prepares the run directory and :mod:`spikebit.train.checkpoint` writes into it.

:func:`fit_from_config` returns the trainer, which holds the outcome (model, history,
best accuracy, run directory); :func:`train_from_config` returns its final metrics and
run directory; :func:`train_or_reuse` adds reuse and resume for experiment runners.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from torch import nn

from spikebit.data import ArrayDataset
from spikebit.data.transforms import Transform
from spikebit.errors import ConfigError
from spikebit.registry import import_plugins
from spikebit.train.build import build_callbacks, model_from_config
from spikebit.train.checkpoint import load_checkpoint
from spikebit.train.config import config_from_dict
from spikebit.train.datasets import load_data, make_transform
from spikebit.train.device import check_precision, requested_device, resolve_device
from spikebit.train.distributed import init_from_env
from spikebit.train.loader import num_classes, sample_shape
from spikebit.train.rundir import move_aside
from spikebit.train.schema import RunConfig
from spikebit.train.seeds import seed_everything, with_repeat_seed
from spikebit.train.trainer import Trainer


def prepare(config: RunConfig) -> tuple[nn.Module, ArrayDataset, ArrayDataset, Transform | None]:
    """Seed, load data and build the model (with input normalization folded in).

    Imports the config's ``imports`` plugins first, then seeds Python, numpy and
    torch with ``config.seed``.

    Args:
        config: the run config.

    Returns:
        ``(model, train, test, transform)``: the model (wrapped so that inputs are
        normalized by the train set's per-channel mean and std when
        ``data.normalize`` is set), the two splits and the training augmentation
        (or ``None``).

    Raises:
        ConfigError: a plugin cannot be imported, or the model refuses its arguments.
        RegistryError: an unknown dataset or model name.
        DataError: the data are missing or corrupt.
    """
    import_plugins(config.imports)
    seed_everything(config.seed)
    train, test = load_data(config.data)
    transform, norm = make_transform(config.data, train)
    model = model_from_config(config, sample_shape(train), num_classes(train), norm)
    return model, train, test, transform


def fit_from_config(config: RunConfig, resume: bool = False) -> Trainer:
    """Run a whole training as ``config`` says and return the trainer that ran it.

    The device and precision are checked before any data is loaded; the trainer
    checks the model and data before anything is written; without ``resume``, an
    earlier run in ``out_dir/name`` is moved aside (``NAME.replaced-TIMESTAMP``) when
    training starts, so starting over never overwrites saved checkpoints.

    Args:
        config: the validated run config.
        resume: continue from ``out_dir/name/last.safetensors`` (see
            :func:`spikebit.train.resume.restore_trainer`).

    Returns:
        The trainer after training (a :class:`~spikebit.train.trainer.Trainer`), which
        holds the trained ``model``, the ``state`` (``history`` of every epoch's metrics,
        ``best_acc``) and the ``run_dir``.

    Raises:
        ConfigError: an unknown or absent device, a precision the device cannot run,
            a plugin, model or callback the config cannot build, or a resume that
            changes a fixed field.
        RegistryError: an unknown dataset, model or callback name.
        DataError: missing or corrupt data.
        CheckpointError: an unwritable run directory or a bad checkpoint to resume.
        TrainingError: training diverged.
    """
    device = resolve_device(requested_device(config.device))  # bad device/precision: error
    check_precision(config.precision, device)                # before the data are loaded
    dist = init_from_env(device)
    model, train, test, transform = prepare(config)
    trainer = Trainer(config, model, train, test, build_callbacks(config), transform, dist=dist,
                      device=device)
    trainer.fit(resume=resume)
    return trainer


def train_from_config(config: RunConfig, resume: bool = False) -> tuple[dict[str, Any], Path]:
    """Run a whole training as ``config`` says; returns final metrics and the run directory.

    :func:`fit_from_config`, keeping only the last epoch's record.

    Args:
        config: the validated run config.
        resume: continue from ``out_dir/name/last.safetensors``.

    Returns:
        ``(metrics, run_dir)``: the final epoch's record (``test_acc``,
        ``best_test_acc``, ...) and the run directory.

    Raises:
        ConfigError: as :func:`fit_from_config`.
        RegistryError: an unknown dataset, model or callback name.
        DataError: missing or corrupt data.
        CheckpointError: an unwritable run directory or a bad checkpoint to resume.
        TrainingError: training diverged.
    """
    trainer = fit_from_config(config, resume=resume)
    return trainer.state.history[-1], trainer.run_dir


def same_config(recorded: Any, config: RunConfig) -> bool:
    """Whether a checkpoint's ``recorded`` config mapping equals ``config``, after keys added
    to :class:`RunConfig` since it was written (e.g. ``device``, ``precision``) take their
    defaults; a recorded key that no longer exists makes them differ.

    Args:
        recorded: the ``config`` metadata of a checkpoint (any value; not a valid
            config mapping means "differs").
        config: this run's config.

    Returns:
        Whether both describe the same run (compared as JSON).
    """
    try:
        filled = config_from_dict(recorded).to_dict()
    except (ConfigError, TypeError):
        return False
    return json.loads(json.dumps(filled)) == json.loads(json.dumps(config.to_dict()))


def train_or_reuse(config: RunConfig | dict[str, Any]) -> tuple[dict[str, Any], Path]:
    """Like :func:`train_from_config`, for experiment runners that may be interrupted.

    A finished run in ``out_dir/name`` whose recorded config equals ``config`` is
    reused (its final metrics are returned, nothing is trained); an unfinished one
    is resumed from its last checkpoint; otherwise training starts fresh, and a run
    with a different config found there is moved aside (``NAME.replaced-TIMESTAMP``),
    never overwritten. Inside :func:`spikebit.train.seeds.seed_repeat` (``spikebit
    reproduce --seeds``) the seed and run name follow the repeat.

    Args:
        config: a run config, or its mapping form.

    Returns:
        ``(metrics, run_dir)`` as :func:`train_from_config` returns them.

    Raises:
        ConfigError: the config is invalid.
        CheckpointError: the existing run's checkpoint is unreadable.
        DataError: missing or corrupt data.
        TrainingError: training diverged.
    """
    if not isinstance(config, dict):
        config = config.to_dict()
    config = config_from_dict(with_repeat_seed(config))  # seed repeats (reproduce --seeds)
    last = Path(config.out_dir) / config.name / "last.safetensors"
    if last.is_file():
        meta = load_checkpoint(last).meta
        if same_config(meta.get("config"), config):
            if meta["trainer"]["epoch"] >= config.optim.epochs:
                return meta["metrics"], last.parent
            return train_from_config(config, resume=True)
        move_aside(last.parent, "a run with a different config")
    return train_from_config(config)
