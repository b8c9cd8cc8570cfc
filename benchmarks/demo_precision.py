"""The demo config (configs/demo.yaml) for one epoch in fp32 and in bf16 autocast, side by side.

Both runs start from the same seed and initial weights, see the same batches (one epoch;
the cosine schedule spans that epoch) and differ only in ``precision``. Records final test
accuracy, train loss and epoch seconds of each, and the accuracy difference in points.

    PYTHONPATH=src python benchmarks/demo_precision.py            # -> results/demo-bf16.json
    PYTHONPATH=src python benchmarks/demo_precision.py --device cuda --precisions fp32 bf16 fp16
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    from spikebit.train import load_config, train_from_config

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default=str(ROOT / "configs" / "demo.yaml"))
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--precisions", nargs="+", default=["fp32", "bf16"])
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="extra config overrides (e.g. data.train_limit=256 for a quick check)")
    p.add_argument("--out", default=str(ROOT / "results" / "demo-bf16.json"))
    args = p.parse_args()
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for precision in args.precisions:
            config = load_config(args.config, [f"optim.epochs={args.epochs}", "plots=false",
                                               f"device={args.device}", f"out_dir={tmp}",
                                               f"precision={precision}",
                                               f"name=demo-{precision}", *args.set])
            t0 = time.perf_counter()
            metrics, _ = train_from_config(config)
            runs[precision] = {"test_acc": metrics["test_acc"],
                               "test_loss": metrics["test_loss"],
                               "train_loss": metrics["train_loss"],
                               "train_acc": metrics["train_acc"],
                               "epoch_seconds": metrics["epoch_seconds"],
                               "wall_seconds": time.perf_counter() - t0}
            print(f"{precision}: test acc {metrics['test_acc']:.4f} "
                  f"({metrics['epoch_seconds']:.0f} s/epoch)", flush=True)
    base = runs[args.precisions[0]]["test_acc"]
    result = {
        "benchmark": "demo_precision",
        "command": "PYTHONPATH=src python benchmarks/demo_precision.py " + " ".join(
            f"--{k} {v if not isinstance(v, list) else ' '.join(v)}"
            for k, v in (("epochs", args.epochs), ("device", args.device),
                         ("precisions", args.precisions))),
        "config": str(Path(args.config).relative_to(ROOT)) if args.config.startswith(
            str(ROOT)) else args.config,
        "epochs": args.epochs, "device": args.device, "overrides": args.set, "runs": runs,
        "test_acc_diff_points": {k: 100.0 * (v["test_acc"] - base) for k, v in runs.items()},
        "note": "runs are sequential, so epoch_seconds compare speed only on an otherwise idle "
                "machine; the accuracy comparison holds regardless",
        "torch": torch.__version__, "threads": torch.get_num_threads(),
        "machine": platform.platform(),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
