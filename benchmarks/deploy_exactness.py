"""Packed engine vs the model in float64 and float32 on a whole test set (not a test).

For every test image: the engine's spikes (every neuron layer) and prediction against
``model.double().eval()`` (expected: identical) and against the float32 ``model.eval()``.
Float32 differences are attributed layer by layer: each layer of the float32 model is
fed the float64 reference's spikes of the layer before (teacher forcing), so a spike
that still differs there is decided by the layer's own rounding; at its first differing
step the float64 membrane ``h64`` lies within the float32 rounding error of the
threshold (``|h64 - V| <= |h32 - h64|``, both reported in float32 ulps of ``V``).
Images whose float32 prediction differs are listed with the first layer where their
spikes differ and the margins there. Writes ``results/deploy_exactness.json``.
"""

from __future__ import annotations

import argparse
import copy
import datetime as _dt
import json
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from spikebit.deploy import export_packed, load_packed
from spikebit.deploy.lowering import unwrap
from spikebit.train import model_from_checkpoint


def neurons_of(net: nn.Module) -> list[int]:
    return [i for i, m in enumerate(net.body) if callable(getattr(m, "step", None))]


def membranes(x: np.ndarray, op: dict, mixing: np.ndarray | None) -> np.ndarray:
    """Pre-reset potentials ``h [T, ...]`` of a neuron on currents ``x [T, ...]``."""
    if op["kind"] == "mfp":
        return (mixing @ x.reshape(x.shape[0], -1)).reshape(x.shape)
    h_all, v = np.empty_like(x), None
    for t in range(x.shape[0]):
        h = x[t] if v is None else x[t] + op["leak"] * v
        if op["kind"] == "mtlif":
            s = np.clip(np.floor(h / op["threshold"]), 0, op["max_spikes"])
        else:
            s = (h >= op["threshold"]).astype(h.dtype)
        h_all[t] = h
        v = h * (1 - s) if op["reset"] == "hard" else h - op["threshold"] * s
    return h_all


