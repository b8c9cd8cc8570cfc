"""From a :class:`RunConfig` to a trained model: data, model, callbacks, trainer."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from spikebit.data import ArrayDataset, Compose, RandomCrop, RandomHorizontalFlip
from spikebit.data import load_dataset as load_static
from spikebit.data.transforms import Transform
from spikebit.errors import CheckpointError
from spikebit.models import MODELS
from spikebit.registry import import_plugins
from spikebit.train.callbacks import CALLBACKS, Callback
from spikebit.train.checkpoint import Checkpoint, load_checkpoint, restore_model
from spikebit.train.config import DataSection, RunConfig, config_from_dict
from spikebit.train.distributed import init_from_env
from spikebit.train.rundir import move_aside, run_files
from spikebit.train.seeds import with_repeat_seed
from spikebit.train.trainer import Trainer, input_shape, seed_everything
from spikebit.train.validate import build_component


def load_data(data: DataSection) -> tuple[ArrayDataset, ArrayDataset]:
    """Train and test splits, limited to the first ``*_limit`` samples if set."""
    if data.frames:
        from spikebit.data.events.training import load_event_frames

        train, test = load_event_frames(data.name, data.data_dir, train_limit=data.train_limit,
                                        test_limit=data.test_limit, **data.frames)
    else:
        train = load_static(data.name, train=True, data_dir=data.data_dir)
        test = load_static(data.name, train=False, data_dir=data.data_dir)
    if data.train_limit:
        train = train.subset(torch.arange(min(data.train_limit, len(train))))
    if data.test_limit:
        test = test.subset(torch.arange(min(data.test_limit, len(test))))
    return train, test


Stats = tuple[list[float], list[float]]


def make_transform(data: DataSection, train: ArrayDataset) -> tuple[Transform | None, Stats | None]:
    """Training augmentation, and per-channel (mean, std) of the train set if normalizing."""
    norm = None
    if data.normalize:
        dims = [d for d in range(train.images.ndim) if d != train.images.ndim - 3]
        norm = (train.images.mean(dims).tolist(), train.images.std(dims).tolist())
    steps: list[Any] = []
    if data.crop_padding:
        steps.append(RandomCrop(tuple(train.images.shape[-2:]), padding=data.crop_padding))
    if data.hflip:
        steps.append(RandomHorizontalFlip(0.5))
    return (Compose(steps) if steps else None), norm


def build_model(config: RunConfig, in_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """The zoo model named in ``config.model`` with dataset-derived defaults filled in."""
    args = dict(config.model.args)
    factory = MODELS.get(config.model.name)
    params = inspect.signature(factory).parameters
    accepts_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    for key, value in (("in_shape", tuple(in_shape)), ("num_classes", num_classes)):
        if key not in args and (accepts_any or key in params):
            args[key] = value
    for key in ("in_shape",):
        if key in args:
            args[key] = tuple(args[key])
    return build_component(factory, args, f"model {config.model.name!r}")


def build_callbacks(config: RunConfig) -> list[Callback]:
    callbacks = []
    for c in config.callbacks:
        cb = build_component(CALLBACKS.get(c.name), c.args, f"callback {c.name!r}")
        cb.config_name = c.name  # its checkpoint key (see callbacks.callback_keys)
        callbacks.append(cb)
    return callbacks


class _Normalized(nn.Module):
    """Applies a fixed normalization before the model (kept with the checkpoint)."""

    def __init__(self, model: nn.Module, mean: list[float], std: list[float]) -> None:
        super().__init__()
        self.model = model
        shape = (-1,) + (1,) * 2
        self.register_buffer("mean", torch.tensor(mean).reshape(shape))
        self.register_buffer("std", torch.tensor(std).reshape(shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model((x - self.mean) / self.std)


def prepare(config: RunConfig) -> tuple[nn.Module, ArrayDataset, ArrayDataset, Transform | None]:
    """Seed, load data and build the model (with input normalization folded in)."""
    import_plugins(config.imports)
    seed_everything(config.seed)
    train, test = load_data(config.data)
    transform, norm = make_transform(config.data, train)
    model = build_model(config, input_shape(train), train.num_classes)
    if norm is not None:
        model = _Normalized(model, *norm)
    return model, train, test, transform


def train_from_config(config: RunConfig, resume: bool = False) -> tuple[dict[str, Any], Path]:
    """Run a whole training as ``config`` says; returns final metrics and the run directory.

    Without ``resume``, an earlier run in ``out_dir/name`` is moved aside first
    (:func:`move_aside`), so starting over never overwrites saved checkpoints.
    """
    dist = init_from_env()
    run_dir = Path(config.out_dir) / config.name
    found = run_files(run_dir) if run_dir.is_dir() else []
    if not resume and dist.is_main and found:
        move_aside(run_dir, f"files from an earlier run ({', '.join(found)}; use --resume "
                   "to continue it)")
    model, train, test, transform = prepare(config)
    trainer = Trainer(config, model, train, test, build_callbacks(config), transform, dist=dist)
    metrics = trainer.fit(resume=resume)
    return metrics, trainer.run_dir


def train_or_reuse(config: RunConfig | dict[str, Any]) -> tuple[dict[str, Any], Path]:
    """Like :func:`train_from_config`, for experiment runners that may be interrupted.

    A finished run in ``out_dir/name`` whose recorded config equals ``config`` is
    reused (its final metrics are returned, nothing is trained); an unfinished one
    is resumed from its last checkpoint; otherwise training starts fresh, and a run
    with a different config found there is moved aside (``NAME.replaced-TIMESTAMP``),
    never overwritten. Inside :func:`spikebit.train.seeds.seed_repeat` (``spikebit
    reproduce --seeds``) the seed and run name follow the repeat.
    """
    if not isinstance(config, dict):
        config = config.to_dict()
    config = config_from_dict(with_repeat_seed(config))  # seed repeats (reproduce --seeds)
    last = Path(config.out_dir) / config.name / "last.safetensors"
    if last.is_file():
        meta = load_checkpoint(last).meta
        if meta.get("config") == json.loads(json.dumps(config.to_dict())):
            if meta["trainer"]["epoch"] >= config.optim.epochs:
                return meta["metrics"], last.parent
            return train_from_config(config, resume=True)
        move_aside(last.parent, "a run with a different config")
    return train_from_config(config)


def model_from_checkpoint(path: str | Path) -> tuple[nn.Module, RunConfig, Checkpoint]:
    """Rebuild the model recorded in a checkpoint and load its weights (no data needed)."""
    ckpt = load_checkpoint(path)
    if "config" not in ckpt.meta:
        raise CheckpointError(f"checkpoint {path} lacks the metadata section 'config'; it was "
                              "not written by 'spikebit train' (or was edited)")
    config = config_from_dict(ckpt.meta["config"])
    import_plugins(config.imports)
    shape = ckpt.meta.get("input", {})
    seed_everything(config.seed)
    model = build_model(config, tuple(shape.get("in_shape", (1, 28, 28))),
                        int(shape.get("num_classes", 10)))
    if "model.mean" in ckpt.tensors:
        channels = ckpt.tensors["model.mean"].numel()
        model = _Normalized(model, [0.0] * channels, [1.0] * channels)
    restore_model(model, ckpt)
    return model, config, ckpt
