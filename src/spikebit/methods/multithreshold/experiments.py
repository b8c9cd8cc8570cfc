"""Multi-threshold LIF experiments (``spikebit reproduce NAME --budget smoke|cpu|full``).

Main results (T=2): ``mt-fmnist`` (Table 5) and ``mt-mnist-subset`` (Table 3's
network on our 10k MNIST subset). Ablations (Sec. 3.4, Fig. 6-9; the paper runs
them on CIFAR-10, our ``cpu`` budget on a Fashion-MNIST subset): ``mt-curves``,
``mt-width``, ``mt-omax`` (T=1), ``mt-steps``, ``mt-vs-lif``; at ``cpu`` with the Table 3 CNN
``15C5-P2-40C5-P2-300`` on the first 10k Fashion-MNIST images. Beyond the paper: ``mt-albsnn``,
multi-threshold neurons inside the ALBSNN binary network at T=1. Each ablation
also writes a PNG plot next to its results file (listed under ``plots``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from spikebit.methods.multithreshold.params import PAPER_B, paper_curve_params
from spikebit.methods.multithreshold.runs import mt_budget, result_row, run_config
from spikebit.reproduce import register_experiment, train_run
from spikebit.reproduce import results_dir as current_results_dir
from spikebit.reproduce.budget import Budget, pick_budget
from spikebit.reproduce.plots import plot_sweep

SMOKE = {"train_limit": 256, "test_limit": 256, "epochs": 1}  # mnist-subset is sorted by label
PAPER_CURVE_ARGS = {"b": PAPER_B}
"""The T=2 results (main, curves, O_max) were measured with the paper's width b = 20;
the zoo's default is now ``DEFAULT_B`` (see ``params``), so these runs pin b."""
MAIN_FMNIST = {
    "smoke": mt_budget("fashion-mnist", "mt-fmnist-cnn", **SMOKE, model_args=PAPER_CURVE_ARGS),
    # 15 epochs: one epoch of the full set takes ~3 min on 2 cores (~340 samples/s)
    "cpu": mt_budget("fashion-mnist", "mt-fmnist-cnn", 15, crop_padding=2,
                     model_args=PAPER_CURVE_ARGS),
    "full": mt_budget("fashion-mnist", "mt-fmnist-cnn", 200, schedule="constant",
                      crop_padding=2, model_args=PAPER_CURVE_ARGS),
}
MAIN_MNIST = {
    "smoke": mt_budget("mnist-subset", "mt-mnist-cnn", epochs=1, model_args=PAPER_CURVE_ARGS),
    "cpu": mt_budget("mnist-subset", "mt-mnist-cnn", 30, crop_padding=2,
                     model_args=PAPER_CURVE_ARGS),
    "full": mt_budget("mnist-subset", "mt-mnist-cnn", 200, schedule="constant", crop_padding=2,
                      model_args=PAPER_CURVE_ARGS),
}
ABLATION = {
    "smoke": mt_budget("fashion-mnist", "mt-mnist-cnn", **SMOKE),
    # the smaller Table 3 CNN (~7x faster than the FMNIST one): 32 runs fit in ~25 min
    "cpu": mt_budget("fashion-mnist", "mt-mnist-cnn", 8, train_limit=10000),
    "full": mt_budget("cifar10", "mt-cifar10-cnn", 100, lr=0.0005, schedule="constant",
                      crop_padding=4),
}
ALBSNN = {
    "smoke": mt_budget("fashion-mnist", "albsnn-mnist-narrow", lr=0.001, batch_size=64,
                       **SMOKE),
    "cpu": mt_budget("fashion-mnist", "albsnn-mnist-narrow", 5, train_limit=10000, lr=0.001,
                     batch_size=64),
    "full": mt_budget("fashion-mnist", "albsnn-mnist-narrow", 50, lr=0.001, batch_size=16),
}
COLUMNS = ["run", "test_acc", "best_test_acc", "train_acc", "epoch_seconds"]


def _main(budgets: dict[str, Budget], budget: str, work_dir: Path, paper: float,
          what: str) -> dict[str, Any]:
    b = pick_budget(budgets, budget)
    metrics = train_run(run_config("T2", b, work_dir, {"steps": 2})).metrics
    row = result_row(metrics, run=f"{b.model} T=2", paper_acc=paper)
    return {"rows": [row], "columns": [*COLUMNS, "paper_acc"],
            "note": f"{what}. Budget: {b.describe()}. Paper: T=2, 200 epochs, mean of 5 runs."}


@register_experiment("mt-fmnist", "Multi-threshold SNN 32C5-P2-64C5-P2-1024 on Fashion-MNIST, "
                     "T=2 (paper Table 5: 93.08%)")
