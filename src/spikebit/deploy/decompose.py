"""The exact decomposition of a (quantized) weight layer, read in float64.

``weight_decomposition(layer)`` is the one adapter between the quantizers and the
packed format. Every weight is described as

* ``fp``: real weights ``W`` (stored fp32 or fp16);
* ``binary``: ``W = c_o * sum_i alpha_i B_i`` with ``B_i in {-1, +1}`` (``k`` bases),
  ``alpha [k]`` per layer and ``c [C_out]`` per output channel (sign: ``c = mean|W_o|``;
  Q-SNN: ``c = 2^round(log2 mean|W_hat_o|)``; ABC-Net: ``c = 1``, ALBSNN eq. 11-13);
* ``int``: ``W = step * q`` with integers ``|q| <= 2^(b-1) - 1`` (uniform b-bit, MFP eq. 4).

Computed in float64 with the quantizers' own formulas, i.e. the decomposition that
``model.double()`` uses. A quantizer not listed raises :class:`ExportError`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from spikebit.errors import ExportError
from spikebit.quant import (
    ABCQuantizer,
    QSNNQuantizer,
    QuantizedMixin,
    SignQuantizer,
    UniformQuantizer,
    WeightQuantizer,
)


@dataclass(frozen=True)
class Decomposition:
    """See the module docstring. Arrays are numpy, weight-shaped ``[C_out, ...]``."""

    kind: str  # "fp" | "binary" | "int"
    weight: np.ndarray | None = None  # fp: float32 weights
    bases: np.ndarray | None = None  # binary: bool [k, C_out, ...] (True = +1)
    alpha: np.ndarray | None = None  # binary: float64 [k]
    channel_scale: np.ndarray | None = None  # float64 [C_out]
    q: np.ndarray | None = None  # int: int64 weights
    bits: int = 32

    def dense(self) -> np.ndarray:
        """The effective weight in float64 (for checks only; the engine never builds it)."""
        if self.kind == "fp":
            return self.weight.astype(np.float64)
        if self.kind == "int":
            w = self.q.astype(np.float64)
        else:
            w = np.tensordot(self.alpha, np.where(self.bases, 1.0, -1.0), axes=(0, 0))
        return w * self.channel_scale.reshape((-1,) + (1,) * (w.ndim - 1))


def _dims(w: torch.Tensor) -> tuple[int, ...]:
    return tuple(range(1, w.ndim))


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


def weight_decomposition(layer: QuantizedMixin, name: str = "") -> Decomposition:
    """The exact decomposition of ``layer``'s effective weight (see module docstring)."""
    w = layer.weight.detach().cpu().to(torch.float64)
    q = layer.quantizer
    ones = np.ones(w.shape[0])
    if not layer.quantize or type(q) is WeightQuantizer:
        return Decomposition("fp", weight=_numpy(layer.weight.detach().float()),
                             channel_scale=ones, bits=32)
    if isinstance(q, SignQuantizer):
        gamma = w.abs().mean(dim=_dims(w))
        return Decomposition("binary", bases=_numpy(w >= 0)[None], alpha=np.ones(1),
                             channel_scale=_numpy(gamma), bits=1)
    if isinstance(q, QSNNQuantizer):
        dims = _dims(w)
        mean = w.mean(dim=dims, keepdim=True)
        std = w.std(dim=dims, keepdim=True, unbiased=False).clamp_min(1e-8)
        w_hat = (w - mean) / std
        scale = torch.exp2(torch.round(torch.log2(w_hat.abs().mean(dims))))
        return Decomposition("binary", bases=_numpy(w_hat >= 0)[None], alpha=np.ones(1),
                             channel_scale=_numpy(scale), bits=1)
    if isinstance(q, ABCQuantizer):
        bases, alpha = q.decompose(w)
        return Decomposition("binary", bases=_numpy(bases > 0), alpha=_numpy(alpha),
                             channel_scale=ones, bits=q.num_bases)
    if isinstance(q, UniformQuantizer):
        alpha = w.abs().max().clamp_min(1e-12)
        levels = 2 ** (q.weight_bits - 1) - 1
        ints = torch.round(w / alpha * levels).clamp(-levels, levels)
        step = float(alpha / levels)
        return Decomposition("int", q=_numpy(ints).astype(np.int64),
                             channel_scale=np.full(w.shape[0], step), bits=q.weight_bits)
    raise ExportError(
        f"layer {name or type(layer).__name__}: quantizer {type(q).__name__} has no exact "
        "decomposition for the packed format (supported: fp, sign, qsnn, abc, uniform); "
        "export it with quantize=False or add its decomposition to spikebit.deploy.decompose"
    )


def check_decomposition(layer: QuantizedMixin, dec: Decomposition, name: str) -> None:
    """Raise :class:`ExportError` unless ``dec`` reproduces the layer's float64 weight."""
    if dec.kind == "fp":
        return
    with torch.no_grad():
        ref = _numpy(layer.quantizer(layer.weight.detach().cpu().double()))
    err = float(np.abs(dec.dense() - ref).max())
    tol = 1e-9 * max(1.0, float(np.abs(ref).max()))
    if not err <= tol:
        raise ExportError(
            f"layer {name}: the packed decomposition differs from the quantizer's weight by "
            f"{err:.3g} (tolerance {tol:.3g}); the quantizer's forward changed: update "
            "spikebit.deploy.decompose"
        )
