"""ONNX writer: the lowered graph as an unrolled, plain-op ONNX model (opset 18).

The ONNX model takes ``x`` (``[B, *in_shape]``, float32, dynamic batch ``B``; the
input normalization and direct encoding are inside the model) and returns
``logits`` ``[T, B, K]`` (the output layer per step; the prediction is the mean over
T), followed by ``spikes_<i>`` ``[T, B, ...]`` for every neuron layer ``i`` when
``spikes=True``. Quantized weights are constants at their exact effective values;
each neuron's recurrence is unrolled over the T steps (see
:mod:`spikebit.export.runtime`). Needs ``onnx`` and ``onnxscript`` (``export`` extra).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import warnings
from collections.abc import Iterable
from pathlib import Path

import torch
from torch import nn

from spikebit.errors import ExportError
from spikebit.export.files import atomic_path
from spikebit.export.graph import LoweredGraph
from spikebit.export.lower import ONNX_TARGET, lower
from spikebit.export.runtime import GraphModule

OPSET = 18
"""ONNX opset of every exported model."""


def graph_metadata(graph: LoweredGraph) -> dict[str, str]:
    """String metadata describing ``graph`` (steps, encoder, normalization, approximations)."""
    return {
        "spikebit.steps": str(graph.steps),
        "spikebit.in_shape": json.dumps(list(graph.in_shape)),
        "spikebit.encoder": graph.encoder,
        "spikebit.normalization": json.dumps(graph.normalization),
        "spikebit.approximations": json.dumps(graph.approximations),
        "spikebit.exact": str(not graph.approximations).lower(),
    }


def onnx_program(graph: LoweredGraph, spikes: bool = True, optimize: bool = True):  # noqa: ANN201
    """Trace ``graph`` with ``torch.onnx.export`` (dynamo exporter, dynamic batch, opset
    :data:`OPSET`): ``spikes`` adds every neuron layer's spikes as outputs, ``optimize``
    runs the exporter's ONNX optimizer. Raises :class:`ExportError` if tracing fails."""
    module = GraphModule(graph, record_spikes=spikes).eval()
    example = torch.zeros(2, *graph.in_shape, device="cpu")  # exported on the CPU
    names = ["logits"] + [f"spikes_{i}" for i in range(len(graph.neurons()))] * spikes
    batch = torch.export.Dim("batch", min=1)
    quiet = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(quiet), _quiet_logs():
        warnings.simplefilter("ignore")
        try:
            return torch.onnx.export(module, (example,), None, dynamo=True,
                                     opset_version=OPSET, dynamic_shapes=({0: batch},),
                                     input_names=["x"], output_names=names, verbose=False,
                                     optimize=optimize)
        except Exception as exc:  # the exporter raises many types; report them as one
            raise ExportError(f"ONNX export failed: {type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else ''}") from exc


@contextlib.contextmanager
def _quiet_logs():
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def to_onnx(
    model: nn.Module | LoweredGraph,
    path: str | Path,
    *,
    spikes: bool = True,
    approximate: bool | str | Iterable[str] | None = None,
    optimize: bool = True,
) -> Path:
    """Write ``model`` (a trained SpikingNet or a lowered graph) to an ONNX file ``path``;
    ``approximate`` names allowed approximations (see :func:`spikebit.export.lower`).

    ``spikes``: also output every neuron layer's spikes. ``optimize``: run the ONNX
    graph optimizer of ``torch.onnx`` (constant folding; slower export). Returns ``path``;
    the file is written atomically (no partial file on error).
    Raises :class:`ExportError` for a layer the lowering refuses or an exporter failure.
    """
    import onnx

    graph = model if isinstance(model, LoweredGraph) else lower(model, ONNX_TARGET, approximate)
    if graph.encoder != "direct":
        raise ExportError(f"ONNX export takes static inputs with 'direct' encoding; the model "
                          f"uses {graph.encoder!r} (stochastic or other encoders stay outside "
                          "the graph: export a model with encoder='direct')")
    program = onnx_program(graph, spikes, optimize)
    proto = program.model_proto
    for key, value in graph_metadata(graph).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    with atomic_path(path) as tmp:
        onnx.save_model(proto, str(tmp))
        onnx.checker.check_model(str(tmp))
    return Path(path)