def fmnist(budget: str, work_dir: Path) -> dict[str, Any]:
    """``mt-fmnist``: the paper's Table 5 network on Fashion-MNIST at ``T = 2``.

    Args:
        budget: ``"smoke"`` (seconds), ``"cpu"`` (the published CPU runs) or ``"full"``
            (the paper's scale).
        work_dir: where the runs are trained (finished runs are reused).

    Returns:
        The experiment result: one row (accuracies in %, the paper's accuracy),
        ``columns`` and ``note``.

    Raises:
        ConfigError: an unknown budget.
        DataError: the dataset is missing or corrupt (``spikebit data fetch``).
        TrainingError: a run diverged.
    """
    return _main(MAIN_FMNIST, budget, work_dir, 93.08, "Fashion-MNIST test accuracy")


@register_experiment("mt-mnist-subset", "Multi-threshold SNN 15C5-P2-40C5-P2-300 on the 10k MNIST "
                     "subset, T=2 (paper Table 3, full MNIST: 99.56%)")
def mnist_subset(budget: str, work_dir: Path) -> dict[str, Any]:
    """``mt-mnist-subset``: the Table 3 network on the 10k MNIST subset at ``T = 2``.

    Args:
        budget: ``"smoke"`` (seconds), ``"cpu"`` (the published CPU runs) or ``"full"``
            (the paper's scale).
        work_dir: where the runs are trained (finished runs are reused).

    Returns:
        The experiment result: one row (accuracies in %, the paper's accuracy),
        ``columns`` and ``note``.

    Raises:
        ConfigError: an unknown budget.
        DataError: the dataset is missing or corrupt (``spikebit data fetch``).
        TrainingError: a run diverged.
    """
    return _main(MAIN_MNIST, budget, work_dir, 99.56,
                 "MNIST subset (8k train / 2k test; the paper trains on all 60k)")


def _sweep(name: str, budget: str, work_dir: Path, values: list[Any],
           args_of: Callable[[Any], dict[str, Any]], label_of: Callable[[Any], str],
           xlabel: str, **plot: Any) -> dict[str, Any]:
    """One training per value (ablation budget); rows, a plot of train/test accuracy."""
    b = pick_budget(ABLATION, budget)
    rows = []
    for v in values:
        metrics = train_run(run_config(label_of(v), b, work_dir, args_of(v))).metrics
        rows.append(result_row(metrics, run=label_of(v), value=v))
    series = {"test": [r["test_acc"] for r in rows], "train": [r["train_acc"] for r in rows]}
    png = plot_sweep(current_results_dir() / f"{name}.png", values, series, xlabel,
                     f"{name}: {b.model} on {b.dataset}", **plot)
    return {"rows": rows, "columns": ["run", "value", *COLUMNS[1:]],
            "plots": [str(png)] if png else [], "note": f"Budget: {b.describe()}."}


@register_experiment("mt-curves", "Ablation (Fig. 6): surrogate curve 1/2/3 at T=2")
def curves(budget: str, work_dir: Path) -> dict[str, Any]:
    """``mt-curves`` (Fig. 6): surrogate curves 1/2/3 (sum, Gauss, Cauchy) at ``T = 2``.

    Args:
        budget: ``"smoke"`` (seconds), ``"cpu"`` (the published CPU runs) or ``"full"``
            (the paper's scale).
        work_dir: where the runs are trained (finished runs are reused).

    Returns:
        The experiment result: ``rows`` (accuracies in %), ``columns``, ``plots`` (the
        PNG beside the results file) and ``note``.

    Raises:
        ConfigError: an unknown budget.
        DataError: the dataset is missing or corrupt (``spikebit data fetch``).
        TrainingError: a run diverged.
    """
    names = ["mt-sum", "mt-gauss", "mt-cauchy"]
    return _sweep("mt-curves", budget, work_dir, names,
                  lambda c: {"curve": c, "steps": 2, **PAPER_CURVE_ARGS},
                  lambda c: c, "surrogate curve", bars=True)


@register_experiment("mt-width", "Ablation (Fig. 7): curve-2 width b in {0.2, 2, 20, 200, 2000} "
                     "(paper units, mV^2), T=2")
