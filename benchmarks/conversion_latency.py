"""Conversion latency: accuracy vs T of spikebit's conversion methods and SpikingJelly's
recipes on the same trained ANNs; writes results/conversion_latency.json.

For every network and seed (``--seeds``) the ANN is trained once and saved under
``--cache``; a network's rows are means over its seeds (each seed's rows under
``per_seed``, ``vs_spikingjelly`` compares the mean curves at every T). Every
method converts that same ANN (its sha256 is stored) with the same calibration images
and is simulated on the same test images for T = 1..T_max. The running readout is the
accumulated output divided by the steps (SpikingJelly: summed outputs, the same
argmax). A readout without a decision yet (all classes equal, e.g. BSNN's first 2K
steps) is "no output": counted as not correct and, when no sample has output, stored
as null -- never as class 0; a readout whose top value is shared by some classes is
"tied", also not correct (``spikebit.metrics.readout.decide``; shares per step under
``no_output`` and ``tied``). ``srp`` / ``cos`` rows pre-simulate ``presim`` steps per
sample first: their entry t-1 comes after ``presim + t`` steps (``latency_within``).

Networks: ``digits`` (a small CNN on scikit-learn's 8x8 digits, spikebit's fixed
1,433/364 split), ``fmnist`` (the zoo's ``mnist-cnn``, Kim et al. 12C5-P2-64C5-P2-10,
on Fashion-MNIST, 3 epochs, first 2,000 test images), ``resnet20`` (the zoo's
ResNet20 at width 0.25 on Fashion-MNIST, CPU budget). QCFS variants fine-tune the
trained ANN with QCFS activations first (``qcfs``: ``(L, epochs)`` per network, Adam
with cosine decay, also cached); their QCFS ANN accuracy is reported beside the ReLU
ANN's, and their rows are compared with the ReLU ANN.

Run: ``PYTHONPATH=src benchmarks/.venv-peers/bin/python benchmarks/conversion_latency.py``
(SpikingJelly 2.0.0 from ``bash benchmarks/setup_peers.sh``; without it the
SpikingJelly columns are skipped and the file says so). ``--only 'qcfs-*,sj-*'`` runs
a subset and keeps the other rows of the same ANN, so a long run can be split into
parts (each part's command is listed under ``runs``); ``--tables`` prints the docs
tables from the JSON.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import importlib.metadata as md
import json
import os
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
from spikebit.conversion.qcfs import finetune, to_qcfs
from spikebit.data import load_dataset
from spikebit.metrics.readout import decide

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script or imported
from conversion_report import (  # noqa: E402
    TOLERANCES,
    aggregate,
    first_within,
    previous_seeds,
    tables,
)


def digits_cnn() -> nn.Sequential:
    """16C3-32C3-P2-10 with BN, for 8x8 inputs (pool avg)."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(32 * 4 * 4, 10))


NETS: dict[str, dict[str, Any]] = {
    "digits": {"data": "digits", "build": digits_cnn, "epochs": 40, "lr": 3e-3,
               "train_limit": None, "eval": None, "qcfs": ((4, 20), (2, 20))},
    "fmnist": {"data": "fashion-mnist", "build": lambda: build_ann("mnist-cnn"), "epochs": 3,
               "lr": 2e-3, "train_limit": None, "eval": 2000, "qcfs": ((4, 8), (2, 8))},
    "resnet20": {"data": "fashion-mnist",
                 "build": lambda: build_ann("resnet20", in_channels=1, input_size=28,
                                            width=0.25),
                 "epochs": 2, "lr": 3e-3, "train_limit": 20000, "eval": 500,
                 "qcfs": ((4, 12), (2, 12))},
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
          batch: int = 500) -> tuple[list[float | None], list[float], list[float]]:
    """Per step 1..T: accuracy (None = no sample has output), % without output, % tied.

    Decisions by :func:`spikebit.metrics.readout.decide`: a readout without a single
    top class (all classes equal, or the top value shared) is counted as wrong.
    """
    correct = torch.zeros(T, dtype=torch.float64)
    silent = torch.zeros(T, dtype=torch.float64)
    tied = torch.zeros(T, dtype=torch.float64)
    for xb, yb in zip(x.split(batch), y.split(batch)):
        d = decide(readouts(xb))  # readouts [T, B, K] -> decisions [T, B]
        correct += d.correct(yb).sum(1).double()
        silent += d.no_output.sum(1).double()
        tied += d.tied.sum(1).double()
    n = x.shape[0]
    acc = [None if s == n else 100.0 * c / n for c, s in zip(correct.tolist(), silent.tolist())]
    return acc, (100.0 * silent / n).tolist(), (100.0 * tied / n).tolist()


