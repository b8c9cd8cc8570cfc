"""NIR writer and reader (Neuromorphic Intermediate Representation, ``nir`` package).

Writing: the model is lowered for :data:`NIR_TARGET` (hard-reset LIF/IF only; reset by
subtraction, graded spikes, MFP time mixing, AGMM gates and max pooling are refused
unless approximated), BatchNorm is folded into the weights, and each primitive
becomes one NIR node in a chain ``input -> ... -> output``:

=====================  ===================================================
lowered primitive      NIR node
=====================  ===================================================
Conv2d (+BN)           ``Conv2d`` (effective weights, folded bias)
Linear (+BN)           ``Affine``
avg pool k x k         ``SumPool2d``; ``1/k^2`` folded into the next weight layer
global avg pool        ``SumPool2d`` (H x W) + ``Flatten``; ``1/HW`` folded into the
                       weight layer before it
Flatten                ``Flatten`` (start_dim 0 per sample)
LIF, hard reset        ``LIF`` (``tau``, ``r=1``, ``v_leak=0``, ``v_threshold``, ``v_reset=0``)
IF, hard reset         ``IF`` (``r=1``, ``v_threshold``, ``v_reset=0``)
=====================  ===================================================

Time constant (explicit ``dt``, default 1e-4 s, the step snnTorch's importer assumes):
forward-Euler of NIR's ``tau dv/dt = (v_leak - v) + r I`` over one step ``dt`` gives
``v[t] = (1 - dt/tau) v[t-1] + (dt/tau) r I[t]``. With ``tau = dt / (1 - leak)``, ``r = 1``
and ``v_leak = 0`` this is ``v = (1 - leak) * h`` for spikebit's ``h[t] = leak v[t-1] + x[t]``
(``leak`` = the LIF's ``tau`` factor), so ``v_threshold = (1 - leak) V`` fires exactly where
spikebit does. NIR fires on ``v > v_threshold`` and spikebit on ``h >= V``, so the
threshold written is the largest float32 below ``(1 - leak) V`` (same spikes for every
float32 ``v``). IF (``leak = 1``) is written with ``r = 1`` per step (``v[t] = v[t-1] + I[t]``,
the convention of the Norse, snnTorch and Sinabs importers). Graph metadata records
``dt``, ``steps``, the encoder, the input normalization and any approximation.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from spikebit.errors import ExportError
from spikebit.export.files import atomic_path
from spikebit.export.graph import (
    Conv2d,
    Flatten,
    GlobalAvgPool,
    Linear,
    LoweredGraph,
    Neuron,
    Pool2d,
    Primitive,
)
from spikebit.export.lower import NIR_TARGET, fold_batchnorm, lower

DEFAULT_DT = 1e-4
"""Seconds per step written to NIR (snnTorch's importer assumes 1e-4)."""


def below(value: float) -> float:
    """The largest float32 strictly below ``value`` (turns ``>=`` into ``>``)."""
    return float(np.nextafter(np.float32(value), np.float32(-np.inf)))


def above(value: float) -> float:
    """The smallest float32 strictly above ``value`` (inverse of :func:`below`)."""
    return float(np.nextafter(np.float32(value), np.float32(np.inf)))


def _scale(node: Conv2d | Linear, factor: float, bias: bool) -> Conv2d | Linear:
    w = (node.weight.double() * factor).float()
    b = node.bias
    if bias and b is not None:
        b = (b.double() * factor).float()
    return dataclasses.replace(node, weight=w, bias=b, quant=None)


def sum_pools(graph: LoweredGraph) -> tuple[list[Primitive], list[str]]:
    """Average pools of ``graph`` as sum pools, ``1/area`` folded into a neighbouring weight
    layer (the next one; for a trailing pool, the one before it).

    Returns the new node list (pools as ``Pool2d(kind="sum")``, global pooling as a
    sum pool + flatten) and notes on folds that are not bit-exact (area not a power of 2).
    """
    shapes = [tuple(graph.in_shape), *graph.shapes()]
    nodes: list[Primitive] = []
    notes: list[str] = []
    pending, pending_from = 1.0, ""
    for i, node in enumerate(graph.nodes):
        if isinstance(node, (Pool2d, GlobalAvgPool)) and getattr(node, "kind", "avg") == "avg":
            if isinstance(node, GlobalAvgPool):
                h, w = shapes[i][1:]
                new: list[Primitive] = [Pool2d(node.path, "sum", (h, w), (h, w)),
                                        Flatten(node.path)]
            else:
                h, w = node.kernel
                new = [dataclasses.replace(node, kind="sum")]
            area = h * w
            if area & (area - 1):
                notes.append(f"{node.path}: 1/{area} of the average pool folded into weights "
                             "(float32 rounding differs from dividing the sum)")
            pending, pending_from = pending / area, node.path
            nodes.extend(new)
            continue
        if isinstance(node, (Conv2d, Linear)) and pending != 1.0:
            node, pending = _scale(node, pending, bias=False), 1.0
        elif isinstance(node, Neuron) and pending != 1.0:
            raise ExportError(f"average pool {pending_from!r} is followed by a neuron before any "
                              "weight layer: its divisor cannot be folded into weights for NIR")
        nodes.append(node)
    if pending != 1.0:  # trailing average pool: fold into the last weight layer before it
        for j in range(len(nodes) - 1, -1, -1):
            if isinstance(nodes[j], Neuron):
                break
            if isinstance(nodes[j], (Conv2d, Linear)):
                nodes[j] = _scale(nodes[j], pending, bias=True)
                pending = 1.0
                break
        if pending != 1.0:
            raise ExportError(f"average pool {pending_from!r} has no weight layer to fold its "
                              "divisor into (NIR writes sum pools)")
    return nodes, notes


def _array(x: torch.Tensor | float, shape: tuple[int, ...]) -> np.ndarray:
    return np.broadcast_to(np.asarray(x, dtype=np.float32), shape).copy()


def _neuron_node(node: Neuron, shape: tuple[int, ...], dt: float) -> Any:
    import nir

    dyn = node.dynamics
    if isinstance(dyn.threshold, torch.Tensor) or isinstance(dyn.leak, torch.Tensor):
        raise ExportError(f"layer {node.path!r}: per-channel threshold/leak is not written to "
                          "NIR yet (the importers of snnTorch and Norse need one value)")
    leak, v = float(dyn.leak), float(dyn.threshold)
    meta = {"spikebit_path": node.path, "spikebit_kind": dyn.kind}
    if leak == 1.0:
        return nir.IF(r=_array(1.0, shape), v_threshold=_array(below(v), shape),
                      v_reset=_array(0.0, shape), metadata=meta)
    if not 0.0 <= leak < 1.0:
        raise ExportError(f"layer {node.path!r}: leak {leak} outside [0, 1]")
    a = 1.0 - leak
    return nir.LIF(tau=_array(dt / a, shape), r=_array(1.0, shape), v_leak=_array(0.0, shape),
                   v_threshold=_array(below(a * v), shape), v_reset=_array(0.0, shape),
                   metadata=meta)


def _node(node: Primitive, shape: tuple[int, ...], dt: float) -> Any:
    import nir

    meta = {"spikebit_path": node.path}
    if isinstance(node, Conv2d):
        bias = node.bias if node.bias is not None else node.weight.new_zeros(node.weight.shape[0])
        return nir.Conv2d(input_shape=tuple(shape[1:]), weight=node.weight.numpy(),
                          stride=node.stride, padding=node.padding, dilation=node.dilation,
                          groups=node.groups, bias=bias.numpy(), metadata=meta)
    if isinstance(node, Linear):
        bias = node.bias if node.bias is not None else node.weight.new_zeros(node.weight.shape[0])
        return nir.Affine(weight=node.weight.numpy(), bias=bias.numpy(), metadata=meta)
    if isinstance(node, Pool2d):
        if node.ceil_mode or node.kind != "sum":
            raise ExportError(f"layer {node.path!r}: {node.kind} pooling"
                              f"{' with ceil_mode' if node.ceil_mode else ''} has no NIR node")
        return nir.SumPool2d(kernel_size=np.array(node.kernel), stride=np.array(node.stride),
                             padding=np.array(node.padding), metadata=meta)
    if isinstance(node, Flatten):
        return nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0, end_dim=-1,
                           metadata=meta)
    if isinstance(node, Neuron):
        return _neuron_node(node, shape, dt)
    raise ExportError(f"layer {node.path!r}: {type(node).__name__} has no NIR node")


