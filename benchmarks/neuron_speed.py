"""Side-by-side speed of spikebit's multi-step LIF against SpikingJelly, snnTorch and Norse.

Not a test: a benchmark script. ``make bench`` runs it; the peers live in a separate
virtual environment made by ``bash benchmarks/setup_peers.sh`` (``benchmarks/.venv-peers``,
same torch build). When that environment exists and this script is started from another
interpreter, it re-runs itself there so that every library is measured in ONE process
(``--here`` stops that; then missing peers are recorded as unavailable).

Two measurements, each for: spikebit eager, spikebit compiled (``torch.compile`` of the
forward/backward loops), SpikingJelly, snnTorch and Norse:

1. **Neuron op**: forward + backward of a multi-step LIF on ``x [T=4, B=64, 64, 14, 14]``
   (threshold 1, leak 0.5, hard reset to 0), plus the bytes of the tensors the op saves
   for backward (``torch.autograd.graph.saved_tensors_hooks``; unique storages).
2. **Training step**: forward, cross-entropy on the time-averaged output, backward and an
   Adam step of ``conv(1,32)-BN-LIF-AP2-conv(32,64)-BN-LIF-AP2-FC10`` at T=4, batch 64,
   28x28 input.

Every engine is set up to compute the same LIF (``h[t] = 0.5 v[t-1] + x[t]``,
``s = H(h - 1)``, ``v = h (1 - s)``) with the same sigmoid surrogate (slope 4), and the
script checks that on a probe input before timing (see ``EQUIVALENCE`` for the
per-library parametrisation and the differences that remain).

Method: warm-up calls, then repeats taken round-robin over the engines (so drift hits all
alike); the median is reported. ``torch`` threads are left at their default. The compile
cost of the compiled backend is its first call's time minus a steady-state call, measured
with inductor's on-disk caches disabled (a cold start) unless ``--warm-compile-cache``.

Writes ``results/neuron_speed.json`` and prints a table. Where CUDA exists, the GPU section
(``neuron_speed_gpu.py``: LIF op at T = 4..32 with achieved bandwidth, the training step,
SpikingJelly's torch/Triton implementations) follows and writes
``results/neuron_speed_gpu.json``; ``--gpu-only`` runs just that, ``--skip-gpu`` skips it.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import gc
import importlib
import importlib.metadata as _md
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import traceback
import warnings
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
PEERS_VENV = ROOT / "benchmarks" / ".venv-peers"
DEFAULT_OUT = ROOT / "results" / "neuron_speed.json"

T, B = 4, 64
OP_SHAPE = (T, B, 64, 14, 14)
THRESHOLD, LEAK = 1.0, 0.5  # V and tau (decay factor) of spikebit's LIF
SURROGATE_SLOPE = 4.0  # sigmoid surrogate: d/dx sigmoid(4 x) (spikebit "sigmoid", width 1)
PEERS = ("spikingjelly", "snntorch", "norse")

EQUIVALENCE = {
    "spikebit": (
        "LIF(threshold=1, tau=0.5, reset='hard', surrogate='sigmoid', width=1): "
        "h = 0.5 v + x; s = H(h - 1) (h >= 1); v = h (1 - s); ds/dh = 4 sig(4u)(1 - sig(4u)), "
        "u = h - 1; reset not detached."
    ),
    "spikingjelly": (
        "neuron.LIFNode(step_mode='m', tau=2.0, decay_input=False, v_threshold=1, v_reset=0, "
        "surrogate_function=surrogate.Sigmoid(alpha=4), detach_reset=False): charge "
        "H = V - (V - V_reset)/tau + X = 0.5 V + X, spike H >= 1, hard reset to 0 with the "
        "reset path differentiated: the same dynamics and gradients as spikebit. "
        "SpikingJelly >= 2.0 has no `backend` argument any more; on CPU it dispatches to its "
        "torch reference implementation (autograd through each step)."
    ),
    "snntorch": (
        "snntorch.Leaky(beta=0.5, threshold=1, reset_mechanism='zero', "
        "spike_grad=surrogate.sigmoid(slope=4)) looped over T with mem passed explicitly "
        "(zero initial state). Its `mem` is the pre-reset potential h; the reset of step t is "
        "applied at step t+1 (mem <- (1 - s) mem, then beta*mem + x), which gives the same h "
        "and spikes. Differences: spike is H(h - 1) with a strict '>' (ties at exactly h = 1 "
        "differ; measure zero for float inputs) and the reset signal is always detached, so "
        "its gradients equal spikebit's with detach_reset=True (checked below)."
    ),
    "norse": (
        "norse.torch.LIFBoxCell (LIF without the synaptic-current state; norse's LIF/LIFCell "
        "add a current state and are a different model) with LIFBoxParameters(tau_mem_inv=0.5, "
        "v_leak=0, v_th=1, v_reset=0, method='tanh', alpha=2), dt=1, looped over T: "
        "v += 0.5 (i - v) = 0.5 v + 0.5 i, so the input is scaled by 2 (i = 2 x, inside the "
        "timed region) to get h = 0.5 v + x; z = H(h - 1) with a strict '>'; "
        "v = (1 - z) h + z v_reset (reset not detached). tanh surrogate "
        "1 - tanh(2u)^2 == 4 sig(4u)(1 - sig(4u)), so gradients match spikebit's; "
        "v + (x - 0.5 v) rounds differently from 0.5 v + x in the last bit."
    ),
}


# --------------------------------------------------------------------------- utilities


def version_of(dist: str) -> str | None:
    try:
        return _md.version(dist)
    except _md.PackageNotFoundError:
        return None


def saved_bytes(run: Callable[[], Any]) -> tuple[int, Any]:
    """Bytes of the unique storages saved for backward by the graph that ``run()`` builds.

    Tensors that were saved but released again before ``run()`` returned (a sub-graph
    that got detached) are not counted.
    """
    saved: list[tuple[weakref.ref, int, int]] = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        st = t.untyped_storage()
        saved.append((weakref.ref(t), st.data_ptr(), st.nbytes()))
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = run()
    gc.collect()
    storages: dict[int, int] = {}
    for ref, ptr, nbytes in saved:
        if ref() is not None:
            storages[ptr] = max(storages.get(ptr, 0), nbytes)
    return sum(storages.values()), out


def loadavg() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def wait_idle(limit_s: float) -> None:
    """Wait (at most ``limit_s``) for the 1-minute load average to drop below half the CPUs."""
    goal = max((os.cpu_count() or 1) / 2, 0.5)
    end = time.monotonic() + limit_s
    while time.monotonic() < end and (loadavg() or [0.0])[0] >= goal:
        time.sleep(5)


def mib(n: int | None) -> str:
    return "-" if n is None else f"{n / 2**20:.1f}"


# --------------------------------------------------------------------------- neurons


class SeqNeuron(nn.Module):
    """Wrap an engine's multi-step LIF as ``[T, B, ...] -> [T, B, ...]`` from a zero state."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor], owner: nn.Module | None):
        super().__init__()
        self.fn = fn
        self.owner = owner  # registered so .to()/state_dict see the peer module, if any

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)


