"""Conversion latency: accuracy vs T of spikebit's conversion methods and SpikingJelly's
recipes on the same trained ANNs, in one run; writes results/conversion_latency.json.

For every network the ANN is trained once (seeded); every method converts that same
ANN with the same calibration images and is simulated on the same test images for
T = 1..T_max. The running readout is the accumulated output divided by the steps
(SpikingJelly: summed outputs, the same argmax). A readout without a decision yet
(all classes equal, e.g. BSNN's first 2K steps) is "no output": counted as not
correct and, when no sample has output, stored as null -- never as class 0.

Networks: ``digits`` (a small CNN on scikit-learn's 8x8 digits, spikebit's fixed
1,433/364 split), ``fmnist`` (the zoo's ``mnist-cnn``, Kim et al. 12C5-P2-64C5-P2-10,
on Fashion-MNIST, 3 epochs, first 2,000 test images), ``resnet20`` (the zoo's
ResNet20 at width 0.25 on Fashion-MNIST, CPU budget). QCFS variants fine-tune the
trained ANN with QCFS activations first (``qcfs_epochs`` per network); their QCFS ANN
accuracy is reported beside the ReLU ANN's.

Run: ``PYTHONPATH=src benchmarks/.venv-peers/bin/python benchmarks/conversion_latency.py``
(SpikingJelly 2.0.0 from ``bash benchmarks/setup_peers.sh``; without it the
SpikingJelly columns are skipped and the file says so).
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from spikebit.conversion import build_ann, convert
from spikebit.conversion.evaluate import answered
from spikebit.conversion.qcfs import finetune, to_qcfs
from spikebit.data import load_dataset

TOLERANCES = (0.5, 0.1)  # points below the ANN counted as "within"


def digits_cnn() -> nn.Sequential:
    """16C3-32C3-P2-10 with BN, for 8x8 inputs (pool avg)."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(32 * 4 * 4, 10))


NETS: dict[str, dict[str, Any]] = {
    "digits": {"data": "digits", "build": digits_cnn, "epochs": 40, "lr": 3e-3,
               "train_limit": None, "eval": None, "qcfs_epochs": 20},
    "fmnist": {"data": "fashion-mnist", "build": lambda: build_ann("mnist-cnn"), "epochs": 3,
               "lr": 2e-3, "train_limit": None, "eval": 2000, "qcfs_epochs": 1},
    "resnet20": {"data": "fashion-mnist",
                 "build": lambda: build_ann("resnet20", in_channels=1, input_size=28,
                                            width=0.25),
                 "epochs": 2, "lr": 3e-3, "train_limit": 20000, "eval": 500,
                 "qcfs_epochs": 1},
}


