"""ALBSNN Table 5 (Fashion-MNIST, T=1) at the paper's model and batch, sized to a time budget.

The full budget of ``spikebit reproduce albsnn-table5 --budget full`` is the paper's
*MNIST structure (``albsnn-mnist``), batch 16 and 50 epochs for each of the five variants
(FPSNN, BSNN, FLNBSNN, ALBSNN, ALBSNN+BWO). This script first times a probe of the slowest
variant (ALBSNN+BWO: two short epochs on the first 960 training / 160 test images, the
second epoch timed, scaled to 60,000 / 10,000), then picks the largest number of epochs
``E <= 50`` at which all five variants fit in ``--seconds`` (with 10% slack). When not even
one epoch of all five fits, it trains ALBSNN alone for as many epochs as fit (at least one).
Every variant runs the full training set and test set; only the epoch count (and so the
cosine schedule's length) is cut, and the JSON says so.

    PYTHONPATH=src python benchmarks/gpu_table.py --device cuda --seconds 240 \\
        --out results/albsnn-table5-gpu.json
    PYTHONPATH=src python benchmarks/gpu_table.py --dry-run     # smoke budget on the CPU
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
SLACK = 1.1
PROBE_TRAIN, PROBE_TEST = 960, 160  # the full sets' 6:1 ratio


def probe_epoch_seconds(budget: str, device: str, work: Path) -> dict[str, Any]:
    """Seconds of one full epoch of ALBSNN+BWO, extrapolated from a timed short epoch."""
    from spikebit.methods.albsnn.recipes import variant_run
    from spikebit.train import config_from_dict, train_from_config

    run = variant_run("albsnn-bwo", budget)
    limit = run["data"].get("train_limit") or 60000
    data = dict(run["data"], train_limit=min(limit, PROBE_TRAIN),
                test_limit=min(run["data"].get("test_limit") or 10000, PROBE_TEST))
    cfg = dict(run, name="probe", device=device, plots=False, out_dir=str(work), data=data,
               optim=dict(run["optim"], epochs=2))
    t0 = time.perf_counter()
    metrics, _ = train_from_config(config_from_dict(cfg))
    wall = time.perf_counter() - t0
    seconds = metrics["epoch_seconds"]  # the 2nd epoch: kernels chosen, caches warm
    train_size = min(limit, PROBE_TRAIN)
    return {"probe_epoch_seconds": seconds, "probe_train": train_size,
            "full_epoch_seconds": seconds * limit / train_size,
            "run_overhead_seconds": max(0.0, wall - 2 * seconds)}


def plan(seconds: float, epoch_s: float, overhead_s: float, max_epochs: int,
         variants: list[str]) -> tuple[list[str], int]:
    """Variants and epochs that fit in ``seconds`` (see the module docstring); each run
    also costs ``overhead_s`` (data loading, model build, warm-up)."""
    n = len(variants)
    every = math.floor((seconds - n * overhead_s) / (n * epoch_s * SLACK))
    if every >= 1:
        return variants, min(every, max_epochs)
    one = math.floor((seconds - overhead_s) / (epoch_s * SLACK))
    return ["albsnn"], max(1, min(max_epochs, one))


def main() -> None:
    from spikebit.methods.albsnn.experiments import PAPER_TABLE5, train_run
    from spikebit.methods.albsnn.recipes import VARIANTS, get_budget, variant_run

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=240.0, help="time for the table's runs")
    p.add_argument("--device", default="cuda")
    p.add_argument("--budget", default="full", help="recipe budget (full; smoke for checks)")
    p.add_argument("--dry-run", action="store_true",
                   help="smoke budget on the CPU with a 20 s allowance (checks the logic)")
    p.add_argument("--work", default=None, help="run directory (default: a temporary one)")
    p.add_argument("--out", default=str(ROOT / "results" / "albsnn-table5-gpu.json"))
    args = p.parse_args()
    if args.dry_run:
        args.device, args.budget, args.seconds = "cpu", "smoke", 20.0
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work or tmp)
        probe = probe_epoch_seconds(args.budget, args.device, work)
        budget = get_budget(args.budget)
        allowance = args.seconds - (time.perf_counter() - started)  # the probe's time is spent
        variants, epochs = plan(allowance, probe["full_epoch_seconds"],
                                probe["run_overhead_seconds"], budget.epochs, list(VARIANTS))
        print(f"plan: {variants} x {epochs} epochs (est. {probe['full_epoch_seconds']:.1f} "
              f"s/epoch of ALBSNN+BWO)", flush=True)
        rows = []
        for variant in variants:
            label, paper_fp, paper_acc = PAPER_TABLE5[variant]
            run = variant_run(variant, args.budget)
            run = dict(run, device=args.device, optim=dict(run["optim"], epochs=epochs))
            t0 = time.perf_counter()
            outcome = train_run(run, work)
            rows.append({"method": label, **outcome.row(), "paper_fp_layers": paper_fp,
                         "paper_acc": paper_acc, "seconds": time.perf_counter() - t0,
                         "epoch_seconds": outcome.metrics["epoch_seconds"]})
            print(f"{label}: acc {rows[-1]['acc']:.2f} (paper {paper_acc}) "
                  f"{rows[-1]['seconds']:.0f} s", flush=True)
            write(args, budget, epochs, probe, variants, rows, started)  # after every row


def write(args: argparse.Namespace, budget: Any, epochs: int, probe: dict[str, Any],
          variants: list[str], rows: list[dict[str, Any]], started: float) -> None:
    """Write the table so far (every finished variant) to ``args.out``."""
    result = {
        "experiment": "albsnn-table5", "budget": args.budget, "device": args.device,
        "device_name": (torch.cuda.get_device_name(0) if args.device.startswith("cuda")
                        and torch.cuda.is_available() else "cpu"),
        "model": budget.model, "batch_size": budget.batch_size,
        "epochs": epochs, "paper_epochs": 50, "allowance_seconds": args.seconds,
        "probe": probe, "variants": variants, "rows": rows,
        "complete": len(rows) == len(variants),
        "total_seconds": time.perf_counter() - started,
        "note": (f"Paper model and batch; {epochs} of the full budget's {budget.epochs} epochs "
                 "(cosine schedule over those epochs), sized to the time allowance; one run, "
                 "seed 0. acc = final-epoch test accuracy (%) on the 10,000 test images."),
        "command": "PYTHONPATH=src python benchmarks/gpu_table.py --device "
                   f"{args.device} --seconds {args.seconds:g}",
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out} ({len(rows)}/{len(variants)} rows, "
          f"{result['total_seconds']:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
