"""Build a spiking network from a spec string and run it over time."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn

from spikebit.errors import ConfigError, ShapeError, SpecError
from spikebit.functional.encoders import ENCODERS
from spikebit.layers import GlobalAvgPool, TimeDistributed
from spikebit.models.spec import LayerSpec, WeightBudget, parse_spec
from spikebit.neurons import make_neuron
from spikebit.quant import QConv2d, QLinear, get_quantizer


@dataclass
class ModelConfig:
    """Everything needed to build a :class:`SpikingNet` (serialisable to JSON/YAML).

    ``full_precision`` lists weight-layer indices (0-based, negatives count from
    the end) kept at full precision; every other weight layer uses ``quantizer``.
    ``block`` names extra per-block modules (``"agmm"``) inserted after BN (or before it,
    when the block's ``position`` is ``"before-bn"``).

    Validated when built (:func:`build_network`), not on construction.

    Args:
        spec: layer spec string (``16C3-AP2-128-10``, see :mod:`spikebit.models.spec`).
        in_shape: one sample's shape without batch and time, ``(C, H, W)`` or ``(N,)``.
        num_classes: ``K``, outputs of the last layer.
        steps: ``T``, number of time steps (static inputs are encoded over ``T`` steps).
        neuron: neuron name in ``NEURONS`` (``"lif"``, ``"if"``, ``"mtlif"``, ``"mfp"``, ...).
        neuron_kwargs: keyword arguments of the neuron (e.g. ``threshold``; ``tau``, the
            leak factor per step in ``[0, 1]``).
        quantizer: weight quantizer name in ``QUANTIZERS`` (``"fp"``: full precision).
        quantizer_kwargs: keyword arguments of the quantizer (e.g. ``bits``).
        full_precision: weight-layer indices kept at full precision.
        encoder: input encoder name in ``ENCODERS`` (``"direct"``, ``"poisson"``, ``"phase"``).
        batchnorm: BatchNorm after every hidden weight layer (then hidden layers have no bias).
        padding: ``"same"`` (``k // 2``) or ``"valid"`` (none) for conv layers.
        gap_kernel: kernel size of the conv before global average pooling (``GAP``).
        block: name in ``BLOCKS`` of a module inserted after each quantized layer's BN
            (``"agmm"``; before the BN if the module's ``position`` is ``"before-bn"``),
            or ``None``.
        block_kwargs: keyword arguments of ``block`` (after ``steps``).
    """

    spec: str = "16C3-16C3-AP2-64C3-64C3-AP2-256C3-1024C3-GAP"
    in_shape: tuple[int, ...] = (1, 28, 28)
    num_classes: int = 10
    steps: int = 1
    neuron: str = "lif"
    neuron_kwargs: dict[str, Any] = field(default_factory=dict)
    quantizer: str = "fp"
    quantizer_kwargs: dict[str, Any] = field(default_factory=dict)
    full_precision: list[int] = field(default_factory=list)
    encoder: str = "direct"
    batchnorm: bool = True
    padding: Literal["same", "valid"] = "same"
    gap_kernel: int = 3
    block: str | None = None
    block_kwargs: dict[str, Any] = field(default_factory=dict)


class SpikingNet(nn.Module):
    """A feed-forward spiking network over time.

    ``forward(x)``: static input ``[B, *in_shape]`` is encoded to ``[T, B, ...]``;
    a sequence ``[T, B, *in_shape]`` (e.g. event frames) is used as is.
    Returns the real-valued output layer per step, ``[T, B, num_classes]``;
    the prediction is its mean over time. Built by :func:`build_network`.

    Args:
        config: the :class:`ModelConfig` the network was built from.
        body: the layers, each on time-major ``[T, B, ...]`` sequences.
    """

    def __init__(self, config: ModelConfig, body: nn.Sequential) -> None:
        super().__init__()
        self.config = config
        self.body = body

    @property
    def steps(self) -> int:
        """``T``, the number of time steps the network was built for."""
        return self.config.steps

    def encode(
        self, x: torch.Tensor, time_first: bool = True, check_steps: bool = True
    ) -> torch.Tensor:
        """Static ``[B, *in_shape]`` -> encoded ``[T, B, ...]``; sequences pass through.

        A sequence is time-major ``[T, B, *in_shape]``, or batch-first
        ``[B, T, *in_shape]`` (a Tonic/DataLoader pipeline) with ``time_first=False``.
        Integer inputs (e.g. Tonic's int16 frames) are converted to the float dtype of
        the model's parameters. With ``check_steps`` a sequence of ``T != steps`` raises
        :class:`ShapeError` (a batch-first input read as time-major is the usual cause).

        Args:
            x: static input ``[B, *in_shape]`` or a sequence ``[T, B, *in_shape]``
                (``[B, T, *in_shape]`` with ``time_first=False``).
            time_first: whether a sequence is time-major; ``False`` transposes it.
            check_steps: refuse a sequence whose ``T`` differs from :attr:`steps`.

        Returns:
            The time-major sequence ``[T, B, *in_shape]`` (floating point).

        Raises:
            ShapeError: a rank that is neither ``len(in_shape) + 1`` nor ``+ 2``, or
                ``T != steps`` with ``check_steps``.
            RegistryError: the configured encoder name is unknown.
        """
        n = len(self.config.in_shape)
        if not (x.is_floating_point() or x.is_complex()):
            param = next(self.parameters(), None)
            x = x.to(param.dtype if param is not None else torch.get_default_dtype())
        if x.ndim == n + 1:
            return ENCODERS.get(self.config.encoder)(x, self.config.steps)
        if x.ndim == n + 2:
            if not time_first:
                x = x.transpose(0, 1)
            if check_steps and x.shape[0] != self.config.steps:
                raise ShapeError(
                    f"the input sequence has T={x.shape[0]} steps (dim 0 of "
                    f"{tuple(x.shape)}, time-major [T, B, ...]) but the model was built for "
                    f"steps={self.config.steps}. If the input is batch-first [B, T, ...] pass "
                    "time_first=False; to run another number of steps on purpose pass "
                    "check_steps=False."
                )
            return x
        raise ShapeError(
            f"SpikingNet expects input [B, {', '.join(map(str, self.config.in_shape))}] "
            f"(static, encoded over T={self.config.steps} steps) or [T, B, ...] (a sequence), "
            f"got shape {tuple(x.shape)}"
        )

    def forward(
        self, x: torch.Tensor, time_first: bool = True, check_steps: bool = True
    ) -> torch.Tensor:
        """``[B, *in_shape]`` or ``[T, B, *in_shape]`` -> output per step ``[T, B, K]``.

        Args:
            x: static input ``[B, *in_shape]`` or a sequence ``[T, B, *in_shape]``.
            time_first: whether a sequence is time-major (see :meth:`encode`).
            check_steps: refuse a sequence whose ``T`` differs from :attr:`steps`.

        Returns:
            The output layer per step, ``[T, B, K]`` (real-valued; average over ``T`` to
                predict).

        Raises:
            ShapeError: wrong rank, trailing dims that differ from ``in_shape``, or a
                sequence whose T differs from ``steps`` (with ``check_steps``).
        """
        x_seq = self.encode(x, time_first, check_steps)
        n = len(self.config.in_shape)
        if tuple(x_seq.shape[-n:]) != tuple(self.config.in_shape):
            raise ShapeError(
                f"input's trailing dims {tuple(x_seq.shape[-n:])} do not match the model's "
                f"in_shape {tuple(self.config.in_shape)}"
            )
        return self.body(x_seq)


def _weight_layer_count(layers: list[LayerSpec], num_classes: int) -> int:
    n = sum(1 for layer in layers if layer.kind in ("conv", "fc", "gap"))
    last = layers[-1]
    appended = not (last.kind == "gap" or (last.kind == "fc" and last.channels == num_classes))
    return n + int(appended)


def _normalize_indices(indices: list[int], count: int) -> set[int]:
    out = set()
    for i in indices:
        j = i + count if i < 0 else i
        if not 0 <= j < count:
            raise SpecError(
                f"full_precision index {i} is out of range: the network has {count} weight "
                f"layers (valid 0..{count - 1} or -{count}..-1)"
            )
        out.add(j)
    return out


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_fields(config: ModelConfig) -> None:
    """The same type and range checks the run-config validation makes, for the Python API."""
    if not _is_int(config.steps) or not 1 <= config.steps <= 4096:
        raise ConfigError(f"ModelConfig.steps must be an integer number of time steps in "
                          f"[1, 4096], got {config.steps!r}.")
    if not _is_int(config.num_classes) or config.num_classes < 1:
        raise ConfigError(f"ModelConfig.num_classes must be a positive integer, got "
                          f"{config.num_classes!r}.")
    shape = tuple(config.in_shape) if isinstance(config.in_shape, (tuple, list)) else ()
    if not shape or not all(_is_int(d) and d > 0 for d in shape):
        raise ConfigError(f"ModelConfig.in_shape must be positive integers such as (1, 28, 28), "
                          f"got {config.in_shape!r}.")
    for name, default in (("spec", None), ("neuron", "lif"), ("quantizer", "fp"),
                          ("encoder", "direct")):
        if not isinstance(getattr(config, name), str):
            hint = f" (default {default!r})" if default else ""
            raise ConfigError(f"ModelConfig.{name} must be a name string{hint}, got "
                              f"{getattr(config, name)!r}.")
    for name in ("neuron_kwargs", "quantizer_kwargs", "block_kwargs"):
        if not isinstance(getattr(config, name), dict):
            raise ConfigError(f"ModelConfig.{name} must be a mapping, got "
                              f"{type(getattr(config, name)).__name__}.")


def build_network(config: ModelConfig) -> SpikingNet:
    """Build a :class:`SpikingNet` from ``config`` (see module docstring of ``spec``).

    Hidden layers are ``weight -> BN -> [block] -> neuron`` (``weight -> [block] -> BN ->
    neuron`` for a block whose ``position`` is ``"before-bn"``), each on ``[T, B, ...]``;
    the output layer (GAP conv, a final FC of ``num_classes``, or an appended FC) has
    no neuron.

    Args:
        config: the network's :class:`ModelConfig`.

    Returns:
        The network: ``[B, *in_shape]`` or ``[T, B, *in_shape]`` -> ``[T, B, num_classes]``.

    Raises:
        SpecError: an invalid spec (or one past the size limits of
            :mod:`spikebit.models.spec`, ``MAX_WEIGHTS`` weights in all), a conv after a
            flat input, a ``full_precision`` index out of range, or an input too small
            for the spec.
        RegistryError: unknown neuron, quantizer or block name.
        ConfigError: neuron arguments that do not fit the neuron, or a field of the
            wrong type or range (``steps``, ``num_classes``, ``in_shape``, names).
    """
    from spikebit.models.blocks import BLOCKS, ordered_unit

    _check_fields(config)
    layers = parse_spec(config.spec)
    count = _weight_layer_count(layers, config.num_classes)
    keep_fp = _normalize_indices(config.full_precision, count)
    make_neuron(config.neuron, config.neuron_kwargs, config.steps, 1)  # validate early
    get_quantizer(config.quantizer, **config.quantizer_kwargs)  # validate name/kwargs early
    block_cls = BLOCKS.get(config.block) if config.block else None
    channels, *spatial = config.in_shape
    h, w = (spatial[0], spatial[-1]) if spatial else (0, 0)  # non-square inputs: H != W
    flat = len(spatial) == 0
    weights = WeightBudget(config.spec)
    mods: list[nn.Module] = []
    widx = 0

    def quantizer_for(index: int) -> dict[str, Any]:
        return {
            "quantizer": get_quantizer(config.quantizer, **config.quantizer_kwargs),
            "quantize": index not in keep_fp,
        }

    def add_hidden(weight: nn.Module, bn: nn.Module, quantized: bool, width: int) -> None:
        block = (block_cls(config.steps, **config.block_kwargs)
                 if block_cls is not None and quantized else None)
        mods.extend(ordered_unit(TimeDistributed(weight),
                                 TimeDistributed(bn) if config.batchnorm else None, block))
        mods.append(make_neuron(config.neuron, config.neuron_kwargs, config.steps, width))

    for layer in layers:
        if layer.kind == "conv":
            if flat:
                raise SpecError(f"conv layer {layer.token!r} needs image input, got a flat input")
            pad = layer.size // 2 if config.padding == "same" else 0
            q = quantizer_for(widx)
            weights.add(channels * layer.channels * layer.size**2, layer.token)
            conv = QConv2d(channels, layer.channels, layer.size, padding=pad,
                           bias=not config.batchnorm, **q)
            add_hidden(conv, nn.BatchNorm2d(layer.channels), q["quantize"], layer.channels)
            channels, widx = layer.channels, widx + 1
            h, w = h + 2 * pad - layer.size + 1, w + 2 * pad - layer.size + 1
        elif layer.kind in ("avgpool", "maxpool"):
            pool = nn.AvgPool2d if layer.kind == "avgpool" else nn.MaxPool2d
            mods.append(TimeDistributed(pool(layer.size)))
            h, w = h // layer.size, w // layer.size
        elif layer.kind == "gap":
            q = quantizer_for(widx)
            k = config.gap_kernel
            weights.add(channels * config.num_classes * k * k, layer.token)
            mods.append(TimeDistributed(QConv2d(channels, config.num_classes, k,
                                                padding=k // 2, **q)))
            mods.append(TimeDistributed(GlobalAvgPool()))
            widx += 1
        else:  # fc
            if not flat:
                mods.append(TimeDistributed(nn.Flatten()))
                channels, flat = channels * h * w, True
            is_output = layer is layers[-1] and layer.channels == config.num_classes
            q = quantizer_for(widx)
            weights.add(channels * layer.channels, layer.token)
            fc = QLinear(channels, layer.channels, bias=is_output or not config.batchnorm, **q)
            if is_output:
                mods.append(TimeDistributed(fc))
            else:
                add_hidden(fc, nn.BatchNorm1d(layer.channels), q["quantize"], layer.channels)
            channels, widx = layer.channels, widx + 1
        if min(h, w) <= 0 and not flat:
            raise SpecError(
                f"layer {layer.token!r} shrinks the feature map to {h}x{w}: "
                f"the input {tuple(config.in_shape)} is too small for spec {config.spec!r}"
            )
    if widx < count:  # append the output FC layer
        if not flat:
            mods.append(TimeDistributed(nn.Flatten()))
            channels = channels * h * w
        weights.add(channels * config.num_classes, "output")
        mods.append(TimeDistributed(QLinear(channels, config.num_classes, **quantizer_for(widx))))
    return SpikingNet(config, nn.Sequential(*mods))
