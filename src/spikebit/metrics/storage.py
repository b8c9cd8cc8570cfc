"""Exact weight storage accounting per layer and per model."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from torch import nn

from spikebit.quant import FP32_BITS, quantized_layers


@dataclass(frozen=True)
class LayerStorage:
    """Storage of one weight layer: deployed bits vs the fp32 bits of the same layer.

    Args:
        name: the layer's module name.
        kind: the layer class (``"QConv2d"``, ``"QLinear"``).
        quantizer: the quantizer class name.
        quantized: whether the layer's ``quantize`` flag is on.
        params: number of weight and bias parameters.
        bits: exact deployed storage in bits (the quantizer's ``storage_bits``: packed
            weights, scales, fp32 bias).
        fp32_bits: the same parameters in fp32 (``32 * params``).
    """

    name: str
    kind: str
    quantizer: str
    quantized: bool
    params: int
    bits: int
    fp32_bits: int

    @property
    def ratio(self) -> float:
        """Deployed bits / fp32 bits of this layer."""
        return self.bits / self.fp32_bits


@dataclass(frozen=True)
class ModelStorage:
    """Per-layer storage and totals. ``other_bits`` covers BN and other fp32 parameters.

    Args:
        layers: one :class:`LayerStorage` per quantizable layer.
        other_bits: bits of every other parameter, stored in fp32.
    """

    layers: list[LayerStorage]
    other_bits: int

    @property
    def weight_bits(self) -> int:
        """Deployed bits of the quantizable layers."""
        return sum(layer.bits for layer in self.layers)

    @property
    def weight_fp32_bits(self) -> int:
        """fp32 bits of the quantizable layers."""
        return sum(layer.fp32_bits for layer in self.layers)

    @property
    def total_bits(self) -> int:
        """Deployed bits of the whole model (weight layers + other fp32 parameters)."""
        return self.weight_bits + self.other_bits

    @property
    def total_fp32_bits(self) -> int:
        """Bits of the whole model in fp32."""
        return self.weight_fp32_bits + self.other_bits

    @property
    def ratio(self) -> float:
        """Deployed total bits / fp32 total bits."""
        return self.total_bits / self.total_fp32_bits

    @property
    def binarized_ratio(self) -> float:
        """Bits of the quantized layers / their fp32 bits (1.0 if none is quantized)."""
        q = [layer for layer in self.layers if layer.quantized]
        return sum(x.bits for x in q) / sum(x.fp32_bits for x in q) if q else 1.0

    def to_dict(self) -> dict[str, object]:
        """JSON-able table: layers, totals in bits, ratios to fp32."""
        return {
            "layers": [asdict(layer) for layer in self.layers],
            "weight_bits": self.weight_bits,
            "other_bits": self.other_bits,
            "total_bits": self.total_bits,
            "total_fp32_bits": self.total_fp32_bits,
            "ratio_to_fp32": self.ratio,
            "quantized_layers_ratio_to_fp32": self.binarized_ratio,
        }


def model_storage(model: nn.Module) -> ModelStorage:
    """Storage of every quantizable layer plus the remaining fp32 parameters.

    Args:
        model: any module; its :class:`~spikebit.quant.QuantizedMixin` layers are counted
            at their exact deployed bits, every other parameter at 32 bits.

    Returns:
        A new :class:`ModelStorage` (bits).
    """
    layers = []
    counted = set()
    for name, layer in quantized_layers(model):
        params = [p for p in (layer.weight, layer.bias) if p is not None]
        counted.update(id(p) for p in params)
        n = sum(p.numel() for p in params)
        layers.append(
            LayerStorage(
                name=name,
                kind=type(layer).__name__,
                quantizer=type(layer.quantizer).__name__,
                quantized=bool(layer.quantize),
                params=n,
                bits=layer.storage_bits(),
                fp32_bits=FP32_BITS * n,
            )
        )
    other = sum(p.numel() for p in model.parameters() if id(p) not in counted)
    return ModelStorage(layers, FP32_BITS * other)