def spikebit_variant(ann: nn.Module, calib: Tensor, T: int, **kw: Any) -> Callable:
    """Readout function of spikebit's conversion; ``.presim``: its pre-simulation steps."""
    snn = convert(ann, calib, batch_size=100, **kw)

    def run(xb: Tensor) -> Tensor:
        return snn.simulate(xb, T)

    run.presim = snn.presim  # type: ignore[attr-defined]
    return run


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


def make_variants(ann: nn.Module, calib: Tensor, T: int, spec: dict[str, Any],
                  qcfs: Callable[[int, int], nn.Module],
                  with_sj: bool) -> dict[str, tuple[str, Callable[[], Callable]]]:
    """Every variant by name: ``(library, factory of the readout function)``."""
    def sb(net: Callable[[], nn.Module], **kw: Any) -> tuple[str, Callable[[], Callable]]:
        return "spikebit", lambda: spikebit_variant(net(), calib, T, **kw)

    def relu() -> nn.Module:
        return ann

    variants = {
        "rate-max": sb(relu, method="rate", percentile=100.0),
        "rate-p99.99": sb(relu, method="rate", percentile=99.99),
        "phase-K8": sb(relu, method="phase", percentile=100.0, K=8),
        "bsnn-K4": sb(relu, method="bsnn", percentile=100.0, K=4),
        "ltb": sb(relu, method="ltb"),
        "signed": sb(relu, method="signed"),
        "signed-p99.99": sb(relu, method="signed", thresholds="percentile", percentile=99.99),
        "burst2": sb(relu, method="burst", max_spikes=2),
        "burst4": sb(relu, method="burst", max_spikes=4),
        "burst4-ltb": sb(relu, method="burst", max_spikes=4, thresholds="ltb"),
        "signed-burst2": sb(relu, method="signed-burst", max_spikes=2),
        "srp4": sb(relu, method="srp", presim=4),
        "cos4": sb(relu, method="cos", presim=4),
    }
    for L, E in spec["qcfs"]:
        def net(L: int = L, E: int = E) -> nn.Module:
            return qcfs(L, E)

        q = f"qcfs-L{L}"
        variants.update({
            q: sb(net, method="qcfs"),
            f"{q}-signed": sb(net, method="signed", thresholds="module"),
            f"{q}-burst{L}": sb(net, method="burst", thresholds="module", max_spikes=L),
            f"{q}-signed-burst2": sb(net, method="signed-burst", thresholds="module",
                                     max_spikes=2),
            f"{q}-srp{L}": sb(net, method="srp", thresholds="module", presim=L),
            f"{q}-cos{L}": sb(net, method="cos", thresholds="module", presim=L),
        })
    if with_sj:
        variants.update({
            "sj-ltb": ("spikingjelly", lambda: spikingjelly_variant(ann, calib, T, "ltb")),
            "sj-rate-max": ("spikingjelly", lambda: spikingjelly_variant(ann, calib, T, "Max")),
            "sj-rate-99.9%": ("spikingjelly",
                              lambda: spikingjelly_variant(ann, calib, T, "99.9%")),
        })
    return variants


