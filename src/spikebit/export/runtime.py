"""Run a :class:`LoweredGraph` in PyTorch: an export-friendly module made of plain ops.

:class:`GraphModule` is what the ONNX writer traces and what tests compare with
``model.eval()``. The neuron recurrence is unrolled over the ``T`` steps with
functional ops (no ``out=`` writes, no Python autograd function), with the same
arithmetic as the eager kernel of :mod:`spikebit.functional.lif`::

    h[0] = x[0];  h[t] = x[t] + leak * v[t-1]     (torch.add(x, v, alpha=leak))
    s[t] = [h[t] >= V]                            (binary)
    s[t] = clamp(floor(h[t] / V), 0, max_spikes)  (graded)
    v[t] = h[t] * [h[t] < V]   (hard)  |  h[t] - V * s[t]   (soft)  |  h[t]   (none)

and, for a time-mixing neuron (MFP), ``h = M @ x`` over the time axis, causal also for
NaN/inf inputs (:func:`spikebit.functional.timemix.causal_mix`: one ``mm`` for finite
inputs; one matmul per step while tracing for ONNX).
Stateless layers fold ``T`` into the batch (``[T*B, ...]``) like ``TimeDistributed``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from spikebit.export.graph import (
    BatchNorm,
    Conv2d,
    Flatten,
    Gate,
    GlobalAvgPool,
    Linear,
    LoweredGraph,
    Neuron,
    Pool2d,
    Primitive,
    Residual,
)
from spikebit.functional.timemix import causal_mix


def _per_channel(v: float | torch.Tensor, like: torch.Tensor) -> float | torch.Tensor:
    """A float, or a ``[C]`` tensor shaped to broadcast over ``like [B, C, *spatial]``."""
    if not isinstance(v, torch.Tensor):
        return float(v)
    if v.ndim == 0:
        return v.to(like.dtype)
    return v.to(like.dtype).view(-1, *([1] * (like.ndim - 2)))


def neuron_sequence(node: Neuron, x: torch.Tensor,
                    membranes: list[torch.Tensor] | None = None) -> torch.Tensor:
    """Spikes ``[T, B, ...]`` of ``node`` for input currents ``x [T, B, ...]`` (zero state);
    the pre-reset membrane ``h`` of every step is appended to ``membranes`` when given."""
    dyn = node.dynamics
    if node.mixing is not None:
        steps = x.shape[0]
        h = causal_mix(node.mixing.to(x.dtype), x.reshape(steps, -1)).reshape(x.shape)
        if membranes is not None:
            membranes.extend(h.unbind(0))
        v = dyn.threshold
        if isinstance(v, torch.Tensor) and dyn.threshold_per_step:
            v = v.to(x.dtype).view(-1, *([1] * (x.ndim - 1)))
        elif isinstance(v, torch.Tensor):
            v = v.to(x.dtype).view(-1, *([1] * (x.ndim - 3)))
        return torch.ge(h, v).to(x.dtype)
    leak = dyn.leak
    spikes = []
    v: torch.Tensor | None = None
    for t in range(x.shape[0]):
        xt = x[t]
        threshold = dyn.threshold[t] if dyn.threshold_per_step else dyn.threshold
        threshold = _per_channel(threshold, xt)
        if v is None:
            h = xt
        elif isinstance(leak, torch.Tensor):
            h = xt + _per_channel(leak, xt) * v
        else:
            h = torch.add(xt, v, alpha=float(leak))
        if membranes is not None:
            membranes.append(h)
        if dyn.max_spikes > 1:
            s = torch.floor(h / threshold).clamp(0, dyn.max_spikes)
        else:
            s = torch.ge(h, threshold).to(x.dtype)
        if dyn.reset == "hard":
            v = h * torch.lt(h, threshold).to(x.dtype) if dyn.max_spikes == 1 else h * (1.0 - s)
        elif dyn.reset == "soft":
            v = h - threshold * s
        else:
            v = h
        spikes.append(s)
    return torch.stack(spikes)


def gate_sequence(node: Gate, x: torch.Tensor) -> torch.Tensor:
    """AGMM gate ``node`` applied to ``x [T, B, ...]``: ``x[t] * sigmoid(alpha_t * M[t])``."""
    steps, batch = x.shape[:2]
    m = x.reshape(steps, batch, -1).mean(-1)
    if node.window == "cumulative":
        count = torch.arange(1, steps + 1, dtype=m.dtype, device=m.device).view(-1, 1)
        mean = m.cumsum(0) / count
    elif node.window == "all":
        mean = m.mean(0, keepdim=True).expand_as(m)
    else:
        mean = m
    g = torch.sigmoid(node.alpha.to(x.dtype).view(-1, 1) * mean)
    return g.view(steps, batch, *([1] * (x.ndim - 2))) * x


def stateless(node: Primitive, x: torch.Tensor) -> torch.Tensor:
    """Apply the stateless primitive ``node`` to ``x [N, ...]`` (T folded into N)."""
    if isinstance(node, Conv2d):
        return F.conv2d(x, node.weight, node.bias, node.stride, node.padding, node.dilation,
                        node.groups)
    if isinstance(node, Linear):
        return F.linear(x, node.weight, node.bias)
    if isinstance(node, BatchNorm):
        return F.batch_norm(x, node.mean, node.var, node.weight, node.bias, False, 0.0, node.eps)
    if isinstance(node, Pool2d):
        if node.kind in ("avg", "sum"):
            return F.avg_pool2d(x, node.kernel, node.stride, node.padding, node.ceil_mode,
                                divisor_override=1 if node.kind == "sum" else None)
        return F.max_pool2d(x, node.kernel, node.stride, node.padding, ceil_mode=node.ceil_mode)
    if isinstance(node, GlobalAvgPool):
        return x.mean(dim=(-2, -1))
    if isinstance(node, Flatten):
        return x.flatten(1)
    raise TypeError(f"not a stateless primitive: {type(node).__name__}")


class GraphModule(nn.Module):
    """Executes a lowered ``graph`` (:class:`LoweredGraph`).

    ``forward(x)``: ``x`` is a static input ``[B, *in_shape]`` (normalized and
    encoded as the graph says; ``direct`` encoding only) or a sequence
    ``[T, B, *in_shape]``. Returns the output ``[T, B, *out]``; with
    ``record_spikes=True``, a tuple ``(output, spikes of neuron 1, ..., neuron n)``.
    """

    def __init__(self, graph: LoweredGraph, record_spikes: bool = False) -> None:
        super().__init__()
        self.lowered = graph
        self.record_spikes = record_spikes

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Static ``x [B, *in_shape]`` -> normalized, direct-encoded ``[T, B, *in_shape]``;
        a sequence ``[T, B, *in_shape]`` passes unchanged."""
        g = self.lowered
        n = len(g.in_shape)
        if x.ndim == n + 2:
            return x
        if g.normalization is not None:
            mean, std = (torch.tensor(v, dtype=x.dtype, device=x.device).view(-1, *([1] * (n - 1)))
                         for v in g.normalization)
            x = (x - mean) / std
        if g.encoder != "direct":
            raise ValueError(f"GraphModule encodes static inputs with 'direct' only, the "
                             f"graph says {g.encoder!r}: pass an encoded [T, B, ...] sequence")
        return x.unsqueeze(0).expand(g.steps, *x.shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """Run the graph on ``x`` (see the class docstring for shapes and outputs)."""
        spikes: list[torch.Tensor] = []
        x = run_chain(self.lowered.nodes, self.encode(x), spikes)
        if self.record_spikes:
            return (x, *spikes)
        return x


def run_chain(nodes: list[Primitive], x: torch.Tensor,
              spikes: list[torch.Tensor] | None = None) -> torch.Tensor:
    """Run the primitives ``nodes`` on a sequence ``x [T, B, ...]``; every neuron layer's
    spikes are appended to ``spikes`` (when given), in order."""
    for node in nodes:
        if isinstance(node, Neuron):
            x = neuron_sequence(node, x)
            if spikes is not None:
                spikes.append(x)
        elif isinstance(node, Gate):
            x = gate_sequence(node, x)
        elif isinstance(node, Residual):
            x = run_chain(node.body, x, spikes) + run_chain(node.shortcut, x, spikes)
        else:
            t, b = x.shape[:2]
            y = stateless(node, x.reshape(t * b, *x.shape[2:]))
            x = y.reshape(t, b, *y.shape[1:])
    return x
