"""``export_packed(model, path)``: write a model as a packed ``.sbit`` file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch import nn

from spikebit.deploy.fileformat import write_packed
from spikebit.deploy.lowering import lower

FOLDED = ("scale", "bias", "alpha")


@dataclass(frozen=True)
class PackedExport:
    """What was written.

    Attributes:
        path: the file.
        file_bytes: its size in bytes.
        folded_bytes: bytes of the folded per-channel ``scale``/``bias`` and ABC ``alpha``.
        layers: number of ops in the graph.
    """

    path: Path
    file_bytes: int
    folded_bytes: int
    layers: int


def export_packed(model: nn.Module, path: str | Path, fp_dtype: str = "float32") -> PackedExport:
    """Write ``model`` (a :class:`SpikingNet`, possibly input-normalized) to ``path``.

    Binary bases are packed 1 bit per weight, uniform b-bit weights as b-bit integers,
    full-precision layers as ``fp_dtype`` (``"float32"`` or ``"float16"``); BatchNorm,
    weight scales and biases fold into per-channel float64 ``scale``/``bias``.
    Raises :class:`~spikebit.errors.ExportError` (naming the layer and the reason)
    for anything the engine cannot run exactly; no file is written then.
    """
    graph, tensors = lower(model, fp_dtype)
    size = write_packed(path, graph, tensors)
    folded = sum(v.nbytes for k, v in tensors.items() if k.rsplit(".", 1)[-1] in FOLDED)
    return PackedExport(Path(path), size, folded, len(graph["layers"]))