def fingerprint(net: nn.Module) -> str:
    """sha256 of the state dict (keys sorted): names the exact trained network."""
    h = hashlib.sha256()
    for key, value in sorted(net.state_dict().items()):
        h.update(key.encode())
        h.update(value.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def cached(path: Path, net: nn.Module, make: Callable[[nn.Module], float]) -> float:
    """Load ``net``'s state from ``path`` or run ``make(net)`` (seconds) and save it there."""
    if path.exists():
        saved = torch.load(path, weights_only=True)
        net.load_state_dict(saved["state"])
        net.eval()
        return float(saved["seconds"])
    seconds = make(net)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state": net.state_dict(), "seconds": seconds}, path)
    return seconds


def qcfs_net(ann: nn.Module, calib: Tensor, x: Tensor, y: Tensor, levels: int, epochs: int,
             seed: int, path: Path) -> tuple[nn.Module, float]:
    """The QCFS ANN (L = ``levels``) fine-tuned from ``ann`` for ``epochs``, cached at ``path``."""
    net = to_qcfs(ann, calib, levels=levels)

    def make(n: nn.Module) -> float:
        start = time.perf_counter()
        finetune(n, x, y, epochs, lr=1e-3, seed=seed, schedule="cosine")
        return time.perf_counter() - start

    return net, cached(path, net, make)


def run_net(name: str, T: int, seed: int, with_sj: bool, cache: Path,
            only: list[str] | None, previous: dict[str, Any] | None,
            command: str) -> dict[str, Any]:
    spec = NETS[name]
    torch.manual_seed(seed)
    train_set, test_set = load_dataset(spec["data"], True), load_dataset(spec["data"], False)
    x, y = train_set.images, train_set.labels.long()
    if spec["train_limit"]:
        x, y = x[:spec["train_limit"]], y[:spec["train_limit"]]
    tx, ty = test_set.images, test_set.labels.long()
    if spec["eval"]:
        tx, ty = tx[:spec["eval"]], ty[:spec["eval"]]
    ann = spec["build"]()
    train_s = cached(cache / f"{name}-seed{seed}-ann.pt", ann,
                     lambda n: train(n, x, y, spec["epochs"], spec["lr"], seed))
    sha = fingerprint(ann)
    g = torch.Generator().manual_seed(seed)
    calib = x[torch.randperm(x.shape[0], generator=g)[:1000]]
    ann_acc = accuracy(ann, tx, ty)
    print(f"{name}: ANN {ann_acc:.2f}% ({train_s:.0f} s of training), sha256 {sha[:12]}",
          flush=True)
    qnets: dict[str, nn.Module] = {}
    qinfo: dict[str, Any] = {}

    def qcfs(levels: int, epochs: int) -> nn.Module:
        key = f"L{levels}-e{epochs}"
        if key not in qnets:
            path = cache / f"{name}-seed{seed}-qcfs-{key}.pt"
            qnets[key], seconds = qcfs_net(ann, calib, x, y, levels, epochs, seed, path)
            qinfo[key] = {"levels": levels, "epochs": epochs, "seconds": seconds,
                          "ann_accuracy": accuracy(qnets[key], tx, ty)}
            print(f"{name}: QCFS ANN {key} {qinfo[key]['ann_accuracy']:.2f}%", flush=True)
        return qnets[key]

    variants = make_variants(ann, calib, T, spec, qcfs, with_sj)
    keep = previous is not None and previous.get("ann_sha256") == sha
    results = dict(previous["results"]) if keep and previous else {}
    for vname, (library, make) in variants.items():
        if only and not any(fnmatch.fnmatch(vname, pat) for pat in only):
            continue
        start = time.perf_counter()
        readout = make()
        acc, silent, tied = curve(readout, tx, ty, T)
        presim = getattr(readout, "presim", 0)
        within = {str(tol): first_within(acc, ann_acc, tol) for tol in TOLERANCES}
        results[vname] = {
            "library": library, "accuracy": acc, "no_output": silent, "tied": tied,
            "T_within": within,
            "presim": presim,
            "latency_within": {k: None if v is None else v + presim for k, v in within.items()},
            "seconds": time.perf_counter() - start,
        }
        at = {t: acc[t - 1] for t in (1, 2, 4, 8, 16, T) if t <= T}
        print(f"{name:>9} {vname:>15}: " + " ".join(
            f"T{t}={'-' if a is None else f'{a:.2f}'}" for t, a in at.items())
            + f"  T(<=0.5)={results[vname]['T_within']['0.5']}", flush=True)
    results = {k: results[k] for k in [*variants, *results] if k in results}  # table order
    old_q = previous.get("qcfs", {}) if keep and previous else {}
    runs = [*previous.get("runs", []), command] if keep and previous and only else [command]
    return {"seed": seed, "dataset": spec["data"], "train_images": int(x.shape[0]),
            "test_images": int(tx.shape[0]), "epochs": spec["epochs"],
            "train_seconds": train_s, "ann_accuracy": ann_acc, "ann_sha256": sha,
            "qcfs": {**old_q, **qinfo},
            "calibration_images": int(calib.shape[0]), "runs": runs, "results": results}


def main() -> None:
    root = Path(__file__).resolve().parents[1]  # defaults are in the repository, from any cwd
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nets", default="digits,fmnist")
    p.add_argument("--T", type=int, default=32)
    p.add_argument("--seeds", default="0",
                   help="comma-separated seeds: one ANN trained (and one calibration set "
                   "drawn) per seed; a network's rows are the means over every seed stored "
                   "for it, each seed's rows are kept under per_seed")
    p.add_argument("--out", default=str(root / "results" / "conversion_latency.json"),
                   help="the results JSON (default: results/conversion_latency.json in the "
                   "repository)")
    p.add_argument("--cache", default=str(root / "runs" / "conversion_latency"),
                   help="trained ANNs and QCFS ANNs are saved here and reused (default: "
                   "runs/conversion_latency in the repository)")
    p.add_argument("--only", default=None,
                   help="comma-separated name patterns (fnmatch) of the variants to run; the "
                   "others keep their stored results when the stored ANN is the same "
                   "(sha256 of its state), else they are dropped")
    p.add_argument("--tables", action="store_true",
                   help="print the Markdown tables of --out and exit")
    args = p.parse_args()
    if args.tables:
        if not Path(args.out).is_file():
            p.error(f"--tables: no results file {args.out}; run the benchmark first (without "
                    "--tables) or pass --out PATH of an existing results JSON")
        print(tables(json.loads(Path(args.out).read_text())))
        return
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
        "note": ("accuracy: percent of test images, entry t-1 after t steps; null = no "
                 "sample has output yet; no_output / tied = % of samples whose readout "
                 "has no single top class (all equal / top value shared), counted as not "
                 "correct; T_within[tol] = first T with ANN - SNN <= tol "
                 "points; QCFS rows compare with the ReLU ANN; presim = pre-simulation steps "
                 "per sample before step 1 (srp, cos), latency_within = presim + T_within; "
                 "every variant of a network converts the same trained ANN (ann_sha256); "
                 "a network's runs lists the commands that measured its rows"),
    })
    command = (f"PYTHONPATH={os.environ.get('PYTHONPATH', '')} {sys.executable} benchmarks/"
               f"conversion_latency.py --nets {args.nets} --T {args.T} --seeds {args.seeds}"
               + (f" --only '{args.only}'" if args.only else ""))
    report.pop("command", None)
    nets = report.setdefault("networks", {})
    for name, entry in nets.items():  # a file from before --seeds: its runs are seed 0
        if "per_seed" not in entry:
            nets[name] = aggregate({"0": entry})
    only = args.only.split(",") if args.only else None
    seeds = [int(s) for s in args.seeds.split(",")]
    for name in args.nets.split(","):
        per_seed = dict(previous_seeds(nets.get(name)))
        for seed in seeds:
            per_seed[str(seed)] = run_net(name, args.T, seed, with_sj, Path(args.cache), only,
                                          per_seed.get(str(seed)), command)
            nets[name] = aggregate(per_seed)
            out_path.parent.mkdir(parents=True, exist_ok=True)
            out_path.write_text(json.dumps(report, indent=1))
    print(f"wrote {out_path}")


if __name__ == "__main__":
    main()
