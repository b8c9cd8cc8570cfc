"""The exact decomposition of a (quantized) weight layer, read in float64.

``weight_decomposition(layer)`` is the one adapter between the quantizers and the
packed format. It reads the quantizer's own :meth:`levels` (the decomposition its
forward emits bit for bit) on the float64 weight, i.e. what ``model.double()`` uses:

* ``fp``: real weights ``W`` (stored fp32 or fp16);
* ``binary``: ``W = c_o * sum_i alpha_i B_i`` with ``B_i in {-1, +1}`` (``k`` bases),
  ``alpha [k]`` per layer and ``c [C_out]`` per output channel (sign: ``c = mean|W_o|``;
  Q-SNN: ``c = 2^round(log2 mean|W_hat_o|)``; ABC-Net: ``c = 1``, ALBSNN eq. 11-13);
  a general ``[k, C_out]`` scale is kept as ``alpha [k, C_out]``;
* ``int``: ``W = step * q`` with integers ``|q| <= 2^(b-1) - 1`` (uniform b-bit, MFP eq. 4).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from spikebit.errors import ExportError
from spikebit.quant import QuantizedMixin


@dataclass(frozen=True)
class Decomposition:
    """One layer's weight as stored (module docstring). Arrays are numpy.

    Attributes:
        kind: ``"fp"``, ``"binary"`` or ``"int"``.
        weight: fp: the float32 weight ``[C_out, ...]``.
        bases: binary: bool ``[k, C_out, ...]`` (True = +1).
        alpha: binary: float64 ``[k]`` (per layer) or ``[k, C_out]``.
        channel_scale: float64 ``[C_out]`` per-channel factor (ones if none).
        q: int: int64 codes ``[C_out, ...]`` in ``[-L, L]``.
        bits: storage bits per weight (k, b or 32).
    """

    kind: str  # "fp" | "binary" | "int"
    weight: np.ndarray | None = None  # fp: float32 weights
    bases: np.ndarray | None = None  # binary: bool [k, C_out, ...] (True = +1)
    alpha: np.ndarray | None = None  # binary: float64 [k] or [k, C_out]
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
            signs = np.where(self.bases, 1.0, -1.0)
            a = self.alpha.reshape(self.alpha.shape + (1,) * (signs.ndim - self.alpha.ndim))
            w = (a * signs).sum(0)
        return w * self.channel_scale.reshape((-1,) + (1,) * (w.ndim - 1))


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


@torch.no_grad()
def weight_decomposition(layer: torch.nn.Module, name: str = "") -> Decomposition:
    """The exact decomposition of ``layer``'s effective weight (see module docstring), from
    its quantizer's ``levels()`` on the float64 weight; ``name`` (the layer's path) goes
    into the :class:`ExportError` raised for a quantizer without ``levels()``."""
    out = layer.weight.shape[0]
    if not isinstance(layer, QuantizedMixin) or not layer.quantize:
        return Decomposition("fp", weight=_numpy(layer.weight.float()),
                             channel_scale=np.ones(out))
    levels = getattr(layer.quantizer, "levels", None)
    if levels is None:
        raise ExportError(
            f"layer {name}: quantizer {type(layer.quantizer).__name__} has no levels() "
            "(exact decomposition), so it cannot be packed; export with quantize=False")
    lv = levels(layer.weight.detach().cpu().double())
    scales = _numpy(lv.scales).astype(np.float64)  # [k, C_out]
    if lv.kind == "float":
        return Decomposition("fp", weight=_numpy(layer.weight.float()),
                             channel_scale=np.ones(out))
    if lv.kind == "integer":
        return Decomposition("int", q=_numpy(lv.codes[0]).astype(np.int64),
                             channel_scale=scales[0], bits=int(lv.bits))
    if lv.kind != "binary":
        raise ExportError(f"layer {name}: unknown quantization kind {lv.kind!r}")
    bases = _numpy(lv.codes).astype(bool)
    if scales.shape[0] == 1:  # one base: the scale is per channel
        return Decomposition("binary", bases=bases, alpha=np.ones(1),
                             channel_scale=scales[0], bits=int(lv.bits))
    if (scales == scales[:, :1]).all():  # per-layer alphas (ABC-Net)
        return Decomposition("binary", bases=bases, alpha=scales[:, 0].copy(),
                             channel_scale=np.ones(out), bits=int(lv.bits))
    return Decomposition("binary", bases=bases, alpha=scales, channel_scale=np.ones(out),
                         bits=int(lv.bits))


def check_decomposition(layer: QuantizedMixin, dec: Decomposition, name: str) -> None:
    """Raise :class:`ExportError` (naming ``name``) unless the decomposition ``dec``
    reproduces ``layer``'s float64 effective weight to 1e-12 relative."""
    if dec.kind == "fp":
        return
    with torch.no_grad():
        ref = _numpy(layer.quantizer(layer.weight.detach().cpu().double()))
    err = float(np.abs(dec.dense() - ref).max())
    tol = 1e-12 * max(1.0, float(np.abs(ref).max()))
    if not err <= tol:
        raise ExportError(
            f"layer {name}: the packed decomposition differs from the quantizer's weight by "
            f"{err:.3g} (tolerance {tol:.3g}); the quantizer's levels() and forward disagree"
        )
