"""How much the CPU thread count alone moves a result: the demo config, small budget.

Trains ``configs/demo.yaml`` on the first ``--train-limit`` (3000) Fashion-MNIST training
images for ``--epochs`` (1) epoch with 1 thread, 2 threads and 1 thread again
(the repeat checks that one machine and one thread count give bit-identical numbers),
and writes ``results/thread-spread.json`` with each run's test accuracy, epoch-1 train
loss and provenance. Rerun: ``PYTHONPATH=src python benchmarks/thread_spread.py``
(needs ``spikebit data fetch fashion-mnist``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]

from spikebit.provenance import environment, with_provenance  # noqa: E402
from spikebit.train import load_config, train_from_config  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--train-limit", type=int, default=3000)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2, 1])
    p.add_argument("--out", type=Path, default=ROOT / "results" / "thread-spread.json")
    args = p.parse_args()
    runs = []
    with tempfile.TemporaryDirectory() as work:
        for i, threads in enumerate(args.threads):
            torch.set_num_threads(threads)
            config = load_config(ROOT / "configs" / "demo.yaml", [
                f"data.train_limit={args.train_limit}", f"optim.epochs={args.epochs}",
                f"name=threads{threads}-{i}", f"out_dir={work}", "plots=false"])
            start = time.perf_counter()
            metrics, run_dir = train_from_config(config)
            history = json.loads((run_dir / "metrics.json").read_text())["history"]
            runs.append({"threads": threads, "test_acc": metrics["test_acc"],
                         "train_loss_epoch1": history[0]["train_loss"],
                         "seconds": round(time.perf_counter() - start, 1),
                         "environment": environment()})
            print(runs[-1]["threads"], runs[-1]["test_acc"], runs[-1]["train_loss_epoch1"],
                  flush=True)
    accs = [r["test_acc"] for r in runs]
    outcome = {t: {(r["test_acc"], r["train_loss_epoch1"]) for r in runs if r["threads"] == t}
               for t in {r["threads"] for r in runs}}
    result = with_provenance({
        "command": "python benchmarks/thread_spread.py " + " ".join(sys.argv[1:]),
        "config": "configs/demo.yaml", "train_limit": args.train_limit, "epochs": args.epochs,
        "runs": runs, "test_acc_spread": max(accs) - min(accs),
        "same_threads_identical": {
            t: len(outcome[t]) == 1 for t in sorted(outcome)
            if sum(r["threads"] == t for r in runs) > 1},
    })
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
