"""Model spec parser, network builder and the model zoo."""

import inspect
from collections.abc import Mapping
from typing import Any

from torch import nn

from spikebit.models.network import ModelConfig, SpikingNet, build_network
from spikebit.models.spec import LayerSpec, format_spec, parse_spec
from spikebit.models.zoo import MODEL_INFO, MODELS, register_model
from spikebit.registry import build_component

__all__ = [
    "MODELS",
    "MODEL_INFO",
    "LayerSpec",
    "ModelConfig",
    "SpikingNet",
    "build_model",
    "build_network",
    "format_spec",
    "parse_spec",
    "register_model",
]


def build_model(name: str, /, *, defaults: Mapping[str, Any] | None = None,
                **overrides: Any) -> nn.Module:
    """Build a zoo model by name with keyword overrides: the one model builder.

    ``spikebit train`` builds its model here too
    (:func:`spikebit.train.build.model_from_config`): the config's ``model.args`` are the
    ``overrides`` and the data's shape and classes the ``defaults``.

    Args:
        name: a name in ``MODELS`` (``spikebit models`` lists them).
        defaults: keyword arguments passed only where ``overrides`` does not set them
            and the factory accepts them (by name or ``**kwargs``); the trainer passes
            ``{"in_shape": (C, H, W), "num_classes": K}`` of its dataset.
        **overrides: the factory's keyword arguments (e.g. :class:`ModelConfig` fields
            such as ``steps``, ``quantizer``; ``width`` for scaled families); an
            ``in_shape`` list becomes a tuple.

    Returns:
        model (nn.Module): the model, on the CPU; typically a :class:`SpikingNet`.

    Raises:
        RegistryError: unknown ``name``.
        SpecError: an invalid spec or ``full_precision`` index.
        ConfigError: the factory refuses its arguments (an unknown keyword, a value it
            rejects), naming the model.
    """
    factory = MODELS.get(name)
    args = dict(overrides)
    if defaults:
        params = inspect.signature(factory).parameters
        accepts_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
        for key, value in defaults.items():
            if key not in args and (accepts_any or key in params):
                args[key] = value
    if "in_shape" in args and args["in_shape"] is not None:
        args["in_shape"] = tuple(args["in_shape"])
    return build_component(factory, args, f"model {name!r}")
