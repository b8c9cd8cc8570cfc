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
from spikebit.errors import CheckpointError, ConfigError
from spikebit.models import MODELS
from spikebit.registry import import_plugins
from spikebit.train.callbacks import CALLBACKS, Callback
from spikebit.train.checkpoint import Checkpoint, load_checkpoint, restore_model
from spikebit.train.config import DataSection, RunConfig, config_from_dict
from spikebit.train.device import (
    check_precision,
    checkpoint_device,
    requested_device,
    resolve_device,
)
from spikebit.train.distributed import init_from_env
from spikebit.train.loader import num_classes, stream_enabled, streaming_transform
from spikebit.train.losses import make_loss
from spikebit.train.rundir import move_aside, run_files
from spikebit.train.seeds import with_repeat_seed
from spikebit.train.trainer import Trainer, input_shape, preflight, seed_everything
from spikebit.train.validate import build_component


def load_data(data: DataSection) -> tuple[ArrayDataset, ArrayDataset]:
    """Train and test splits, limited to the first ``*_limit`` samples if set.

    Args:
        data: the config's ``data`` section: ``name``, ``data_dir``, ``train_limit``,
            ``test_limit``; for event data ``frames`` (keyword arguments of
            :func:`~spikebit.data.events.training.load_event_frames`, e.g. ``{T: 10}``);
            for image folders ``stream`` and ``image_size`` (see
            :func:`~spikebit.train.loader.stream_enabled`).

    Returns:
        ``(train, test)``: in-memory datasets with images ``[N, C, H, W]``, or event
        frames ``[N, T, C, H, W]`` (batch-first) when ``frames`` is set; lazily decoded
        :class:`~spikebit.data.imagefiles.ImageFiles` when streaming.

    Raises:
        RegistryError: an unknown static dataset name.
        DataError: an unknown event or streamed dataset, or missing or corrupt files.
    """
    if stream_enabled(data):  # lazily decoded image files (train/loader.py)
        from spikebit.data.folders import stream_folder

        train = stream_folder(data.name, True, data.data_dir, data.image_size)
        test = stream_folder(data.name, False, data.data_dir, data.image_size)
    elif data.frames:
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
    """Training augmentation, and per-channel (mean, std) of the train set if normalizing.

    A streamed dataset (not an :class:`~spikebit.data.dataset.ArrayDataset`) gets no
    batch transform (its workers crop and flip per sample) and its fixed ``stats``
    (:func:`~spikebit.train.loader.streaming_transform`).

    Args:
        data: the config's ``data`` section (``normalize``, ``crop_padding``, ``hflip``).
        train: the training split; its statistics and image size are used.

    Returns:
        ``(transform, stats)``: a :class:`~spikebit.data.transforms.Compose` of
        ``RandomCrop`` (padding ``crop_padding`` pixels) and ``RandomHorizontalFlip``
        (p = 0.5), or ``None`` without augmentation; and ``(mean, std)`` lists with
        one value per channel ``C`` when ``normalize`` is set, else ``None``.

    Raises:
        DataError: ``normalize`` is set for a streamed dataset without ``stats``.
    """
    if not isinstance(train, ArrayDataset):
        return streaming_transform(data, train)
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
    """The zoo model named in ``config.model`` with dataset-derived defaults filled in.

    ``in_shape`` and ``num_classes`` are passed to the model factory when it accepts
    them and ``config.model.args`` does not set them.

    Args:
        config: the run config (``model.name``, ``model.args``).
        in_shape: per-sample input shape ``(C, H, W)`` (one time step for event frames).
        num_classes: number of output classes ``K``.

    Returns:
        The model, on the CPU.

    Raises:
        RegistryError: an unknown model name.
        ConfigError: the factory refuses its arguments.
    """
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
    """The callbacks listed in ``config.callbacks``, built from their registered names.

    Each callback's ``config_name`` is set to its name, which keys its checkpoint state.

    Args:
        config: the run config; ``callbacks`` is a list of ``{name, args}`` entries.

    Returns:
        A list of one :class:`~spikebit.train.callbacks.Callback` per entry, in config
        order.

    Raises:
        RegistryError: an unknown callback name.
        ConfigError: a callback refuses its arguments.
    """
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
    model = build_model(config, input_shape(train), num_classes(train))
    if norm is not None:
        model = _Normalized(model, *norm)
    return model, train, test, transform


def train_from_config(config: RunConfig, resume: bool = False) -> tuple[dict[str, Any], Path]:
    """Run a whole training as ``config`` says; returns final metrics and the run directory.

    Without ``resume``, an earlier run in ``out_dir/name`` is moved aside first
    (:func:`move_aside`), so starting over never overwrites saved checkpoints.

    Args:
        config: the validated run config.
        resume: continue from ``out_dir/name/last.safetensors`` (see
            :func:`spikebit.train.resume.restore_trainer`).

    Returns:
        ``(metrics, run_dir)``: the final epoch's record (``test_acc``,
        ``best_test_acc``, ...) and the run directory.

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
    check_precision(config.precision, device)                # before anything is touched
    dist = init_from_env(device)
    run_dir = Path(config.out_dir) / config.name
    model, train, test, transform = prepare(config)
    preflight(model.to(device), train, make_loss(config.loss), device, config.precision)
    found = run_files(run_dir) if run_dir.is_dir() else []
    if not resume and dist.is_main and found:
        move_aside(run_dir, f"files from an earlier run ({', '.join(found)}; use --resume "
                   "to continue it)")
    trainer = Trainer(config, model, train, test, build_callbacks(config), transform, dist=dist,
                      device=device)
    metrics = trainer.fit(resume=resume)
    return metrics, trainer.run_dir


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


def model_from_checkpoint(
    path: str | Path, device: str | torch.device | None = None
) -> tuple[nn.Module, RunConfig, Checkpoint]:
    """Rebuild the model recorded in a checkpoint and load its weights (no data needed).

    The model is built from the checkpoint's ``config`` and ``input`` metadata
    (defaults ``in_shape = (1, 28, 28)``, ``num_classes = 10`` when absent), with the
    normalization wrapper when the checkpoint holds one.

    Args:
        path: a ``.safetensors`` checkpoint or a run directory.
        device: where the model lands (``map_location`` semantics; default: the CPU,
            or a :func:`~spikebit.train.device.use_device` override), whatever device
            trained it.

    Returns:
        ``(model, config, ckpt)``: the model with the saved weights and ``quantize``
        flags on ``device``, the run config, and the loaded checkpoint.

    Raises:
        CheckpointError: ``device`` does not exist here, or the file is missing,
            corrupt, lacks ``config``, or does not match the model its config builds.
        ConfigError: the recorded config is invalid or a plugin cannot be imported.
    """
    target = checkpoint_device(requested_device(device))
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
    return model.to(target), config, ckpt
