"""GPU section of ``neuron_speed.py``: the LIF op and the reference training step on CUDA.

Runs only where CUDA exists (``python benchmarks/neuron_speed.py`` calls it after the CPU
sections; ``--gpu-only`` runs just this). Engines: spikebit ``eager`` (hand-fused passes),
spikebit ``compiled`` (``torch.compile``: inductor generates Triton kernels on CUDA), and
SpikingJelly's ``torch`` and ``triton`` implementations when SpikingJelly is importable
(SpikingJelly >= 2.0 picks its CUDA implementation from ``SJ_LIF_CUDA_IMPLEMENTATION`` when
it is imported, so each SpikingJelly implementation is measured in a child process of its
own, round-robin with spikebit eager again as the common reference).

1. **LIF op**, forward + backward of ``x [T, 64, 128, 28, 28]`` float32 at T = 4, 8, 16, 32:
   median ms (CUDA events, repeats round-robin over engines) and the **achieved memory
   bandwidth** as a fraction of the device's peak. The op is bandwidth-bound; its minimum
   traffic is 24 bytes per element (forward reads x, writes h and s; backward reads the
   incoming gradient and h, writes the input gradient; 4 bytes each), so achieved =
   ``24 * numel / time``. Peak: from the memory clock and bus width when the device reports
   them (``peak_source``), and a measured device-to-device copy (``copy_GBps``) beside it.
2. **Reference training step** of ``neuron_speed.reference_net`` at T=4, batch 64 (the CPU
   section's net) on CUDA.

``recommended_default`` names the faster spikebit backend per section: the default backend
per device is chosen from these figures (see ``docs/design.md``).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

# SPIKEBIT_GPU_BENCH_DRY=1: the same code on the CPU at toy sizes (checks the script's
# logic where there is no GPU; the figures mean nothing and are labelled so).
DRY = os.environ.get("SPIKEBIT_GPU_BENCH_DRY") == "1"
DEVICE = "cpu" if DRY else "cuda"
STEPS = (2, 3) if DRY else (4, 8, 16, 32)
NEURONS = (2, 4, 3, 3) if DRY else (64, 128, 28, 28)  # per step: batch 64, 128 ch, 28x28
BYTES_PER_ELEMENT = 24
SJ_IMPLEMENTATIONS = ("torch", "triton")


def peak_bandwidth() -> tuple[float | None, str]:
    """Theoretical DRAM bandwidth (bytes/s) of the current device and where it came from."""
    props = torch.cuda.get_device_properties(torch.cuda.current_device())
    clock = getattr(props, "memory_clock_rate", None)  # kHz
    width = getattr(props, "memory_bus_width", None)  # bits
    source = "torch.cuda.get_device_properties"
    if not (clock and width):
        try:
            import cupy

            attrs = cupy.cuda.runtime.getDeviceProperties(torch.cuda.current_device())
            clock, width = attrs["memoryClockRate"], attrs["memoryBusWidth"]
            source = "cupy.cuda.runtime.getDeviceProperties"
        except Exception:  # noqa: BLE001 - report that the peak is unknown
            return None, "unavailable (no memory clock/bus width from torch or CuPy)"
    return 2.0 * clock * 1e3 * width / 8.0, source + " (2 x memory clock x bus width)"


def cuda_ms(fn: Callable[[], Any]) -> float:
    if DRY:
        t0 = time.perf_counter()
        fn()
        return (time.perf_counter() - t0) * 1e3
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end)


def round_robin(calls: dict[str, Callable[[], Any]], warmup: int, repeats: int
                ) -> dict[str, dict[str, Any]]:
    first = {name: cuda_ms(fn) for name, fn in calls.items()}
    for fn in calls.values():
        for _ in range(max(warmup - 1, 0)):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, fn in calls.items():
            samples[name].append(cuda_ms(fn))
    return {name: {"median_ms": round(statistics.median(s), 4), "min_ms": round(min(s), 4),
                   "first_call_ms": round(first[name], 1)} for name, s in samples.items()}


def copy_bandwidth(numel: int = 1 << 28) -> float:
    """Measured device-to-device copy (bytes read + written per second)."""
    a = torch.empty(numel if not DRY else 1 << 16, device=DEVICE)
    b = torch.empty_like(a)
    for _ in range(3):
        b.copy_(a)
    ms = statistics.median(cuda_ms(lambda: b.copy_(a)) for _ in range(10))
    return 2 * a.numel() * a.element_size() / (ms * 1e-3)


def engines(sj: str | None) -> dict[str, Callable[[], torch.nn.Module]]:
    """Both spikebit engines; with ``sj``, spikebit eager (the common reference) and
    SpikingJelly's ``sj`` implementation (compiling spikebit again would only cost time)."""
    from neuron_speed import spikebit_neuron, spikingjelly_neuron

    out = {"spikebit-eager": lambda: spikebit_neuron("eager")}
    if sj is None:
        out["spikebit-compiled"] = lambda: spikebit_neuron("compiled")
    else:
        out[f"spikingjelly-{sj}"] = spikingjelly_neuron
    return out


