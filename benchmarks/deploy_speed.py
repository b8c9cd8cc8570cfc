"""Packed bitwise engine vs float PyTorch inference, side by side in one process (not a test).

Models (trained checkpoints; see ``docs/deploy.md`` for the commands that make them):

* ``1bit``: the MFP-QSNN VGG-style net on Fashion-MNIST (``mfp-vggsnn-fmnist``: first conv
  fp32, Q-SNN 1-bit weights elsewhere, MFP neurons, T=4);
* ``demo``: the demo ABC-Net model (``configs/demo.yaml``: 3-base binary weights, T=1).

Float baseline: the same trained model in ``torch.inference_mode`` with its effective
weights computed once (quantizers off, so no per-call quantization work), best of
channels-first and channels-last. Engine: the model exported to ``.sbit`` and run by
``spikebit.deploy``. For every (threads, batch) in {1, 2} x {1, 64} the runners are
timed round-robin (one call each in turn, in a new seeded order each round), so machine
load hits all alike; freed memory stays in the process unless ``--malloc default``
(``benchmarks/steady.py``). The process is not pinned to one core: the engine's numba
OpenMP workers keep spinning for a while after each parallel region, and on the same core
as PyTorch they made its one-thread runs twice as slow. Reported:
latency median and p99, throughput, per-layer time split (conv + its BN for PyTorch,
the fused layer for the engine), resident weight bytes, process peak RSS.
Writes ``results/deploy_speed.json``.
"""

from __future__ import annotations

import argparse
import copy
import datetime as _dt
import json
import os
import platform
import random
import resource
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from steady import steady_process
from torch import nn

from spikebit.deploy import export_packed, load_packed
from spikebit.deploy.kernels import POPCOUNT_IMPL, set_threads
from spikebit.quant import quantized_layers
from spikebit.train import model_from_checkpoint

CHECKPOINTS = {"1bit": "runs/deploy-mfp-1bit/best.safetensors",
               "demo": "runs/demo/best.safetensors"}


def frozen_float(model: nn.Module) -> nn.Module:
    """A copy whose quantized layers hold their effective weight with quantization off."""
    model = copy.deepcopy(model).eval()
    with torch.no_grad():
        for _, layer in quantized_layers(model):
            if layer.quantize:
                layer.weight.copy_(layer.effective_weight())
                layer.quantize = False
    return model