def spikebit_neuron(backend: str, detach_reset: bool = False) -> nn.Module:
    from spikebit.neurons import LIF

    return LIF(threshold=THRESHOLD, tau=LEAK, reset="hard", surrogate="sigmoid", width=1.0,
               detach_reset=detach_reset, backend=backend)


def spikingjelly_neuron() -> nn.Module:
    from spikingjelly.activation_based import neuron, surrogate

    kwargs = dict(tau=1.0 / (1.0 - LEAK), decay_input=False, v_threshold=THRESHOLD, v_reset=0.0,
                  surrogate_function=surrogate.Sigmoid(alpha=SURROGATE_SLOPE),
                  detach_reset=False, step_mode="m")
    try:
        node = neuron.LIFNode(backend="torch", **kwargs)
    except TypeError:  # SpikingJelly >= 2.0: no backend argument (device dispatch)
        node = neuron.LIFNode(**kwargs)

    def run(x: torch.Tensor) -> torch.Tensor:
        node.reset()
        return node(x)

    return SeqNeuron(run, node)


def snntorch_neuron() -> nn.Module:
    import snntorch
    from snntorch import surrogate

    leaky = snntorch.Leaky(beta=LEAK, threshold=THRESHOLD, reset_mechanism="zero",
                           spike_grad=surrogate.sigmoid(slope=SURROGATE_SLOPE))

    def run(x: torch.Tensor) -> torch.Tensor:
        mem = torch.zeros_like(x[0])
        out = []
        for t in range(x.shape[0]):
            spk, mem = leaky(x[t], mem)
            out.append(spk)
        return torch.stack(out)

    return SeqNeuron(run, leaky)


