"""Model zoo: the papers' structures by name (``@register_model``; no hand-kept lists)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from torch import nn

from spikebit.models.network import ModelConfig, build_network
from spikebit.registry import Registry

ModelFactory = Callable[..., nn.Module]
MODELS: Registry[ModelFactory] = Registry(
    "model", discover=("spikebit.models", "spikebit.methods", "spikebit.conversion")
)
MODEL_INFO: dict[str, str] = {}

ALBSNN_NEURON = {"threshold": 0.5, "tau": 0.25, "surrogate": "rectangle", "width": 1.0}


def register_model(name: str, info: str) -> Callable[[ModelFactory], ModelFactory]:
    """Register a factory ``(**overrides) -> nn.Module`` under ``name`` with a one-line info.

    Args:
        name: the model name in ``MODELS``.
        info: one line shown by ``spikebit models`` (stored in ``MODEL_INFO``).

    Returns:
        A decorator that registers the factory and returns it unchanged.

    Raises:
        RegistryError: (when applied) ``name`` is already registered.
    """

    def add(fn: ModelFactory) -> ModelFactory:
        MODEL_INFO[name] = info
        return MODELS.register(name)(fn)

    return add


def spec_model(base: ModelConfig, **overrides: Any) -> nn.Module:
    """Build ``base`` with dataclass field overrides (unknown fields raise TypeError).

    Args:
        base: the model's :class:`ModelConfig`.
        **overrides: :class:`ModelConfig` fields to replace.

    Returns:
        The resulting :class:`SpikingNet` from :func:`build_network`.

    Raises:
        TypeError: an override that is not a :class:`ModelConfig` field.
        SpecError: invalid spec or ``full_precision`` (see :func:`build_network`).
        RegistryError: unknown neuron, quantizer or block name.
        ConfigError: invalid neuron arguments.
    """
    return build_network(replace(base, **overrides))


def _spec_entry(name: str, info: str, base: ModelConfig) -> None:
    def factory(**kw: Any) -> nn.Module:
        return spec_model(base, **kw)

    # the accepted arguments are ModelConfig's fields (config validation binds against them)
    factory.__signature__ = inspect.Signature([  # type: ignore[attr-defined]
        p.replace(kind=p.KEYWORD_ONLY, default=getattr(base, p.name))
        for p in inspect.signature(ModelConfig).parameters.values()])
    register_model(name, info)(factory)


_spec_entry(
    "albsnn-mnist",
    "ALBSNN *MNIST (Table 3): 16C3-16C3-AP2-64C3-64C3-AP2-256C3-1024C3-GAP, T=1",
    ModelConfig(spec="16C3-16C3-AP2-64C3-64C3-AP2-256C3-1024C3-GAP", neuron_kwargs=ALBSNN_NEURON,
                quantizer="abc"),
)
_spec_entry(
    "albsnn-mnist-narrow",
    "ALBSNN *MNIST, last two convs narrowed for CPU: 16C3-16C3-AP2-64C3-64C3-AP2-128C3-256C3-GAP",
    ModelConfig(spec="16C3-16C3-AP2-64C3-64C3-AP2-128C3-256C3-GAP", neuron_kwargs=ALBSNN_NEURON,
                quantizer="abc"),
)
_spec_entry(
    "albsnn-cifar10",
    "ALBSNN *CIFAR-10 (Table 3): 128C3-256C3-AP2-512C3-AP2-1024C3-512C3-GAP",
    ModelConfig(spec="128C3-256C3-AP2-512C3-AP2-1024C3-512C3-GAP", in_shape=(3, 32, 32),
                neuron_kwargs=ALBSNN_NEURON, quantizer="abc"),
)
_spec_entry(
    "albsnn-cifar100",
    "ALBSNN *CIFAR-100 (Table 3): 128C3-256C3-AP2-512C3-AP2-1024C3-512C3-512C3-GAP",
    ModelConfig(spec="128C3-256C3-AP2-512C3-AP2-1024C3-512C3-512C3-GAP", in_shape=(3, 32, 32),
                num_classes=100, neuron_kwargs=ALBSNN_NEURON, quantizer="abc"),
)
_spec_entry(
    "albsnn-table7",
    "ALBSNN Table 7 structure: 16C3-32C3-AP2-512C3-AP2-512C3-1024C3-GAP",
    ModelConfig(spec="16C3-32C3-AP2-512C3-AP2-512C3-1024C3-GAP", in_shape=(3, 32, 32),
                neuron_kwargs=ALBSNN_NEURON, quantizer="abc"),
)