def encoded(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    net, norm = unwrap(model)
    if norm is not None:
        shape = (1, -1, 1, 1)
        mean = torch.as_tensor(norm[0], dtype=x.dtype).reshape(shape)
        std = torch.as_tensor(norm[1], dtype=x.dtype).reshape(shape)
        x = (x - mean) / std
    return net.encode(x)


@torch.no_grad()
def teacher_forced(model32: nn.Module, x: torch.Tensor, ref_spikes: dict[int, torch.Tensor]
                   ) -> dict[int, torch.Tensor]:
    """Float32 input currents of each neuron, fed the float64 spikes of the layer before."""
    net, _ = unwrap(model32)
    out, start, h = {}, 0, encoded(model32, x.float())
    for j in neurons_of(net):
        for m in net.body[start:j]:
            h = m(h)
        out[j] = h
        h, start = ref_spikes[j].float(), j + 1
    return out


def analyse_batch(model32, model64, engine, x: torch.Tensor, mixing: dict) -> dict:
    net64, _ = unwrap(model64)
    idx = neurons_of(net64)
    cur64, spk64 = {}, {}

    def hook(j):
        def fn(mod, inputs, out):
            cur64[j], spk64[j] = inputs[0], out
        return fn

    handles = [net64.body[j].register_forward_hook(hook(j)) for j in idx]
    with torch.no_grad():
        out64 = model64(x.double())
    for h in handles:
        h.remove()
    spk32 = {}
    net32, _ = unwrap(model32)
    handles = [net32.body[j].register_forward_hook(
        lambda mod, i, o, j=j: spk32.__setitem__(j, o)) for j in idx]
    with torch.no_grad():
        out32 = model32(x.float())
    for h in handles:
        h.remove()
    got = engine.run(x.numpy(), record=True)
    ops = {int(op["name"].split(".")[1]): op for op in engine.graph["layers"]
           if op["op"] == "neuron"}
    tf32 = teacher_forced(model32, x, spk64)
    res = {"pred_engine": got.predictions, "pred64": out64.mean(0).argmax(-1).numpy(),
           "pred32": out32.mean(0).argmax(-1).numpy(), "layers": {}}
    batch = x.shape[0]
    first_layer = np.full(batch, -1)
    for j in idx:
        name, op = f"body.{j}", ops[j]
        e, s64, s32 = got.spikes[name], spk64[j].numpy(), spk32[j].numpy()
        h64 = membranes(cur64[j].numpy(), op, mixing.get(name))
        h32 = membranes(tf32[j].double().numpy(), op, mixing.get(name))
        s32_tf = net32.body[j](tf32[j]).numpy()
        local = s32_tf != s64
        # first differing step of each neuron: the rounding decides there
        first = local & (np.cumsum(local, axis=0) == 1)
        margin = np.abs(h64 - op["threshold"])[first]
        err = np.abs(h32 - h64)[first]
        ulp = float(np.spacing(np.float32(op["threshold"])))
        per_image = (s32 != e).reshape(s32.shape[0], batch, -1).any(axis=(0, 2))
        first_layer[(first_layer < 0) & per_image] = j
        res["layers"][name] = {
            "outputs": int(e.size), "spike_count": int(e.sum()),
            "differ_vs_float64": int((e != s64).sum()),
            "differ_vs_float32_full_run": int((s32 != e).sum()),
            "differ_vs_float32_teacher_forced": int(local.sum()),
            "first_flips": int(first.sum()),
            "all_first_flips_are_ties": bool((margin <= err).all()),
            "max_margin_ulps": float(margin.max() / ulp) if margin.size else 0.0,
            "max_float32_error_ulps": float(err.max() / ulp) if err.size else 0.0,
        }
    res["first_layer"] = first_layer
    return res


def merge(total: dict, part: dict, offset: int, out: list) -> None:
    for name, d in part["layers"].items():
        t = total.setdefault(name, {k: (0 if not isinstance(v, bool) else True)
                                    for k, v in d.items()})
        for k, v in d.items():
            if isinstance(v, bool):
                t[k] = t[k] and v
            elif k.startswith("max_"):
                t[k] = max(t[k], v)
            else:
                t[k] += v
    for i in np.flatnonzero(part["pred32"] != part["pred_engine"]):
        out.append({"image": int(offset + i), "engine": int(part["pred_engine"][i]),
                    "float32": int(part["pred32"][i]), "float64": int(part["pred64"][i]),
                    "first_differing_layer": f"body.{int(part['first_layer'][i])}"})


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint", nargs="?", default="runs/demo/best.safetensors")
    p.add_argument("--data", default="fashion-mnist")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--out", default="results/deploy_exactness.json")
    args = p.parse_args()
    from spikebit.data import load_dataset

    torch.set_num_threads(1)
    model, _, _ = model_from_checkpoint(args.checkpoint)
    model32 = model.eval()
    model64 = copy.deepcopy(model32).double()
    with tempfile.TemporaryDirectory() as tmp:
        export_packed(model32, Path(tmp) / "m.sbit")
        engine = load_packed(Path(tmp) / "m.sbit")
    mixing = {m.name: m.mixing for m in engine.layers if getattr(m, "mixing", None) is not None}
    test = load_dataset(args.data, train=False)
    n = len(test) if args.limit is None else min(args.limit, len(test))
    layers: dict = {}
    differing: list = []
    agree64 = correct = 0
    for i in range(0, n, args.batch_size):
        x, y = test.images[i:i + args.batch_size], test.labels[i:i + args.batch_size].numpy()
        part = analyse_batch(model32, model64, engine, x, mixing)
        merge(layers, part, i, differing)
        agree64 += int((part["pred64"] == part["pred_engine"]).sum())
        correct += int((part["pred_engine"] == y).sum())
        print(f"{i + len(x)}/{n}", flush=True)
    result = {
        "benchmark": "deploy_exactness", "date": _dt.datetime.now().isoformat(timespec="seconds"),
        "checkpoint": args.checkpoint, "dataset": args.data, "images": n,
        "engine_accuracy": correct / n,
        "predictions_equal_float64": agree64, "predictions_differ_float32": len(differing),
        "differing_images": differing, "layers": layers,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "layers"}, indent=2))


if __name__ == "__main__":
    main()
