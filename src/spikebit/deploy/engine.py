"""The packed inference engine: runs a ``.sbit`` model for T steps with numpy + numba.

Activations flow layer by layer over all ``T`` steps at once (``[T*B, H, W, C]``,
channels last), as :class:`~spikebit.models.SpikingNet` does. Spikes and spike counts
are small integers (``uint8``) with a power-of-two multiplier after average pooling
(``AP2`` of spikes = integer sums / 4, exact). A binary-weight layer fed integers packs
their bit planes with a bit im2col into ``uint64`` words and computes ``2 popcount(x & B+)
- popcount(x)`` per base (:mod:`spikebit.deploy.kernels`): float weights of binary layers
never exist. Full-precision and uniform b-bit weights fed integers accumulate one weight
row per set input bit (event-driven, exact for integer weights). Real-valued inputs (the
encoding layer) run a direct float64 convolution. Neuron dynamics (LIF/IF,
multi-threshold, MFP) are evaluated in float64 exactly as the model's forward.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from spikebit.deploy.fileformat import read_packed
from spikebit.deploy.kernels import (
    NEURON_KINDS,
    binary_affine,
    event_affine,
    float_conv,
    neuron_steps,
    pack_patches,
    pack_rows,
    pool_int,
)
from spikebit.errors import ShapeError


@dataclass
class Act:
    """An activation: ``data [N, H, W, C]`` or ``[N, F]``; ``N = B`` while ``static``
    (identical every step, before the first neuron) else ``T * B``. Integer data
    (``maxv`` its bound) stands for ``data * mult``."""

    data: np.ndarray
    static: bool
    maxv: int = 0  # 0: real-valued float64 data
    mult: float = 1.0

    @property
    def integer(self) -> bool:
        """Whether ``data`` holds integers (spikes, counts or pooled sums)."""
        return self.maxv > 0

    def real(self) -> np.ndarray:
        """The values the data stands for: ``data * mult`` (float64) for integers."""
        return self.data * self.mult if self.integer else self.data


class WeightLayer:
    """A conv/linear layer: ``current = scale * z + bias``, ``z`` from the stored form.

    ``op``: the layer's entry of the graph; ``t``: its tensors (``bits``/``weight``,
    ``alpha``, ``scale``, ``bias``; names without the ``{i}.`` prefix)."""

    def __init__(self, op: dict[str, Any], t: dict[str, np.ndarray]) -> None:
        self.op, self.name, self.kind = op, op["name"], op["weights"]
        shape = op["shape"]
        self.out = shape[0]
        self.conv = op["op"] == "conv"
        self.k = shape[2] if self.conv else 1
        self.stride, self.pad = op.get("stride", 1), op.get("padding", 0)
        self.scale, self.bias = t["scale"], t["bias"]
        self.alpha = t.get("alpha")
        self.bases = op["bases"]
        self.masks: np.ndarray | None = None  # binary: uint64 [k, words, O]
        self.matrix: np.ndarray | None = None  # fp/int: float [K, O], or lazily for float input
        self._bits = t.get("bits")
        order = (0, 2, 3, 1) if self.conv else (0, 1)
        if self.kind == "fp":
            w = t["weight"].astype(np.float64)
            self.matrix = w.transpose(order).reshape(self.out, -1).T.copy()
        elif self.kind == "binary":
            n = int(np.prod(shape)) * self.bases
            bits = np.unpackbits(self._bits, count=n, bitorder="little").reshape(
                self.bases, *shape)
            bits = bits.transpose((0,) + tuple(i + 1 for i in order))
            masks = pack_rows(bits.reshape(self.bases * self.out, -1))  # [k*O, Wp]
            self.masks = np.ascontiguousarray(
                masks.reshape(self.bases, self.out, -1).transpose(0, 2, 1))  # [k, Wp, O]
            alpha = np.ones((self.bases, 1)) if self.alpha is None else \
                self.alpha.reshape(self.bases, -1)
            self.alpha_kc = np.ascontiguousarray(np.broadcast_to(alpha, (self.bases, self.out)))
        else:
            b = op["bits"]
            n = int(np.prod(shape))
            planes = [np.unpackbits(p, count=n, bitorder="little").astype(np.int64) << i
                      for i, p in enumerate(self._bits)]
            q = (sum(planes) - (2 ** (b - 1) - 1)).reshape(shape)
            self.matrix = q.transpose(order).reshape(self.out, -1).T.astype(np.float64)

    def kernel(self) -> np.ndarray:
        """The ``[K, O]`` matrix as a conv kernel ``[kh, kw, C, O]``."""
        return self.matrix.reshape(self.k, self.k, -1, self.out)

    def prepare(self, real_input: bool) -> None:
        """Keep only what the input kind needs (``real_input``: the layer sees the
        real-valued input, before any neuron): real-valued input to a binary layer (the
        encoding layer) uses ``sum_i alpha_i B_i`` as a float64 matrix; integer input to a
        uniform layer uses a float32 matrix when every sum stays below ``2^24``."""
        if self.kind == "binary" and real_input:
            self._dense_bases()
            self.masks = None
        self._bits = None

    def resident_bytes(self) -> int:
        """Bytes this layer holds (packed masks or matrix, folded scale/bias, alphas)."""
        arrays = [self.masks, self.matrix, self.scale, self.bias, self.alpha,
                  getattr(self, "alpha_kc", None)]
        return sum(a.nbytes for a in arrays if a is not None)

    def _dense_bases(self) -> np.ndarray:
        """``sum_i alpha_i B_i`` as float64 ``[K, O]``, only for real-valued input."""
        if self.matrix is None:
            shape = self.op["shape"]
            n = int(np.prod(shape)) * self.bases
            signs = np.unpackbits(self._bits, count=n, bitorder="little").reshape(
                self.bases, *shape).astype(np.float64) * 2 - 1
            order = (0, 2, 3, 1) if self.conv else (0, 1)
            if self.alpha is not None:
                a = self.alpha.reshape(self.alpha.shape + (1,) * (signs.ndim - self.alpha.ndim))
                signs = signs * a
            w = signs
            self.matrix = w.sum(0).transpose(order).reshape(self.out, -1).T.copy()
        return self.matrix

    def __call__(self, a: Act) -> Act:
        x = a.data
        if not self.conv and x.ndim != 2:
            raise ShapeError(f"{self.name}: linear layer got {x.shape}; flatten first")
        x4 = x if self.conv else x[:, None, None, :]
        k = self.k
        scale = self.scale * a.mult if a.integer else self.scale
        if self.kind == "binary" and a.integer:
            planes = max(1, int(a.maxv).bit_length())
            pk = pack_patches(x4, k, k, self.pad, self.stride, planes)
            n, h, w = x4.shape[:3]
            dims = (n, (h + 2 * self.pad - k) // self.stride + 1,
                    (w + 2 * self.pad - k) // self.stride + 1)
            y = binary_affine(pk, self.masks, self.alpha_kc, scale, self.bias)
        elif a.integer:  # fp or integer weights on spikes/counts: one add per spike
            planes = max(1, int(a.maxv).bit_length())
            pk = pack_patches(x4, k, k, self.pad, self.stride, planes)
            n, h, w = x4.shape[:3]
            dims = (n, (h + 2 * self.pad - k) // self.stride + 1,
                    (w + 2 * self.pad - k) // self.stride + 1)
            y = event_affine(pk, self.matrix, scale, self.bias)
        elif self.conv:  # real-valued input (the encoding layer)
            y = float_conv(np.ascontiguousarray(x4), self.kernel(), self.pad, self.stride,
                           scale, self.bias)
            dims = y.shape[:3]
        else:
            y = x @ self.matrix * scale + self.bias
            dims = (x.shape[0],)
        shape = (*dims, self.out) if self.conv else (dims[0], self.out)
        return Act(y.reshape(shape), a.static)


class Neuron:
    """LIF/IF (hard/soft reset), multi-threshold LIF and MFP dynamics in float64.

    ``op``: the neuron's graph entry; ``t``: its tensors (``mixing`` for MFP); ``steps``: T.
    """

    def __init__(self, op: dict[str, Any], t: dict[str, np.ndarray], steps: int) -> None:
        self.op, self.name, self.kind = op, op["name"], op["kind"]
        self.threshold, self.leak, self.reset = op["threshold"], op["leak"], op["reset"]
        self.max_spikes, self.steps = op["max_spikes"], steps
        self.mixing = None
        if "mixing" in t:  # the lower triangle of M (fp32), times alpha in float64
            m = np.zeros((steps, steps))
            m[np.tril_indices(steps)] = t["mixing"]
            alpha = op.get("alpha", 1.0)
            self.mixing = alpha * m if alpha != 1.0 else m

    def resident_bytes(self) -> int:
        """Bytes held (the MFP mixing matrix; 0 otherwise)."""
        return 0 if self.mixing is None else self.mixing.nbytes

    def __call__(self, a: Act) -> Act:
        x = a.real()
        steps = self.steps
        x2 = x.reshape(1 if a.static else steps, -1)
        mixing = self.mixing if self.mixing is not None else np.zeros((1, 1))
        s = neuron_steps(np.ascontiguousarray(x2), steps, NEURON_KINDS[self.kind],
                         float(self.threshold), float(self.leak), self.reset == "hard",
                         float(self.max_spikes), mixing)
        return Act(s.reshape(-1, *x.shape[1:]), False, maxv=self.max_spikes)


def _pool(a: Act, k: int, kind: str) -> Act:
    if a.integer and a.maxv * k * k < 65536:
        n, h, w, c = a.data.shape
        dtype = a.data.dtype if kind == "maxpool" else np.uint16
        out = np.zeros((n, h // k, w // k, c), dtype=dtype)
        pool_int(np.ascontiguousarray(a.data), k, kind == "maxpool", out)
        if kind == "maxpool":
            return Act(out, a.static, a.maxv, a.mult)
        return Act(out, a.static, a.maxv * k * k, a.mult / (k * k))
    n, h, w, c = a.data.shape
    x = a.real()[:, : h // k * k, : w // k * k].reshape(n, h // k, k, w // k, k, c)
    return Act(x.max(axis=(2, 4)) if kind == "maxpool" else x.mean(axis=(2, 4)), a.static)


def _flatten(a: Act) -> Act:
    x = a.data
    if x.ndim == 4:
        x = x.transpose(0, 3, 1, 2).reshape(x.shape[0], -1)
    return Act(np.ascontiguousarray(x), a.static, a.maxv, a.mult)


def _gap(a: Act) -> Act:
    return Act(a.real().mean(axis=(1, 2)), a.static)


@dataclass
class PackedOutput:
    """``outputs [T, B, K]`` (float64) and, if recorded, every neuron's spikes
    ``{name: [T, B, C, H, W] or [T, B, F]}`` (integers)."""

    outputs: np.ndarray
    spikes: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def predictions(self) -> np.ndarray:
        """``[B]`` class indices: argmax of the outputs' mean over time."""
        return self.outputs.mean(0).argmax(-1)


