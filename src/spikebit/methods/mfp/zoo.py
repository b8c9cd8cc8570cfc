"""MFP-QSNN zoo: VGGSNN-style networks with MFP neurons (1-bit Q-SNN weights) and their
FP LIF baselines (same structure, fp32 weights, LIF neurons).

VGGSNN: :func:`spikebit.models.scaling.vggsnn_spec` (``64C3-128C3-AP2-256C3-256C3-AP2-
512C3-512C3-AP2-512C3-512C3-AP2``) + FC. ``width`` scales every channel count (CPU runs
use narrow variants).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from torch import nn

from spikebit.models.network import ModelConfig, build_network
from spikebit.models.scaling import vggsnn_spec
from spikebit.models.zoo import register_model

MFP_NEURON: dict[str, Any] = {"threshold": 1.0, "tau": 0.5, "mixing": "full",
                              "surrogate": "triangle", "width": 1.0}
LIF_NEURON: dict[str, Any] = {"threshold": 1.0, "tau": 0.5, "reset": "hard",
                              "surrogate": "triangle", "width": 1.0}


def mfp_config(**fields: Any) -> ModelConfig:
    """MFP-QSNN: MFP neurons, Q-SNN 1-bit weights; the first (encoding) conv stays fp32.

    Args:
        **fields: other :class:`ModelConfig` fields (``in_shape``, ``steps``, ...).

    Returns:
        The resulting :class:`ModelConfig` (full-width VGGSNN spec).
    """
    return ModelConfig(spec=vggsnn_spec(), neuron="mfp", neuron_kwargs=dict(MFP_NEURON),
                       quantizer="qsnn", full_precision=[0], **fields)


def lif_config(**fields: Any) -> ModelConfig:
    """FP LIF baseline: LIF neurons (hard reset), fp32 weights.

    Args:
        **fields: other :class:`ModelConfig` fields (``in_shape``, ``steps``, ...).

    Returns:
        The resulting :class:`ModelConfig` (full-width VGGSNN spec).
    """
    return ModelConfig(spec=vggsnn_spec(), neuron="lif", neuron_kwargs=dict(LIF_NEURON),
                       quantizer="fp", **fields)


def _build(base: ModelConfig, width: float, overrides: dict[str, Any]) -> nn.Module:
    if "spec" not in overrides:
        overrides = dict(overrides, spec=vggsnn_spec(width))
    return build_network(replace(base, **overrides))


CIFAR10_DVS = {"in_shape": (2, 48, 48), "steps": 10}
FMNIST = {"in_shape": (1, 28, 28), "steps": 4}
FMNIST_WIDTH = 0.25


@register_model("mfp-vggsnn-cifar10dvs",
                "MFP-QSNN VGGSNN, CIFAR10-DVS 48x48 frames, T=10, 1-bit Q-SNN weights (Table I/II)")
def mfp_vggsnn_cifar10dvs(width: float = 1.0, **overrides: Any) -> nn.Module:
    """MFP-QSNN VGGSNN for CIFAR10-DVS frames ``[T=10, B, 2, 48, 48]`` (MFP-QSNN Table I/II).

    MFP neurons (eq. 7-8, :data:`MFP_NEURON`), 1-bit Q-SNN weights, the first conv fp32.

    Args:
        width: channel multiplier of every VGGSNN conv (at least 1 channel each).
        **overrides: any :class:`ModelConfig` field (e.g. ``steps``, ``num_classes``,
            ``spec``); an explicit ``spec`` replaces the width-scaled one.

    Returns:
        A new :class:`SpikingNet`: input ``[B, C, H, W]`` or ``[T, B, C, H, W]``, output
            ``[T, B, num_classes]``.

    Raises:
        ConfigError: ``width <= 0`` (without an explicit ``spec``), or neuron arguments
            that do not fit the neuron.
        TypeError: an override that is not a :class:`ModelConfig` field.
        SpecError: an invalid ``spec`` or ``full_precision`` index, or an input too small.
        RegistryError: an unknown neuron or quantizer name.
    """
    return _build(mfp_config(**CIFAR10_DVS), width, overrides)


@register_model("mfp-vggsnn-cifar10dvs-fp-lif",
                "FP LIF baseline of mfp-vggsnn-cifar10dvs (Table II baseline)")
def lif_vggsnn_cifar10dvs(width: float = 1.0, **overrides: Any) -> nn.Module:
    """FP LIF baseline of :func:`mfp_vggsnn_cifar10dvs` (MFP-QSNN Table II baseline).

    Same VGGSNN on ``[T=10, B, 2, 48, 48]``, LIF neurons (hard reset,
    :data:`LIF_NEURON`), fp32 weights.

    Args:
        width: channel multiplier of every VGGSNN conv (at least 1 channel each).
        **overrides: any :class:`ModelConfig` field (e.g. ``steps``, ``num_classes``,
            ``spec``); an explicit ``spec`` replaces the width-scaled one.

    Returns:
        A new :class:`SpikingNet`: input ``[B, C, H, W]`` or ``[T, B, C, H, W]``, output
            ``[T, B, num_classes]``.

    Raises:
        ConfigError: ``width <= 0`` (without an explicit ``spec``), or neuron arguments
            that do not fit the neuron.
        TypeError: an override that is not a :class:`ModelConfig` field.
        SpecError: an invalid ``spec`` or ``full_precision`` index, or an input too small.
        RegistryError: an unknown neuron or quantizer name.
    """
    return _build(lif_config(**CIFAR10_DVS), width, overrides)


@register_model("mfp-vggsnn-fmnist",
                "MFP-QSNN VGGSNN at width 1/4 for CPU: Fashion-MNIST, T=4, 1-bit Q-SNN weights")
def mfp_vggsnn_fmnist(width: float = FMNIST_WIDTH, **overrides: Any) -> nn.Module:
    """MFP-QSNN VGGSNN for Fashion-MNIST ``[B, 1, 28, 28]``, T=4, width 1/4 (CPU scale).

    MFP neurons (eq. 7-8, :data:`MFP_NEURON`), 1-bit Q-SNN weights, the first conv fp32.

    Args:
        width: channel multiplier of every VGGSNN conv (at least 1 channel each).
        **overrides: any :class:`ModelConfig` field (e.g. ``steps``, ``num_classes``,
            ``spec``); an explicit ``spec`` replaces the width-scaled one.

    Returns:
        A new :class:`SpikingNet`: input ``[B, C, H, W]`` or ``[T, B, C, H, W]``, output
            ``[T, B, num_classes]``.

    Raises:
        ConfigError: ``width <= 0`` (without an explicit ``spec``), or neuron arguments
            that do not fit the neuron.
        TypeError: an override that is not a :class:`ModelConfig` field.
        SpecError: an invalid ``spec`` or ``full_precision`` index, or an input too small.
        RegistryError: an unknown neuron or quantizer name.
    """
    return _build(mfp_config(**FMNIST), width, overrides)


@register_model("mfp-vggsnn-fmnist-fp-lif",
                "FP LIF baseline of mfp-vggsnn-fmnist (same structure, fp32, LIF)")
def lif_vggsnn_fmnist(width: float = FMNIST_WIDTH, **overrides: Any) -> nn.Module:
    """FP LIF baseline of :func:`mfp_vggsnn_fmnist` (same structure, fp32 weights, LIF).

    Input ``[B, 1, 28, 28]``, T=4, width 1/4; LIF neurons with hard reset (:data:`LIF_NEURON`).

    Args:
        width: channel multiplier of every VGGSNN conv (at least 1 channel each).
        **overrides: any :class:`ModelConfig` field (e.g. ``steps``, ``num_classes``,
            ``spec``); an explicit ``spec`` replaces the width-scaled one.

    Returns:
        A new :class:`SpikingNet`: input ``[B, C, H, W]`` or ``[T, B, C, H, W]``, output
            ``[T, B, num_classes]``.

    Raises:
        ConfigError: ``width <= 0`` (without an explicit ``spec``), or neuron arguments
            that do not fit the neuron.
        TypeError: an override that is not a :class:`ModelConfig` field.
        SpecError: an invalid ``spec`` or ``full_precision`` index, or an input too small.
        RegistryError: an unknown neuron or quantizer name.
    """
    return _build(lif_config(**FMNIST), width, overrides)
