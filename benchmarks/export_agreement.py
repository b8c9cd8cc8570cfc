"""Agreement of every export path with spikebit's eval, on real Fashion-MNIST images (not a test).

For each model:

* **NIR** (exact-exportable models): the NIR file re-imported by spikebit (``from_nir``),
  by snnTorch (``snntorch.import_nir.import_from_nir``) and by Norse
  (``norse.torch.from_nir`` with the file's ``dt``), each run over the model's T steps;
* **ONNX**: the ONNX file run by onnxruntime (CPU).

Counted against ``model.eval()`` of spikebit: spikes that differ at any neuron layer (out
of all spikes recorded) and the largest absolute difference of the output layer. Models:
the checkpoint given with ``--checkpoint`` (e.g. trained by
``configs/export/fmnist-lif.yaml``) and the zoo models that take 1x28x28 images, with
their initial weights and BatchNorm statistics from ``--calibration`` training images
(zoo models are not trained here: the point is the arithmetic of the exports).
Writes ``results/export_agreement.json``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "export"))

from export_clients import run_norse, run_snntorch, run_spikebit  # noqa: E402

from spikebit.data import load_dataset  # noqa: E402
from spikebit.errors import ExportError  # noqa: E402
from spikebit.export import from_nir, to_nir, to_onnx  # noqa: E402
from spikebit.models import MODELS  # noqa: E402


def calibrate(model: nn.Module, x: torch.Tensor) -> nn.Module:
    """BatchNorm running statistics from ``x`` (cumulative average), weights unchanged."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None
    model.train()
    with torch.no_grad():
        model(x)
    return model.eval()


def compare(ref: torch.Tensor, ref_spikes: list[torch.Tensor], out: torch.Tensor,
            spikes: list[torch.Tensor]) -> dict[str, float | int]:
    per_layer = [int((a.float() != b.float()).sum()) for a, b in zip(spikes, ref_spikes)]
    return {"spike_mismatches": sum(per_layer), "per_layer": per_layer,
            "spikes_compared": sum(s.numel() for s in ref_spikes),
            "layers": len(spikes), "layers_expected": len(ref_spikes),
            "max_output_diff": float((out - ref).abs().max())}


def measure(name: str, model: nn.Module, x: torch.Tensor, work: Path) -> dict:
    entry: dict = {"model": name}
    ref, ref_spikes = run_spikebit(model, x)
    entry["firing_rate"] = float(torch.cat([s.flatten() for s in ref_spikes]).mean())
    steps = ref.shape[0]
    try:
        graph = to_nir(model, work / f"{name}.nir")
    except ExportError as exc:
        entry["nir"] = {"refused": str(exc).split(". Pass")[0]}
    else:
        norm = json.loads(graph.metadata["normalization"])
        xn = x if norm is None else (x - torch.tensor(norm[0]).view(-1, 1, 1)) / \
            torch.tensor(norm[1]).view(-1, 1, 1)
        back = from_nir(work / f"{name}.nir")
        entry["nir"] = {
            "spikebit_from_nir": compare(ref, ref_spikes, *run_spikebit(back, x)),
            "snntorch": compare(ref, ref_spikes, *run_snntorch(graph, xn, steps)),
            "norse": compare(ref, ref_spikes, *run_norse(graph, xn, steps,
                                                         json.loads(graph.metadata["dt"]))),
        }
    try:
        import onnxruntime as ort

        path = to_onnx(model, work / f"{name}.onnx")
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        logits, *spikes = sess.run(None, {"x": x.numpy()})
        entry["onnx"] = compare(ref, ref_spikes, torch.from_numpy(logits),
                                [torch.from_numpy(s) for s in spikes])
    except ExportError as exc:
        entry["onnx"] = {"refused": str(exc).split(". Pass")[0]}
    return entry


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", default=None, help="a trained checkpoint to include")
    p.add_argument("--images", type=int, default=32, help="test images compared")
    p.add_argument("--calibration", type=int, default=256, help="training images for BN")
    p.add_argument("--models", nargs="*", default=None, help="zoo models (default: 1x28x28)")
    p.add_argument("--out", default=str(ROOT / "results" / "export_agreement.json"))
    args = p.parse_args()
    torch.manual_seed(0)
    test = load_dataset("fashion-mnist", train=False).images[: args.images]
    calib = load_dataset("fashion-mnist", train=True).images[: args.calibration]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.checkpoint:
            from spikebit.export.files import model_for_export

            start = time.perf_counter()
            entry = measure("checkpoint", model_for_export(args.checkpoint), test, work)
            entry.update(checkpoint=str(args.checkpoint), seconds=time.perf_counter() - start)
            results.append(entry)
            print(json.dumps(entry))
        names = args.models or [n for n in MODELS.names() if not n.startswith("ann-")]
        for name in names:
            model = MODELS.get(name)()
            if tuple(getattr(model, "config", None).in_shape) != (1, 28, 28):
                continue
            start = time.perf_counter()
            torch.manual_seed(0)
            entry = measure(name, calibrate(model, calib), test, work)
            entry["seconds"] = time.perf_counter() - start
            results.append(entry)
            print(json.dumps(entry), flush=True)
    out = {
        "benchmark": "export_agreement",
        "command": " ".join(["python", "benchmarks/export_agreement.py", *sys.argv[1:]]),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "torch": torch.__version__, "python": platform.python_version(),
        "images": args.images, "calibration_images": args.calibration, "results": results,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
