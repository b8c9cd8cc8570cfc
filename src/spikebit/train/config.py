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
    """A zoo model by ``name`` with keyword ``args`` for its factory.

    ``in_shape`` and ``num_classes`` are filled in from the dataset when absent.
    """

    name: str = "albsnn-mnist-narrow"
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class DataSection:
    """Dataset and augmentation. ``train_limit``/``test_limit`` take the first N samples."""

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
    """Optimizer and schedule. Weight decay never applies to BN, biases or scalars."""

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
    """A registered callback by ``name`` with keyword ``args``."""

    name: str = ""
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class LossSection:
    """A registered loss (``LOSSES``) by ``name`` with keyword ``args``."""

    name: str = "ce"
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunConfig:
    """One training run. ``loss`` is a loss name or ``{name, args}``; ``imports`` lists
    local modules (names or ``.py`` paths) imported before anything is built, so the
    entries they register can be named in this config."""

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
    """``yaml.safe_load(text)`` that also refuses duplicate keys (:class:`yaml.YAMLError`)."""
    return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass


def config_from_dict(data: dict[str, Any]) -> RunConfig:
    """Validate and build a :class:`RunConfig` from a plain mapping.

    Types come from the dataclasses; ranges, names and component arguments are
    checked by :func:`spikebit.train.validate.validate_config`.
    """
    from spikebit.train.validate import validate_config

    return validate_config(_build(RunConfig, data, ""))


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``key.sub=value`` strings (values parsed as YAML) to a nested mapping."""
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
    """Load a YAML config file, apply ``--set`` overrides, validate."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from None
    try:
        data = strict_yaml_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config {path} must be a YAML mapping at the top level")
    return config_from_dict(apply_overrides(data, overrides or []))
