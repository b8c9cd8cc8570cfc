"""The paper's networks (Tables 2-6) with multi-threshold LIF neurons.

Every factory builds a :class:`~spikebit.models.ModelConfig` with ``neuron="mtlif"``
(no BatchNorm: the paper uses none), optionally appends a spiking output layer
(the loss of eq. 6 compares output *spike counts*) and applies the paper's
initialization. Padding follows the layer sizes of the structures' origin
(TSSL-BP's network files): the MNIST CNN is "valid" (28-24-12-8-4, 640 inputs to
the 300-unit layer), the Fashion-MNIST and CIFAR-10 CNNs are "same" (3136 and
16384 inputs to the first dense layer). ``P2`` is max pooling (see the docs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Literal

from spikebit.errors import ConfigError
from spikebit.methods.multithreshold.init import mt_init_
from spikebit.methods.multithreshold.params import (
    DEFAULT_B,
    DETACH_RESET,
    PAPER_A,
    PAPER_CURVE,
    PAPER_LEAK,
    PAPER_MAX_SPIKES,
    PAPER_THRESHOLD_MV,
    mt_neuron_kwargs,
)
from spikebit.models.network import ModelConfig, SpikingNet, build_network
from spikebit.models.spec import format_spec, parse_spec
from spikebit.models.zoo import register_model
from spikebit.neurons import make_neuron

Pool = Literal["max", "avg"]


def with_pooling(spec: str, pool: Pool) -> str:
    """``spec`` with every pooling token made max (``P<k>``) or average (``AP<k>``).

    Args:
        spec: a layer spec string.
        pool: ``"max"`` or ``"avg"``.

    Returns:
        The canonical spec string with the pooling kind replaced.

    Raises:
        ConfigError: ``pool`` is neither ``"max"`` nor ``"avg"``.
        SpecError: an invalid ``spec``.
    """
    if pool not in ("max", "avg"):
        raise ConfigError(f"pool must be 'max' or 'avg', got {pool!r}")
    kind = "maxpool" if pool == "max" else "avgpool"
    layers = [replace(x, kind=kind) if x.kind in ("maxpool", "avgpool") else x
              for x in parse_spec(spec)]
    return format_spec(layers)


def mt_network(
    spec: str,
    *,
    in_shape: Sequence[int] = (1, 28, 28),
    num_classes: int = 10,
    steps: int = 2,
    padding: Literal["same", "valid"] = "same",
    pool: Pool = "max",
    curve: str = PAPER_CURVE,
    a: float = PAPER_A,
    b: float = DEFAULT_B,
    max_spikes: int = PAPER_MAX_SPIKES,
    threshold: float = PAPER_THRESHOLD_MV,
    tau: float = PAPER_LEAK,
    detach_reset: bool = DETACH_RESET,
    spiking_output: bool = True,
    init: Literal["paper", "default"] = "paper",
    init_gain: float = 1.0,
    **overrides: Any,
) -> SpikingNet:
    """A multi-threshold SNN from ``spec`` (returns ``[T, B, K]``: counts if ``spiking_output``).

    ``a``/``b`` are the surrogate's height and width in the paper's units (see
    ``params``; the default ``b`` is ours, ``DEFAULT_B`` = 200 mV^2: with the paper's 20,
    silent neurons lose their gradient and training at T >= 3 collapses); other
    :class:`ModelConfig` fields (``quantizer``, ``full_precision``,
    ``batchnorm``, ``neuron``, ``neuron_kwargs`` ...) pass through ``overrides``.
    With ``neuron`` other than ``"mtlif"`` and no ``neuron_kwargs``, the neuron gets
    only ``threshold`` and ``tau``. Multi-threshold LIF paper: neuron eq. 4-5, loss
    eq. 6 (counts), initialization eq. 17.

    Args:
        spec: layer spec (e.g. ``"15C5-P2-40C5-P2-300"``).
        in_shape: one sample's shape ``(C, H, W)`` or ``(N,)``.
        num_classes: ``K``, outputs.
        steps: ``T``, number of time steps.
        padding: ``"same"`` or ``"valid"`` convolutions.
        pool: every pooling layer as ``"max"`` or ``"avg"``.
        curve: staircase surrogate name (``"mt-gauss"``: the paper's curve 2).
        a: surrogate height per mV (paper units).
        b: surrogate width in mV^2 (paper units).
        max_spikes: ``O_max``, the largest spike count per step.
        threshold: ``V`` (network units; the paper's 10).
        tau: leak factor per step in ``[0, 1]``.
        detach_reset: cut the reset's gradient path.
        spiking_output: append a neuron layer after the output FC (counts ``[T, B, K]``).
        init: ``"paper"`` (eq. 17, :func:`mt_init_`) or ``"default"`` (PyTorch's).
        init_gain: ``gain`` of :func:`mt_init_`.
        **overrides: other :class:`ModelConfig` fields.

    Returns:
        A new :class:`SpikingNet`: ``[B, *in_shape]`` -> ``[T, B, K]``.

    Raises:
        ConfigError: unknown ``init`` or ``pool``, an unknown override, invalid neuron
            arguments, or no single threshold for the initialization.
        SpecError: an invalid ``spec``, or an input too small for it.
        RegistryError: unknown neuron, surrogate or quantizer name.
    """
    if init not in ("paper", "default"):
        raise ConfigError(f"init must be 'paper' or 'default', got {init!r}")
    neuron = overrides.pop("neuron", "mtlif")
    kwargs = overrides.pop("neuron_kwargs", None)
    if kwargs is None:
        kwargs = (mt_neuron_kwargs(curve, a, b, max_spikes, threshold, tau, detach_reset)
                  if neuron == "mtlif" else {"threshold": threshold, "tau": tau})
    config = ModelConfig(spec=with_pooling(spec, pool), in_shape=tuple(in_shape),
                         num_classes=num_classes, steps=steps, neuron=neuron,
                         neuron_kwargs=dict(kwargs), padding=padding,
                         batchnorm=overrides.pop("batchnorm", False))
    try:
        config = replace(config, **overrides)
    except TypeError as exc:
        raise ConfigError(f"unknown model argument for {spec!r}: {exc}") from None
    net = build_network(config)
    if spiking_output:
        net.body.append(make_neuron(config.neuron, config.neuron_kwargs, config.steps,
                                    config.num_classes))
    if init == "paper":
        mt_init_(net, threshold=float(config.neuron_kwargs.get("threshold", threshold)),
                 gain=init_gain)
    return net


def _entry(name: str, info: str, spec: str, **defaults: Any) -> None:
    def factory(**kw: Any) -> SpikingNet:
        return mt_network(kw.pop("spec", spec), **{**defaults, **kw})

    register_model(name, info)(factory)


_entry("mt-mnist-cnn", "Multi-threshold SNN, MNIST CNN (Table 3): 15C5-P2-40C5-P2-300, valid, T=2",
       "15C5-P2-40C5-P2-300", padding="valid")
_entry("mt-fmnist-cnn",
       "Multi-threshold SNN, Fashion-MNIST CNN (Table 5): 32C5-P2-64C5-P2-1024, same, T=2",
       "32C5-P2-64C5-P2-1024", padding="same")
_entry("mt-cifar10-cnn",
       "Multi-threshold SNN, CIFAR-10 CNN (Table 6): 96C3-256C3-P2-384C3-P2-384C3-256C3-1024-1024",
       "96C3-256C3-P2-384C3-P2-384C3-256C3-1024-1024", padding="same", in_shape=(3, 32, 32))
_entry("mt-mlp-800", "Multi-threshold spiking MLP 784-800-10 (MNIST, Table 2 family), T=2", "800")
_entry("mt-mlp-400-400",
       "Multi-threshold spiking MLP 784-400-400-10 (Fashion-MNIST, Table 4), T=2", "400-400")