def train(net: nn.Module, x: Tensor, y: Tensor, epochs: int, lr: float, seed: int) -> float:
    """Adam + cross-entropy with cosine decay; returns seconds."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    steps = epochs * ((x.shape[0] + 127) // 128)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    start = time.perf_counter()
    net.train()
    for _ in range(epochs):
        for idx in torch.randperm(x.shape[0], generator=g).split(128):
            loss = F.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    net.eval()
    return time.perf_counter() - start


def accuracy(net: nn.Module, x: Tensor, y: Tensor) -> float:
    with torch.no_grad():
        return 100.0 * float((net(x).argmax(-1) == y).float().mean())


def curve(readouts: Callable[[Tensor], Tensor], x: Tensor, y: Tensor, T: int,
          batch: int = 500) -> tuple[list[float | None], list[float]]:
    """Accuracy (None = no sample has output) and % without output, per step 1..T."""
    correct = torch.zeros(T, dtype=torch.float64)
    silent = torch.zeros(T, dtype=torch.float64)
    for xb, yb in zip(x.split(batch), y.split(batch)):
        out = readouts(xb)  # [T, B, K] running readout
        decided = answered(out)
        correct += ((out.argmax(-1) == yb) & decided).sum(1).double()
        silent += (~decided).sum(1).double()
    n = x.shape[0]
    acc = [None if s == n else 100.0 * c / n for c, s in zip(correct.tolist(), silent.tolist())]
    return acc, (100.0 * silent / n).tolist()


def spikebit_variant(ann: nn.Module, calib: Tensor, T: int, **kw: Any) -> Callable:
    snn = convert(ann, calib, batch_size=100, **kw)
    return lambda xb: snn.simulate(xb, T)


def spikingjelly_variant(ann: nn.Module, calib: Tensor, T: int, recipe: str) -> Callable:
    """SpikingJelly 2.0.0 recipe on the same ANN; running readout = summed outputs / t."""
    from spikingjelly.activation_based import ann2snn, functional

    loader = [(xb, torch.zeros(xb.shape[0])) for xb in calib.split(100)]
    if recipe == "ltb":
        rec = ann2snn.LocalThresholdBalancingRecipe(dataloader=loader)
    else:
        rec = ann2snn.RateCodingRecipe(dataloader=loader, mode=recipe)
    import copy

    snn = ann2snn.Converter(rec, device="cpu").convert(copy.deepcopy(ann).eval())

    def run(xb: Tensor) -> Tensor:
        functional.reset_net(snn)
        outs, total = [], None
        with torch.no_grad():
            for t in range(T):
                step = snn(xb)
                total = step if total is None else total + step
                outs.append(total / (t + 1))
        return torch.stack(outs)

    return run


def first_within(acc: list[float | None], ann: float, tol: float) -> int | None:
    return next((t + 1 for t, a in enumerate(acc) if a is not None and ann - a <= tol), None)


def run_net(name: str, T: int, seed: int, with_sj: bool) -> dict[str, Any]:
    spec = NETS[name]
    qcfs_epochs = spec["qcfs_epochs"]
    torch.manual_seed(seed)
    train_set, test_set = load_dataset(spec["data"], True), load_dataset(spec["data"], False)
    x, y = train_set.images, train_set.labels.long()
    if spec["train_limit"]:
        x, y = x[:spec["train_limit"]], y[:spec["train_limit"]]
    tx, ty = test_set.images, test_set.labels.long()
    if spec["eval"]:
        tx, ty = tx[:spec["eval"]], ty[:spec["eval"]]
    ann = spec["build"]()
    train_s = train(ann, x, y, spec["epochs"], spec["lr"], seed)
    g = torch.Generator().manual_seed(seed)
    calib = x[torch.randperm(x.shape[0], generator=g)[:1000]]
    ann_acc = accuracy(ann, tx, ty)
    print(f"{name}: ANN {ann_acc:.2f}% after {train_s:.0f} s of training", flush=True)
    qstart = time.perf_counter()
    qnet = finetune(to_qcfs(ann, calib, levels=4), x, y, qcfs_epochs, lr=1e-3, seed=seed)
    qcfs_s = time.perf_counter() - qstart
    variants: dict[str, tuple[str, Callable[[], Callable]]] = {
        "rate-max": ("spikebit", lambda: spikebit_variant(ann, calib, T, method="rate",
                                                         percentile=100.0)),
        "rate-p99.99": ("spikebit", lambda: spikebit_variant(ann, calib, T, method="rate",
                                                            percentile=99.99)),
        "phase-K8": ("spikebit", lambda: spikebit_variant(ann, calib, T, method="phase",
                                                         percentile=100.0, K=8)),
        "bsnn-K4": ("spikebit", lambda: spikebit_variant(ann, calib, T, method="bsnn",
                                                        percentile=100.0, K=4)),
        "ltb": ("spikebit", lambda: spikebit_variant(ann, calib, T, method="ltb")),
        "signed": ("spikebit", lambda: spikebit_variant(ann, calib, T, method="signed")),
        "signed-p99.99": ("spikebit", lambda: spikebit_variant(
            ann, calib, T, method="signed", thresholds="percentile", percentile=99.99)),
        "burst2": ("spikebit", lambda: spikebit_variant(ann, calib, T, method="burst",
                                                       max_spikes=2)),
        "burst4": ("spikebit", lambda: spikebit_variant(ann, calib, T, method="burst",
                                                       max_spikes=4)),
        "burst4-ltb": ("spikebit", lambda: spikebit_variant(
            ann, calib, T, method="burst", max_spikes=4, thresholds="ltb")),
        "signed-burst2": ("spikebit", lambda: spikebit_variant(
            ann, calib, T, method="signed-burst", max_spikes=2)),
        "qcfs-L4": ("spikebit", lambda: spikebit_variant(qnet, calib, T, method="qcfs")),
        "qcfs-L4-burst4": ("spikebit", lambda: spikebit_variant(
            qnet, calib, T, method="burst", thresholds="module", max_spikes=4)),
    }
    if with_sj:
        variants.update({
            "sj-ltb": ("spikingjelly", lambda: spikingjelly_variant(ann, calib, T, "ltb")),
            "sj-rate-max": ("spikingjelly", lambda: spikingjelly_variant(ann, calib, T, "Max")),
            "sj-rate-99.9%": ("spikingjelly",
                              lambda: spikingjelly_variant(ann, calib, T, "99.9%")),
        })
    results = {}
    for vname, (library, make) in variants.items():
        start = time.perf_counter()
        acc, silent = curve(make(), tx, ty, T)
        results[vname] = {
            "library": library, "accuracy": acc, "no_output": silent,
            "T_within": {str(tol): first_within(acc, ann_acc, tol) for tol in TOLERANCES},
            "seconds": time.perf_counter() - start,
        }
        at = {t: acc[t - 1] for t in (1, 2, 4, 8, 16, T) if t <= T}
        print(f"{name:>9} {vname:>15}: " + " ".join(
            f"T{t}={'-' if a is None else f'{a:.2f}'}" for t, a in at.items())
            + f"  T(<=0.5)={results[vname]['T_within']['0.5']}", flush=True)
    return {"dataset": spec["data"], "train_images": int(x.shape[0]),
            "test_images": int(tx.shape[0]), "epochs": spec["epochs"],
            "train_seconds": train_s, "ann_accuracy": ann_acc,
            "qcfs": {"levels": 4, "epochs": qcfs_epochs, "seconds": qcfs_s,
                     "ann_accuracy": accuracy(qnet, tx, ty)},
            "calibration_images": int(calib.shape[0]), "results": results}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nets", default="digits,fmnist")
    p.add_argument("--T", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="results/conversion_latency.json")
    args = p.parse_args()
    torch.set_num_threads(1)
    try:
        import spikingjelly  # noqa: F401

        with_sj, sj = True, md.version("spikingjelly")
    except ImportError:
        with_sj, sj = False, None
    out_path = Path(args.out)
    report: dict[str, Any] = json.loads(out_path.read_text()) if out_path.exists() else {}
    report.update({
        "benchmark": "conversion_latency", "T_max": args.T, "tolerances": list(TOLERANCES),
        "versions": {"torch": torch.__version__, "spikingjelly": sj,
                     "python": platform.python_version(), "executable": sys.executable},
        "command": "PYTHONPATH=src benchmarks/.venv-peers/bin/python "
                   f"benchmarks/conversion_latency.py --nets {args.nets} --T {args.T}",
        "note": ("accuracy: percent of test images, entry t-1 after t steps; null = no "
                 "sample has output yet; T_within[tol] = first T with ANN - SNN <= tol "
                 "points; QCFS rows compare with the ReLU ANN"),
    })
    nets = report.setdefault("networks", {})
    for name in args.nets.split(","):
        nets[name] = run_net(name, args.T, args.seed, with_sj)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(json.dumps(report, indent=1))
    print(f"wrote {out_path}")


if __name__ == "__main__":
    main()