def width(budget: str, work_dir: Path) -> dict[str, Any]:
    """``mt-width`` (Fig. 7): curve-2 width ``b`` in mV^2 (ours: ``b / 100``) at ``T = 2``.

    Args:
        budget: ``"smoke"`` (seconds), ``"cpu"`` (the published CPU runs) or ``"full"``
            (the paper's scale).
        work_dir: where the runs are trained (finished runs are reused).

    Returns:
        The experiment result: ``rows`` (accuracies in %), ``columns``, ``plots`` (the
        PNG beside the results file) and ``note``.

    Raises:
        ConfigError: an unknown budget.
        DataError: the dataset is missing or corrupt (``spikebit data fetch``).
        TrainingError: a run diverged.
    """
    values = [0.2, PAPER_B] if budget == "smoke" else [0.2, 2.0, 20.0, 200.0, 2000.0]
    out = _sweep("mt-width", budget, work_dir, values, lambda v: {"b": v, "steps": 2},
                 lambda v: f"b{v:g}", "b (mV^2; our width = b / 100)", logx=True)
    for row in out["rows"]:
        row["width_ours"] = paper_curve_params(b=row["value"])["width"]
    out["columns"].insert(2, "width_ours")
    return out


@register_experiment("mt-omax", "Ablation (Fig. 8): O_max = 1..15 at T=1")
def omax(budget: str, work_dir: Path) -> dict[str, Any]:
    """``mt-omax`` (Fig. 8): ``O_max`` = 1..15 spikes per step at ``T = 1``.

    Args:
        budget: ``"smoke"`` (seconds), ``"cpu"`` (the published CPU runs) or ``"full"``
            (the paper's scale).
        work_dir: where the runs are trained (finished runs are reused).

    Returns:
        The experiment result: ``rows`` (accuracies in %), ``columns``, ``plots`` (the
        PNG beside the results file) and ``note``.

    Raises:
        ConfigError: an unknown budget.
        DataError: the dataset is missing or corrupt (``spikebit data fetch``).
        TrainingError: a run diverged.
    """
    values = [1, 2] if budget == "smoke" else list(range(1, 16))
    return _sweep("mt-omax", budget, work_dir, values,
                  lambda v: {"max_spikes": v, "steps": 1, **PAPER_CURVE_ARGS},
                  lambda v: f"omax{v}", "O_max (T=1)")


@register_experiment("mt-steps", "Ablation (Fig. 9): T = 1..5, train and test accuracy "
                     "(zoo default b = 200 mV^2; with the paper's b = 20, T >= 3 collapses)")
def steps(budget: str, work_dir: Path) -> dict[str, Any]:
    """``mt-steps`` (Fig. 9): ``T`` = 1..5 time steps, train and test accuracy.

    Args:
        budget: ``"smoke"`` (seconds), ``"cpu"`` (the published CPU runs) or ``"full"``
            (the paper's scale).
        work_dir: where the runs are trained (finished runs are reused).

    Returns:
        The experiment result: ``rows`` (accuracies in %), ``columns``, ``plots`` (the
        PNG beside the results file) and ``note``.

    Raises:
        ConfigError: an unknown budget.
        DataError: the dataset is missing or corrupt (``spikebit data fetch``).
        TrainingError: a run diverged.
    """
    values = [1, 2] if budget == "smoke" else [1, 2, 3, 4, 5]
    return _sweep("mt-steps", budget, work_dir, values, lambda v: {"steps": v},
                  lambda v: f"T{v}", "time steps T")


VS_LIF: dict[str, tuple[dict[str, Any], str]] = {
    # label -> (model args, loss); T=2, the zoo's surrogate width (b = 200 mV^2)
    "mtlif": ({"steps": 2}, "count"),
    "mtlif-omax1": ({"steps": 2, "max_spikes": 1}, "count"),
    "lif-ce": ({"steps": 2, "neuron": "lif", "spiking_output": False}, "ce"),
}
"""``mt-vs-lif`` rows: the multi-threshold neuron (``O_max = 15``), the same neuron with
``O_max = 1`` (binary spikes, same loss and surrogate: the paper's contribution switched
off), and a plain LIF layer (threshold 10, the paper's ``tau``) trained with cross-entropy
on the output layer's currents averaged over time (the usual LIF recipe; with a spiking
output layer the binary LIF readout stays silent at initialization and does not learn)."""


@register_experiment("mt-vs-lif", "Multi-threshold LIF vs LIF in the Table 3 CNN on 10k "
                     "Fashion-MNIST images, T=2 (O_max 15 vs O_max 1 vs LIF + cross-entropy)")
