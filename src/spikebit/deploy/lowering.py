"""Lower a :class:`SpikingNet` to the packed graph: folded weight layers, neurons, pools.

Every weight layer becomes ``current = scale * z + bias`` per output channel, where ``z``
is the dot product of the input with the *stored* weight form (fp weights, ``sum_i
alpha_i B_i`` for binary bases, integers ``q``); ``scale`` and ``bias`` fold the
per-channel weight scale, the layer bias and an inference BatchNorm right after the
layer (``a = gamma / sqrt(var + eps)``, ``b = beta - a * mean``), computed in float64.

Anything the engine cannot run exactly raises :class:`ExportError` naming the layer:
a BatchNorm not directly after a weight layer, AGMM's input-dependent gate, neurons
without known exact dynamics, residual networks, random or phase input encoders.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from spikebit.deploy.decompose import Decomposition, check_decomposition, weight_decomposition
from spikebit.errors import ExportError
from spikebit.layers import GlobalAvgPool, TimeDistributed
from spikebit.models.network import SpikingNet
from spikebit.quant import QuantizedMixin

Graph = dict[str, Any]
Tensors = dict[str, np.ndarray]

REFUSED = {
    "AGMM": "AGMM's gate multiplies the current by sigmoid(alpha_t * mean of the input), an "
            "input-dependent real factor at inference that is neither foldable nor integer; "
            "export a model trained without AGMM (agmm=False)",
}


def _f64(t: torch.Tensor | None) -> np.ndarray | None:
    return None if t is None else t.detach().cpu().to(torch.float64).numpy()


def unwrap(model: nn.Module) -> tuple[SpikingNet, tuple[np.ndarray, np.ndarray] | None]:
    """The :class:`SpikingNet` and the input normalization ``(mean, std)`` (or None)."""
    if isinstance(model, SpikingNet):
        return model, None
    inner = getattr(model, "model", None)
    if isinstance(inner, SpikingNet) and hasattr(model, "mean") and hasattr(model, "std"):
        return inner, (_f64(model.mean).reshape(-1), _f64(model.std).reshape(-1))
    raise ExportError(
        f"{type(model).__name__}: the packed format takes a feed-forward SpikingNet built "
        "from a ModelConfig (conv/linear, BN, pools, neurons); residual networks and ANNs "
        "are not supported"
    )


def neuron_dynamics(module: nn.Module, name: str, steps: int) -> tuple[Graph, Tensors] | None:
    """``(op, tensors)`` of a neuron with exact dynamics, None if ``module`` is no neuron.

    The one adapter to the neuron classes (LIF/IF, multi-threshold LIF, MFP).
    """
    from spikebit.functional.firing import BinaryFiring, StaircaseFiring
    from spikebit.methods.mfp.neuron import MFPNeuron
    from spikebit.neurons import IntegrateFireNeuron

    if isinstance(module, IntegrateFireNeuron):
        firing = module.firing
        if not isinstance(firing, BinaryFiring | StaircaseFiring):
            raise ExportError(f"layer {name}: firing {type(firing).__name__} has no exact step")
        kind = "lif" if isinstance(firing, BinaryFiring) else "mtlif"
        return {"op": "neuron", "name": name, "kind": kind, "threshold": float(firing.threshold),
                "leak": float(module.tau), "reset": module.reset,
                "max_spikes": int(firing.max_output)}, {}
    if isinstance(module, MFPNeuron):
        m = module.mixing.matrix().detach().cpu().float()
        if m.shape != (steps, steps):
            raise ExportError(f"layer {name}: MFP mixing is {tuple(m.shape)}, model T={steps}")
        rows, cols = np.tril_indices(steps)
        return {"op": "neuron", "name": name, "kind": "mfp", "threshold": float(module.threshold),
                "alpha": float(module.alpha), "leak": 0.0, "reset": "none",
                "max_spikes": 1}, {"mixing": m.numpy()[rows, cols]}
    if callable(getattr(module, "step", None)):
        raise ExportError(
            f"layer {name}: neuron {type(module).__name__} has no exact step the packed engine "
            "knows (supported: lif, if, mtlif, mfp); register its dynamics in "
            "spikebit.deploy.lowering.neuron_dynamics"
        )
    return None


def _pack_bits(bits: np.ndarray) -> np.ndarray:
    return np.packbits(bits.reshape(-1).astype(np.uint8), bitorder="little")


def _weight_tensors(dec: Decomposition, fp_dtype: str) -> tuple[Graph, Tensors]:
    if dec.kind == "fp":
        return {"bases": 0, "bits": 32 if fp_dtype == "float32" else 16, "dtype": fp_dtype}, {
            "weight": dec.weight.astype(fp_dtype)}
    if dec.kind == "binary":
        k = dec.bases.shape[0]
        tensors = {"bits": _pack_bits(dec.bases)}
        if k > 1 or dec.alpha[0] != 1.0:
            tensors["alpha"] = dec.alpha.astype(np.float64)
        return {"bases": k, "bits": 1}, tensors
    b = dec.bits
    u = (dec.q + (2 ** (b - 1) - 1)).astype(np.uint64).reshape(-1)  # offset to 0..2^b - 2
    planes = np.stack([_pack_bits((u >> np.uint64(p)) & np.uint64(1)) for p in range(b)])
    return {"bases": 0, "bits": b}, {"bits": planes}


def lower_weight(name: str, layer: nn.Module, bn: _BatchNorm | None,
                 fp_dtype: str) -> tuple[Graph, Tensors]:
    """One conv/linear layer (+ the BatchNorm right after it) as ``(op, tensors)``."""
    if isinstance(layer, QuantizedMixin):
        dec = weight_decomposition(layer, name)
        check_decomposition(layer, dec, name)
    else:
        dec = Decomposition("fp", weight=layer.weight.detach().cpu().float().numpy(),
                            channel_scale=np.ones(layer.weight.shape[0]))
    out = layer.weight.shape[0]
    a, b = np.ones(out), np.zeros(out)
    if bn is not None:
        if not bn.track_running_stats or bn.running_var is None:
            raise ExportError(f"layer {name}: BatchNorm without running statistics cannot fold")
        a = (_f64(bn.weight) if bn.affine else 1.0) / np.sqrt(_f64(bn.running_var) + bn.eps)
        b = (_f64(bn.bias) if bn.affine else 0.0) - a * _f64(bn.running_mean)
    bias = _f64(layer.bias) if layer.bias is not None else np.zeros(out)
    op: Graph = {"name": name, "weights": dec.kind, "shape": list(layer.weight.shape)}
    if isinstance(layer, nn.Conv2d):
        if layer.groups != 1 or tuple(layer.dilation) != (1, 1) or layer.padding_mode != "zeros":
            raise ExportError(f"layer {name}: only dense, undilated, zero-padded convs pack")
        if isinstance(layer.padding, str) or len(set(layer.padding)) != 1 \
                or len(set(layer.stride)) != 1:
            raise ExportError(f"layer {name}: padding/stride must be equal integers per axis")
        op.update(op="conv", stride=int(layer.stride[0]), padding=int(layer.padding[0]))
    else:
        op.update(op="linear")
    fields, tensors = _weight_tensors(dec, fp_dtype)
    op.update(fields)
    tensors["scale"] = a * dec.channel_scale
    tensors["bias"] = a * bias + b
    return op, tensors


def _pool(name: str, m: nn.Module) -> Graph:
    k = m.kernel_size if isinstance(m.kernel_size, int) else m.kernel_size[0]
    s = m.stride if isinstance(m.stride, int) else m.stride[0]
    pad = m.padding if isinstance(m.padding, int) else m.padding[0]
    square = isinstance(m.kernel_size, int) or len(set(m.kernel_size)) == 1
    if not square or s != k or pad != 0 or m.ceil_mode:
        raise ExportError(f"layer {name}: only square, non-overlapping, unpadded pools pack")
    kind = "avgpool" if isinstance(m, nn.AvgPool2d) else "maxpool"
    return {"op": kind, "name": name, "kernel": int(k)}


def lower(model: nn.Module, fp_dtype: str = "float32") -> tuple[Graph, Tensors]:
    """The packed graph (JSON-able) and its tensors (``"{i}.{name}"``) for ``model``."""
    if fp_dtype not in ("float32", "float16"):
        raise ExportError(f"fp_dtype must be 'float32' or 'float16', got {fp_dtype!r}")
    net, norm = unwrap(model)
    cfg = net.config
    if cfg.encoder != "direct":
        raise ExportError(f"encoder {cfg.encoder!r}: only 'direct' encoding (the real-valued "
                          "input repeated each step) is deterministic and exact")
    items = [m.module if isinstance(m, TimeDistributed) else m for m in net.body]
    layers: list[Graph] = []
    tensors: Tensors = {}
    i = 0
    while i < len(items):
        m, name = items[i], f"body.{i}"
        if isinstance(m, nn.Conv2d | nn.Linear):
            bn = items[i + 1] if i + 1 < len(items) and isinstance(items[i + 1], _BatchNorm) \
                else None
            op, ts = lower_weight(name, m, bn, fp_dtype)
            i += 2 if bn is not None else 1
        elif isinstance(m, _BatchNorm):
            prev = type(items[i - 1]).__name__ if i else "the input"
            raise ExportError(f"layer {name}: BatchNorm after {prev} (not a conv/linear layer) "
                              "cannot be folded into thresholds exactly")
        elif type(m).__name__ in REFUSED:
            raise ExportError(f"layer {name} ({type(m).__name__}): {REFUSED[type(m).__name__]}")
        else:
            op, ts = _lower_other(name, m, cfg.steps)
            i += 1
            if op is None:
                continue
        idx = len(layers)
        layers.append(op)
        tensors.update({f"{idx}.{k}": np.ascontiguousarray(v) for k, v in ts.items()})
    if norm is not None:
        tensors["input.mean"], tensors["input.std"] = norm
    graph = {"format": "spikebit-packed", "version": 1, "in_shape": list(cfg.in_shape),
             "num_classes": cfg.num_classes, "steps": cfg.steps, "encoder": cfg.encoder,
             "normalized": norm is not None, "layers": layers}
    return graph, tensors


def _lower_other(name: str, m: nn.Module, steps: int) -> tuple[Graph | None, Tensors]:
    if isinstance(m, nn.AvgPool2d | nn.MaxPool2d):
        return _pool(name, m), {}
    if isinstance(m, nn.Flatten):
        if m.start_dim != 1 or m.end_dim != -1:
            raise ExportError(f"layer {name}: only Flatten(1, -1) packs")
        return {"op": "flatten", "name": name}, {}
    if isinstance(m, GlobalAvgPool):
        return {"op": "gap", "name": name}, {}
    if isinstance(m, nn.Identity | nn.Dropout):
        return None, {}
    found = neuron_dynamics(m, name, steps)
    if found is not None:
        return found
    raise ExportError(f"layer {name} ({type(m).__name__}): the packed engine has no exact "
                      "implementation of this module")
