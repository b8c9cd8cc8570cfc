"""Export trained models: one lowering (:func:`lower`) and its writers (NIR, ONNX).

``to_nir``/``from_nir`` need the ``nir`` and ``nirtorch`` packages and ``to_onnx``
needs ``onnx``/``onnxscript`` (the ``export`` extra); they are imported on use.
"""

from __future__ import annotations

from typing import Any

from spikebit.export.graph import LoweredGraph, NeuronDynamics, QuantInfo
from spikebit.export.lower import (
    APPROXIMATIONS,
    NIR_TARGET,
    ONNX_TARGET,
    Target,
    fold_batchnorm,
    lower,
)

__all__ = [
    "APPROXIMATIONS",
    "NIR_TARGET",
    "ONNX_TARGET",
    "LoweredGraph",
    "NeuronDynamics",
    "QuantInfo",
    "Target",
    "fold_batchnorm",
    "from_nir",
    "lower",
    "to_nir",
    "to_onnx",
]


def __getattr__(name: str) -> Any:
    if name in ("to_nir", "from_nir"):
        from spikebit.export import nir_io

        return getattr(nir_io, name)
    if name == "to_onnx":
        from spikebit.export.onnx_io import to_onnx

        return to_onnx
    raise AttributeError(f"module 'spikebit.export' has no attribute {name!r}")