def vs_lif(budget: str, work_dir: Path) -> dict[str, Any]:
    """``mt-vs-lif``: does the multi-threshold neuron beat a binary-spike LIF at ``T = 2``?

    Rows (see :data:`VS_LIF`): ``mtlif`` (the paper's neuron, eq. 1-4, count loss eq. 6),
    ``mtlif-omax1`` (one spike per step at most: a LIF neuron with the same surrogate and
    loss) and ``lif-ce`` (the zoo LIF neuron with cross-entropy). Ablation budget: the
    Table 3 CNN ``15C5-P2-40C5-P2-300``; run with ``--seeds 3`` for intervals.

    Args:
        budget: ``"smoke"`` (seconds), ``"cpu"`` (the published CPU runs) or ``"full"``
            (the paper's scale, on CIFAR-10).
        work_dir: where the runs are trained (finished runs are reused).

    Returns:
        The experiment result: ``rows`` (accuracies in %), ``columns`` and ``note``.

    Raises:
        ConfigError: an unknown budget.
        DataError: the dataset is missing or corrupt (``spikebit data fetch``).
        TrainingError: a run diverged.
    """
    b = pick_budget(ABLATION, budget)
    rows = []
    for label, (args, loss) in VS_LIF.items():
        metrics = train_run(run_config(label, b, work_dir, dict(args), loss=loss)).metrics
        rows.append(result_row(metrics, run=label))
    return {"rows": rows, "columns": COLUMNS,
            "note": f"T=2. Budget: {b.describe()}. mtlif: O_max=15, count loss (target "
                    "4 spikes per step); mtlif-omax1: the same with O_max=1; lif-ce: LIF "
                    "(threshold 10) with cross-entropy on the output currents averaged over T."}


def albsnn_variants() -> dict[str, dict[str, Any]]:
    """Neuron settings compared inside ALBSNN's network (V=0.5, tau=0.25, rectangle a=1).

    The staircase rectangle has width 2 in ``x = h / V`` units, i.e. 1 in ``h``
    units: with ``O_max = 1`` it is exactly ALBSNN's LIF (at T=1 the reset never
    acts, so hard and soft reset agree), and ``"lif"`` is that baseline.
    """
    mt = {"threshold": 0.5, "tau": 0.25, "surrogate": "rectangle", "width": 2.0}
    return {
        "lif": {"neuron": "lif"},  # ALBSNN's own neuron
        "mtlif-omax15": {"neuron": "mtlif", "neuron_kwargs": {**mt, "max_spikes": 15}},
    }


@register_experiment("mt-albsnn", "Beyond the paper: multi-threshold neurons in the ALBSNN binary "
                     "network (albsnn-mnist-narrow, ABC-Net, layers 0-1 full precision), T=1")
def albsnn(budget: str, work_dir: Path) -> dict[str, Any]:
    """``mt-albsnn``: LIF vs multi-threshold LIF (``O_max = 15``) in ALBSNN's network, T=1.

    Binary (ABC-Net, layers 0-1 full precision) and full-precision weights, MSE loss;
    ``gap_to_fp_lif`` is the FP LIF accuracy minus each row's (points).

    Args:
        budget: ``"smoke"`` (seconds), ``"cpu"`` (the published CPU runs) or ``"full"``
            (the paper's scale).
        work_dir: where the runs are trained (finished runs are reused).

    Returns:
        The experiment result: ``rows`` (accuracies in %), ``columns``, ``plots`` (the
        PNG beside the results file) and ``note``.

    Raises:
        ConfigError: an unknown budget.
        DataError: the dataset is missing or corrupt (``spikebit data fetch``).
        TrainingError: a run diverged.
    """
    b = pick_budget(ALBSNN, budget)
    precisions = {"binary": {"quantizer": "abc", "full_precision": [0, 1]},
                  "fp": {"quantizer": "fp", "full_precision": []}}
    rows = []
    for prec, q in precisions.items():
        for neuron, n in albsnn_variants().items():
            label = f"{neuron}-{prec}"
            config = run_config(label, b, work_dir, {"steps": 1, **q, **n}, loss="mse")
            metrics = train_run(config).metrics
            rows.append(result_row(metrics, run=label, neuron=neuron, weights=prec))
    fp = {r["neuron"]: r["test_acc"] for r in rows if r["weights"] == "fp"}
    for r in rows:
        r["gap_to_fp_lif"] = fp["lif"] - r["test_acc"]
    names = list(albsnn_variants())
    series = {p: [r["test_acc"] for r in rows if r["weights"] == p] for p in precisions}
    png = plot_sweep(current_results_dir() / "mt-albsnn.png", names, series, "neuron",
                     f"mt-albsnn: {b.model} on {b.dataset}, T=1", bars=True)
    return {"rows": rows, "columns": ["run", "neuron", "weights", *COLUMNS[1:], "gap_to_fp_lif"],
            "plots": [str(png)] if png else [],
            "note": (f"Budget: {b.describe()}. Loss: core 'mse' (time-averaged output vs one-hot, "
                     "as ALBSNN). gap_to_fp_lif = FP LIF accuracy minus this row's (points).")}