def rss_mib() -> float:
    """Current resident set size of this process (MiB)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def blas_limit(n: int):
    try:
        from threadpoolctl import threadpool_limits

        return threadpool_limits(n)
    except ImportError:  # pragma: no cover
        return None


def body_of(model: nn.Module) -> nn.Sequential:
    return model.body if hasattr(model, "body") else model.model.body


class TorchLayerTimer:
    """Accumulates wall time per ``body`` child (forward pre/post hooks)."""

    def __init__(self, model: nn.Module) -> None:
        self.times: dict[str, float] = defaultdict(float)
        self.handles = []
        for i, m in enumerate(body_of(model)):
            name = f"body.{i}"
            self.handles.append(m.register_forward_pre_hook(self._start))
            self.handles.append(m.register_forward_hook(lambda mod, a, o, n=name: self._stop(n)))
        self._t0 = 0.0

    def _start(self, mod, args) -> None:
        self._t0 = time.perf_counter()

    def _stop(self, name: str) -> None:
        self.times[name] += time.perf_counter() - self._t0

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


def stats(samples: list[float], batch: int) -> dict[str, float]:
    a = np.asarray(samples) * 1e3
    med = float(np.median(a))
    return {"median_ms": med, "p99_ms": float(np.percentile(a, 99)), "runs": len(a),
            "throughput_per_s": batch / (med / 1e3)}


def round_robin(runners: dict[str, Callable[[], object]], repeats: int) -> dict[str, list]:
    """Times (s) of ``repeats`` rounds after two warm-up calls each; every round runs the
    runners in a new seeded order, so that none always follows the same other one."""
    for fn in runners.values():  # warm-up (kernel compilation, allocator)
        fn()
        fn()
    times: dict[str, list] = {k: [] for k in runners}
    order = list(runners)
    shuffle = random.Random(repeats).shuffle
    for _ in range(repeats):
        shuffle(order)
        for name in order:
            fn = runners[name]
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return times


def layer_split(model, engine, x: torch.Tensor, repeats: int) -> list[dict]:
    """Per layer, median over ``repeats`` calls (ms): the engine's op vs PyTorch's module
    (a conv/linear with the BatchNorm after it, which the engine folds)."""
    torch_runs, packed_runs = [], []
    for _ in range(repeats):  # alternate, like the end-to-end timings
        timer = TorchLayerTimer(model)
        with torch.inference_mode():
            model(x)
        timer.remove()
        torch_runs.append(dict(timer.times))
        engine.times.clear()
        engine.run(x.numpy(), profile=True)
        packed_runs.append(dict(engine.times))
    body = body_of(model)
    rows = []
    for op in engine.graph["layers"]:
        name = op["name"]
        i = int(name.split(".")[1])
        parts = [f"body.{i}"]
        if op["op"] in ("conv", "linear") and i + 1 < len(body) and \
                isinstance(getattr(body[i + 1], "module", None), nn.modules.batchnorm._BatchNorm):
            parts.append(f"body.{i + 1}")
        torch_ms = 1e3 * float(np.median([sum(r.get(p, 0.0) for p in parts)
                                          for r in torch_runs]))
        packed_ms = 1e3 * float(np.median([r[name] for r in packed_runs]))
        rows.append({"layer": name, "op": op["op"], "weights": op.get("weights", op.get("kind")),
                     "packed_ms": packed_ms, "torch_ms": torch_ms,
                     "speedup": torch_ms / packed_ms if packed_ms else None})
    return rows


def weight_bytes(model: nn.Module, engine) -> dict[str, object]:
    resident = engine.resident_weight_bytes()
    binary = [op for op in engine.graph["layers"] if op.get("weights") == "binary"]
    fp32 = {op["name"]: 4 * int(np.prod(op["shape"])) for op in binary}
    packed = {op["name"]: resident[op["name"]] for op in binary}
    float_total = sum(p.numel() * 4 for p in model.parameters())
    return {"binary_layers_packed_bytes": sum(packed.values()),
            "binary_layers_fp32_bytes": sum(fp32.values()),
            "binary_layers_ratio": sum(packed.values()) / max(1, sum(fp32.values())),
            "engine_total_bytes": sum(resident.values()), "float_model_param_bytes": float_total}


def bench_model(name: str, ckpt: str, images: torch.Tensor, args) -> dict[str, object]:
    model, _, _ = model_from_checkpoint(ckpt)
    model = model.eval()
    rss0 = rss_mib()
    base = frozen_float(model)
    channels_last = copy.deepcopy(base).to(memory_format=torch.channels_last)
    with tempfile.TemporaryDirectory() as tmp:
        report = export_packed(model, Path(tmp) / "m.sbit")
        rss1 = rss_mib()
        engine = load_packed(Path(tmp) / "m.sbit")
        rss2 = rss_mib()
    out: dict[str, object] = {"checkpoint": ckpt, "file_bytes": report.file_bytes,
                              "weights": weight_bytes(base, engine), "configs": [],
                              "rss_growth_mib": {"float_copy": rss1 - rss0,
                                                 "engine_load": rss2 - rss1}}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        set_threads(threads)
        limit = blas_limit(threads)
        for batch in (1, 64):
            x = images[:batch]
            x_cl = x.contiguous(memory_format=torch.channels_last)
            xn = x.numpy()

            def run_cf(x=x):
                with torch.inference_mode():
                    return base(x)

            def run_cl(x=x_cl):
                with torch.inference_mode():
                    return channels_last(x)

            runners = {"torch_channels_first": run_cf, "torch_channels_last": run_cl,
                       "packed": lambda xn=xn: engine.run(xn)}
            repeats = args.repeats if batch == 1 else max(3, args.repeats // 6)
            if torch.get_num_threads() != threads:
                raise RuntimeError(f"PyTorch runs {torch.get_num_threads()} threads, not "
                                   f"{threads}: a thread limit was released too early")
            times = round_robin(runners, repeats)
            res = {k: stats(v, batch) for k, v in times.items()}
            best = min(("torch_channels_first", "torch_channels_last"),
                       key=lambda k: res[k]["median_ms"])
            row = {"threads": threads, "batch": batch, **res, "torch_best": best,
                   "speedup_median": res[best]["median_ms"] / res["packed"]["median_ms"],
                   "load_avg_1min": os.getloadavg()[0], "torch_threads": torch.get_num_threads()}
            if threads == 1:
                row["layers"] = layer_split(base, engine, x, repeats)
                binary = [r for r in row["layers"] if r["weights"] == "binary"]
                row["binary_layers_speedup"] = (sum(r["torch_ms"] for r in binary)
                                                / max(1e-9, sum(r["packed_ms"] for r in binary)))
            out["configs"].append(row)
            print(f"{name} threads={threads} batch={batch}: torch {res[best]['median_ms']:.2f} ms "
                  f"({best}), packed {res['packed']['median_ms']:.2f} ms, "
                  f"x{row['speedup_median']:.2f}", flush=True)
        # after both batch sizes: releasing the limit restores the OpenMP thread count, which
        # PyTorch shares (released inside the loop, the batch-64 rows ran on 2 threads)
        if limit is not None:
            limit.unregister()
    return out


def markdown(result: dict) -> str:
    """The summary tables of ``result`` (for docs/deploy.md and the README)."""
    lines = ["| model | threads | batch | PyTorch median / p99 (ms) | packed median / p99 (ms) "
             "| speedup | packed samples/s |", "|---|---|---|---|---|---|---|"]
    for key, m in result["models"].items():
        for c in m["configs"]:
            t, pk = c[c["torch_best"]], c["packed"]
            lines.append(f"| {key} | {c['threads']} | {c['batch']} | {t['median_ms']:.2f} / "
                         f"{t['p99_ms']:.2f} | {pk['median_ms']:.2f} / {pk['p99_ms']:.2f} | "
                         f"{c['speedup_median']:.2f}x | {pk['throughput_per_s']:.0f} |")
    lines += ["", "| model | batch | layer | weights | PyTorch (ms) | packed (ms) | speedup |",
              "|---|---|---|---|---|---|---|"]
    for key, m in result["models"].items():
        for c in m["configs"]:
            for r in c.get("layers", []):
                if r["op"] in ("conv", "linear"):
                    lines.append(f"| {key} | {c['batch']} | {r['layer']} | {r['weights']} | "
                                 f"{r['torch_ms']:.3f} | {r['packed_ms']:.3f} | "
                                 f"{r['speedup']:.2f}x |")
    lines += ["", "| model | file bytes | binary layers packed / fp32 bytes | ratio |",
              "|---|---|---|---|"]
    for key, m in result["models"].items():
        w = m["weights"]
        lines.append(f"| {key} | {m['file_bytes']} | {w['binary_layers_packed_bytes']} / "
                     f"{w['binary_layers_fp32_bytes']} | {w['binary_layers_ratio']:.4f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=30, help="round-robin rounds at batch 1")
    p.add_argument("--out", default="results/deploy_speed.json")
    p.add_argument("--malloc", choices=("keep", "default"), default="keep",
                   help="keep: freed memory stays in the process; default: glibc as is "
                        "(see benchmarks/steady.py)")
    for key, path in CHECKPOINTS.items():
        p.add_argument(f"--{key}", default=path, help=f"checkpoint of the {key} model")
    args = p.parse_args()
    process = steady_process(2, args.malloc)  # 2: not pinned (see the module doc)
    from spikebit.data import load_dataset

    images = load_dataset("fashion-mnist", train=False).images[:64]
    flags = open("/proc/cpuinfo").read() if Path("/proc/cpuinfo").exists() else ""
    result = {
        "benchmark": "deploy_speed", "date": _dt.datetime.now().isoformat(timespec="seconds"),
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                    "avx512_vpopcntdq": "avx512_vpopcntdq" in flags,
                    "popcount": POPCOUNT_IMPL, "torch": torch.__version__,
                    "load_avg_start": os.getloadavg()},
        "process": process,
        "models": {},
    }
    for key in CHECKPOINTS:
        result["models"][key] = bench_model(key, getattr(args, key), images, args)
    result["machine"]["load_avg_end"] = os.getloadavg()
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    Path(args.out).with_suffix(".md").write_text(markdown(result))
    print(f"wrote {args.out} and {Path(args.out).with_suffix('.md')}")


if __name__ == "__main__":
    main()
