"""Exact weight storage accounting per layer and per model."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from torch import nn

from spikebit.quant import FP32_BITS, quantized_layers


@dataclass(frozen=True)
class LayerStorage:
    """Storage of one weight layer: deployed bits vs the fp32 bits of the same layer."""

    name: str
    kind: str
    quantizer: str
    quantized: bool
    params: int
    bits: int
    fp32_bits: int

    @property
    def ratio(self) -> float:
        return self.bits / self.fp32_bits


@dataclass(frozen=True)
class ModelStorage:
    """Per-layer storage and totals. ``other_bits`` covers BN and other fp32 parameters."""

    layers: list[LayerStorage]
    other_bits: int

    @property
    def weight_bits(self) -> int:
        return sum(layer.bits for layer in self.layers)

    @property
    def weight_fp32_bits(self) -> int:
        return sum(layer.fp32_bits for layer in self.layers)

    @property
    def total_bits(self) -> int:
        return self.weight_bits + self.other_bits

    @property
    def total_fp32_bits(self) -> int:
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
    """Storage of every quantizable layer plus the remaining fp32 parameters."""
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
