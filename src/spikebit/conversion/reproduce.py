"""``spikebit reproduce bsnn-*``: train ANNs with the project trainer, convert, compare.

Each experiment trains its ANNs (:mod:`spikebit.conversion.recipes`) through
``train_from_config``, converts the final checkpoint with every variant of
:func:`run_conversion_experiments` and reports, per network and variant, the
ANN accuracy, the best SNN accuracy, its T, the conversion loss and the first
T with loss <= 0.1 points, beside the paper's number. Accuracy-vs-T curves and
the Fig. 5 difference histograms go to ``results/<experiment>-<net>-*.png``, the
full per-network reports to ``results/<experiment>-<net>.json``.

A finished run whose recorded config equals the planned one is reused, an
unfinished one resumed, so an interrupted experiment restarts cheaply.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from spikebit.conversion.experiments import (
    ConversionReport,
    Variant,
    VariantResult,
    run_conversion_experiments,
)
from spikebit.conversion.from_checkpoint import conversion_data, load_ann
from spikebit.conversion.plots import plot_accuracy_curves, plot_output_differences
from spikebit.conversion.recipes import (
    PAPER,
    ConversionBudget,
    NetPlan,
    budget_for,
    describe,
    train_config,
)
from spikebit.provenance import write_result_json
from spikebit.reproduce import register_experiment, train_run
from spikebit.reproduce import results_dir as current_results_dir

TOLERANCE = 0.1  # points of conversion loss counted as lossless
VariantsFor = Callable[[ConversionBudget], Sequence[Variant] | None]

COLUMNS = ["network", "variant", "width", "epochs", "ann_test_acc", "ann_acc", "snn_acc",
           "best_T", "loss", "T_lossless", "T_max", "paper", "paper_ann", "paper_snn",
           "paper_loss", "paper_T"]

TABLE2_LABELS = {"phase-sn": "IF w/ SN", "bsnn-nosn": "BIF w/out SN", "bsnn": "BIF w/ SN"}


def variant_family(v: Variant) -> str:
    """``rate-max``/``rate-p``, ``phase``/``phase-sn``, ``bsnn``/``bsnn-nosn`` (paper lookup).

    Args:
        v: the variant (its ``synchronous`` resolved).

    Returns:
        The family name, the suffix of a :data:`PAPER` key.
    """
    suffix = {"rate": "-max" if v.percentile >= 100.0 else "-p",
              "phase": "-sn" if v.synchronous else "",
              "bsnn": "-nosn" if v.synchronous is False else ""}
    return v.method + suffix[v.method]


def convert_net(plan: NetPlan, budget: ConversionBudget, run_dir: Path,
                variants: Sequence[Variant] | None, seed: int = 0) -> ConversionReport:
    """All conversion variants on the final checkpoint of ``run_dir``.

    Args:
        plan: the net (its ``T_max`` and ``eval_samples``).
        budget: the budget (calibration size, K values, percentile, histogram samples).
        run_dir: the trainer's run directory holding ``last.safetensors``.
        variants: the variants (None: :func:`default_variants`).
        seed: seed of the calibration draw.

    Returns:
        The ``ConversionReport``.

    Raises:
        ConversionError: no checkpoint in ``run_dir`` or a model that cannot be converted.
    """
    loaded = load_ann(run_dir / "last.safetensors")
    calib, test_x, test_y = conversion_data(loaded, budget.calibration, seed)
    if plan.eval_samples is not None:
        test_x, test_y = test_x[:plan.eval_samples], test_y[:plan.eval_samples]
    return run_conversion_experiments(
        loaded.ann, calib, test_x, test_y, plan.T_max, variants=variants,
        K_values=budget.K_values, percentile=budget.percentile,
        calibration_size=calib.shape[0], batch_size=256,
        histogram_samples=budget.histogram_samples, tolerance=TOLERANCE, seed=seed)


def result_row(plan: NetPlan, name: str, r: VariantResult, report: ConversionReport,
               ann_test_acc: float, label: str | None = None) -> dict[str, Any]:
    """One table row: our numbers and, where the paper has one, its line.

    Args:
        plan: the net.
        name: the variant's name (the row label unless ``label`` is given).
        r: the variant's result.
        report: the net's ``ConversionReport`` (ANN accuracy, ``T_max``).
        ann_test_acc: the ANN's accuracy in % on the whole test split.
        label: the row label to print instead of ``name`` (Table 2 labels).

    Returns:
        The row, keyed by :data:`COLUMNS`; accuracies in %, losses in points; ``snn_acc``,
        ``best_T`` and ``loss`` are None (empty cells) when no step had output.
    """
    paper = PAPER.get(f"{plan.paper_key}/{variant_family(r.variant)}")
    return {
        "network": plan.key, "variant": label or name, "width": plan.width,
        "epochs": plan.epochs, "ann_test_acc": ann_test_acc, "ann_acc": report.ann_accuracy,
        "snn_acc": r.best_accuracy, "best_T": r.best_T, "loss": r.conversion_loss,
        "T_lossless": r.lossless_T, "T_max": report.T_max,
        "paper": paper.setting if paper else None,
        "paper_ann": paper.ann if paper else None, "paper_snn": paper.snn if paper else None,
        "paper_loss": paper.loss if paper else None, "paper_T": paper.T if paper else None,
    }


def plot_net(report: ConversionReport, stem: Path) -> list[str]:
    """Accuracy-vs-T curves and the Fig. 5 histograms of one net.

    The histograms show every variant if at most three, else rate-max, phase and the
    largest-K bsnn, as in the paper's Fig. 5 A-C.

    Args:
        report: the net's ``ConversionReport``.
        stem: path prefix; ``-accuracy.png`` and ``-fig5.png`` are appended.

    Returns:
        The written files (none without matplotlib).
    """
    paths = [plot_accuracy_curves(report, stem.with_name(stem.name + "-accuracy.png"))]
    chosen = list(report.results)
    if len(chosen) > 3:
        bsnn = [n for n, r in report.results.items() if variant_family(r.variant) == "bsnn"]
        chosen = [n for n in ("rate-max", "phase") if n in report.results] + bsnn[-1:]
    if chosen:
        paths.append(plot_output_differences(report, stem.with_name(stem.name + "-fig5.png"),
                                             chosen))
    return [str(p) for p in paths if p is not None]


def run_bsnn(experiment: str, budget_name: str, work_dir: Path,
             variants_for: VariantsFor = lambda b: None,
             labels: dict[str, str] | None = None) -> dict[str, Any]:
    """Train, convert and tabulate every net of ``experiment`` at ``budget_name``.

    Args:
        experiment: ``"bsnn-fmnist"``, ``"bsnn-mnist-subset"`` or ``"bsnn-table2"``.
        budget_name: ``"smoke"``, ``"cpu"`` or ``"full"``.
        work_dir: the directory the training runs go to.
        variants_for: the variants of a budget (None: :func:`default_variants`).
        labels: row labels by variant family (Table 2 labels).

    Returns:
        ``{"rows", "columns", "details", "note"}`` for the experiment table.

    Raises:
        ConversionError: an unknown budget name.
    """
    budget = budget_for(experiment, budget_name)
    rows: list[dict[str, Any]] = []
    details: dict[str, Any] = {}
    for plan in budget.nets:
        t0 = time.perf_counter()
        run = train_run(train_config(plan, budget, budget_name, str(work_dir)))
        metrics, run_dir = run.metrics, run.run_dir
        t1 = time.perf_counter()
        report = convert_net(plan, budget, run_dir, variants_for(budget))
        stem = current_results_dir() / f"{experiment}-{plan.key}"
        write_result_json(stem.with_suffix(".json"), report.to_dict())
        ann_test_acc = 100.0 * metrics["test_acc"]
        for name, r in report.results.items():
            label = (labels or {}).get(variant_family(r.variant))
            rows.append(result_row(plan, name, r, report, ann_test_acc, label))
        details[plan.key] = {
            "run_dir": str(run_dir), "report": str(stem.with_suffix(".json")),
            "figures": plot_net(report, stem), "train_seconds": t1 - t0,
            "convert_seconds": time.perf_counter() - t1,
            "accuracy_curves": {n: r.accuracy for n, r in report.results.items()},
            "lossless_T": {n: r.lossless_T for n, r in report.results.items()},
        }
    return {
        "rows": rows, "columns": COLUMNS, "details": details,
        "note": (f"Budget {budget_name}: {describe(budget)}. Accuracies in %; ann_test_acc on "
                 "the full test split, ann_acc/snn_acc on the simulated test images; snn_acc "
                 "is the best over T = 1..T_max and best_T its step; loss = ann_acc - snn_acc "
                 "(points); snn_acc, best_T and loss are empty where no step had output; "
                 f"T_lossless = first T with loss <= {TOLERANCE:g}. paper_* are the "
                 "paper's numbers for the named setting (its datasets and full-width nets), "
                 "not for this run. Table 2 prints no ANN accuracy; paper_ann there is SNN + "
                 "loss."),
    }


@register_experiment(
    "bsnn-fmnist",
    "BSNN conversion on Fashion-MNIST: MNIST CNN, ResNet20, VGG16 ANNs; rate (max/p-norm), "
    "phase and BSNN (K=4,6,8) accuracy vs T, loss, lossless T (Table 1 style)",
)
def bsnn_fmnist(budget: str, work_dir: Path) -> dict[str, Any]:
    """``spikebit reproduce bsnn-fmnist``: BSNN Table 1 style on Fashion-MNIST.

    Args:
        budget: ``"smoke"``, ``"cpu"`` or ``"full"``.
        work_dir: the directory the training runs go to.

    Returns:
        The experiment table (see :func:`run_bsnn`).
    """
    return run_bsnn("bsnn-fmnist", budget, work_dir)


@register_experiment(
    "bsnn-mnist-subset",
    "BSNN conversion on the 10k MNIST subset: MNIST CNN, ResNet20, VGG16 ANNs; rate, "
    "phase and BSNN accuracy vs T (Table 1 style)",
)
def bsnn_mnist_subset(budget: str, work_dir: Path) -> dict[str, Any]:
    """``spikebit reproduce bsnn-mnist-subset``: BSNN Table 1 style on the 10k MNIST subset.

    Args:
        budget: ``"smoke"``, ``"cpu"`` or ``"full"``.
        work_dir: the directory the training runs go to.

    Returns:
        The experiment table (see :func:`run_bsnn`).
    """
    return run_bsnn("bsnn-mnist-subset", budget, work_dir)


def table2_variants(budget: ConversionBudget) -> list[Variant]:
    """Table 2: phase IF with SN, BIF without SN, BIF with SN (largest K of the budget).

    Args:
        budget: the budget (its ``K_values``).

    Returns:
        The three variants.
    """
    K = max(budget.K_values)
    return [Variant("phase-sn", "phase", 100.0, K, synchronous=True),
            Variant(f"bsnn-K{K}-nosn", "bsnn", 100.0, K, synchronous=False),
            Variant(f"bsnn-K{K}", "bsnn", 100.0, K, synchronous=True)]


@register_experiment(
    "bsnn-table2",
    "BSNN Table 2 ablation on ResNet18: IF w/ SN, BIF w/out SN, BIF w/ SN (Fashion-MNIST "
    "at smoke/cpu budgets, CIFAR-10 at full)",
)
def bsnn_table2(budget: str, work_dir: Path) -> dict[str, Any]:
    """``spikebit reproduce bsnn-table2``: the BSNN Table 2 SN ablation on ResNet18.

    Args:
        budget: ``"smoke"``, ``"cpu"`` or ``"full"``.
        work_dir: the directory the training runs go to.

    Returns:
        The experiment table (see :func:`run_bsnn`).
    """
    return run_bsnn("bsnn-table2", budget, work_dir, variants_for=table2_variants,
                    labels=TABLE2_LABELS)
