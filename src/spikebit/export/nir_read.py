"""Read a NIR graph into a :class:`LoweredGraph` and build a spikebit network from it.

The inverse of :mod:`spikebit.export.nir_io`: a chain of supported NIR nodes becomes
lowered primitives (LIF: ``leak = 1 - dt / tau``, ``V = v_threshold+ / ((dt/tau) r)``
where ``v_threshold+`` is the next float32 above NIR's strict threshold), and
:func:`build_network` turns those into a :class:`~spikebit.models.SpikingNet`
(``TimeDistributed`` conv/linear/pool/flatten layers and hard-reset LIF/IF neurons).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from spikebit.errors import ExportError
from spikebit.export.graph import (
    Conv2d,
    Flatten,
    Linear,
    LoweredGraph,
    Neuron,
    NeuronDynamics,
    Pool2d,
    Primitive,
)
from spikebit.export.nir_io import DEFAULT_DT, nir_threshold_to_spikebit

SUPPORTED = ("Input", "Output", "Conv2d", "Affine", "Linear", "SumPool2d", "AvgPool2d",
             "Flatten", "LIF", "IF")


def _meta(graph: Any) -> dict[str, str]:
    out = {}
    for k, v in (getattr(graph, "metadata", None) or {}).items():
        if isinstance(v, np.ndarray):
            v = v.item() if v.size == 1 else v.tolist()
        out[str(k)] = v.decode() if isinstance(v, bytes) else str(v)
    return out


def _load(source: Any) -> Any:
    import nir

    if isinstance(source, nir.NIRGraph):
        return source
    path = Path(source)
    if not path.is_file():
        raise ExportError(f"NIR file {path} does not exist: pass a .nir file written by "
                          "'spikebit export --format nir' or another NIR exporter")
    try:
        return nir.read(str(path))
    except Exception as exc:  # h5py/nir raise many types for a bad file
        raise ExportError(f"NIR file {path} is unreadable or malformed ({type(exc).__name__}: "
                          f"{exc}); re-export it with a NIR writer") from None


def _chain(graph: Any) -> list[str]:
    nodes, edges = graph.nodes, list(graph.edges)
    for a, b in edges:
        for end in (a, b):
            if end not in nodes:
                raise ExportError(f"NIR edge ({a!r}, {b!r}) names a node {end!r} that the "
                                  "graph does not have")
    inputs = [k for k, v in nodes.items() if type(v).__name__ == "Input"]
    if len(inputs) != 1:
        raise ExportError(f"NIR graph needs exactly one Input node, found {len(inputs)}")
    succ: dict[str, list[str]] = {}
    for a, b in edges:
        succ.setdefault(a, []).append(b)
    order, current = [inputs[0]], inputs[0]
    while type(nodes[current]).__name__ != "Output":
        nxt = succ.get(current, [])
        if len(nxt) != 1:
            raise ExportError(f"NIR node {current!r} has {len(nxt)} outgoing edges: spikebit "
                              "reads chains (one path input -> output) only")
        current = nxt[0]
        if current in order:
            raise ExportError(f"NIR node {current!r} is part of a cycle (recurrent graphs "
                              "are not supported)")
        order.append(current)
    if len(order) != len(nodes):
        extra = sorted(set(nodes) - set(order))
        raise ExportError(f"NIR nodes {extra} are not on the input -> output chain")
    return order


def _unique(name: str, node: Any, field: str) -> float:
    values = np.asarray(getattr(node, field), dtype=np.float64)
    if values.size == 0 or not np.all(values == values.flat[0]):
        raise ExportError(f"NIR node {name!r}: {field} must be one value for all neurons "
                          "(per-neuron parameters are not supported)")
    return float(values.flat[0])


def _pair(value: Any) -> tuple[int, int]:
    arr = np.asarray(value).astype(int).reshape(-1)
    return (int(arr[0]), int(arr[-1]))


def _tensor(value: Any, ndim: int, name: str, field: str) -> torch.Tensor:
    arr = np.asarray(value, dtype=np.float32)
    if arr.ndim != ndim or not np.all(np.isfinite(arr)):
        raise ExportError(f"NIR node {name!r}: {field} must be a finite {ndim}-d array, got "
                          f"shape {arr.shape}")
    return torch.from_numpy(arr.copy())


def _conv(name: str, n: Any, dt: float) -> Primitive:
    w = _tensor(n.weight, 4, name, "weight")
    if isinstance(n.padding, str):
        if n.padding != "valid":
            raise ExportError(f"NIR node {name!r}: padding {n.padding!r} unsupported (give ints)")
        padding = (0, 0)
    else:
        padding = _pair(n.padding)
    bias = None if n.bias is None else _tensor(n.bias, 1, name, "bias")
    return Conv2d(name, w, bias, _pair(n.stride), padding, _pair(n.dilation), int(n.groups))


def _affine(name: str, n: Any, dt: float) -> Primitive:
    bias = getattr(n, "bias", None)
    return Linear(name, _tensor(n.weight, 2, name, "weight"),
                  None if bias is None else _tensor(bias, 1, name, "bias"))


def _pool(kind: str) -> Callable[[str, Any, float], Primitive]:
    def read(name: str, n: Any, dt: float) -> Primitive:
        return Pool2d(name, kind, _pair(n.kernel_size), _pair(n.stride), _pair(n.padding))

    return read


def _flatten(name: str, n: Any, dt: float) -> Primitive:
    ndim = len(np.asarray(n.input_type["input"]).reshape(-1))
    if n.start_dim != 0 or n.end_dim not in (-1, ndim - 1):
        raise ExportError(f"NIR node {name!r}: only Flatten over all per-sample dims "
                          f"(start_dim=0, end_dim=-1) is supported, got {n.start_dim}, "
                          f"{n.end_dim}")
    return Flatten(name)


def _dynamics(kind: str, threshold: float, leak: float) -> NeuronDynamics:
    return NeuronDynamics(kind=kind, threshold=threshold, leak=leak, reset="hard", max_spikes=1,
                          needs_steps=False, time_mixing=False, exact_step=True)


def _lif(name: str, n: Any, dt: float) -> Primitive:
    tau, r = _unique(name, n, "tau"), _unique(name, n, "r")
    if _unique(name, n, "v_leak") != 0.0 or _unique(name, n, "v_reset") != 0.0:
        raise ExportError(f"NIR node {name!r}: only v_leak = 0 and v_reset = 0 are supported")
    a = dt / tau
    if not 0.0 < a <= 1.0 or r <= 0:
        raise ExportError(f"NIR node {name!r}: tau={tau} with dt={dt} gives a leak factor "
                          f"1 - dt/tau = {1 - a} outside [0, 1); pass the graph's dt")
    leak = float(np.float32(1.0 - a))
    v = nir_threshold_to_spikebit(_unique(name, n, "v_threshold"), a * r)
    return Neuron(name, _dynamics("lif", v, leak))


def _if(name: str, n: Any, dt: float) -> Primitive:
    r = _unique(name, n, "r")
    if _unique(name, n, "v_reset") != 0.0 or r <= 0:
        raise ExportError(f"NIR node {name!r}: only v_reset = 0 and r > 0 are supported")
    v = nir_threshold_to_spikebit(_unique(name, n, "v_threshold"), r)
    return Neuron(name, _dynamics("if", v, 1.0))


READERS: dict[str, Callable[[str, Any, float], Primitive]] = {
    "Conv2d": _conv, "Affine": _affine, "Linear": _affine, "SumPool2d": _pool("sum"),
    "AvgPool2d": _pool("avg"), "Flatten": _flatten, "LIF": _lif, "IF": _if,
}


def read_graph(source: Any, *, steps: int | None = None, dt: float | None = None) -> LoweredGraph:
    """A :class:`LoweredGraph` from ``source`` (a ``nir.NIRGraph`` or a path), with ``steps``
    and ``dt`` (seconds) overriding the file's metadata (see
    :func:`spikebit.export.nir_io.from_nir`).

    Raises:
        ExportError: a missing/unreadable file, an unknown or malformed node, a graph that
            is not a chain, or shapes that do not chain (naming the node).
    """
    graph = _load(source)
    meta = _meta(graph)
    try:
        dt = float(dt if dt is not None else json.loads(meta.get("dt", str(DEFAULT_DT))))
        steps = int(steps if steps is not None else json.loads(meta.get("steps", "1")))
        norm = json.loads(meta.get("normalization", "null"))
    except (ValueError, TypeError) as exc:
        raise ExportError(f"NIR graph metadata is malformed ({exc})") from None
    order = _chain(graph)
    first = graph.nodes[order[0]]
    in_shape = tuple(int(s) for s in np.asarray(first.input_type["input"]).reshape(-1))
    nodes: list[Primitive] = []
    for name in order[1:-1]:
        node = graph.nodes[name]
        kind = type(node).__name__
        reader = READERS.get(kind)
        if reader is None:
            raise ExportError(f"NIR node {name!r} has type {kind}, which spikebit cannot import; "
                              f"supported: {', '.join(SUPPORTED)}")
        try:
            nodes.append(reader(name, node, dt))
        except ExportError:
            raise
        except (AttributeError, KeyError, TypeError, ValueError, IndexError) as exc:
            raise ExportError(f"NIR node {name!r} ({kind}) is malformed: {exc}") from None
    lowered = LoweredGraph(in_shape=in_shape, steps=steps, nodes=nodes,
                           encoder=meta.get("encoder", "direct"),
                           normalization=tuple(norm) if norm else None,
                           approximations=json.loads(meta.get("approximations", "[]")),
                           metadata={"source": "nir", "dt": dt})
    shapes = lowered.shapes()
    out = np.asarray(graph.nodes[order[-1]].output_type["output"]).reshape(-1)
    last = shapes[-1] if shapes else in_shape
    if out.size and tuple(int(s) for s in out) != tuple(last):
        raise ExportError(f"NIR output node {order[-1]!r} declares shape {tuple(out)} but the "
                          f"chain produces {tuple(last)}")
    return lowered


def _module(node: Primitive) -> nn.Module:
    from spikebit.layers import TimeDistributed
    from spikebit.neurons import IF, LIF

    if isinstance(node, Neuron):
        d = node.dynamics
        if float(d.leak) == 1.0:
            return IF(threshold=float(d.threshold), reset="hard")
        return LIF(threshold=float(d.threshold), tau=float(d.leak), reset="hard")
    if isinstance(node, Conv2d):
        m: nn.Module = nn.Conv2d(node.weight.shape[1] * node.groups, node.weight.shape[0],
                                 tuple(node.weight.shape[2:]), node.stride, node.padding,
                                 node.dilation, node.groups, bias=node.bias is not None)
    elif isinstance(node, Linear):
        m = nn.Linear(node.weight.shape[1], node.weight.shape[0], bias=node.bias is not None)
    elif isinstance(node, Pool2d):
        m = nn.AvgPool2d(node.kernel, node.stride, node.padding, node.ceil_mode,
                         divisor_override=1 if node.kind == "sum" else None)
        if node.kind == "max":
            m = nn.MaxPool2d(node.kernel, node.stride, node.padding, ceil_mode=node.ceil_mode)
    elif isinstance(node, Flatten):
        m = nn.Flatten()
    else:
        raise ExportError(f"{type(node).__name__} {node.path!r} has no spikebit module")
    if isinstance(node, (Conv2d, Linear)):
        with torch.no_grad():
            m.weight.copy_(node.weight)
            if node.bias is not None:
                m.bias.copy_(node.bias)
    return TimeDistributed(m)


def build_network(graph: LoweredGraph) -> nn.Module:
    """A :class:`~spikebit.models.SpikingNet` (eval mode) running ``graph``'s primitives.

    With an input normalization in the graph, the network is wrapped like a trained
    checkpoint's model, so it takes raw inputs ``[B, *in_shape]``.
    """
    from spikebit.models.network import ModelConfig, SpikingNet

    out = graph.out_shape
    config = ModelConfig(spec="nir", in_shape=tuple(graph.in_shape),
                         num_classes=int(out[0]) if len(out) == 1 else 0, steps=graph.steps,
                         neuron="lif", encoder=graph.encoder, batchnorm=False)
    net: nn.Module = SpikingNet(config, nn.Sequential(*[_module(n) for n in graph.nodes]))
    if graph.normalization is not None:  # the same wrapper a trained checkpoint uses
        from spikebit.train.build import Normalized

        net = Normalized(net, *graph.normalization)
    net.export_metadata = {"normalization": graph.normalization, **graph.metadata}
    return net.eval()
