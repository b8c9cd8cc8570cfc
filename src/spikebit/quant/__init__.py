"""Weight quantizers and quantized layers."""

from spikebit.quant.layers import QConv2d, QLinear, QuantizedMixin, quantized_layers
from spikebit.quant.levels import QuantLevels, combine, straight_through
from spikebit.quant.quantizers import (
    FP32_BITS,
    QUANTIZERS,
    SCALE_FLOOR,
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
    "QuantLevels",
    "SCALE_FLOOR",
    "QuantizedMixin",
    "SignQuantizer",
    "UniformQuantizer",
    "WeightQuantizer",
    "get_quantizer",
    "quantized_layers",
    "combine",
    "sign_ste",
    "straight_through",
]
