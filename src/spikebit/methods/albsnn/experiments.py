"""ALBSNN tables on Fashion-MNIST at T=1: Table 5 (baselines, ALE, BWO) and Table 8 (SC1-SC4).

``spikebit reproduce albsnn-table5 --budget cpu`` trains every variant of
:mod:`spikebit.methods.albsnn.recipes` and puts the paper's numbers beside ours:
final and best test accuracy, the layers kept at full precision (1-based, from the
trained model's flags), weight storage normalized to the same network in fp32, and
the bits of the binarized layers relative to their fp32 bits.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spikebit.methods.albsnn.recipes import (
    RULES,
    TABLE8_EPOCHS,
    VARIANTS,
    get_budget,
    rule_run,
    variant_run,
)
from spikebit.metrics import model_storage
from spikebit.metrics.storage import ModelStorage
from spikebit.reproduce import register_experiment, train_run

# (method label, full-precision layers, test accuracy %) from the paper, Fashion-MNIST
PAPER_TABLE5 = {
    "fpsnn": ("FPSNN", "all", 93.48),
    "bsnn": ("BSNN", "-", 92.38),
    "flnbsnn": ("FLNBSNN", "1,7", 92.92),
    "albsnn": ("ALBSNN", "1,2", 93.10),
    "albsnn-bwo": ("ALBSNN+BWO", "1,2", 93.39),
}
PAPER_TABLE8 = {
    "sc1": ("1", 92.81),
    "sc2": ("1,6", 93.10),
    "sc3": ("1,2,7", 93.26),
    "sc4": ("1,3,7", 93.21),
}


@dataclass(frozen=True)
class RunOutcome:
    """What a table row needs from one finished run.

    Args:
        metrics: the run's last-epoch metrics (``test_acc``, ``best_test_acc``,
            ``epoch``, ``epoch_seconds``, optional ``albsnn`` with ``ale_seconds``).
        storage: the trained model's weight storage per layer (bits).
        run_dir: the run's directory (checkpoints), when known.
    """

    metrics: dict[str, Any]
    storage: ModelStorage
    run_dir: Path | None = None  # where the run's checkpoints are

    @property
    def fp_layers(self) -> str:
        """1-based full-precision layers: ``all``, ``-`` (none) or ``1,2``."""
        fp = [i + 1 for i, layer in enumerate(self.storage.layers)
              if layer.bits >= layer.fp32_bits]
        if len(fp) == len(self.storage.layers):
            return "all"
        return ",".join(map(str, fp)) or "-"

    def row(self) -> dict[str, Any]:
        """The run's table cells.

        Returns:
            ``fp_layers``; ``acc`` and ``best_acc`` in %; ``weight_storage`` (weight bits /
            fp32 weight bits); ``binarized_bits`` (bits of the binarized layers / their
            fp32 bits, ``None`` for an all-fp model); ``epochs``; ``ale_overhead`` (ALE
            seconds / epoch seconds, ``None`` without ALE).
        """
        m, s = self.metrics, self.storage
        ale = m.get("albsnn", {})
        overhead = ale.get("ale_seconds", 0.0) / m["epoch_seconds"] if ale else None
        return {
            "fp_layers": self.fp_layers,
            "acc": 100.0 * m["test_acc"],
            "best_acc": 100.0 * m["best_test_acc"],
            "weight_storage": s.weight_bits / s.weight_fp32_bits,
            "binarized_bits": s.binarized_ratio if self.fp_layers != "all" else None,
            "epochs": m["epoch"],
            "ale_overhead": overhead,
        }


def measure_run(run: dict[str, Any], work_dir: Path) -> RunOutcome:
    """Train (or reuse) ``run`` under ``work_dir`` and measure the trained model's storage."""
    trained = train_run(run, out_dir=str(work_dir), plots=False)
    return RunOutcome(trained.metrics, model_storage(trained.model()), trained.run_dir)


def _budget_note(budget: str, epochs: int) -> str:
    b = get_budget(budget)
    limits = "" if b.train_limit is None else f", first {b.train_limit}/{b.test_limit} samples"
    return (f"Ours: {b.model} {b.model_args or ''}, T=1, {epochs} epochs, batch {b.batch_size}, "
            f"Adam 1e-3 cosine, MSE, seed 0 (repeat k of --seeds: seed k){limits}. Paper: "
            "full *MNIST structure, 50 epochs, batch 16, mean of 5 runs. acc = final-epoch "
            "test accuracy (%); "
            "weight_storage = weight bits / fp32 weight bits of the same network; "
            "binarized_bits = bits of the binarized layers / their fp32 bits (3-base ABC: "
            "3 bits per weight + 3 fp32 alphas per layer); ale_overhead = ALE seconds / epoch "
            "seconds (last epoch).")


