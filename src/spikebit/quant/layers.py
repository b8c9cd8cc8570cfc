"""Quantized conv/linear layers whose quantization can be switched per layer at run time."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from spikebit.quant.levels import QuantLevels
from spikebit.quant.quantizers import FP32_BITS, WeightQuantizer


class QuantizedMixin:
    """Owns a float latent ``weight``, a ``quantizer`` and a ``quantize`` flag."""

    weight: torch.Tensor
    bias: torch.Tensor | None
    quantizer: WeightQuantizer
    quantize: bool

    def effective_weight(self) -> torch.Tensor:
        """``quantizer(weight)`` when ``quantize`` is on, else the float latent weight."""
        return self.quantizer(self.weight) if self.quantize else self.weight

    def weight_levels(self) -> QuantLevels:
        """Exact decomposition of :meth:`effective_weight` for exporters: the quantizer's
        :meth:`~spikebit.quant.quantizers.WeightQuantizer.levels` when ``quantize`` is on,
        else ``kind="float"`` (the fp32 latent weight). ``weight_levels().weight()`` equals
        ``effective_weight()`` bit for bit."""
        if self.quantize:
            return self.quantizer.levels(self.weight)
        return WeightQuantizer().levels(self.weight)

    def quant_repr(self) -> str:
        """``quantizer=abc(3 bits)`` when quantizing, ``quantizer=off (fp32)`` when not."""
        if not self.quantize:
            return "quantizer=off (fp32)"
        return f"quantizer={self.quantizer.describe()}"

    def weight_storage_bits(self) -> int:
        """Bits to store the weight as deployed (quantized form, or fp32 when off)."""
        if self.quantize:
            return self.quantizer.bits(self.weight.detach())
        return FP32_BITS * self.weight.numel()

    def storage_bits(self) -> int:
        """Weight storage plus fp32 bias."""
        bias_bits = FP32_BITS * self.bias.numel() if self.bias is not None else 0
        return self.weight_storage_bits() + bias_bits


class QConv2d(QuantizedMixin, nn.Conv2d):
    """``nn.Conv2d`` on ``[N, C, H, W]`` with a weight quantizer (one convolution per call)."""

    def __init__(
        self, *args: object, quantizer: WeightQuantizer | None = None, quantize: bool = True,
        **kwargs: object,
    ) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.quantizer = quantizer if quantizer is not None else WeightQuantizer()
        self.quantize = quantize

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``[N, C_in, H, W]`` -> ``[N, C_out, H', W']`` with the effective weight."""
        return self._conv_forward(x, self.effective_weight(), self.bias)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, {self.quant_repr()}"


class QLinear(QuantizedMixin, nn.Linear):
    """``nn.Linear`` on ``[N, in_features]`` with a weight quantizer.

    Args:
        in_features: input width (last dim of ``x``).
        out_features: output width.
        bias: add a learnable (unquantized) bias, as for ``nn.Linear``.
        quantizer: the :class:`WeightQuantizer` (default: identity, full precision).
        quantize: apply the quantizer (``False``: the float latent weight is used).
    """

    def __init__(
        self, in_features: int, out_features: int, bias: bool = True,
        quantizer: WeightQuantizer | None = None, quantize: bool = True,
    ) -> None:
        super().__init__(in_features, out_features, bias=bias)
        self.quantizer = quantizer if quantizer is not None else WeightQuantizer()
        self.quantize = quantize

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``[N, in_features]`` -> ``[N, out_features]`` with the effective weight."""
        return F.linear(x, self.effective_weight(), self.bias)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, {self.quant_repr()}"


def quantized_layers(model: nn.Module) -> list[tuple[str, QuantizedMixin]]:
    """All quantizable layers of ``model`` in definition order, with their names."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, QuantizedMixin)]