def _kind(node: Primitive) -> str:
    if isinstance(node, Neuron):
        return "lif" if node.dynamics.leak != 1.0 else "if"
    return {Conv2d: "conv", Linear: "affine", Pool2d: "sumpool", Flatten: "flatten"}.get(
        type(node), type(node).__name__.lower())


def graph_to_nir(graph: LoweredGraph, dt: float = DEFAULT_DT) -> Any:
    """The ``nir.NIRGraph`` of a lowered ``graph`` (BatchNorm folded, average pools as sum
    pools); ``dt`` is the step in seconds (``tau = dt / (1 - leak)``).

    Raises:
        ExportError: ``dt <= 0`` or a primitive without a NIR node.
    """
    import nir

    if not dt > 0:
        raise ExportError(f"dt must be a positive number of seconds per step, got {dt}")
    folded = fold_batchnorm(graph)
    nodes, notes = sum_pools(folded)
    plan = dataclasses.replace(folded, nodes=nodes)
    shapes = [tuple(plan.in_shape), *plan.shapes()]
    nir_nodes: dict[str, Any] = {"input": nir.Input(input_type={"input": np.array(shapes[0])})}
    names = ["input"]
    for i, node in enumerate(nodes):
        name = f"n{i:02d}_{_kind(node)}"
        nir_nodes[name] = _node(node, shapes[i], dt)
        names.append(name)
    nir_nodes["output"] = nir.Output(output_type={"output": np.array(shapes[-1])})
    names.append("output")
    edges = list(zip(names[:-1], names[1:]))
    meta = {
        "spikebit_format": "1", "dt": json.dumps(dt), "steps": json.dumps(graph.steps),
        "encoder": graph.encoder, "normalization": json.dumps(graph.normalization),
        "approximations": json.dumps(graph.approximations), "rounding": json.dumps(notes),
        "threshold_rule": "NIR v > v_threshold; v_threshold = largest float32 below "
                          "(1 - leak) * V, so spikes equal spikebit's h >= V",
    }
    return nir.NIRGraph(nodes=nir_nodes, edges=edges, metadata=meta)


