"""Run configuration: dataclasses loaded from YAML; unknown keys are errors.

A config has sections ``model``, ``data``, ``optim`` and a list of
``callbacks``; ``--set section.key=value`` overrides any leaf (the value is
parsed as YAML, so ``--set optim.lr=0.01`` gives a float).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from spikebit.errors import ConfigError, did_you_mean


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
    (:func:`spikebit.train.trainer.param_groups`).

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
    """One training run: the whole YAML config (:func:`load_config`).

    Args:
        name: the run's name; its outputs go to ``out_dir/name``.
        seed: seed of every random generator (:func:`spikebit.train.trainer.seed_everything`).
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
            A mapping that :func:`config_from_dict` turns back into an equal config.
        """
        return dataclasses.asdict(self)


def _strip_optional(tp: Any) -> Any:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _build(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'config'} must be a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        path = f"{where}.{key}" if where else str(key)
        if key not in names:
            raise ConfigError(
                f"unknown config key {path!r}.{did_you_mean(str(key), names)} "
                f"Valid keys here: {', '.join(names)}."
            )
        kwargs[key] = _convert(hints[key], value, path)
    return cls(**kwargs)


def _optional(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType) and \
        type(None) in typing.get_args(tp)


def _convert(tp: Any, value: Any, path: str) -> Any:
    if value is None:
        if _optional(tp) or tp is Any:
            return None
        raise ConfigError(f"{path} must not be null (empty); give a value or remove the key")
    tp = _strip_optional(tp)
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):  # e.g. loss: a name or {name, args}
        options = typing.get_args(tp)
        for option in options:
            if dataclasses.is_dataclass(option) and isinstance(value, dict):
                return _build(option, value, path)
            if option in (str, int, bool) and isinstance(value, option):
                return value
        raise ConfigError(f"{path} must be one of: "
                          f"{', '.join(getattr(o, '__name__', str(o)) for o in options)}; "
                          f"got {value!r}")
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, path)
    if origin is list:
        (item,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise ConfigError(f"{path} must be a list, got {value!r}")
        return [_convert(item, v, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is Literal:
        options = typing.get_args(tp)
        if value not in options:
            raise ConfigError(
                f"{path} must be one of {', '.join(map(repr, options))}, got {value!r}."
                f"{did_you_mean(str(value), map(str, options))}"
            )
        return value
    if tp is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if tp is float:
        raise ConfigError(f"{path} must be a number, got {value!r}")
    if origin is dict and not isinstance(value, dict):
        raise ConfigError(f"{path} must be a mapping (key: value), got {value!r}")
    wrong_type = tp in (int, str, bool) and not isinstance(value, tp)
    if wrong_type or (tp is int and isinstance(value, bool)):
        raise ConfigError(f"{path} must be {tp.__name__}, got {value!r}")
    return value


class _StrictLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses a key repeated in one mapping."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
            except TypeError:  # unhashable key: reported by the base class
                break
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (the earlier value would be lost)",
                    key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def strict_yaml_load(text: str) -> Any:
    """``yaml.safe_load(text)`` that also refuses a key repeated in one mapping.

    Args:
        text: YAML source.

    Returns:
        The parsed value (``None`` for an empty document).

    Raises:
        yaml.YAMLError: invalid YAML or a duplicate key (callers turn it into
            ``ConfigError``).
    """
    return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass


def config_from_dict(data: dict[str, Any]) -> RunConfig:
    """Validate and build a :class:`RunConfig` from a plain mapping.

    Types come from the dataclasses; ranges, names and component arguments are
    checked by :func:`spikebit.train.validate.validate_config`.

    Args:
        data: the config as nested mappings (a parsed YAML file, or
            :meth:`RunConfig.to_dict`).

    Returns:
        The validated :class:`RunConfig`.

    Raises:
        ConfigError: an unknown key, a value of the wrong type or range, or an unknown
            model, dataset, loss or callback.
    """
    from spikebit.train.validate import validate_config

    return validate_config(_build(RunConfig, data, ""))


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``key.sub=value`` strings (values parsed as YAML) to a nested mapping.

    Missing sections are created; ``--set optim.lr=0.01`` sets a float.

    Args:
        data: the config mapping, changed in place.
        overrides: strings ``section.key=value`` (the CLI's ``--set``).

    Returns:
        ``data`` itself, with the overrides applied.

    Raises:
        ConfigError: an override without ``=``, a value that is not valid YAML (or repeats
            a key), or a path through a key that is not a section.
    """
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like section.key=value")
        key, raw = item.split("=", 1)
        try:
            value = strict_yaml_load(raw)
        except yaml.YAMLError as exc:
            raise ConfigError(f"override {item!r}: value is not valid YAML ({exc})") from None
        node = data
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {part!r} is not a section")
        node[parts[-1]] = value
    return data


def load_config(path: str | Path, overrides: list[str] | None = None) -> RunConfig:
    """Load a YAML config file, apply ``--set`` overrides, validate.

    Args:
        path: the YAML file.
        overrides: ``section.key=value`` strings applied before validation
            (:func:`apply_overrides`).

    Returns:
        The validated :class:`RunConfig`.

    Raises:
        ConfigError: the file cannot be read, is empty, is not valid YAML (or repeats a
            key), is not a mapping, has an unknown key or a value of the wrong type or
            range, or names an unknown model, dataset, loss or callback.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from None
    try:
        data = strict_yaml_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"config {path} is not valid YAML: {exc}") from None
    if data is None:
        raise ConfigError(
            f"config {path} is empty; start from a shipped config "
            "(`spikebit configs copy demo .`) or name one (`spikebit train demo`)."
        )
    if not isinstance(data, dict):
        raise ConfigError(f"config {path} must be a YAML mapping at the top level")
    return config_from_dict(apply_overrides(data, overrides or []))