def norse_neuron() -> nn.Module:
    from norse.torch import LIFBoxCell, LIFBoxParameters

    p = LIFBoxParameters(tau_mem_inv=torch.as_tensor(1.0 - LEAK), v_leak=torch.as_tensor(0.0),
                         v_th=torch.as_tensor(THRESHOLD), v_reset=torch.as_tensor(0.0),
                         method="tanh", alpha=SURROGATE_SLOPE / 2)
    cell = LIFBoxCell(p, dt=1.0)
    scale = 1.0 / (1.0 - LEAK)  # v += (1 - tau)(i - v): input i = x / (1 - tau)

    def run(x: torch.Tensor) -> torch.Tensor:
        x = x * scale
        state = None
        out = []
        for t in range(x.shape[0]):
            z, state = cell(x[t], state)
            out.append(z)
        return torch.stack(out)

    return SeqNeuron(run, cell)


PEER_FACTORIES = {
    "spikingjelly": spikingjelly_neuron,
    "snntorch": snntorch_neuron,
    "norse": norse_neuron,
}


class Engine:
    def __init__(self, name: str, label: str, make: Callable[[], nn.Module],
                 compiled: bool = False) -> None:
        self.name, self.label, self.make, self.compiled = name, label, make, compiled


def available_engines(result: dict[str, Any], only: list[str] | None) -> list[Engine]:
    engines = [
        Engine("spikebit-eager", "spikebit eager", lambda: spikebit_neuron("eager")),
        Engine("spikebit-compiled", "spikebit compiled", lambda: spikebit_neuron("compiled"),
               compiled=True),
    ]
    peers: dict[str, Any] = {}
    for name in PEERS:
        info: dict[str, Any] = {"version": version_of(name)}
        try:
            importlib.import_module(name)
            PEER_FACTORIES[name]()  # constructible with the arguments above
            info["available"] = True
            engines.append(Engine(name, f"{name} {info['version']}", PEER_FACTORIES[name]))
        except Exception as exc:  # noqa: BLE001 - record why and go on
            info["available"] = False
            info["reason"] = f"{type(exc).__name__}: {exc}"
            if isinstance(exc, ImportError):
                info["reason"] += (" (peers live in benchmarks/.venv-peers: run `bash "
                                   "benchmarks/setup_peers.sh`, then this script without --here)")
        info["parametrisation"] = EQUIVALENCE[name]
        peers[name] = info
    result["peers"] = peers
    if only:
        engines = [e for e in engines if e.name in only or e.name.split("-")[0] in only]
    return engines


# --------------------------------------------------------------------------- equivalence