def bench_op(makers: dict[str, Callable[[], torch.nn.Module]], warmup: int, repeats: int
             ) -> dict[str, Any]:
    rows = {}
    for steps in STEPS:
        shape = (steps, *NEURONS)
        torch.manual_seed(0)
        x0 = torch.randn(shape, device=DEVICE) * 1.5 + 0.5
        grad = torch.randn(shape, device=DEVICE)
        calls = {}
        for name, make in makers.items():
            neuron = make().to(DEVICE)
            x = x0.clone().requires_grad_()

            def step(neuron=neuron, x=x, g=grad) -> None:
                x.grad = None
                neuron(x).backward(g)

            calls[name] = step
        res = round_robin(calls, warmup, repeats)
        for r in res.values():
            r["achieved_GBps"] = round(BYTES_PER_ELEMENT * x0.numel() / (r["median_ms"] * 1e6), 1)
        rows[str(steps)] = {"shape": list(shape), "engines": res}
        del x0, grad, calls
        if not DRY:
            torch.cuda.empty_cache()
    return rows


def bench_train(makers: dict[str, Callable[[], torch.nn.Module]], warmup: int, repeats: int
                ) -> dict[str, Any]:
    from neuron_speed import B, Engine, copy_params, reference_net

    torch.manual_seed(0)
    data = torch.rand(B, 1, 28, 28, device=DEVICE)
    labels = torch.randint(0, 10, (B,), device=DEVICE)
    engs = [Engine(n, n, m, compiled=n == "spikebit-compiled") for n, m in makers.items()]
    ref = reference_net(engs[0]).to(DEVICE)
    calls = {}
    for e in engs:
        net = reference_net(e).to(DEVICE)
        copy_params(ref, net)
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)

        def step(net=net, opt=opt) -> None:
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(net(data).mean(0), labels).backward()
            opt.step()

        calls[e.name] = step
    return round_robin(calls, warmup, repeats)


def measure(sj: str | None, warmup: int, repeats: int) -> dict[str, Any]:
    makers = engines(sj)
    out: dict[str, Any] = {"neuron_op": bench_op(makers, warmup, repeats),
                           "train_step": bench_train(makers, warmup, repeats)}
    return out


def child_main() -> None:
    """``python neuron_speed_gpu.py --child IMPL WARMUP REPEATS``: print one JSON line."""
    impl, warmup, repeats = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    print(json.dumps(measure(impl, warmup, repeats)))


def spikingjelly_version() -> str | None:
    try:
        import importlib.metadata as md

        return md.version("spikingjelly")
    except Exception:  # noqa: BLE001
        return None


