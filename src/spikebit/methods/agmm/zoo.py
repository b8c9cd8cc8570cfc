"""AGMM paper networks in the zoo: ResNet-19, ResNet-18 (double skip) and VGGSNN.

Every factory takes ``in_shape``, ``num_classes``, ``steps``, ``width`` (channel
multiplier), ``quantizer`` (``"sign"`` for a BSNN, ``"fp"`` for an FP-SNN),
``agmm`` (insert the AGMM block after BN of every binary layer), ``causal``
(AGMM's mean over steps ``<= t`` vs all T), ``mean`` and ``position`` (the other
readings of eq. 11) and ``agmm_kwargs`` (other AGMM options); options not given take
``DEFAULT_READING``. First conv and last FC stay full precision; LIF with hard reset,
V=1, tau=0.5 and the triangular surrogate.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from spikebit.errors import ConfigError
from spikebit.methods.agmm.resnet import AGMM_NEURON, ResNetConfig, SpikingResNet
from spikebit.models.network import ModelConfig, SpikingNet, build_network
from spikebit.models.scaling import vggsnn_spec
from spikebit.models.zoo import register_model

__all__ = ["agmm_block", "agmm_resnet", "agmm_vggsnn", "vggsnn_spec"]

RESNET19 = ResNetConfig(blocks=(3, 3, 2), channels=(128, 256, 512), strides=(1, 2, 2),
                        stem_channels=128, in_shape=(3, 32, 32), num_classes=10, steps=2)
RESNET18 = ResNetConfig(blocks=(2, 2, 2, 2), channels=(64, 128, 256, 512),
                        strides=(1, 2, 2, 2), stem_channels=64, imagenet_stem=True,
                        in_shape=(3, 224, 224), num_classes=1000, steps=4)


def agmm_block(agmm: bool, causal: bool | None = None,
               agmm_kwargs: dict[str, Any] | None = None, mean: str | None = None,
               position: str | None = None) -> tuple[str | None, dict[str, Any]]:
    """``(block name, block kwargs)`` for a network with or without AGMM.

    Options left as ``None`` are not passed, so the block takes them from
    :data:`~spikebit.methods.agmm.module.DEFAULT_READING`.

    Args:
        agmm: insert the AGMM block (eq. 11) next to the BN of every binary conv.
        causal: AGMM's mean over steps ``<= t`` (else over all ``T``).
        agmm_kwargs: other :class:`AGMM` arguments (``per_step``, ``detach_mean``,
            ``alpha_init``; ``causal``, ``mean``, ``position`` here must agree with the
            named arguments where both are given).
        mean: what AGMM's mean averages over (``"sample"``, ``"channel"``, ``"batch"``,
            ``"neuron"``).
        position: ``"after-bn"`` or ``"before-bn"``.

    Returns:
        ``(None, {})`` without AGMM, else ``("agmm", kwargs)`` with the options given.

    Raises:
        ConfigError: an option is given both as a named argument and in ``agmm_kwargs``
            with different values (one of them would be ignored).
    """
    named = {k: v for k, v in {"causal": causal, "mean": mean, "position": position}.items()
             if v is not None}
    if not agmm:
        return None, {}
    extra = dict(agmm_kwargs or {})
    clash = {k: (v, extra[k]) for k, v in named.items() if k in extra and extra[k] != v}
    if clash:
        detail = ", ".join(f"{k}={a!r} vs agmm_kwargs.{k}={b!r}" for k, (a, b) in clash.items())
        raise ConfigError(f"AGMM option given twice with different values ({detail}); "
                          "set it in one place only, e.g. in agmm_kwargs "
                          "(--set model.args.agmm_kwargs.KEY=VALUE)")
    return "agmm", {**named, **extra}


def agmm_resnet(base: ResNetConfig, *, agmm: bool = True, causal: bool | None = None,
                agmm_kwargs: dict[str, Any] | None = None, mean: str | None = None,
                position: str | None = None, **overrides: Any) -> SpikingResNet:
    """Build ``base`` with AGMM on/off and :class:`ResNetConfig` field overrides.

    Args:
        base: the architecture (e.g. ``RESNET19``, ``RESNET18``).
        agmm: insert the AGMM block (eq. 11) next to the BN of every binary conv.
        causal: AGMM's mean over steps ``<= t`` (else over all ``T``; ``None``: the
            default reading).
        agmm_kwargs: other :class:`AGMM` arguments (``per_step``, ``detach_mean``,
            ``alpha_init``).
        mean: what AGMM's mean averages over (``"sample"``, ``"channel"``, ``"batch"``,
            ``"neuron"``; ``None``: the default reading).
        position: AGMM ``"after-bn"`` or ``"before-bn"`` (``None``: the default reading).
        **overrides: :class:`ResNetConfig` fields (``width``, ``steps``, ``in_shape``, ...).

    Returns:
        A new :class:`SpikingResNet`: ``[B, *in_shape]`` or ``[T, B, *in_shape]`` ->
            ``[T, B, num_classes]``.

    Raises:
        TypeError: an override that is not a config field.
        SpecError: inconsistent ResNet stages, or an invalid VGGSNN spec or input size.
        RegistryError: unknown neuron, quantizer or block name.
        ConfigError: invalid neuron or AGMM arguments.
    """
    block, block_kwargs = agmm_block(agmm, causal, agmm_kwargs, mean, position)
    if "in_shape" in overrides:
        overrides["in_shape"] = tuple(overrides["in_shape"])
    return SpikingResNet(replace(base, block=block, block_kwargs=block_kwargs, **overrides))


def agmm_vggsnn(*, width: float = 1.0, agmm: bool = True, causal: bool | None = None,
                agmm_kwargs: dict[str, Any] | None = None, mean: str | None = None,
                position: str | None = None, in_shape: tuple[int, ...] = (2, 48, 48),
                num_classes: int = 10, steps: int = 10, quantizer: str = "sign",
                **overrides: Any) -> SpikingNet:
    """VGGSNN (Deng et al. 2022): :func:`vggsnn_spec` at ``width`` plus an output FC.

    The first conv and the output FC stay full precision; LIF neurons as
    ``AGMM_NEURON``.

    Args:
        width: channel multiplier of every conv (at least 1 channel each), > 0.
        agmm: insert the AGMM block (eq. 11) next to the BN of every binary conv.
        causal: AGMM's mean over steps ``<= t`` (else over all ``T``; ``None``: the
            default reading).
        agmm_kwargs: other :class:`AGMM` arguments (``per_step``, ``detach_mean``,
            ``alpha_init``).
        mean: what AGMM's mean averages over (``"sample"``, ``"channel"``, ``"batch"``,
            ``"neuron"``; ``None``: the default reading).
        position: AGMM ``"after-bn"`` or ``"before-bn"`` (``None``: the default reading).
        in_shape: one sample's shape ``(C, H, W)`` (DVS frames: ``(2, 48, 48)``).
        num_classes: ``K``, outputs.
        steps: ``T``, number of time steps.
        quantizer: ``"sign"`` for a BSNN, ``"fp"`` for an FP-SNN.
        **overrides: other :class:`ModelConfig` fields.

    Returns:
        A new :class:`SpikingNet`: ``[B, *in_shape]`` or ``[T, B, *in_shape]`` ->
            ``[T, B, num_classes]``.

    Raises:
        TypeError: an override that is not a config field.
        SpecError: inconsistent ResNet stages, or an invalid VGGSNN spec or input size.
        RegistryError: unknown neuron, quantizer or block name.
        ConfigError: ``width <= 0``, invalid neuron or AGMM arguments.
    """
    block, block_kwargs = agmm_block(agmm, causal, agmm_kwargs, mean, position)
    config = ModelConfig(spec=vggsnn_spec(width), in_shape=tuple(in_shape),
                         num_classes=num_classes, steps=steps, neuron="lif",
                         neuron_kwargs=dict(AGMM_NEURON), quantizer=quantizer,
                         full_precision=[0, -1], block=block, block_kwargs=block_kwargs)
    return build_network(replace(config, **overrides))


@register_model("agmm-resnet19", "AGMM ResNet-19 (stages 3,3,2 at 128/256/512, double skip), "
                "CIFAR 32x32, T=2, sign weights + AGMM; width= scales channels")
def agmm_resnet19(**kw: Any) -> SpikingResNet:
    """AGMM ResNet-19 (CIFAR ``[B, 3, 32, 32]``, T=2, sign weights + AGMM).

    Args:
        **kw: :func:`agmm_resnet` options (``agmm``, ``causal``, ``mean``, ``position``,
            ``agmm_kwargs``) and :class:`ResNetConfig` overrides (e.g. ``width``).

    Returns:
        A new :class:`SpikingResNet` with output ``[T, B, num_classes]``.
    """
    return agmm_resnet(RESNET19, **kw)


@register_model("agmm-resnet18", "AGMM ResNet-18 (stages 2,2,2,2 at 64..512, double skip), "
                "ImageNet 224x224, T=4, sign weights + AGMM; width= scales channels")
def agmm_resnet18(**kw: Any) -> SpikingResNet:
    """AGMM ResNet-18 (ImageNet ``[B, 3, 224, 224]``, T=4, sign weights + AGMM).

    Args:
        **kw: :func:`agmm_resnet` options (``agmm``, ``causal``, ``mean``, ``position``,
            ``agmm_kwargs``) and :class:`ResNetConfig` overrides (e.g. ``width``).

    Returns:
        A new :class:`SpikingResNet` with output ``[T, B, num_classes]``.
    """
    return agmm_resnet(RESNET18, **kw)


@register_model("agmm-vggsnn", "AGMM VGGSNN 64-128-AP-256-256-AP-512-512-AP-512-512-AP-FC, "
                "DVS 2x48x48, T=10, sign weights + AGMM; width= scales channels")
def agmm_vggsnn_entry(**kw: Any) -> SpikingNet:
    """Zoo entry ``agmm-vggsnn``: :func:`agmm_vggsnn` (DVS ``[T=10, B, 2, 48, 48]``).

    Args:
        **kw: :func:`agmm_vggsnn` arguments.

    Returns:
        A new :class:`SpikingNet` with output ``[T, B, num_classes]``.
    """
    return agmm_vggsnn(**kw)
