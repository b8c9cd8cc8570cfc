"""Why multi-threshold LIF collapses at T >= 3 in ``mt-steps``: screening ablation.

Each variant changes one setting of the ablation config before the fix
(``configs/multithreshold/fashion-mnist-mt-ablation.yaml`` with the paper's curve width
``b = 20``: Table 3 CNN, Adam 5e-3 cosine, count loss with 4 spikes per step, paper
init) and is trained at
each ``--steps`` on a reduced budget (``--epochs`` 3, first ``--train-limit`` 5000
training images, first ``--test-limit`` 5000 test images, seed 0). Rows (variant, T,
the ``--set`` overrides, test/train accuracy, last epoch's seconds) go to
``results/mt-steps-ablation.json`` after every run; finished runs in
``runs/mt-steps-ablation`` are reused, so an interrupted screen resumes.

Rerun: ``PYTHONPATH=src python benchmarks/mt_steps_ablation.py [--variants a b] [--steps 2 3]``
(needs ``spikebit data fetch fashion-mnist``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from spikebit.neurons import is_neuron  # noqa: E402
from spikebit.provenance import write_result_json  # noqa: E402
from spikebit.train import load_config  # noqa: E402
from spikebit.train.build import model_from_checkpoint  # noqa: E402
from spikebit.train.run import train_or_reuse  # noqa: E402

CONFIG = ROOT / "configs" / "multithreshold" / "fashion-mnist-mt-ablation.yaml"
PAPER_B = ["model.args.b=20.0"]  # the paper's width; the zoo's default is now 200
VARIANTS: dict[str, tuple[str, list[str]]] = {
    "base": ("the mt-steps setting before the fix (curve 2, b = 20 mV^2)", PAPER_B),
    "lr1e-3": ("learning rate 1e-3 instead of 5e-3", [*PAPER_B, "optim.lr=0.001"]),
    "target1": ("count-loss target 1 spike per step instead of 4",
                [*PAPER_B, "loss.args.target_count=1.0"]),
    "a0.1": ("surrogate height a = 0.1 / mV instead of 1 (per-level integral ~0.7 instead of ~7)",
             [*PAPER_B, "model.args.a=0.1"]),
    "b200": ("surrogate width b = 200 mV^2 instead of 20 (the new default)",
             ["model.args.b=200.0"]),
    "clip1": ("gradient-norm clipping at 1", [*PAPER_B, "optim.grad_clip=1.0"]),
    "reset-grad": ("reset not detached (exact BPTT through v = h - V o)",
                   [*PAPER_B, "model.args.detach_reset=false"]),
    "a0.1-reset-grad": ("a = 0.1 and exact reset gradient (V g <= 1, so dv/dh = 1 - V g >= 0)",
                        [*PAPER_B, "model.args.a=0.1", "model.args.detach_reset=false"]),
    "tau0": ("no leak carry-over: tau = 0 (the residual potential is dropped each step)",
             [*PAPER_B, "model.args.tau=0.0"]),
    "gain0.5": ("init gain 0.5 instead of 1", [*PAPER_B, "model.args.init_gain=0.5"]),
}
NOTE = ("Screening budget (see the script's docstring). silent_output_neurons / "
        "silent_dense_units: units with no spike on the first 1000 test images. Rows trained "
        "before the zoo default became b = 200 ran with the then-default b = 20 (the paper's); "
        "their 'set' lists it explicitly, as the script passes it now.")


def silent_units(run_dir: Path, train_limit: int, samples: int = 1000) -> dict[str, int]:
    """Units of the output layer and of the 300-unit dense layer that emit no spike on any
    of the first ``samples`` test images (a silent unit gets almost no surrogate gradient:
    the staircase curve sits on the levels 1..O_max, far from a potential below 0)."""
    import torch

    from spikebit.data.catalog import load_dataset

    train, test = load_dataset("fashion-mnist", True), load_dataset("fashion-mnist", False)
    mean, std = train.images[:train_limit].mean(), train.images[:train_limit].std()
    loaded = model_from_checkpoint(run_dir / "last.safetensors")
    net = loaded[0] if isinstance(loaded, tuple) else loaded
    net.eval()
    spikes: list[torch.Tensor] = []
    for m in net.modules():
        if is_neuron(m):
            m.register_forward_hook(lambda _m, _i, out: spikes.append(out.detach()))
    with torch.no_grad():
        net((test.images[:samples] - mean) / std)
    dead = [int((s.sum((0, 1)) == 0).sum()) for s in spikes[-2:]]
    return {"silent_dense_units": dead[0], "silent_output_neurons": dead[1]}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--variants", nargs="+", default=list(VARIANTS))
    p.add_argument("--steps", type=int, nargs="+", default=[2, 3])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--train-limit", type=int, default=5000)
    p.add_argument("--test-limit", type=int, default=5000)
    p.add_argument("--out", type=Path, default=ROOT / "results" / "mt-steps-ablation.json")
    args = p.parse_args()
    budget = [f"optim.epochs={args.epochs}", f"data.train_limit={args.train_limit}",
              f"data.test_limit={args.test_limit}"]
    old = json.loads(args.out.read_text()).get("rows", []) if args.out.is_file() else []
    rows = {(r["variant"], r["steps"], tuple(r["budget"])): r for r in old}
    for name in args.variants:
        what, diff = VARIANTS[name]
        for t in args.steps:
            sets = [f"model.args.steps={t}", *diff]
            config = load_config(CONFIG, [*budget, *sets, f"name={name}-T{t}-e{args.epochs}",
                                          f"out_dir={ROOT / 'runs' / 'mt-steps-ablation'}",
                                          "plots=false"])
            metrics, run_dir = train_or_reuse(config)
            row = {"variant": name, "what": what, "steps": t, "set": diff, "budget": budget,
                   "test_acc": round(100 * metrics["test_acc"], 2),
                   "train_acc": round(100 * metrics["train_acc"], 2),
                   "epoch_seconds": round(metrics.get("epoch_seconds") or 0.0, 1),
                   **silent_units(Path(run_dir), args.train_limit)}
            rows[(name, t, tuple(budget))] = row
            print(f"{name:12s} T={t} test {row['test_acc']:.2f} train {row['train_acc']:.2f} "
                  f"silent outputs {row['silent_output_neurons']}", flush=True)
            write_result_json(args.out, {
                "command": "python benchmarks/mt_steps_ablation.py",
                "config": str(CONFIG.relative_to(ROOT)), "note": NOTE, "rows": list(rows.values())})
    return 0


if __name__ == "__main__":
    sys.exit(main())
