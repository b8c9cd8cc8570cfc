"""Spiking ResNets with a Bi-Real style shortcut around every binary conv (AGMM paper).

Each binary unit is ``conv -> BN (-> AGMM)`` (``conv -> AGMM -> BN`` for the AGMM
``position="before-bn"`` reading); its own shortcut is added before the neuron (the
"double skip connections" of Liu et al. 2018)::

    s1 = LIF(AGMM(BN(BConv(s)))  + D(s))        # D: identity, or downsampling
    s2 = LIF(AGMM(BN(BConv(s1))) + s1)

The shortcut carries the block's input spikes; where the shape changes, ``D`` is
``AvgPool(stride) -> 1x1 conv -> BN`` (Bi-Real), full precision by default.
The first conv (stem) and the output FC are full precision. All tensors are
time-major ``[T, B, ...]``; the network returns ``[T, B, num_classes]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from torch import Tensor, nn

from spikebit.errors import SpecError
from spikebit.layers import GlobalAvgPool, TimeDistributed
from spikebit.models.blocks import BLOCKS, ordered_unit
from spikebit.models.network import SpikingNet
from spikebit.models.scaling import scaled
from spikebit.neurons import make_neuron
from spikebit.quant import QConv2d, QLinear, get_quantizer

AGMM_NEURON: Mapping[str, Any] = MappingProxyType(
    {"threshold": 1.0, "tau": 0.5, "surrogate": "triangle"})
"""LIF settings of the AGMM family (hard reset, V=1, tau=0.5, triangular surrogate)."""


@dataclass
class ResNetConfig:
    """Everything needed to build a :class:`SpikingResNet` (JSON-able).

    ``blocks``/``channels``/``strides`` describe the stages (before ``width``);
    ``imagenet_stem`` picks a 7x7/2 conv + 3x3/2 max-pool stem instead of a 3x3
    conv with stride ``stem_stride`` (1 in the paper; 2 quarters the cost of CPU
    runs). ``block`` names the module inserted after BN of every binary conv
    (``"agmm"`` or ``None``; before the BN if the block's ``position`` is ``"before-bn"``).
    ``binary_downsample`` quantizes the 1x1 shortcut convs.

    Validated when built (:func:`build_body`).

    Args:
        blocks: number of :class:`DoubleSkipBlock` per stage.
        channels: output channels per stage (before ``width``).
        strides: stride of each stage's first block.
        stem_channels: channels of the full-precision stem conv (before ``width``).
        stem_stride: stride of the 3x3 stem conv.
        imagenet_stem: 7x7/2 conv + 3x3/2 max-pool stem instead.
        in_shape: one sample's shape ``(C, H, W)``.
        num_classes: ``K``, outputs of the full-precision FC.
        steps: ``T``, number of time steps.
        width: channel multiplier of the stem and every stage (at least 1 channel).
        encoder: input encoder name in ``ENCODERS``.
        neuron: neuron name in ``NEURONS``.
        neuron_kwargs: neuron arguments (default: LIF V=1, leak factor ``tau = 0.5``
            per step, triangular surrogate).
        quantizer: weight quantizer of the binary convs (``"sign"``; ``"fp"`` for an FP-SNN).
        quantizer_kwargs: its keyword arguments.
        block: module inserted after the BN of every binary conv (``"agmm"`` or ``None``).
        block_kwargs: its keyword arguments (after ``steps``).
        binary_downsample: quantize the 1x1 shortcut convs too.
    """

    blocks: tuple[int, ...] = (3, 3, 2)
    channels: tuple[int, ...] = (128, 256, 512)
    strides: tuple[int, ...] = (1, 2, 2)
    stem_channels: int = 128
    stem_stride: int = 1
    imagenet_stem: bool = False
    in_shape: tuple[int, ...] = (3, 32, 32)
    num_classes: int = 10
    steps: int = 2
    width: float = 1.0
    encoder: str = "direct"
    neuron: str = "lif"
    neuron_kwargs: dict[str, Any] = field(default_factory=lambda: dict(AGMM_NEURON))
    quantizer: str = "sign"
    quantizer_kwargs: dict[str, Any] = field(default_factory=dict)
    block: str | None = "agmm"
    block_kwargs: dict[str, Any] = field(default_factory=dict)
    binary_downsample: bool = False


class _Parts:
    """Factories for the pieces of one network (so every layer gets fresh modules)."""

    def __init__(self, config: ResNetConfig) -> None:
        self.config = config
        make_neuron(config.neuron, config.neuron_kwargs, config.steps, 1)  # validate early
        self.block_cls = BLOCKS.get(config.block) if config.block else None
        get_quantizer(config.quantizer, **config.quantizer_kwargs)  # validate early

    def conv(self, cin: int, cout: int, k: int, stride: int, quantize: bool) -> nn.Module:
        c = self.config
        q = get_quantizer(c.quantizer, **c.quantizer_kwargs)
        return TimeDistributed(QConv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False,
                                       quantizer=q, quantize=quantize))

    def neuron(self, channels: int) -> nn.Module:
        c = self.config
        return make_neuron(c.neuron, c.neuron_kwargs, c.steps, channels)

    def unit(self, cin: int, cout: int, stride: int) -> nn.Sequential:
        """Binary 3x3 conv -> BN (-> block): the current fed to a neuron (conv -> block ->
        BN for a block placed ``"before-bn"``, :func:`~spikebit.models.blocks.ordered_unit`)."""
        block = (self.block_cls(self.config.steps, **self.config.block_kwargs)
                 if self.block_cls is not None else None)
        return nn.Sequential(*ordered_unit(self.conv(cin, cout, 3, stride, True),
                                           TimeDistributed(nn.BatchNorm2d(cout)), block))

    def shortcut(self, cin: int, cout: int, stride: int) -> nn.Module:
        if cin == cout and stride == 1:
            return nn.Identity()
        mods: list[nn.Module] = []
        if stride > 1:
            mods.append(TimeDistributed(nn.AvgPool2d(stride, ceil_mode=True)))
        mods += [self.conv(cin, cout, 1, 1, self.config.binary_downsample),
                 TimeDistributed(nn.BatchNorm2d(cout))]
        return nn.Sequential(*mods)


class DoubleSkipBlock(nn.Module):
    """Two binary units, each with its own shortcut added before its neuron.

    ``[T, B, cin, H, W]`` spikes -> ``[T, B, cout, H/stride, W/stride]`` spikes.
    The double skip connections of Bi-Real Net (Liu et al. 2018), as used by AGMM.

    Args:
        parts: factories of the network's layers (from its :class:`ResNetConfig`).
        cin: input channels.
        cout: output channels.
        stride: stride of the first unit (and of the downsampling shortcut).
    """

    def __init__(self, parts: _Parts, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.unit1 = parts.unit(cin, cout, stride)
        self.shortcut1 = parts.shortcut(cin, cout, stride)
        self.neuron1 = parts.neuron(cout)
        self.unit2 = parts.unit(cout, cout, 1)
        self.neuron2 = parts.neuron(cout)

    def forward(self, s: Tensor) -> Tensor:
        """``s1 = LIF(unit1(s) + D(s))``, ``s2 = LIF(unit2(s1) + s1)``.

        Args:
            s: input spikes ``[T, B, cin, H, W]``.

        Returns:
            Output spikes ``[T, B, cout, ceil(H/stride), ceil(W/stride)]``.
        """
        s1 = self.neuron1(self.unit1(s) + self.shortcut1(s))
        return self.neuron2(self.unit2(s1) + s1)


class SpikingResNet(SpikingNet):
    """A :class:`SpikingNet` (same input handling) whose body is a double-skip ResNet.

    Input ``[B, *in_shape]`` or ``[T, B, *in_shape]``; output ``[T, B, num_classes]``.

    Args:
        config: the :class:`ResNetConfig` (kept as ``self.config``).

    Raises:
        SpecError: ``blocks``, ``channels`` and ``strides`` differ in length.
        RegistryError: unknown neuron, quantizer or block name.
        ConfigError: neuron arguments that do not fit the neuron.
    """

    def __init__(self, config: ResNetConfig) -> None:
        super().__init__(config, build_body(config))  # type: ignore[arg-type]


def build_body(config: ResNetConfig) -> nn.Sequential:
    """stem -> stages of :class:`DoubleSkipBlock` -> GAP -> full-precision FC.

    Args:
        config: the network's :class:`ResNetConfig`.

    Returns:
        The body, on ``[T, B, C, H, W]`` -> ``[T, B, num_classes]``.

    Raises:
        SpecError: ``blocks``, ``channels`` and ``strides`` differ in length.
        RegistryError: unknown neuron, quantizer or block name.
        ConfigError: neuron arguments that do not fit the neuron.
    """
    if not (len(config.blocks) == len(config.channels) == len(config.strides)):
        raise SpecError("ResNetConfig: blocks, channels and strides need one entry per stage, "
                         f"got {config.blocks}, {config.channels}, {config.strides}")
    parts = _Parts(config)
    cin = config.in_shape[0]
    stem = scaled(config.stem_channels, config.width)
    k, stride = (7, 2) if config.imagenet_stem else (3, config.stem_stride)
    mods: list[nn.Module] = [parts.conv(cin, stem, k, stride, False),
                             TimeDistributed(nn.BatchNorm2d(stem)), parts.neuron(stem)]
    if config.imagenet_stem:
        mods.append(TimeDistributed(nn.MaxPool2d(3, 2, 1)))
    c = stem
    for n, width, first_stride in zip(config.blocks, config.channels, config.strides):
        cout = scaled(width, config.width)
        for i in range(n):
            mods.append(DoubleSkipBlock(parts, c, cout, first_stride if i == 0 else 1))
            c = cout
    q = get_quantizer(config.quantizer, **config.quantizer_kwargs)
    mods += [TimeDistributed(GlobalAvgPool()),
             TimeDistributed(QLinear(c, config.num_classes, quantizer=q, quantize=False))]
    return nn.Sequential(*mods)

