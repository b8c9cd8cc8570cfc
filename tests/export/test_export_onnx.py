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
from spikebit.export import to_onnx
from spikebit.export.onnx_io import OPSET
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


def check_onnx(model, path, batch: int = 3, optimize: bool = False) -> dict[str, int]:
    """Export, run with onnxruntime at a batch size other than the traced one, compare."""
    to_onnx(model, path, optimize=optimize)
    x = _inputs(model.config.in_shape, batch)
    ref, ref_spikes = run_spikebit(model, x)
    outs = _session(path).run(None, {"x": x.numpy()})
    logits, spikes = torch.from_numpy(outs[0]), [torch.from_numpy(o) for o in outs[1:]]
    assert logits.shape == ref.shape and len(spikes) == len(ref_spikes)
    flips = sum(int((a != b).sum()) for a, b in zip(spikes, ref_spikes))
    assert flips == 0, f"{flips} spikes differ"
    assert torch.allclose(logits, ref, rtol=0, atol=1e-5), float((logits - ref).abs().max())
    return {"flips": flips, "spikes": sum(s.numel() for s in spikes)}


@pytest.mark.slow
@pytest.mark.parametrize("name", SNN_MODELS)
def test_every_zoo_model_exports_to_onnx(name, tmp_path):
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