def to_nir(
    model: nn.Module | LoweredGraph,
    path: str | Path | None = None,
    *,
    dt: float = DEFAULT_DT,
    approximate: bool | str | Iterable[str] | None = None,
) -> Any:
    """Export ``model`` (a trained SpikingNet or a lowered graph) as a ``nir.NIRGraph``.

    ``dt``: seconds per step (sets ``tau = dt / (1 - leak)``). ``approximate``: names from
    :data:`~spikebit.export.lower.APPROXIMATIONS` (or ``"all"``) to write instead of
    refusing. With ``path``, the graph is also written there atomically (``nir.write``).
    Raises :class:`ExportError` naming the layer that NIR cannot express.
    """
    import nir

    graph = model if isinstance(model, LoweredGraph) else lower(model, NIR_TARGET, approximate)
    if isinstance(model, LoweredGraph):  # re-check a hand-made graph against the target
        _check_target(graph)
    out = graph_to_nir(graph, dt)
    if path is not None:
        with atomic_path(path) as tmp:
            nir.write(str(tmp), out)
    return out


def _check_target(graph: LoweredGraph) -> None:
    for node in graph.nodes:
        if isinstance(node, Neuron):
            d = node.dynamics
            if d.reset != "hard" or d.max_spikes != 1 or node.mixing is not None:
                raise ExportError(f"layer {node.path!r}: only hard-reset binary LIF/IF neurons "
                                  "can be written to NIR")
        elif not isinstance(node, (Conv2d, Linear, Pool2d, GlobalAvgPool, Flatten)) and \
                type(node).__name__ != "BatchNorm":
            raise ExportError(f"layer {node.path!r}: {type(node).__name__} has no NIR node")


def from_nir(source: Any, *, steps: int | None = None, dt: float | None = None) -> nn.Module:
    """Build a spikebit :class:`~spikebit.models.SpikingNet` from a NIR graph or file.

    ``source``: a ``nir.NIRGraph`` or a path to a ``.nir`` file. ``steps`` and ``dt``
    default to the values in the graph's metadata (else ``steps=1``, ``dt=1e-4``).
    Supported nodes: Input, Output, Conv2d, Affine, Linear, SumPool2d, AvgPool2d,
    Flatten, LIF and IF with ``v_leak = 0`` and ``v_reset = 0``, in a chain. Raises
    :class:`ExportError` naming the node for an unknown or malformed node or shapes
    that do not chain.
    """
    from spikebit.export.nir_read import build_network, read_graph

    graph = read_graph(source, steps=steps, dt=dt)
    return build_network(graph)


def nir_threshold_to_spikebit(v_threshold: float, scale: float) -> float:
    """Invert the threshold rule: spikebit ``V`` from NIR ``v_threshold`` and ``scale``
    ``= (dt / tau) r`` (the next float32 above ``v_threshold``, divided by ``scale``)."""
    v = above(v_threshold) / scale
    return float(np.float32(v)) if math.isfinite(v) else v
