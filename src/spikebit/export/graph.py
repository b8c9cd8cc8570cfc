"""The lowered graph: a short list of exact primitives that every exporter writes.

A :class:`LoweredGraph` is what :func:`spikebit.export.lower` makes of a trained
model: stateless weight layers with their *effective* weights (the exact
quantized levels), BatchNorm, pooling, flatten, per-step neuron dynamics and
(ONNX only) the AGMM gate. Tensors are float32 on the CPU. Shapes are per sample
and step (``(C, H, W)`` or ``(N,)``); the graph runs on time-major
``[T, B, *in_shape]`` sequences.

Every primitive carries ``path``, the dotted name of the layer it came from in
the source model (``""`` for a graph read from a file), so that errors name it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from spikebit.errors import ExportError
from spikebit.neurons.base import NeuronDynamics
from spikebit.quant.levels import QuantLevels

__all__ = ["NeuronDynamics", "QuantInfo", "LoweredGraph", "Conv2d", "Linear", "BatchNorm",
           "Pool2d", "GlobalAvgPool", "Flatten", "Neuron", "Gate", "Residual",
           "node_output_shape"]


@dataclass(frozen=True)
class QuantInfo:
    """How a weight was quantized: the quantizer's class ``name``, ``bits`` per weight,
    ``parts`` (``codes`` ``[k, *w.shape]`` and ``scales`` ``[k, C_out]``, CPU) and the full
    ``levels`` (:class:`~spikebit.quant.levels.QuantLevels`), whose ``weight()`` is the
    effective weight bit for bit."""

    name: str
    bits: int
    parts: dict[str, torch.Tensor] = field(default_factory=dict)
    levels: QuantLevels | None = None


@dataclass
class Conv2d:
    """2-d convolution: ``weight`` ``[C_out, C_in / groups, kh, kw]`` (effective values),
    ``bias`` ``[C_out]`` or None, ``stride``/``padding``/``dilation`` (pixels), ``groups``;
    ``quant`` describes the quantized levels; ``path`` names the source layer."""

    path: str
    weight: torch.Tensor  # [C_out, C_in / groups, kh, kw], effective values
    bias: torch.Tensor | None
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    quant: QuantInfo | None = None


@dataclass
class Linear:
    """Fully connected layer: ``weight`` ``[out, in]`` (effective values), ``bias`` ``[out]``
    or None, ``quant`` the quantized levels; ``path`` names the source layer."""

    path: str
    weight: torch.Tensor  # [out, in], effective values
    bias: torch.Tensor | None
    quant: QuantInfo | None = None


@dataclass
class BatchNorm:
    """Inference BatchNorm ``(x - mean) / sqrt(var + eps) * weight + bias`` over channels
    (``mean``, ``var``, ``weight``, ``bias``: ``[C]``; ``eps``; ``path``: source layer)."""

    path: str
    mean: torch.Tensor
    var: torch.Tensor
    weight: torch.Tensor
    bias: torch.Tensor
    eps: float


@dataclass
class Pool2d:
    """2-d pooling of ``kind`` ``"avg"``, ``"max"`` or ``"sum"`` with ``kernel``, ``stride`` and
    ``padding`` (pixels) and ``ceil_mode``; ``path`` names the source layer."""

    path: str
    kind: str  # "avg" | "max" | "sum" (sum pool = average times the window area)
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int] = (0, 0)
    ceil_mode: bool = False


@dataclass
class GlobalAvgPool:
    """``[C, H, W] -> [C]``: mean over the spatial dimensions (``path``: source layer)."""

    path: str


@dataclass
class Flatten:
    """``[C, H, W] -> [C * H * W]`` per sample (``path``: source layer)."""

    path: str


@dataclass
class Neuron:
    """A neuron layer described by its ``dynamics``; ``mixing`` is the effective ``[T, T]``
    time-mixing matrix of MFP neurons (else None); ``path`` names the source layer."""

    path: str
    dynamics: NeuronDynamics
    mixing: torch.Tensor | None = None  # [T, T] effective time-mixing matrix (MFP)


@dataclass
class Gate:
    """AGMM gate ``x[t] * sigmoid(alpha_t * M[t])`` (``M`` a temporal mean of the per-sample
    feature mean; ``window`` is ``"cumulative"``, ``"all"`` or ``"step"``; ``alpha`` ``[T]``;
    ``path`` names the source layer)."""

    path: str
    alpha: torch.Tensor  # [T]
    window: str


@dataclass
class Residual:
    """``body(x) + shortcut(x)``: two stateless chains (``shortcut`` empty = identity) whose
    outputs are added, in that order (a ResNet block's shortcut before its neuron);
    ``path`` names the source block."""

    path: str
    body: list[Primitive]
    shortcut: list[Primitive]


Primitive = (Conv2d | Linear | BatchNorm | Pool2d | GlobalAvgPool | Flatten | Neuron | Gate
             | Residual)


@dataclass
class LoweredGraph:
    """A chain of primitives from an input ``[T, B, *in_shape]`` to ``[T, B, *out]``.

    ``encoder`` names how a static input becomes a sequence (``"direct"`` repeats it
    each step); ``normalization`` is ``(mean, std)`` per input channel applied before
    the graph (``None`` if the model takes raw inputs); ``approximations`` lists
    every deliberate deviation from the source model (empty = exact); ``in_shape`` is the
    per-sample input shape, ``steps`` T, ``nodes`` the primitives in order and
    ``metadata`` free-form notes (source, dt, ...).
    """

    in_shape: tuple[int, ...]
    steps: int
    nodes: list[Primitive]
    encoder: str = "direct"
    normalization: tuple[list[float], list[float]] | None = None
    approximations: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)

    def shapes(self) -> list[tuple[int, ...]]:
        """Per-sample output shape of every node; :class:`ExportError` where they do not chain."""
        shape = tuple(self.in_shape)
        out = []
        for i, node in enumerate(self.nodes):
            shape = node_output_shape(node, shape, i)
            out.append(shape)
        return out

    @property
    def out_shape(self) -> tuple[int, ...]:
        """Per-sample output shape of the graph (``in_shape`` for an empty graph)."""
        shapes = self.shapes()
        return shapes[-1] if shapes else tuple(self.in_shape)

    def neurons(self) -> list[Neuron]:
        """The neuron layers, in order."""
        return [n for n in self.nodes if isinstance(n, Neuron)]


def _name(node: Primitive, index: int) -> str:
    label = node.path or f"#{index}"
    return f"node {index} ({type(node).__name__} {label!r})"


def _shape_error(node: Primitive, index: int, shape: tuple[int, ...], why: str) -> ExportError:
    return ExportError(
        f"{_name(node, index)} cannot take an input of shape {shape}: {why}. "
        "The layers of the graph do not chain; check the model or the file's node order."
    )


def node_output_shape(node: Primitive, shape: tuple[int, ...], index: int = 0) -> tuple[int, ...]:
    """Per-sample output shape of ``node`` for an input of per-sample ``shape``.

    Args:
        node: a primitive.
        shape: its per-sample input shape (``(C, H, W)`` or ``(N,)``).
        index: the node's position, used in error messages.

    Raises:
        ExportError: naming the node when the input shape does not fit it.
    """
    if isinstance(node, (Neuron, Gate)):
        return shape
    if isinstance(node, Residual):
        out = shape
        for j, sub in enumerate(node.body):
            out = node_output_shape(sub, out, j)
        short = shape
        for j, sub in enumerate(node.shortcut):
            short = node_output_shape(sub, short, j)
        if out != short:
            raise _shape_error(node, index, shape, f"its body gives {out} but its shortcut "
                               f"gives {short}")
        return out
    if isinstance(node, Flatten):
        if len(shape) < 1:
            raise _shape_error(node, index, shape, "nothing to flatten")
        n = 1
        for s in shape:
            n *= s
        return (n,)
    if isinstance(node, GlobalAvgPool):
        if len(shape) != 3:
            raise _shape_error(node, index, shape, "global pooling needs (C, H, W)")
        return (shape[0],)
    if isinstance(node, BatchNorm):
        if len(shape) not in (1, 3) or shape[0] != node.mean.numel():
            raise _shape_error(node, index, shape, f"BatchNorm over {node.mean.numel()} channels")
        return shape
    if isinstance(node, Linear):
        if len(shape) != 1 or shape[0] != node.weight.shape[1]:
            raise _shape_error(node, index, shape,
                               f"Linear expects ({node.weight.shape[1]},) (flatten first?)")
        return (node.weight.shape[0],)
    x = torch.empty((1, *shape), device="meta")
    try:
        if isinstance(node, Conv2d):
            if len(shape) != 3 or shape[0] != node.weight.shape[1] * node.groups:
                raise _shape_error(node, index, shape,
                                   f"Conv2d expects {node.weight.shape[1] * node.groups} channels")
            y = F.conv2d(x, node.weight.to("meta"), None, node.stride, node.padding,
                         node.dilation, node.groups)
        elif isinstance(node, Pool2d):
            if len(shape) != 3:
                raise _shape_error(node, index, shape, "pooling needs (C, H, W)")
            pool = F.max_pool2d if node.kind == "max" else F.avg_pool2d
            y = pool(x, node.kernel, node.stride, node.padding, ceil_mode=node.ceil_mode)
        else:
            raise ExportError(f"{_name(node, index)}: not a spikebit export primitive")
    except RuntimeError as exc:
        raise _shape_error(node, index, shape, str(exc).splitlines()[0]) from None
    if any(s <= 0 for s in y.shape[1:]):
        raise _shape_error(node, index, shape, f"output would be empty {tuple(y.shape[1:])}")
    return tuple(int(s) for s in y.shape[1:])