@register_experiment(
    "albsnn-table5",
    "ALBSNN Table 5 (Fashion-MNIST, T=1): FPSNN, BSNN, FLNBSNN, ALBSNN, ALBSNN+BWO",
)
def table5(budget: str, work_dir: Path) -> dict[str, Any]:
    """ALBSNN Table 5 on Fashion-MNIST at ``T = 1``: FPSNN, BSNN, FLNBSNN, ALBSNN, +BWO.

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
        label, paper_fp, paper_acc = PAPER_TABLE5[variant]
        outcome = measure_run(variant_run(variant, budget), work_dir)
        rows.append({"method": label, **outcome.row(), "paper_fp_layers": paper_fp,
                     "paper_acc": paper_acc})
    columns = ["method", "fp_layers", "paper_fp_layers", "acc", "best_acc", "paper_acc",
               "weight_storage", "binarized_bits", "ale_overhead", "epochs"]
    return {"rows": rows, "columns": columns,
            "note": _budget_note(budget, get_budget(budget).epochs)}


@register_experiment(
    "albsnn-table8",
    "ALBSNN Table 8 (Fashion-MNIST, T=1): selection criteria SC1-SC4",
)
def table8(budget: str, work_dir: Path) -> dict[str, Any]:
    """ALBSNN Table 8 on Fashion-MNIST at ``T = 1``: selection criteria SC1-SC4.

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
    for rule in RULES:
        paper_fp, paper_acc = PAPER_TABLE8[rule]
        outcome = measure_run(rule_run(rule, budget), work_dir)
        rows.append({"criterion": rule.upper(), **outcome.row(), "paper_fp_layers": paper_fp,
                     "paper_acc": paper_acc})
    columns = ["criterion", "fp_layers", "paper_fp_layers", "acc", "best_acc", "paper_acc",
               "weight_storage", "binarized_bits", "ale_overhead", "epochs"]
    return {"rows": rows, "columns": columns,
            "note": _budget_note(budget, TABLE8_EPOCHS[budget])}


# zoo model -> (input shape, classes, paper's top-2 full-precision layers)
SELECTION_MODELS = {
    "albsnn-mnist": ((1, 28, 28), 10, "1,2"),
    "albsnn-mnist-narrow": ((1, 28, 28), 10, "-"),
    "albsnn-cifar10": ((3, 32, 32), 10, "1,6"),
    "albsnn-cifar100": ((3, 32, 32), 100, "1,7"),
    "albsnn-table7": ((3, 32, 32), 10, "1,2"),
}


@register_experiment(
    "albsnn-selection",
    "ALE selections of every rule on every ALBSNN structure at initialization (no training)",
)
def selection(budget: str, work_dir: Path) -> dict[str, Any]:
    """The layers every ALE rule selects on every ALBSNN structure at initialization.

    No training: the models are built with seed 0 and scored once per ``theta`` method
    (the ALE estimate of eq. 7-8, ``docs/methods/albsnn.md``).

    Args:
        budget: accepted for the runner signature; the result is the same for every
            budget.
        work_dir: accepted for the runner signature; nothing is written there.

    Returns:
        The experiment result: ``rows``, ``columns`` and ``note``.
    """
    import torch

    from spikebit.methods.albsnn.ale import THETA_METHODS
    from spikebit.methods.albsnn.rules import select
    from spikebit.methods.albsnn.selector import model_scores, selectable_layers
    from spikebit.models import MODELS

    rows = []
    for name, (shape, classes, paper) in SELECTION_MODELS.items():
        torch.manual_seed(0)
        layers = selectable_layers(MODELS.get(name)(in_shape=shape, num_classes=classes))
        for theta in THETA_METHODS.names():
            scores = model_scores(layers, classes, theta=theta)
            row: dict[str, Any] = {"model": name, "theta": theta, "paper_top2": paper}
            for rule in ("top-k", *RULES):
                row[rule] = ",".join(str(i + 1) for i in select(rule, scores.R, 2)) or "-"
            row["R"] = " ".join(f"{r:.3g}" for r in scores.R)
            rows.append(row)
    return {"rows": rows,
            "columns": ["model", "theta", "top-k", "paper_top2", *RULES, "R"],
            "note": "Initial weights (seed 0), any budget. top-k with k=2; paper_top2 = the "
                    "layers the paper's ALBSNN keeps after training (Tables 5, 7)."}
