"""Budgets, training recipes and paper references of the ``bsnn-*`` experiments.

A :class:`NetPlan` is one ANN of an experiment at one budget (zoo model, width,
epochs, simulated steps); a :class:`ConversionBudget` (the shared
:class:`spikebit.reproduce.Budget` plus the nets and conversion settings) holds the
nets of one budget; :func:`train_config` turns a net into a trainer config mapping.
:data:`PAPER` holds the paper's numbers (Table 1, Table 2) that the result rows put
beside ours.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from spikebit.conversion.errors import ConversionError
from spikebit.reproduce.budget import BUDGET_NAMES, Budget, run_spec


@dataclass(frozen=True)
class PaperRef:
    """One line of the BSNN paper's Table 1 or 2.

    Args:
        setting: the paper's row (table, dataset, network, method).
        ann: the ANN accuracy in % (None where the table prints none).
        snn: the SNN accuracy in %.
        loss: the conversion loss ``ann - snn`` in percentage points.
        T: the time steps of the SNN accuracy (None where the table prints none).
    """

    setting: str
    ann: float | None
    snn: float
    loss: float
    T: int | None


# Table 1 (MNIST, CIFAR-10 rows) and Table 2 (ResNet18, CIFAR-10). Table 2 prints SNN and
# loss only; its ANN accuracy is SNN + loss (94.78 for all three rows).
PAPER: dict[str, PaperRef] = {
    "cnn/bsnn": PaperRef("Table 1 MNIST CNN BSNN", 99.30, 99.31, -0.01, 35),
    "cnn/phase": PaperRef("Table 1 MNIST CNN Weighted Spikes", 99.20, 99.20, 0.00, 16),
    "cnn/rate-p": PaperRef("Table 1 MNIST CNN p-Norm", 99.44, 99.44, 0.00, None),
    "vgg16/bsnn": PaperRef("Table 1 CIFAR-10 VGG16 BSNN", 94.11, 94.12, -0.01, 166),
    "vgg16/rate-p": PaperRef("Table 1 CIFAR-10 VGG16 p-Norm", 91.91, 91.85, 0.06, 35),
    "resnet20/bsnn": PaperRef("Table 1 CIFAR-10 ResNet20 BSNN", 95.02, 95.16, -0.14, 206),
    "resnet20/phase": PaperRef("Table 1 CIFAR-10 ResNet20 Weighted Spikes", 91.40, 91.40,
                               0.00, None),
    "table2/phase-sn": PaperRef("Table 2 CIFAR-10 ResNet18 IF w/ SN", 94.78, 94.37, 0.41, 394),
    "table2/bsnn-nosn": PaperRef("Table 2 CIFAR-10 ResNet18 BIF w/out SN", 94.78, 94.04,
                                 0.74, 395),
    "table2/bsnn": PaperRef("Table 2 CIFAR-10 ResNet18 BIF w/ SN", 94.78, 94.83, -0.05, 218),
}


@dataclass(frozen=True)
class NetPlan:
    """One ANN of an experiment: zoo model, width, training and simulation lengths.

    Args:
        key: the net's short name in results (``"cnn"``, ``"resnet20"``, ...).
        model: the project zoo model (``ann-*``).
        width: the channel multiplier (1.0: the paper's width).
        epochs: training epochs.
        T_max: time steps simulated per conversion variant.
        lr: SGD learning rate.
        weight_decay: SGD weight decay.
        eval_samples: test images the SNNs are simulated on (None: the whole test split).
        paper_key: prefix of its :data:`PAPER` entries.
        args: extra zoo-model keyword arguments.
    """

    key: str
    model: str
    width: float
    epochs: int
    T_max: int
    lr: float
    weight_decay: float = 5e-4
    eval_samples: int | None = None
    paper_key: str = ""
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ConversionBudget(Budget):
    """A :class:`spikebit.reproduce.Budget` with the nets and conversion settings shared by
    the nets of one experiment budget.

    The fields of :class:`spikebit.reproduce.Budget` keep their meaning; the nets read
    ``dataset``, the limits and ``batch_size`` (each :class:`NetPlan` has its own model and
    epochs).

    Args:
        dataset: data set name of :func:`spikebit.data.load_dataset`.
        model: unused here (each :class:`NetPlan` names its zoo model).
        epochs: unused here (each :class:`NetPlan` has its own epochs).
        train_limit: first training samples used (``None``: the whole split).
        test_limit: first test samples used (``None``: the whole split).
        lr: unused here (each :class:`NetPlan` has its own learning rate).
        batch_size: training batch size (default 128).
        schedule: learning-rate schedule (``cosine`` or ``constant``).
        crop_padding: random-crop padding in pixels (0: no augmentation).
        width: unused here (each :class:`NetPlan` has its own width).
        model_args: extra zoo-model keyword arguments of every run.
        activity_samples: test samples on which firing rates and costs are measured.
        extra: settings only one method reads.
        nets: the ANNs trained and converted.
        calibration: training images the activation scales are calibrated on.
        histogram_samples: test images of the Fig. 5 output-difference histograms.
        K_values: BSNN phases per period compared.
        percentile: p-norm percentile (%) of the rate baseline.
        data: extra config ``data`` keys (e.g. normalization, augmentation).
    """

    nets: tuple[NetPlan, ...] = ()
    calibration: int = 1000
    histogram_samples: int = 100
    K_values: tuple[int, ...] = (4, 6, 8)
    percentile: float = 99.99
    batch_size: int = 128
    data: dict[str, Any] = field(default_factory=dict)  # extra DataSection keys


def _budget(dataset: str, nets: tuple[NetPlan, ...], **fields: Any) -> ConversionBudget:
    return ConversionBudget(dataset=dataset, nets=nets, **fields)


CNN = NetPlan("cnn", "ann-mnist-cnn", 1.0, 100, 256, 0.01, 0.0, paper_key="cnn")
RESNET20 = NetPlan("resnet20", "ann-resnet20", 1.0, 300, 400, 0.1, paper_key="resnet20")
VGG16 = NetPlan("vgg16", "ann-vgg16", 1.0, 300, 400, 0.1, paper_key="vgg16")
RESNET18 = NetPlan("resnet18", "ann-resnet18", 1.0, 300, 512, 0.1, paper_key="table2")


SMOKE_WIDTH = {"cnn": 0.25, "resnet20": 0.125, "vgg16": 0.0625, "resnet18": 0.0625}


def _smoke(dataset: str, *nets: NetPlan) -> ConversionBudget:
    small = tuple(replace(n, width=SMOKE_WIDTH[n.key], epochs=1, T_max=16, eval_samples=None)
                  for n in nets)
    return _budget(dataset, small, train_limit=256, test_limit=48, calibration=64,
                  histogram_samples=4, batch_size=32)


def _main_nets(epochs: tuple[int, int, int]) -> tuple[NetPlan, ...]:
    """CPU sizes of the Table 1 nets: CNN full width, ResNet20 x0.5, VGG16 x0.125."""
    return (replace(CNN, epochs=epochs[0], T_max=128, eval_samples=2000),
            replace(RESNET20, width=0.5, epochs=epochs[1], T_max=224, eval_samples=500),
            replace(VGG16, width=0.125, epochs=epochs[2], T_max=192, eval_samples=1000))


BUDGETS: dict[str, dict[str, ConversionBudget]] = {
    "bsnn-fmnist": {
        "smoke": _smoke("fashion-mnist", CNN, RESNET20, VGG16),
        "cpu": _budget("fashion-mnist", _main_nets((8, 3, 4))),
        "full": _budget("fashion-mnist", (CNN, RESNET20, VGG16)),
    },
    "bsnn-mnist-subset": {
        "smoke": _smoke("mnist-subset", CNN, RESNET20, VGG16),
        "cpu": _budget("mnist-subset", _main_nets((15, 10, 10))),
        "full": _budget("mnist-subset", (CNN, RESNET20, VGG16)),
    },
    "bsnn-table2": {
        "smoke": _smoke("fashion-mnist", RESNET18),
        "cpu": _budget("fashion-mnist", (replace(RESNET18, width=0.25, epochs=3, T_max=400,
                                                eval_samples=500),)),
        "full": _budget("cifar10", (RESNET18,), data={"normalize": True, "crop_padding": 4,
                                                     "hflip": True}),
    },
}


def budget_for(experiment: str, budget: str) -> ConversionBudget:
    """The ``ConversionBudget`` of ``experiment`` at ``budget``.

    Args:
        experiment: ``"bsnn-fmnist"``, ``"bsnn-mnist-subset"`` or ``"bsnn-table2"``.
        budget: ``"smoke"``, ``"cpu"`` or ``"full"``.

    Returns:
        The budget.

    Raises:
        ConversionError: an unknown budget name.
    """
    if budget not in BUDGET_NAMES:
        raise ConversionError(f"unknown budget {budget!r}; expected one of {BUDGET_NAMES}")
    return BUDGETS[experiment][budget]


def train_config(plan: NetPlan, budget: ConversionBudget, budget_name: str, out_dir: str,
                 seed: int = 0) -> dict[str, Any]:
    """Trainer config mapping for ``plan``: SGD (momentum 0.9), cosine decay, batch 128.

    Args:
        plan: the net to train.
        budget: the experiment budget (dataset, limits, batch size, data keys).
        budget_name: ``"smoke"``, ``"cpu"`` or ``"full"`` (part of the run name; no plots
            at smoke).
        out_dir: the directory the run directory is created in.
        seed: the run's seed.

    Returns:
        The config mapping for ``train_from_config``.
    """
    return run_spec(
        f"{budget.dataset}-{plan.key}-{budget_name}", budget, model=plan.model,
        model_args={"width": plan.width, **plan.args}, data=budget.data_section(**budget.data),
        optim={"optimizer": "sgd", "lr": plan.lr, "momentum": 0.9,
               "weight_decay": plan.weight_decay, "epochs": plan.epochs},
        out_dir=out_dir, seed=seed, plots=budget_name != "smoke")


def describe(budget: ConversionBudget) -> str:
    """One line stating the budget: data, and per net width / epochs / T_max / test images.

    Args:
        budget: the budget.

    Returns:
        The description.
    """
    nets = "; ".join(
        f"{n.key}: width {n.width:g}, {n.epochs} epoch(s), T_max {n.T_max}, "
        f"{'all' if n.eval_samples is None else n.eval_samples} test images simulated"
        for n in budget.nets)
    limit = "" if budget.train_limit is None else f" (first {budget.train_limit} train images)"
    return (f"{budget.dataset}{limit}; {nets}; K in {list(budget.K_values)}, calibration on "
            f"{budget.calibration} train images, p-norm percentile {budget.percentile:g}")
