"""From the shared lowering (:mod:`spikebit.export.lower`) to the packed graph.

The model is walked once by :func:`spikebit.export.lower.lower` (the same primitives and
refusals as the NIR and ONNX writers). Here each primitive becomes a packed op:

* a conv/linear layer and the BatchNorm right after it become ``current = scale * z +
  bias`` per output channel, ``z`` the dot product with the *stored* weight form (fp
  weights, ``sum_i alpha_i B_i`` for binary bases, integers ``q``). The exact
  decomposition is read from the layer's quantizer in float64
  (:func:`~spikebit.deploy.decompose.weight_decomposition`), and ``scale``/``bias`` fold
  the per-channel weight scale, the layer bias and the BatchNorm
  (``a = gamma / sqrt(var + eps)``, ``b = beta - a * mean``) in float64;
* neurons keep their dynamics (LIF/IF, multi-threshold, MFP's time mixing);
* pools, flatten and global average pooling pass through.

Refused with :class:`ExportError` naming the layer: AGMM's input-dependent gate, a
BatchNorm that does not follow a conv/linear layer, neurons without known exact dynamics,
per-channel thresholds, overlapping or padded pools, non-direct encoders, and everything
the shared lowering refuses (residual networks, ANN activations, ...).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from spikebit.deploy.decompose import Decomposition, check_decomposition, weight_decomposition
from spikebit.errors import ExportError
from spikebit.export import graph as g
from spikebit.export.lower import Target, unwrap
from spikebit.export.lower import lower as lower_graph
from spikebit.quant import QuantizedMixin

Graph = dict[str, Any]
Tensors = dict[str, np.ndarray]

PACKED_TARGET = Target("packed")  # gates are lowered, then refused below with the reason
KINDS = {"lif", "if", "mtlif", "mfp"}


def _f64(t: torch.Tensor | None) -> np.ndarray | None:
    return None if t is None else t.detach().cpu().to(torch.float64).numpy()


def _pack_bits(bits: np.ndarray) -> np.ndarray:
    return np.packbits(bits.reshape(-1).astype(np.uint8), bitorder="little")


def _weight_tensors(dec: Decomposition, fp_dtype: str) -> tuple[Graph, Tensors]:
    if dec.kind == "fp":
        return {"bases": 0, "bits": 32 if fp_dtype == "float32" else 16, "dtype": fp_dtype}, {
            "weight": dec.weight.astype(fp_dtype)}
    if dec.kind == "binary":
        k = dec.bases.shape[0]
        tensors = {"bits": _pack_bits(dec.bases)}
        if k > 1 or (dec.alpha != 1.0).any():
            tensors["alpha"] = dec.alpha.astype(np.float64)
        return {"bases": k, "bits": 1}, tensors
    b = dec.bits
    u = (dec.q + (2 ** (b - 1) - 1)).astype(np.uint64).reshape(-1)  # offset to 0..2^b - 2
    planes = np.stack([_pack_bits((u >> np.uint64(p)) & np.uint64(1)) for p in range(b)])
    return {"bases": 0, "bits": b}, {"bits": planes}


def lower_weight(node: g.Conv2d | g.Linear, layer: nn.Module, bn: g.BatchNorm | None,
                 fp_dtype: str) -> tuple[Graph, Tensors]:
    """The lowered conv/linear ``node`` (its module ``layer``, the BatchNorm node ``bn``
    right after it or None) as ``(op, tensors)``; fp weights stored as ``fp_dtype``."""
    name = node.path
    dec = weight_decomposition(layer, name)
    if isinstance(layer, QuantizedMixin):
        check_decomposition(layer, dec, name)
    out = layer.weight.shape[0]
    a, b = np.ones(out), np.zeros(out)
    if bn is not None:
        a = _f64(bn.weight) / np.sqrt(_f64(bn.var) + bn.eps)
        b = _f64(bn.bias) - a * _f64(bn.mean)
    bias = _f64(layer.bias) if layer.bias is not None else np.zeros(out)
    op: Graph = {"name": name, "weights": dec.kind, "shape": list(layer.weight.shape)}
    if isinstance(node, g.Conv2d):
        if node.groups != 1 or node.dilation != (1, 1) or len(set(node.padding)) != 1 \
                or len(set(node.stride)) != 1:
            raise ExportError(f"layer {name}: only dense, undilated convs with equal padding "
                              "and stride per axis pack")
        op.update(op="conv", stride=int(node.stride[0]), padding=int(node.padding[0]))
    else:
        op.update(op="linear")
    fields, tensors = _weight_tensors(dec, fp_dtype)
    op.update(fields)
    tensors["scale"] = a * dec.channel_scale
    tensors["bias"] = a * bias + b
    return op, tensors


def lower_neuron(node: g.Neuron, module: nn.Module, steps: int) -> tuple[Graph, Tensors]:
    """The lowered neuron ``node`` (its ``module``; ``steps`` = T) as ``(op, tensors)``;
    :class:`ExportError` unless the engine runs its dynamics exactly."""
    dyn, name = node.dynamics, node.path
    if dyn.kind not in KINDS or not dyn.exact_step:
        raise ExportError(
            f"layer {name}: neuron {type(module).__name__} (kind {dyn.kind!r}) has no exact "
            "step the packed engine knows (lif, if, mtlif, mfp with exact_step)")
    if isinstance(dyn.threshold, torch.Tensor) or isinstance(dyn.leak, torch.Tensor):
        raise ExportError(f"layer {name}: per-channel thresholds/leaks are not in packed "
                          "format version 1")
    op: Graph = {"op": "neuron", "name": name, "threshold": float(dyn.threshold),
                 "max_spikes": int(dyn.max_spikes)}
    if dyn.time_mixing:  # MFP: M (fp32 parameters) and alpha, multiplied in float64
        m = module.mixing.matrix().detach().cpu().float().numpy()
        if m.shape != (steps, steps):
            raise ExportError(f"layer {name}: MFP mixing is {m.shape}, model T={steps}")
        op.update(kind="mfp", alpha=float(module.alpha), leak=0.0, reset="none")
        return op, {"mixing": m[np.tril_indices(steps)]}
    kind = "mtlif" if dyn.max_spikes > 1 else "lif"
    if dyn.reset not in ("hard", "soft") or (kind == "mtlif" and dyn.reset != "soft"):
        raise ExportError(f"layer {name}: reset {dyn.reset!r} with max_spikes "
                          f"{dyn.max_spikes} is not an engine dynamics")
    op.update(kind=kind, leak=float(dyn.leak), reset=dyn.reset)
    return op, {}


def _other(node: object) -> Graph:
    if isinstance(node, g.Pool2d):
        k, s = node.kernel, node.stride
        if k[0] != k[1] or s != k or node.padding != (0, 0) or node.ceil_mode \
                or node.kind not in ("avg", "max"):
            raise ExportError(f"layer {node.path}: only square, non-overlapping, unpadded "
                              "average/max pools pack")
        return {"op": f"{node.kind}pool", "name": node.path, "kernel": int(k[0])}
    if isinstance(node, g.Flatten):
        return {"op": "flatten", "name": node.path}
    if isinstance(node, g.GlobalAvgPool):
        return {"op": "gap", "name": node.path}
    if isinstance(node, g.Gate):
        raise ExportError(
            f"layer {node.path} (AGMM): its gate multiplies the current by sigmoid(alpha_t * "
            "mean of the input), an input-dependent real factor at inference that is neither "
            "foldable nor integer; export a model trained without AGMM (agmm=False)")
    if isinstance(node, g.BatchNorm):
        raise ExportError(f"layer {node.path}: BatchNorm that does not directly follow a "
                          "conv/linear layer (e.g. after a neuron) cannot be folded exactly")
    raise ExportError(f"layer {getattr(node, 'path', '?')}: {type(node).__name__} has no "
                      "packed implementation")


def lower(model: nn.Module, fp_dtype: str = "float32") -> tuple[Graph, Tensors]:
    """The packed graph (JSON-able) and its tensors (``"{i}.{name}"``) for ``model``, full
    precision weights as ``fp_dtype``. Raises :class:`ExportError` naming the layer."""
    if fp_dtype not in ("float32", "float16"):
        raise ExportError(f"fp_dtype must be 'float32' or 'float16', got {fp_dtype!r}")
    lowered = lower_graph(model, PACKED_TARGET)
    inner, _ = unwrap(model)
    if lowered.encoder != "direct":
        raise ExportError(f"encoder {lowered.encoder!r}: only 'direct' encoding (the "
                          "real-valued input repeated each step) is deterministic and exact")
    nodes, steps = lowered.nodes, lowered.steps
    layers: list[Graph] = []
    tensors: Tensors = {}
    i = 0
    while i < len(nodes):
        node = nodes[i]
        ts: Tensors = {}
        if isinstance(node, g.Conv2d | g.Linear):
            bn = nodes[i + 1] if i + 1 < len(nodes) and isinstance(nodes[i + 1], g.BatchNorm) \
                else None
            op, ts = lower_weight(node, inner.get_submodule(node.path), bn, fp_dtype)
            i += 2 if bn is not None else 1
        elif isinstance(node, g.Neuron):
            op, ts = lower_neuron(node, inner.get_submodule(node.path), steps)
            i += 1
        else:
            op = _other(node)
            i += 1
        tensors.update({f"{len(layers)}.{k}": np.ascontiguousarray(v) for k, v in ts.items()})
        layers.append(op)
    if lowered.normalization is not None:
        mean, std = lowered.normalization
        tensors["input.mean"] = np.asarray(mean, dtype=np.float64)
        tensors["input.std"] = np.asarray(std, dtype=np.float64)
    graph = {"format": "spikebit-packed", "version": 1, "in_shape": list(lowered.in_shape),
             "num_classes": int(inner.config.num_classes), "steps": steps,
             "encoder": lowered.encoder, "normalized": lowered.normalization is not None,
             "layers": layers}
    return graph, tensors
