"""Range and signature checks for a :class:`RunConfig`, run before anything else.

:func:`validate_config` checks every field's range (``optim.lr`` finite and
positive, ``seed`` in ``[0, 2**63)``, counts positive, ...), that registered names
exist (model, callbacks, loss) and that ``model.args`` and each callback's
``args`` bind to the component's signature (:func:`inspect.signature`), so an
unknown argument is reported before any data is loaded. Checks that need the
data (``num_classes`` versus the labels, ``batch_size`` versus the training
set) are :func:`check_against_data`. Every failure is a :class:`ConfigError`
naming the field and the accepted range. When the config's ``imports`` cannot be
imported from the working directory yet, the name and argument checks wait until the
components are built (:func:`spikebit.registry.build_component`, which names the same
problems).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from spikebit.errors import ConfigError, SpikebitError

if TYPE_CHECKING:
    from spikebit.data import ArrayDataset
    from spikebit.train.schema import RunConfig

MAX_SEED = 2**63 - 1
MAX_COUNT = 2**31 - 1


def _num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _positive(v: Any) -> bool:
    return _num(v) and math.isfinite(v) and v > 0


def _at_least(lo: int, hi: int = MAX_COUNT) -> Callable[[Any], bool]:
    return lambda v: _int(v) and lo <= v <= hi


RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "seed": (_at_least(0, MAX_SEED), "an integer in [0, 2**63 - 1]"),
    "log_every": (_at_least(1), "an integer >= 1"),
    "optim.lr": (_positive, "a finite number > 0, e.g. 0.001"),
    "optim.weight_decay": (lambda v: _num(v) and math.isfinite(v) and v >= 0,
                           "a finite number >= 0"),
    "optim.momentum": (lambda v: _num(v) and 0 <= v < 1, "a number in [0, 1)"),
    "optim.epochs": (_at_least(1), "an integer >= 1"),
    "optim.batch_size": (_at_least(1), "an integer >= 1"),
    "optim.eval_batch_size": (_at_least(1), "an integer >= 1"),
    "optim.grad_clip": (lambda v: v is None or _positive(v), "null or a finite number > 0"),
    "data.crop_padding": (_at_least(0, 4096), "an integer in [0, 4096]"),
    "data.train_limit": (lambda v: v is None or _at_least(1)(v), "null (all) or an integer >= 1"),
    "data.test_limit": (lambda v: v is None or _at_least(1)(v), "null (all) or an integer >= 1"),
}
"""Field -> (check, what is accepted)."""


def _get(config: Any, path: str) -> Any:
    node = config
    for part in path.split("."):
        node = getattr(node, part)
    return node


def _check_name(config: RunConfig) -> None:
    name = config.name
    if not name.strip() or name in (".", "..") or "/" in name or "\\" in name:
        raise ConfigError(
            f"name must be a plain, non-empty folder name (the run directory is out_dir/name), "
            f"got {name!r}; e.g. --set name=my-run"
        )
    if not config.out_dir.strip():
        raise ConfigError("out_dir must not be empty; e.g. --set out_dir=runs")


def check_arguments(factory: Any, args: Any, where: str, filled: tuple[str, ...] = ()) -> None:
    """``args`` must be a mapping that binds to ``factory``'s signature.

    A factory without an inspectable signature (a builtin) is not checked.

    Args:
        factory: the component's class or factory function.
        args: the arguments from the config.
        where: names the config field in messages (e.g. ``"model.args"``).
        filled: arguments the caller supplies itself (e.g. ``in_shape``), so not
            reported as missing.

    Raises:
        ConfigError: ``args`` is not a mapping with string keys, names an argument the
            factory does not accept (with the nearest accepted name), or lacks a
            required one.
    """
    if not isinstance(args, dict) or not all(isinstance(k, str) for k in args):
        raise ConfigError(f"{where} must be a mapping of argument names to values, got {args!r}")
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):
        return  # builtins without a signature: nothing to check
    params = sig.parameters
    accepts_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    named = [n for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    unknown = [k for k in args if k not in params and not accepts_any]
    if unknown:
        from spikebit.errors import did_you_mean

        raise ConfigError(
            f"{where} has unknown argument {unknown[0]!r}.{did_you_mean(unknown[0], named)} "
            f"Accepted: {', '.join(named)}."
        )
    provided = set(args) | {f for f in filled if f in params or accepts_any}
    missing = [n for n in named if params[n].default is inspect.Parameter.empty
               and n not in provided]
    if missing:
        raise ConfigError(f"{where} lacks the required argument(s) {missing}.")


def _registered(registry: Any, name: Any, where: str) -> Any:
    if not isinstance(name, str):
        raise ConfigError(f"{where} must be a name (string), got {name!r}")
    try:
        return registry.get(name)
    except SpikebitError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def validate_config(config: RunConfig) -> RunConfig:
    """Check ``config``'s ranges, names and component arguments (see the module
    docstring); returns ``config`` or raises :class:`ConfigError`.

    Args:
        config: the run config to check.

    Returns:
        ``config`` unchanged.

    Raises:
        ConfigError: a value out of its range (see ``RULES``), an empty name or
            out_dir, malformed ``model.args`` or ``data.frames``, an unknown model,
            callback or loss name, or arguments that do not bind to the component.
    """
    _check_name(config)
    for path, (ok, accepted) in RULES.items():
        try:
            value = _get(config, path)
        except AttributeError:
            continue
        if not ok(value):
            raise ConfigError(f"{path} must be {accepted}, got {value!r}")
    args = config.model.args
    if not isinstance(args, dict):
        raise ConfigError(f"model.args must be a mapping, got {args!r}")
    steps = args.get("steps")
    if "steps" in args and not _at_least(1, 4096)(steps):
        raise ConfigError(f"model.args.steps must be an integer in [1, 4096], got {steps!r}")
    shape = args.get("in_shape")
    if "in_shape" in args and not (isinstance(shape, list | tuple) and 1 <= len(shape) <= 3
                                  and all(_at_least(1, 65536)(d) for d in shape)):
        raise ConfigError(f"model.args.in_shape must be a list like [C, H, W] of positive "
                          f"integers, got {shape!r}")
    classes = args.get("num_classes")
    if "num_classes" in args and not _at_least(1, 1_000_000)(classes):
        raise ConfigError(f"model.args.num_classes must be an integer >= 1, got {classes!r}")
    if _plugins_loaded(config):
        _check_components(config)
    if not isinstance(config.data.frames, dict):
        raise ConfigError(f"data.frames must be a mapping, got {config.data.frames!r}")
    return config


def _plugins_loaded(config: RunConfig) -> bool:
    """Import the config's ``imports`` (from the working directory). When they cannot be
    imported from here (they may be relative to another directory, resolved when the run
    is prepared), names they register cannot be checked yet: ``False``."""
    from spikebit.registry import import_plugins

    try:
        import_plugins(config.imports)
    except ConfigError:
        return False
    return True


def _check_components(config: RunConfig) -> None:
    """Registered names exist; ``model.args``/callback ``args`` bind; the loss builds."""
    from spikebit.models import MODELS
    from spikebit.train.callbacks import CALLBACKS
    from spikebit.train.losses import make_loss

    factory = _registered(MODELS, config.model.name, "model.name")
    check_arguments(factory, config.model.args, f"model.args (for {config.model.name!r})",
                    filled=("in_shape", "num_classes"))
    try:
        make_loss(config.loss)
    except SpikebitError as exc:
        raise ConfigError(f"loss: {exc}") from None
    for i, cb in enumerate(config.callbacks):
        cls = _registered(CALLBACKS, cb.name, f"callbacks[{i}].name")
        check_arguments(cls, cb.args, f"callbacks[{i}].args (for {cb.name!r})")


def check_against_data(config: RunConfig, train: ArrayDataset, world_size: int = 1) -> None:
    """``config``'s ``num_classes`` covers the labels of ``train``, and one batch (split
    over ``world_size`` processes) fits in it; else :class:`ConfigError`.

    Args:
        config: the validated run config.
        train: the training split.
        world_size: number of processes sharing each batch.

    Raises:
        ConfigError: ``model.args.num_classes`` is below the dataset's classes, or the
            batch size exceeds the training set (an epoch would have no steps).
    """
    classes = config.model.args.get("num_classes")
    if classes is not None and classes < train.num_classes:
        raise ConfigError(
            f"model.args.num_classes={classes} is below the {train.num_classes} classes of "
            f"{config.data.name}; remove it (it is filled in from the data) or raise it"
        )
    per_rank = len(train) // max(1, world_size)
    if config.optim.batch_size // max(1, world_size) > per_rank:
        raise ConfigError(
            f"optim.batch_size={config.optim.batch_size} is larger than the training set "
            f"({len(train)} samples{f' over {world_size} processes' if world_size > 1 else ''}), "
            f"so an epoch would have no steps; use at most {per_rank * max(1, world_size)}"
        )