class PackedModel:
    """A loaded ``.sbit`` model (:func:`load_packed`) built from its ``graph`` (the JSON
    metadata) and ``tensors`` (name -> array). ``run(x)`` with ``x [B, *in_shape]``
    (static, direct encoding over ``steps``) or ``[T, B, *in_shape]`` (a sequence)."""

    def __init__(self, graph: dict[str, Any], tensors: dict[str, np.ndarray]) -> None:
        self.graph = graph
        self.steps = int(graph["steps"])
        self.in_shape = tuple(graph["in_shape"])
        self.num_classes = int(graph["num_classes"])
        self.mean = tensors.get("input.mean")
        self.std = tensors.get("input.std")
        self.layers: list[Any] = []
        for i, op in enumerate(graph["layers"]):
            t = {k.split(".", 1)[1]: v for k, v in tensors.items() if k.split(".")[0] == str(i)}
            kind = op["op"]
            if kind in ("conv", "linear"):
                self.layers.append(WeightLayer(op, t))
            elif kind == "neuron":
                self.layers.append(Neuron(op, t, self.steps))
            elif kind in ("avgpool", "maxpool"):
                self.layers.append(lambda a, k=op["kernel"], kd=kind: _pool(a, k, kd))
            elif kind == "flatten":
                self.layers.append(_flatten)
            elif kind == "gap":
                self.layers.append(_gap)
            else:
                raise ShapeError(f"unknown packed op {kind!r} in layer {i}")
        real = True  # real-valued until the first neuron (and after a weight layer)
        for layer in self.layers:
            if isinstance(layer, WeightLayer):
                layer.prepare(real)
                real = True
            elif isinstance(layer, Neuron):
                real = False
        self.names = [op["name"] for op in graph["layers"]]
        self.times: dict[str, float] = defaultdict(float)

    def resident_weight_bytes(self) -> dict[str, int]:
        """Bytes held per weight/neuron layer (packed masks, matrices, folded scales)."""
        return {n: m.resident_bytes() for n, m in zip(self.names, self.layers, strict=True)
                if hasattr(m, "resident_bytes")}

    def _input(self, x: np.ndarray) -> Act:
        x = np.asarray(x, dtype=np.float64)
        n = len(self.in_shape)
        if x.ndim == n + 1:
            static = True
        elif x.ndim == n + 2 and x.shape[0] == self.steps:
            static, x = False, x.reshape(-1, *x.shape[2:])
        else:
            raise ShapeError(f"packed model expects [B, {', '.join(map(str, self.in_shape))}] or "
                             f"[T={self.steps}, B, ...], got {x.shape}")
        if tuple(x.shape[1:]) != self.in_shape:
            raise ShapeError(f"input's trailing dims {x.shape[1:]} != in_shape {self.in_shape}")
        if self.mean is not None:
            shape = (1, -1) + (1,) * (n - 1)
            x = (x - self.mean.reshape(shape)) / self.std.reshape(shape)
        if n == 3:
            x = x.transpose(0, 2, 3, 1)
        return Act(np.ascontiguousarray(x), static)

    def run(self, x: np.ndarray, record: bool = False, profile: bool = False) -> PackedOutput:
        """Outputs ``[T, B, K]`` (float64) for input ``x`` (``[B, *in_shape]`` or ``[T, B,
        *in_shape]``); ``record`` keeps every neuron's spikes, ``profile`` adds each layer's
        wall time (seconds) to ``self.times``. Raises :class:`ShapeError` on a wrong shape."""
        a = self._input(x)
        batch = a.data.shape[0] if a.static else a.data.shape[0] // self.steps
        spikes = {}
        for name, layer in zip(self.names, self.layers, strict=True):
            start = time.perf_counter() if profile else 0.0
            a = layer(a)
            if profile:
                self.times[name] += time.perf_counter() - start
            if record and isinstance(layer, Neuron):
                d = a.data.reshape(self.steps, batch, *a.data.shape[1:])
                spikes[name] = d.transpose(0, 1, 4, 2, 3) if d.ndim == 5 else d
        out = a.real()
        out = np.broadcast_to(out, (self.steps, *out.shape)) if a.static else \
            out.reshape(self.steps, batch, -1)
        return PackedOutput(np.array(out, dtype=np.float64), spikes)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Class predictions ``[B]`` for ``x``: argmax of the outputs' mean over time."""
        return self.run(x).predictions


def load_packed(path: str | Path) -> PackedModel:
    """Load the ``.sbit`` file at ``path`` (no code is executed: JSON + raw arrays).
    Raises :class:`~spikebit.deploy.fileformat.PackedFileError` if it is unreadable."""
    graph, tensors = read_packed(path)
    return PackedModel(graph, tensors)