def run_gpu(out: Path, warmup: int = 3, repeats: int = 10) -> dict[str, Any] | None:
    """Measure and write ``out`` (``results/neuron_speed_gpu.json``); None without CUDA."""
    if not torch.cuda.is_available() and not DRY:
        print("[neuron_speed] no CUDA device: GPU section skipped")
        return None
    if DRY:
        name, memory, (peak, source) = "DRY RUN on the CPU (figures meaningless)", 0, (None, "dry")
    else:
        props = torch.cuda.get_device_properties(0)
        name, memory, (peak, source) = props.name, props.total_memory, peak_bandwidth()
    result: dict[str, Any] = {
        "device": name, "torch": torch.__version__, "cuda": torch.version.cuda,
        "memory_GiB": round(memory / 2**30, 1), "peak_Bps": peak,
        "peak_source": source, "copy_GBps": round(copy_bandwidth() / 1e9, 1),
        "bytes_per_element": BYTES_PER_ELEMENT, "method": {
            "warmup": warmup, "repeats": repeats, "timer": "CUDA events",
            "order": "round-robin over engines", "statistic": "median",
            "compile": "inductor (Triton) with its default caches; first_call_ms includes it"},
    }
    sj = spikingjelly_version()
    result["spikingjelly"] = {"version": sj, "runs": {}}
    if not sj:
        result["spikingjelly"]["reason"] = "not importable here"
    result["spikebit_only"] = measure(None, warmup, repeats)
    write(result, out)  # partial results survive a time limit hit by the peers below
    here = Path(__file__).resolve().parent
    for impl in SJ_IMPLEMENTATIONS if sj else ():
        env = dict(os.environ, SJ_LIF_CUDA_IMPLEMENTATION=impl,
                   PYTHONPATH=os.pathsep.join([str(here), os.environ.get("PYTHONPATH", "")]))
        proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", impl,
                               str(warmup), str(repeats)], capture_output=True, text=True,
                              env=env, timeout=600)
        if proc.returncode == 0:
            result["spikingjelly"]["runs"][impl] = json.loads(proc.stdout.strip().splitlines()[-1])
        else:
            result["spikingjelly"]["runs"][impl] = {"error": proc.stderr[-2000:]}
        write(result, out)
    print(summary(result))
    print(f"wrote {out}")
    return result


def write(result: dict[str, Any], out: Path) -> None:
    add_fractions(result)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")


def add_fractions(result: dict[str, Any]) -> None:
    """Fraction of peak (and of the measured copy) per op row; the faster spikebit backend."""
    peak, copy = result["peak_Bps"], result["copy_GBps"] * 1e9
    sections = [result["spikebit_only"], *[r for r in result["spikingjelly"]["runs"].values()
                                           if "neuron_op" in r]]
    for sec in sections:
        for row in sec["neuron_op"].values():
            for r in row["engines"].values():
                r["fraction_of_peak"] = round(r["achieved_GBps"] * 1e9 / peak, 3) if peak else None
                r["fraction_of_copy"] = round(r["achieved_GBps"] * 1e9 / copy, 3)
    ops = result["spikebit_only"]["neuron_op"]
    train = result["spikebit_only"]["train_step"]
    result["recommended_default"] = {
        "neuron_op": {t: min(("spikebit-eager", "spikebit-compiled"),
                             key=lambda e, t=t: ops[t]["engines"][e]["median_ms"]) for t in ops},
        "train_step": min(("spikebit-eager", "spikebit-compiled"),
                          key=lambda e: train[e]["median_ms"]),
    }


def summary(result: dict[str, Any]) -> str:
    lines = [f"GPU {result['device']}: peak {result['peak_Bps'] and result['peak_Bps'] / 1e9:.0f} "
             f"GB/s ({result['peak_source']}), copy {result['copy_GBps']} GB/s"
             if result["peak_Bps"] else f"GPU {result['device']}: copy {result['copy_GBps']} GB/s"]
    for t, row in result["spikebit_only"]["neuron_op"].items():
        cells = ", ".join(f"{n} {r['median_ms']:.3f} ms ({r['achieved_GBps']} GB/s)"
                          for n, r in row["engines"].items())
        lines.append(f"  LIF op T={t}: {cells}")
    cells = ", ".join(f"{n} {r['median_ms']:.2f} ms"
                      for n, r in result["spikebit_only"]["train_step"].items())
    lines.append(f"  train step: {cells}")
    lines.append(f"  recommended default: {result['recommended_default']}")
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child_main()
    else:
        sys.exit(0 if run_gpu(Path(__file__).resolve().parents[1] / "results"
                              / "neuron_speed_gpu.json") is not None else 0)
