"""ALBSNN on event data: simulated event Fashion-MNIST (``nfmnist``) at T=10, FP vs binary.

The paper evaluates ALBSNN on N-MNIST; here the offline stand-in is Fashion-MNIST seen
by the saccade simulator (``spikebit.data.events``), 34x34, 2 polarity channels, binned
into T=10 frames. The network is the ALBSNN *CIFAR-10 structure narrowed for the CPU.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spikebit.methods.albsnn.experiments import measure_run
from spikebit.reproduce import register_experiment
from spikebit.reproduce.budget import Budget, pick_budget, run_spec

STEPS = 10
BUDGETS = {  # width scales the channels of the paper's *CIFAR-10 structure
    "smoke": Budget("nfmnist", "albsnn-cifar10", 1, 200, 100, batch_size=32, width=1 / 32),
    "cpu": Budget("nfmnist", "albsnn-cifar10", 5, 4000, 1000, batch_size=32, width=1 / 16),
    "full": Budget("nfmnist", "albsnn-cifar10", 50, batch_size=32, width=1.0),
}


def cifar10_spec(width: float) -> str:
    """The paper's *CIFAR-10 structure with every channel count scaled by ``width``;
    ``width=1/16`` gives ``8C3-16C3-AP2-32C3-AP2-64C3-32C3-GAP``."""
    c = [max(1, round(n * width)) for n in (128, 256, 512, 1024, 512)]
    return f"{c[0]}C3-{c[1]}C3-AP2-{c[2]}C3-AP2-{c[3]}C3-{c[4]}C3-GAP"

VARIANTS = {
    "fp": {"quantizer": "fp"},
    "albsnn": {"quantizer": "abc"},
}


def event_run(variant: str, budget: str) -> dict[str, Any]:
    """The run config of one variant (FP, or binary with the ALBSNN top-2 selector).

    The *CIFAR-10 structure narrowed by the budget's width (:func:`cifar10_spec`) at
    ``T = 10`` on ``nfmnist`` frames ``[T, B, 2, 34, 34]``, MSE loss.

    Args:
        variant: ``"fp"`` (full precision) or ``"albsnn"`` (3-base ABC weights, top-2
            layers kept full precision by the selector).
        budget: ``"smoke"``, ``"cpu"`` or ``"full"``.

    Returns:
        The config mapping, ready for :func:`spikebit.reproduce.train_run`.

    Raises:
        ConfigError: an unknown budget.
        KeyError: an unknown variant.
    """
    b = pick_budget(BUDGETS, budget)
    selector = [{"name": "albsnn-selector", "args": {"rule": "top-k", "k": 2}}]
    return run_spec(f"nfmnist-{variant}-{budget}", b, loss="mse",
                    model_args={"spec": cifar10_spec(b.width), "steps": STEPS,
                                **VARIANTS[variant]},
                    data=b.data_section(frames=STEPS),
                    callbacks=selector if variant == "albsnn" else None)


@register_experiment(
    "albsnn-nfmnist",
    "ALBSNN *CIFAR-10 structure (narrow) at T=10 on simulated event Fashion-MNIST: FP vs binary",
)
def nfmnist(budget: str, work_dir: Path) -> dict[str, Any]:
    """``spikebit reproduce albsnn-nfmnist``: FP vs binary ALBSNN on event frames.

    Args:
        budget: ``"smoke"`` (seconds), ``"cpu"`` (the published CPU runs) or ``"full"``
            (the paper's scale).
        work_dir: where the runs are trained (finished runs are reused).

    Returns:
        The experiment result: ``rows``, ``columns`` and ``note``.

    Raises:
        ConfigError: an unknown budget.
        DataError: the dataset is missing or corrupt (``spikebit data fetch``).
        TrainingError: a run diverged.
    """
    rows = []
    for variant in VARIANTS:
        outcome = measure_run(event_run(variant, budget), Path(work_dir))
        rows.append({"variant": variant, **outcome.row(),
                     "epoch_seconds": outcome.metrics["epoch_seconds"]})
    b = pick_budget(BUDGETS, budget)
    note = (f"Ours: {cifar10_spec(b.width)}, {b.describe_frames(STEPS)} (seeded subset), "
            "Adam 1e-3 cosine, MSE. Binary = 3-base ABC weights "
            "with the ALBSNN top-2 selector. No paper number: the paper's N-MNIST is a "
            "recording, ours a simulation.")
    columns = ["variant", "fp_layers", "acc", "best_acc", "weight_storage", "binarized_bits",
               "epochs", "epoch_seconds"]
    return {"rows": rows, "columns": columns, "note": note}
