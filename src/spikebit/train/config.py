"""Run configuration: read YAML into a :class:`RunConfig`; unknown keys are errors.

A config has sections ``model``, ``data``, ``optim`` and a list of
``callbacks`` (the dataclasses of :mod:`spikebit.train.schema`, re-exported here);
``--set section.key=value`` overrides any leaf (the value is parsed as YAML, so
``--set optim.lr=0.01`` gives a float). Every config is checked by
:func:`spikebit.train.validate.validate_config` before it is returned.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Literal

import yaml

from spikebit.errors import ConfigError, did_you_mean
from spikebit.train.schema import (
    CallbackSection,
    DataSection,
    LossSection,
    ModelSection,
    OptimSection,
    RunConfig,
)
from spikebit.train.validate import validate_config

__all__ = [
    "CallbackSection", "DataSection", "LossSection", "ModelSection", "OptimSection",
    "RunConfig", "apply_overrides", "config_from_dict", "load_config", "strict_yaml_load",
]


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
    return validate_config(_build(RunConfig, data, ""))


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``key.sub=value`` strings (values parsed as YAML) to a nested mapping.

    Missing sections are created; ``--set optim.lr=0.01`` sets a float. A list entry is
    addressed by its 0-based index: ``--set callbacks.1.args.times=5``.

    Args:
        data: the config mapping, changed in place.
        overrides: strings ``section.key=value`` (the CLI's ``--set``).

    Returns:
        ``data`` itself, with the overrides applied.

    Raises:
        ConfigError: an override without ``=``, a value that is not valid YAML (or repeats
            a key), a path through a key that is not a section, or a list index that is
            not an existing entry's.
    """
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like section.key=value")
        key, raw = item.split("=", 1)
        try:
            value = strict_yaml_load(raw)
        except yaml.YAMLError as exc:
            raise ConfigError(f"override {item!r}: value is not valid YAML ({exc})") from None
        node: Any = data
        parts = key.strip().split(".")
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if isinstance(node, list):
                index = _list_index(item, parts[i - 1], part, len(node))
                if last:
                    node[index] = value
                else:
                    node = node[index]
                continue
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {parts[i - 1]!r} is not a section")
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
    return data


def _list_index(item: str, name: str, part: str, size: int) -> int:
    """The list index ``part`` of override ``item`` into list ``name`` of ``size`` entries."""
    if not part.isdigit() or int(part) >= size:
        raise ConfigError(f"override {item!r}: {name!r} is a list of {size} entries; "
                          f"address one by its index 0..{size - 1} (e.g. "
                          f"{name}.0.args.KEY=VALUE), got {part!r}")
    return int(part)


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
