"""The exact decomposition of a quantized weight, for exporters and bit-exact forwards.

Every registered quantizer ``q`` has ``q.levels(w) -> QuantLevels`` and its forward
emits exactly ``q.levels(w).weight()`` (bit for bit, same dtype), so an exporter that
stores ``codes`` and ``scales`` reproduces the trained model's effective weight:

| kind    | codes ``[k, *w.shape]``          | scales ``[k, C]`` | value of one element   |
|---------|----------------------------------|-------------------|------------------------|
| binary  | ``bool`` (True = +1, False = -1) | float32/float64   | ``sum_i s[i, c] b_i``  |
| integer | ``int8`` in ``[-L, L]``, ``k=1`` | float32/float64   | ``s[0, c] * code``     |
| float   | the weight itself, ``k = 1``     | ones              | ``w`` (no quantizer)   |

``C`` is the number of output channels (``w.shape[0]``): a per-layer scale (ABC-Net
alphas, the uniform quantizer's ``alpha / L``) is repeated over channels. The sum over
bases is evaluated in ``scales.dtype`` in base order ``i = 0 .. k-1`` and rounded once
to the weight dtype at the end (:func:`combine`), which is how the forwards compute it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

KINDS = ("binary", "integer", "float")


def combine(scales: torch.Tensor, values: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``sum_i scales[i, c] * values[i, c, ...]`` in ``scales.dtype``, base by base, then
    rounded to ``dtype``.

    Args:
        scales: ``[k, C]`` per-base, per-output-channel factors.
        values: ``[k, C, ...]`` level values (``±1`` for binary bases, integer codes),
            any dtype; converted to ``scales.dtype`` (exact for ``±1`` and ``|code| < 2^8``).
        dtype: dtype of the result (the weight's).

    Returns:
        ``[C, ...]`` effective weight.
    """
    k = scales.shape[0]
    view = (scales.shape[1],) + (1,) * (values.ndim - 2)
    values = values.to(scales.dtype)
    out = scales[0].reshape(view) * values[0]
    for i in range(1, k):
        out = out + scales[i].reshape(view) * values[i]
    return out.to(dtype)


def straight_through(w: torch.Tensor, w_eff: torch.Tensor) -> torch.Tensor:
    """Forward value exactly ``w_eff``; gradient passed to ``w`` unchanged (identity STE).

    ``w - w.detach()`` is exactly zero for finite ``w``, so the sum is exactly ``w_eff``
    (unlike ``w + (w_eff - w).detach()``, which rounds twice and leaves extra levels).
    """
    return w_eff.detach() + (w - w.detach())


@dataclass(frozen=True)
class QuantLevels:
    """Exact decomposition ``w_eff = sum_i scales[i, c] * value(codes[i])`` of one weight.

    Attributes:
        kind: ``"binary"`` (codes are ``bool`` bases, value ``±1``), ``"integer"``
            (codes are ``int8`` integers, ``k = 1``) or ``"float"`` (identity quantizer:
            codes are the float weight, scales ones).
        codes: ``[k, *w.shape]`` (``[k, C_out, C_in, kH, kW]`` for a conv, ``[k, C_out,
            C_in]`` for a linear layer).
        scales: ``[k, C_out]`` per base and output channel, detached, float32 for float32,
            float16 and bfloat16 weights, float64 for float64 weights.
        bits: storage bits per weight element (``k`` for binary, ``b`` for integer, 32 for
            float); ``bits * w.numel()`` plus the scales is :meth:`WeightQuantizer.bits`.
        exponents: ``[C_out]`` int8 with ``scales[0] == 2**exponents`` when the scales are
            powers of two (Q-SNN), else ``None``.
        dtype: the weight dtype that :meth:`weight` rounds to.
    """

    kind: str
    codes: torch.Tensor
    scales: torch.Tensor
    bits: int
    dtype: torch.dtype
    exponents: torch.Tensor | None = None

    @property
    def num_bases(self) -> int:
        """``k``: the number of binary bases (1 for integer and float)."""
        return int(self.codes.shape[0])

    def values(self) -> torch.Tensor:
        """``[k, *w.shape]`` level values in ``scales.dtype``: ``±1`` for binary bases,
        the integer codes for integer, the weight for float."""
        if self.kind == "binary":
            one = torch.ones((), dtype=self.scales.dtype, device=self.codes.device)
            return torch.where(self.codes, one, -one)
        return self.codes.to(self.scales.dtype)

    def weight(self) -> torch.Tensor:
        """The effective weight ``[C_out, ...]`` in :attr:`dtype`, bit-identical to the
        quantizer's forward output."""
        return combine(self.scales, self.values(), self.dtype)

    def level_set(self) -> torch.Tensor:
        """``[C_out, n]`` every value a channel may take (``n = 2^k`` for binary,
        ``2L + 1`` for integer), in :attr:`dtype`; empty-width for ``float``."""
        c = self.scales.shape[1]
        if self.kind == "binary":
            k = self.num_bases
            idx = torch.arange(2**k, device=self.scales.device)
            bits = (idx.unsqueeze(0) >> torch.arange(k, device=idx.device).unsqueeze(1)) & 1
            signs = (2 * bits - 1).to(self.scales.dtype)  # [k, 2^k]
            return combine(self.scales, signs.unsqueeze(1).expand(k, c, 2**k), self.dtype)
        if self.kind == "integer":
            top = 2 ** (self.bits - 1) - 1
            codes = torch.arange(-top, top + 1, device=self.scales.device)
            return combine(self.scales, codes.expand(1, c, codes.numel()), self.dtype)
        return torch.empty(c, 0, dtype=self.dtype, device=self.scales.device)