def check_equivalence(engines: list[Engine]) -> dict[str, Any]:
    """Spikes and input gradients of each engine against spikebit eager on a probe input."""
    torch.manual_seed(1234)
    x = torch.randn(T, 8, 16, 7, 7) * 1.5 + 0.5
    g = torch.randn_like(x)

    def run(neuron: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
        xi = x.clone().requires_grad_()
        s = neuron(xi)
        s.backward(g)
        return s.detach(), xi.grad

    ref = {False: run(spikebit_neuron("eager")), True: run(spikebit_neuron("eager", True))}
    out: dict[str, Any] = {}
    for e in engines:
        detach = e.name == "snntorch"  # snnTorch always detaches its reset
        s_ref, g_ref = ref[detach]
        try:
            s, gx = run(e.make())
        except Exception as exc:  # noqa: BLE001
            out[e.name] = {"error": f"{type(exc).__name__}: {exc}"}
            continue
        mismatch = int((s != s_ref).sum())
        out[e.name] = {
            "compared_with": "spikebit eager" + (" (detach_reset=True)" if detach else ""),
            "spike_rate": round(float(s_ref.mean()), 4),
            "spike_mismatches": mismatch,
            "elements": s.numel(),
            "grad_max_abs_diff": float((gx - g_ref).abs().max()),
            "grad_max_abs": float(g_ref.abs().max()),
            "equivalent": mismatch == 0 and torch.allclose(gx, g_ref, rtol=1e-4, atol=1e-5),
        }
    return out


# --------------------------------------------------------------------------- timing


def _time(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1e3


def measure(calls: dict[str, Callable[[], Any]], warmup: int, repeats: int,
            first: dict[str, float]) -> dict[str, list[float]]:
    """Warm each call up (recording its very first call), then time round-robin."""
    for name, fn in calls.items():
        first[name] = _time(fn)
        for _ in range(max(warmup - 1, 0)):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, fn in calls.items():
            samples[name].append(_time(fn))
    return samples


def summarize(samples: list[float]) -> dict[str, Any]:
    q = statistics.quantiles(samples, n=4) if len(samples) > 1 else [samples[0]] * 3
    return {
        "median_ms": round(statistics.median(samples), 3),
        "min_ms": round(min(samples), 3),
        "iqr_ms": [round(q[0], 3), round(q[2], 3)],
        "samples_ms": [round(s, 3) for s in samples],
    }


def reset_compiler(cold: bool) -> None:
    torch._dynamo.reset()
    if cold:
        torch._inductor.config.force_disable_caches = True


def compile_info() -> dict[str, Any]:
    from torch._dynamo.utils import counters

    return {
        "unique_graphs": int(counters["stats"]["unique_graphs"]),
        "graph_breaks": int(sum(counters["graph_break"].values())),
        "frames_ok": int(counters["frames"]["ok"]),
    }


def bench_op(engines: list[Engine], warmup: int, repeats: int, cold: bool) -> dict[str, Any]:
    torch.manual_seed(0)
    x0 = torch.randn(OP_SHAPE) * 1.5 + 0.5
    grad_out = torch.randn(OP_SHAPE)
    res: dict[str, Any] = {"shape": list(OP_SHAPE), "dtype": "float32",
                           "input": "randn * 1.5 + 0.5", "engines": {}}
    calls: dict[str, Callable[[], Any]] = {}
    mems: dict[str, int] = {}
    for e in engines:
        neuron = e.make()
        x = x0.clone().requires_grad_()

        def step(neuron: nn.Module = neuron, x: torch.Tensor = x) -> None:
            x.grad = None
            neuron(x).backward(grad_out)

        calls[e.name] = step
    reset_compiler(cold)
    first: dict[str, float] = {}
    samples = measure(calls, warmup, repeats, first)
    for e in engines:  # memory after warm-up (compiled graphs ready)
        neuron = e.make()
        x = x0.clone().requires_grad_()
        mems[e.name], s = saved_bytes(lambda n=neuron, x=x: n(x))
        del s
    for e in engines:
        r = summarize(samples[e.name])
        r["saved_bytes"] = mems[e.name]
        r["first_call_ms"] = round(first[e.name], 1)
        if e.compiled:
            r["compile_ms"] = round(first[e.name] - r["median_ms"], 1)
            r["compile"] = compile_info()
        res["engines"][e.name] = r
    res["input_bytes"] = x0.numel() * x0.element_size()
    return res


class Fold(nn.Module):
    """Apply a per-step layer to ``[T, B, ...]`` as one call on ``[T*B, ...]``."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t, b = x.shape[:2]
        y = self.module(x.reshape(t * b, *x.shape[2:]))
        return y.reshape(t, b, *y.shape[1:])


def reference_net(engine: Engine) -> nn.Module:
    """spikebit's ``build_network`` for spikebit, the same layers around a peer's neuron."""
    if engine.name.startswith("spikebit"):
        from spikebit.models import ModelConfig, build_network

        backend = "compiled" if engine.compiled else "eager"
        cfg = ModelConfig(spec="32C3-AP2-64C3-AP2-10", in_shape=(1, 28, 28), steps=T,
                          neuron="lif",
                          neuron_kwargs=dict(threshold=THRESHOLD, tau=LEAK, reset="hard",
                                             surrogate="sigmoid", width=1.0, backend=backend))
        return build_network(cfg)

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(
                Fold(nn.Conv2d(1, 32, 3, padding=1, bias=False)), Fold(nn.BatchNorm2d(32)),
                engine.make(), Fold(nn.AvgPool2d(2)),
                Fold(nn.Conv2d(32, 64, 3, padding=1, bias=False)), Fold(nn.BatchNorm2d(64)),
                engine.make(), Fold(nn.AvgPool2d(2)),
                Fold(nn.Flatten()), Fold(nn.Linear(64 * 7 * 7, 10)),
            )

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.body(x.unsqueeze(0).expand(T, *x.shape))  # direct encoding

    return Net()


def copy_params(src: nn.Module, dst: nn.Module) -> None:
    """Copy the conv/BN/linear parameters and buffers by definition order (same stack)."""
    kinds = (nn.Conv2d, nn.BatchNorm2d, nn.Linear)

    def tensors(net: nn.Module) -> list[torch.Tensor]:
        return [t for m in net.modules() if isinstance(m, kinds)
                for t in list(m.parameters(recurse=False)) + list(m.buffers(recurse=False))]

    a, b = tensors(src), tensors(dst)
    if [t.shape for t in a] != [t.shape for t in b]:
        raise RuntimeError("layer stacks differ")
    with torch.no_grad():
        for s, d in zip(a, b):
            d.copy_(s)


def bench_train(engines: list[Engine], warmup: int, repeats: int, cold: bool) -> dict[str, Any]:
    torch.manual_seed(0)
    data = torch.rand(B, 1, 28, 28)
    labels = torch.randint(0, 10, (B,))
    res: dict[str, Any] = {"net": "conv(1,32)-BN-LIF-AP2-conv(32,64)-BN-LIF-AP2-FC10",
                           "steps": T, "batch": B, "input": [1, 28, 28], "optimizer": "Adam",
                           "loss": "cross-entropy of the mean over time", "engines": {}}
    torch.manual_seed(0)
    ref_net = reference_net(engines[0])
    calls: dict[str, Callable[[], Any]] = {}
    outputs: dict[str, torch.Tensor] = {}
    nets: dict[str, nn.Module] = {}
    for e in engines:
        net = reference_net(e)
        copy_params(ref_net, net)
        net.train()
        nets[e.name] = net
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)

        def step(net: nn.Module = net, opt: torch.optim.Optimizer = opt) -> None:
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(net(data).mean(0), labels)
            loss.backward()
            opt.step()

        calls[e.name] = step
    # same weights, one forward each: the outputs agree when the neurons do
    for e in engines:
        with torch.no_grad():
            outputs[e.name] = nets[e.name](data)
    reset_compiler(cold)
    first: dict[str, float] = {}
    samples = measure(calls, warmup, repeats, first)
    for e in engines:
        net = reference_net(e)
        mem, out = saved_bytes(lambda n=net: n(data))
        del out
        r = summarize(samples[e.name])
        r["saved_bytes"] = mem
        r["first_call_ms"] = round(first[e.name], 1)
        r["output_max_abs_diff_vs_spikebit_eager"] = float(
            (outputs[e.name] - outputs[engines[0].name]).abs().max())
        if e.compiled:
            r["compile_ms"] = round(first[e.name] - r["median_ms"], 1)
            r["compile"] = compile_info()
        res["engines"][e.name] = r
    return res


# --------------------------------------------------------------------------- report


def add_ratios(section: dict[str, Any]) -> None:
    eng = section["engines"]
    for base in ("spikebit-eager", "spikebit-compiled"):
        if base not in eng:
            continue
        for name, r in eng.items():
            if not name.startswith("spikebit"):
                r.setdefault("ratio_vs", {})[base] = round(
                    r["median_ms"] / eng[base]["median_ms"], 2)
                r.setdefault("ratio_of_min_vs", {})[base] = round(
                    r["min_ms"] / eng[base]["min_ms"], 2)


def targets(result: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, section, goal in (("op", "neuron_op", 4.0), ("train_step", "train_step", 1.3)):
        if section not in result:
            continue
        eng = result[section]["engines"]
        peers = {n: r for n, r in eng.items() if not n.startswith("spikebit")}
        if not peers:
            out[key] = {"goal_speedup": goal, "met": None, "note": "no peer measured"}
            continue
        fastest = min(peers, key=lambda n: peers[n]["median_ms"])
        t: dict[str, Any] = {"goal_speedup": goal, "fastest_peer": fastest,
                             "fastest_peer_ms": peers[fastest]["median_ms"]}
        for base in ("spikebit-eager", "spikebit-compiled"):
            if base not in eng:
                continue
            speedup = peers[fastest]["median_ms"] / eng[base]["median_ms"]
            entry: dict[str, Any] = {"speedup_vs_fastest_peer": round(speedup, 2),
                                     "speed_met": speedup >= goal}
            if key == "op":
                mem_ok = eng[base]["saved_bytes"] <= peers[fastest]["saved_bytes"]
                mem_ok_all = all(eng[base]["saved_bytes"] <= p["saved_bytes"]
                                 for p in peers.values())
                entry.update(memory_met=mem_ok, memory_le_every_peer=mem_ok_all,
                             met=speedup >= goal and mem_ok)
            else:
                entry["met"] = speedup >= goal
            t[base] = entry
        out[key] = t
    return out


def table(section: dict[str, Any], title: str) -> str:
    eng = section["engines"]
    lines = [title, f"{'engine':<22}{'median ms':>11}{'min ms':>9}{'saved MiB':>11}"
             f"{'peer/sb-eager':>15}{'peer/sb-compiled':>18}{'first call ms':>15}"]
    for name, r in eng.items():
        ratio = r.get("ratio_vs", {})
        cells = [f"{ratio[k]:.2f}x" if k in ratio else "-"
                 for k in ("spikebit-eager", "spikebit-compiled")]
        lines.append(f"{r.get('label', name):<22}{r['median_ms']:>11.2f}{r['min_ms']:>9.2f}"
                     f"{mib(r.get('saved_bytes')):>11}{cells[0]:>15}{cells[1]:>18}"
                     f"{r['first_call_ms']:>15.1f}")
    for name, r in eng.items():
        if "compile_ms" in r:
            c = r["compile"]
            lines.append(f"  {name}: one-time compile cost {r['compile_ms'] / 1e3:.1f} s "
                         f"(first call - median; graphs={c['unique_graphs']}, "
                         f"graph breaks={c['graph_breaks']})")
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def reexec_in_peers_venv(argv: list[str]) -> int | None:
    py = PEERS_VENV / "bin" / "python"
    if not py.exists() or Path(sys.prefix).resolve() == PEERS_VENV.resolve():
        return None
    print(f"[neuron_speed] measuring every library in one process with {py}", flush=True)
    env = dict(os.environ, SPIKEBIT_BENCH_LAUNCHER=sys.executable)
    return subprocess.call([str(py), str(Path(__file__).resolve()), *argv, "--here"], env=env)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--op-repeats", type=int, default=20)
    ap.add_argument("--train-repeats", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--only", nargs="*", help="engines to run (e.g. spikebit snntorch)")
    ap.add_argument("--skip-train", action="store_true")
    ap.add_argument("--skip-op", action="store_true")
    ap.add_argument("--warm-compile-cache", action="store_true",
                    help="let inductor use its on-disk caches (compile cost then a warm start)")
    ap.add_argument("--wait-idle", type=float, default=300.0, metavar="SECONDS",
                    help="before each section wait up to this long for the machine's 1-min "
                         "load average to fall below half its CPUs (shared machines)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--here", action="store_true",
                    help="run in this interpreter even if benchmarks/.venv-peers exists")
    ap.add_argument("--gpu-only", action="store_true",
                    help="run only the CUDA section (benchmarks/neuron_speed_gpu.py)")
    ap.add_argument("--skip-gpu", action="store_true", help="skip the CUDA section")
    ap.add_argument("--gpu-out", type=Path, default=ROOT / "results" / "neuron_speed_gpu.json")
    args = ap.parse_args(argv)
    if args.gpu_only:  # the CUDA section alone (skipped, with a message, without CUDA)
        from neuron_speed_gpu import run_gpu

        run_gpu(args.gpu_out, args.warmup, args.train_repeats)
        return 0
    if not args.here:
        rc = reexec_in_peers_venv(argv)
        if rc is not None:
            return rc

    import spikebit
    from spikebit.provenance import cpu_model

    warnings.filterwarnings("ignore", message=".*force disabled by torch.compiler.config")

    result: dict[str, Any] = {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "interpreter": sys.executable,
        "launched_from": os.environ.get("SPIKEBIT_BENCH_LAUNCHER", sys.executable),
        "spikebit": spikebit.__version__,
        "spikebit_path": str(Path(spikebit.__file__).parent),
        "method": {"op_repeats": args.op_repeats, "train_repeats": args.train_repeats,
                   "warmup": args.warmup, "statistic": "median",
                   "order": "round-robin over engines after per-engine warm-up",
                   "compile_cost": "first call - steady-state median, inductor caches "
                                   + ("enabled" if args.warm_compile_cache else "disabled")},
        "dynamics": EQUIVALENCE["spikebit"],
    }
    engines = available_engines(result, args.only)
    labels = {e.name: e.label for e in engines}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {result['cpu']}")
    for name, info in result["peers"].items():
        state = info["version"] if info["available"] else f"unavailable ({info['reason']})"
        print(f"  {name}: {state}")
    try:
        result["equivalence"] = check_equivalence(engines)
    except Exception:  # noqa: BLE001
        result["equivalence"] = {"error": traceback.format_exc()}
    for name, r in result["equivalence"].items():
        print(f"  equivalence {name}: {r}")
    cold = not args.warm_compile_cache
    if not args.skip_op:
        wait_idle(args.wait_idle)
        load0 = loadavg()
        result["neuron_op"] = bench_op(engines, args.warmup, args.op_repeats, cold)
        result["neuron_op"]["load_average_before_after"] = [load0, loadavg()]
        add_ratios(result["neuron_op"])
    if not args.skip_train:
        wait_idle(args.wait_idle)
        load0 = loadavg()
        result["train_step"] = bench_train(engines, args.warmup, args.train_repeats, cold)
        result["train_step"]["load_average_before_after"] = [load0, loadavg()]
        add_ratios(result["train_step"])
    for key in ("neuron_op", "train_step"):
        for name, r in result.get(key, {}).get("engines", {}).items():
            r["label"] = labels[name]
    result["targets"] = targets(result)

    print()
    if "neuron_op" in result:
        print(table(result["neuron_op"], f"LIF op fwd+bwd, x={list(OP_SHAPE)} float32 "
                    f"(saved = bytes saved for backward; input itself is "
                    f"{mib(result['neuron_op']['input_bytes'])} MiB)"))
        print()
    if "train_step" in result:
        print(table(result["train_step"], "Training step (fwd + CE + bwd + Adam), "
                    f"T={T}, batch {B}, 28x28"))
        print()
    for key, t in result["targets"].items():
        print(f"target {key}: {json.dumps(t)}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    from spikebit.provenance import with_provenance

    result = with_provenance(result)  # versions, commit, CPU, threads, device
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    if not args.skip_gpu:  # runs only where CUDA exists
        from neuron_speed_gpu import run_gpu

        run_gpu(args.gpu_out, args.warmup, args.train_repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
