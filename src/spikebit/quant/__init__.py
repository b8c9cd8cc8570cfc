"""Weight quantizers and quantized layers."""

from spikebit.quant.layers import QConv2d, QLinear, QuantizedMixin, quantized_layers
from spikebit.quant.quantizers import (
    FP32_BITS,
    QUANTIZERS,
    ABCQuantizer,
    QSNNQuantizer,
    SignQuantizer,
    UniformQuantizer,
    WeightQuantizer,
    get_quantizer,
    sign_ste,
)

__all__ = [
    "FP32_BITS",
    "QUANTIZERS",
    "ABCQuantizer",
    "QConv2d",
    "QLinear",
    "QSNNQuantizer",
    "QuantizedMixin",
    "SignQuantizer",
    "UniformQuantizer",
    "WeightQuantizer",
    "get_quantizer",
    "quantized_layers",
    "sign_ste",
]
