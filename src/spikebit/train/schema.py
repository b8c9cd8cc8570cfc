"""What a run config holds: the :class:`RunConfig` dataclass and its sections.

Only the fields, their types and defaults live here; reading YAML, ``--set`` overrides
and type conversion are :mod:`spikebit.train.config`, range and name checks
:mod:`spikebit.train.validate`. Modules that only need the config's fields import this
one, not the reader.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass
class ModelSection:
    """A zoo model by ``name`` with keyword ``args`` for its factory (the ``model:`` section).

    Args:
        name: a registered zoo model (``spikebit models``).
        args: keyword arguments of the model's factory (``steps`` in time steps,
            ``width``, ``quantizer``, ...); ``in_shape`` ``[C, H, W]`` and ``num_classes``
            are filled in from the dataset when absent.
    """

    name: str = "albsnn-mnist-narrow"
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class DataSection:
    """Dataset, augmentation and loading (the ``data:`` section).

    Args:
        name: a registered dataset (``spikebit data list``), e.g. ``"fashion-mnist"``.
        data_dir: the data cache directory (default: the library's cache).
        normalize: standardize inputs with the dataset's per-channel mean and std.
        crop_padding: random-crop augmentation after zero-padding by this many pixels
            (0: off).
        hflip: random horizontal flips of training images.
        train_limit: use only the first N training samples (``None``: all).
        test_limit: use only the first N test samples (``None``: all).
        frames: keyword arguments for event framing
            (:func:`spikebit.data.events.training.load_event_frames`); non-empty selects
            an event dataset read as frames ``[N, T, C, H, W]``.
        workers: DataLoader worker processes (0: load in the main process).
        stream: stream image folders lazily from disk (``None``: only the datasets too
            large for memory, imagenet and tinyimagenet).
        image_size: side in pixels that streamed images are resized to.
    """

    name: str = "fashion-mnist"
    data_dir: str | None = None
    normalize: bool = False
    crop_padding: int = 0
    hflip: bool = False
    train_limit: int | None = None
    test_limit: int | None = None
    frames: dict[str, Any] = field(default_factory=dict)
    # loading (train/loader.py): DataLoader worker processes (0: in the main process);
    # stream image folders lazily from disk (None: imagenet/tinyimagenet do) at image_size px
    workers: int = 0
    stream: bool | None = None
    image_size: int | None = None


@dataclass
class OptimSection:
    """Optimizer and schedule (the ``optim:`` section).

    Weight decay never applies to BN, biases or scalars
    (:func:`spikebit.train.optim.param_groups`).

    Args:
        optimizer: ``"adam"``, ``"sgd"`` or ``"adamw"``.
        lr: initial learning rate.
        weight_decay: L2 coefficient on conv/linear weights.
        momentum: SGD momentum (unused by Adam/AdamW).
        schedule: ``"cosine"`` (to 0 over all steps, stepped per batch) or ``"constant"``.
        epochs: passes over the training set.
        batch_size: the global training batch in samples (split across processes).
        eval_batch_size: samples per evaluation batch.
        grad_clip: maximum global L2 norm of the gradients (``None``: no clipping).
    """

    optimizer: Literal["adam", "sgd", "adamw"] = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9
    schedule: Literal["cosine", "constant"] = "cosine"
    epochs: int = 10
    batch_size: int = 64
    eval_batch_size: int = 500
    grad_clip: float | None = None


@dataclass
class CallbackSection:
    """A registered callback by ``name`` with keyword ``args`` (an entry of ``callbacks:``).

    Args:
        name: a registered callback, e.g. ``"flip-ratio"`` or ``"albsnn-selector"``.
        args: keyword arguments of the callback's constructor.
    """

    name: str = ""
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class LossSection:
    """A registered loss (``LOSSES``) by ``name`` with keyword ``args`` (``loss:``).

    Args:
        name: a registered loss, e.g. ``"ce"``, ``"mse"`` or ``"mt-mse"``.
        args: keyword arguments of the loss factory.
    """

    name: str = "ce"
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunConfig:
    """One training run: the whole YAML config (:func:`spikebit.train.config.load_config`).

    Args:
        name: the run's name; its outputs go to ``out_dir/name``.
        seed: seed of every random generator (:func:`spikebit.train.seeds.seed_everything`).
        loss: a registered loss name (``LOSSES``) or ``{name, args}``.
        imports: local modules (names or ``.py`` paths) imported before anything is built,
            so the entries they register can be named in this config.
        out_dir: parent directory of run directories.
        model: the model section (:class:`ModelSection`).
        data: the data section (:class:`DataSection`).
        optim: the optimizer section (:class:`OptimSection`).
        callbacks: registered callbacks by name with their arguments.
        log_every: batches between progress lines when stdout is not a terminal.
        tensorboard: also write TensorBoard event files.
        plots: plot the learning curves at the end (skipped with a warning when
            matplotlib is missing).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``.
        precision: ``"fp32"``, ``"bf16"`` or ``"fp16"`` (mixed precision; quantizer
            statistics stay float32).
    """

    name: str = "run"
    seed: int = 0
    loss: str | LossSection = "ce"
    imports: list[str] = field(default_factory=list)
    out_dir: str = "runs"
    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    optim: OptimSection = field(default_factory=OptimSection)
    callbacks: list[CallbackSection] = field(default_factory=list)
    log_every: int = 50
    tensorboard: bool = False
    plots: bool = True
    # where and how precisely to compute (train/device.py): auto | cpu | cuda | cuda:N | mps
    device: str = "auto"
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"

    def to_dict(self) -> dict[str, Any]:
        """The config as plain nested dicts and lists (saved in checkpoints and run dirs).

        Returns:
            A mapping that :func:`spikebit.train.config.config_from_dict` turns back into
            an equal config.
        """
        return dataclasses.asdict(self)
