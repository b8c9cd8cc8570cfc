"""ONNX export of every exportable zoo model, checked with onnxruntime against PyTorch eval."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from export_clients import run_spikebit
from export_helpers import calibrate, small_net

from spikebit.errors import ExportError
from spikebit.export import lower, to_onnx
from spikebit.export.graph import Neuron
from spikebit.export.onnx_io import OPSET
from spikebit.export.runtime import GraphModule, neuron_sequence, run_chain
from spikebit.models import MODELS

SMALL = {  # channel widths reduced where the factory takes ``width`` (same structure)
    "agmm-resnet19": {"width": 0.0625, "in_shape": (3, 16, 16)},
    "agmm-resnet18": {"width": 0.0625, "in_shape": (3, 32, 32), "steps": 2},
    "agmm-vggsnn": {"width": 0.0625, "in_shape": (2, 32, 32), "steps": 2},
    "mfp-vggsnn-cifar10dvs": {"width": 0.0625, "in_shape": (2, 32, 32), "steps": 2},
    "mfp-vggsnn-cifar10dvs-fp-lif": {"width": 0.0625, "in_shape": (2, 32, 32), "steps": 2},
    "mfp-vggsnn-fmnist": {"steps": 2},
    "mfp-vggsnn-fmnist-fp-lif": {"steps": 2},
}
SNN_MODELS = [n for n in MODELS.names() if not n.startswith("ann-")]


def _inputs(shape: tuple[int, ...], n: int = 3) -> torch.Tensor:
    from spikebit.data import cache_dir, load_dataset

    if tuple(shape) == (1, 28, 28) and (cache_dir() / "fashion-mnist").is_dir():
        return load_dataset("fashion-mnist", train=False).images[:n]
    return torch.rand(n, *shape, generator=torch.Generator().manual_seed(0))


def _session(path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def threshold_ties(model, x: torch.Tensor, onnx_spikes: list[torch.Tensor],
                   tol: float = 1e-4) -> tuple[int, int]:
    """Layer by layer, feed onnxruntime's spikes of the previous neuron layer through
    spikebit's primitives and find, per neuron, the first step where spikebit's spike
    differs from onnxruntime's. Returns ``(first divergences, those not at a threshold
    tie)``; a tie is a membrane within ``tol * (1 + |h|)`` of a firing level ``k V``
    (later steps of a diverged neuron follow from its different reset)."""
    graph = lower(model)
    module = GraphModule(graph)
    current = module.encode(x)
    segment: list = []
    index = divergences = not_ties = 0
    for node in graph.nodes:
        if not isinstance(node, Neuron):
            segment.append(node)
            continue
        membranes: list[torch.Tensor] = []
        with torch.no_grad():
            ours = neuron_sequence(node, run_chain(segment, current), membranes)
        theirs = onnx_spikes[index]
        h = torch.stack(membranes)
        differ = ours != theirs
        first = differ & (differ.cumsum(0) == 1)  # first differing step of each neuron
        v = node.dynamics.threshold
        levels = torch.round(h / v).clamp(min=1) * v  # nearest firing level k V
        near = (h - levels).abs() <= tol * (1 + h.abs())
        divergences += int(first.sum())
        not_ties += int((first & ~near).sum())
        current, segment, index = theirs, [], index + 1
    return divergences, not_ties


def check_onnx(model, path, batch: int = 3, optimize: bool = False) -> dict[str, int]:
    """Export, run with onnxruntime at a batch size other than the traced one, compare:
    logits within 1e-5; spikes identical, or every differing neuron first diverges at a
    threshold tie (float32 rounding of onnxruntime's and PyTorch's sums), counted."""
    to_onnx(model, path, optimize=optimize)
    x = _inputs(model.config.in_shape, batch)
    ref, ref_spikes = run_spikebit(model, x)
    outs = _session(path).run(None, {"x": x.numpy()})
    logits, spikes = torch.from_numpy(outs[0]), [torch.from_numpy(o) for o in outs[1:]]
    assert logits.shape == ref.shape and len(spikes) == len(ref_spikes)
    flips = sum(int((a != b).sum()) for a, b in zip(spikes, ref_spikes))
    ties = not_ties = 0
    if flips:
        ties, not_ties = threshold_ties(model, x, spikes)
        assert ties > 0 and not_ties == 0, f"{flips} spikes differ, {not_ties} not at a tie"
    else:
        assert torch.allclose(logits, ref, rtol=0, atol=1e-5), float((logits - ref).abs().max())
    return {"flips": flips, "ties": ties, "spikes": sum(s.numel() for s in spikes)}


@pytest.mark.slow
@pytest.mark.parametrize("name", SNN_MODELS)
def test_every_zoo_model_exports_to_onnx(name, tmp_path):
    torch.manual_seed(0)
    model = MODELS.get(name)(**SMALL.get(name, {})).eval()
    check_onnx(model, tmp_path / "m.onnx")


def test_conversion_anns_are_refused_by_name(tmp_path):
    import spikebit.conversion.zoo_models  # noqa: F401 - registers ann-*

    with pytest.raises(ExportError, match="not a spikebit SpikingNet"):
        to_onnx(MODELS.get("ann-mnist-cnn")(), tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []


def test_onnx_file_contract(lif_net, images, tmp_path):
    path = tmp_path / "m.onnx"
    check_onnx(lif_net, path, batch=5, optimize=True)
    proto = onnx.load(str(path))
    assert [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")] == [OPSET]
    dim = proto.graph.input[0].type.tensor_type.shape.dim[0]
    assert dim.dim_param and not dim.dim_value  # dynamic batch axis
    assert [o.name for o in proto.graph.output] == ["logits", "spikes_0", "spikes_1", "spikes_2"]
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["spikebit.steps"] == "4" and meta["spikebit.exact"] == "true"
    ops = {n.op_type for n in proto.graph.node}
    assert "Conv" in ops and not any(op.startswith("ATen") or "PythonOp" in op for op in ops)


def test_onnx_weights_are_the_exact_levels(tmp_path):
    net = small_net(quantizer="sign", full_precision=[]).eval()
    path = tmp_path / "m.onnx"
    to_onnx(net, path, spikes=False, optimize=False)
    levels = []
    for init in onnx.load(str(path)).graph.initializer:
        arr = onnx.numpy_helper.to_array(init)
        if arr.ndim == 4 and arr.shape[0] == 8:  # first conv [8, 1, 3, 3]
            levels = [np.unique(np.abs(arr[c])).size for c in range(8)]
    assert levels == [1] * 8  # one magnitude per output channel: gamma_c * sign(W)


def test_multithreshold_and_soft_reset_are_exact_in_onnx(images, tmp_path):
    net = calibrate(small_net("mtlif", {"threshold": 0.25, "tau": 0.5, "max_spikes": 3}), images)
    result = check_onnx(net, tmp_path / "m.onnx")
    counts = run_spikebit(net, images)[1][0]
    assert counts.max() > 1 and result["flips"] == 0  # graded spikes do occur


def test_refused_approximation_leaves_no_file(tmp_path):
    net = small_net().eval()
    with pytest.raises(ExportError, match="unknown approximation"):
        to_onnx(net, tmp_path / "m.onnx", approximate="bogus")
    assert list(tmp_path.iterdir()) == []


def test_tie_check_accepts_near_threshold_flips_only(lif_net, images):
    _, spikes = run_spikebit(lif_net, images)
    graph = lower(lif_net)
    at = [i for i, n in enumerate(graph.nodes) if isinstance(n, Neuron)]
    membranes: list[torch.Tensor] = []
    with torch.no_grad():  # the last neuron layer, fed by the spikes of the one before
        current = run_chain(graph.nodes[at[-2] + 1:at[-1]], spikes[-2])
        neuron_sequence(graph.nodes[at[-1]], current, membranes)
    h = torch.stack(membranes)
    gap = (h - 0.5).abs()  # the layer's threshold V = 0.5
    near, far = torch.argmin(gap), torch.argmax(torch.where(h < 0.2, 1.0, 0.0))
    tol = float(gap.flatten()[near])  # call the closest membrane a tie, nothing farther
    assert 0 < tol < 0.05 and float(h.flatten()[far]) < 0.2
    for position, expected in ((near, (1, 0)), (far, (1, 1))):
        flipped = [s.clone() for s in spikes]
        flipped[-1].view(-1)[position] = 1 - flipped[-1].view(-1)[position]
        assert threshold_ties(lif_net, images, flipped, tol=tol) == expected
