"""AGMM experiments: FP-SNN vs vanilla BSNN vs AGMM-BSNN at the same budget.

``spikebit reproduce agmm-fmnist --budget smoke|cpu|full`` trains a ResNet-19
(double skip) on Fashion-MNIST at T=2 four times: FP-SNN, vanilla BSNN,
AGMM-BSNN (causal mean) and AGMM-BSNN with the all-T mean (mean and position of
the gate as in ``DEFAULT_READING``). It reports accuracy, the per-epoch weight sign
flip ratio (curves as a PNG in ``results/``), firing rates, and the paper's Table 2
columns (size, SOPs, MACs, energy). The CPU budget (first 8000 training and 5000 test images, 4
epochs: 1/19 of the training steps of the earlier 10 epochs on all 60000) lets
``--seeds 3`` fit; its run configs
are ``configs/agmm/fmnist-resnet19-*.yaml`` (``run_config(variant, "cpu")``; a test
keeps them identical). The readings of eq. 11 are compared in
:mod:`spikebit.methods.agmm.readings` (``agmm-readings``).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol

import torch

from spikebit.methods.agmm import module as agmm_module
from spikebit.methods.agmm.analysis import modulation_report
from spikebit.methods.agmm.costs import cost_summary
from spikebit.metrics.flips import epoch_curve, plot_flip_ratios
from spikebit.reproduce import register_experiment, train_run
from spikebit.reproduce import results_dir as current_results_dir
from spikebit.reproduce.budget import Budget, pick_budget, pick_variant, run_spec


@dataclass(frozen=True)
class Variant:
    """One model of the comparison: a label and the zoo factory's keyword args.

    Args:
        name: the variant's id in run names, e.g. ``"agmm-bsnn"``.
        label: the name in result tables, e.g. ``"AGMM-BSNN (causal mean)"``.
        quantizer: weight quantizer of the binary layers: ``"fp"`` (full precision) or
            ``"sign"`` (1 bit).
        agmm: use AGMM blocks (adaptive gradient modulation, Liang et al., AAAI 2025;
            ``docs/methods/agmm.md``).
        causal: the AGMM gate averages over steps ``<= t`` (``True``) or over all ``T``
            steps.
    """

    name: str
    label: str
    quantizer: str
    agmm: bool
    causal: bool = True

    def model_args(self) -> dict[str, Any]:
        """The zoo factory's keyword arguments for this variant.

        With AGMM, the whole reading is written out (``agmm_kwargs``: the mean and
        position of :data:`~spikebit.methods.agmm.module.DEFAULT_READING`, the window
        ``causal`` picks), so a run's config still describes its model if the default
        reading changes.

        Returns:
            ``{"quantizer", "agmm"}``, plus ``"agmm_kwargs"`` when ``agmm`` is set.
        """
        args: dict[str, Any] = {"quantizer": self.quantizer, "agmm": self.agmm}
        if self.agmm:
            window = "cumulative" if self.causal else "all"
            args["agmm_kwargs"] = replace(agmm_module.DEFAULT_READING, window=window).block_kwargs()
        return args


class Labeled(Protocol):
    """A row of :func:`flip_table`: an id and a label (a :class:`Variant`, a reading row)."""

    @property
    def name(self) -> str:
        """The row's id in run names."""
        ...

    @property
    def label(self) -> str:
        """The row's name in result tables."""
        ...


VARIANTS = (
    Variant("fp-snn", "FP-SNN", "fp", agmm=False),
    Variant("bsnn", "Vanilla BSNN", "sign", agmm=False),
    Variant("agmm-bsnn", "AGMM-BSNN (causal mean)", "sign", agmm=True, causal=True),
    Variant("agmm-bsnn-allt", "AGMM-BSNN (all-T mean)", "sign", agmm=True, causal=False),
)

FMNIST_BUDGETS: Mapping[str, Budget] = MappingProxyType({  # same for every variant
    "smoke": Budget(model="agmm-resnet19", epochs=1, batch_size=32, width=0.0625,
                    model_args={"stem_stride": 2}, train_limit=192, test_limit=64,
                    activity_samples=64),
    "cpu": Budget(model="agmm-resnet19", epochs=4, batch_size=64, width=0.125,
                  model_args={"stem_stride": 2}, train_limit=8000, test_limit=5000,
                  activity_samples=256),
    "full": Budget(model="agmm-resnet19", epochs=400, batch_size=128, width=1.0,
                   model_args={"stem_stride": 1}, activity_samples=1000),
})

STEPS = 2
RESULT_COLUMNS = ["model", "test_acc", "best_test_acc", "mean_flip_ratio", "size_MB", "SOPs_M",
                  "MACs_M", "energy_uJ", "mean_firing_rate", "mod_gate", "mod_bn_gamma_abs",
                  "mod_grad_to_weight"]
OPTIM: Mapping[str, Any] = MappingProxyType(
    {"optimizer": "sgd", "lr": 0.5, "momentum": 0.9, "weight_decay": 5e-4, "schedule": "cosine"})


FLIP_CALLBACK: Mapping[str, Any] = MappingProxyType(
    {"name": "flip-ratio", "args": {"every_step": False}})


def budget_for(budget: str) -> Budget:
    """The Fashion-MNIST :class:`Budget` named ``budget``; ConfigError when unknown."""
    return pick_budget(FMNIST_BUDGETS, budget)


def budget_note(b: Budget) -> str:
    """Model and data of a Fashion-MNIST budget, for result notes (e.g. ``"ResNet-19
    (double skip) width 0.125, stem stride 2, T=2, first 8000 training images"``)."""
    images = "all" if b.train_limit is None else f"first {b.train_limit}"
    tests = "all" if b.test_limit is None else f"first {b.test_limit}"
    return (f"ResNet-19 (double skip) width {b.width}, stem stride "
            f"{b.model_args['stem_stride']}, T={STEPS}, {images} training images, {tests} "
            f"test images")


def variant_for(name: str, variants: tuple[Variant, ...] = VARIANTS) -> Variant:
    """The :class:`Variant` named ``name`` among ``variants``; ConfigError when unknown."""
    by_name = {v.name: v for v in variants}
    return by_name[pick_variant(by_name, name, "AGMM variant")]


def run_config(variant: str, budget: str = "cpu") -> dict[str, Any]:
    """The run config (a ``RunConfig`` mapping) of one variant at one budget.

    ResNet-19 (double skip) at ``T = 2`` on Fashion-MNIST, SGD lr 0.5 cosine, the
    flip-ratio callback; ``run_config(v, "cpu")`` equals
    ``configs/agmm/fmnist-resnet19-<v>.yaml``.

    Args:
        variant: a :data:`VARIANTS` name (``fp-snn``, ``bsnn``, ``agmm-bsnn``,
            ``agmm-bsnn-allt``).
        budget: ``"smoke"``, ``"cpu"`` or ``"full"``.

    Returns:
        The config mapping, ready for :func:`spikebit.reproduce.train_run`.

    Raises:
        ConfigError: an unknown variant or budget.
    """
    v, b = variant_for(variant), budget_for(budget)
    return run_spec(f"agmm-fmnist-{v.name}", b, loss="ce", out_dir="runs/agmm",
                    model_args={"steps": STEPS, "width": b.width, **v.model_args()},
                    optim=OPTIM, callbacks=[copy.deepcopy(dict(FLIP_CALLBACK))])


def activity_batches(dataset: str, limit: int, batch: int = 500) -> list[torch.Tensor]:
    """The first ``limit`` test images of ``dataset`` in batches (firing rates and costs).

    Args:
        dataset: a :func:`spikebit.data.load_dataset` name, e.g. ``"fashion-mnist"``.
        limit: number of test images.
        batch: images per batch.

    Returns:
        Batches ``[<= batch, C, H, W]``.

    Raises:
        DataError: the dataset is missing or corrupt (``spikebit data fetch``).
    """
    from spikebit.data import load_dataset

    images = load_dataset(dataset, train=False).images[:limit]
    return [images[i:i + batch] for i in range(0, len(images), batch)]


def probe_batch(dataset: str, size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``size`` test images and labels (gradient/modulation probe).

    Args:
        dataset: a :func:`spikebit.data.load_dataset` name, e.g. ``"fashion-mnist"``.
        size: number of test images.

    Returns:
        ``(images [size, C, H, W], labels [size])``.

    Raises:
        DataError: the dataset is missing or corrupt (``spikebit data fetch``).
    """
    from spikebit.data import load_dataset

    test = load_dataset(dataset, train=False)
    return test.images[:size], test.labels[:size]


def measurement_inputs(b: Any) -> tuple[list[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """The Fashion-MNIST images every AGMM run of a budget is measured on: the activity
    batches (first ``b.activity_samples`` test images) and the gradient probe (the first
    256 of them at most).

    Args:
        b: the experiment's budget (:func:`budget_for`).

    Returns:
        ``(activity batches, (probe images, probe labels))``.

    Raises:
        DataError: the dataset is missing or corrupt (``spikebit data fetch``).
    """
    return (activity_batches("fashion-mnist", b.activity_samples),
            probe_batch("fashion-mnist", min(256, b.activity_samples)))


def train_variant(config: dict[str, Any], activity: list[torch.Tensor],
                  probe: tuple[torch.Tensor, torch.Tensor] | None = None) -> dict[str, Any]:
    """Train one config (or reuse the finished run) and measure its table row.

    Args:
        config: a run config mapping (:func:`run_config`).
        activity: test batches (``[B, C, H, W]`` images or ``[T, B, C, H, W]`` frames)
            over which firing rates, SOPs, MACs and energy are measured.
        probe: a batch ``(inputs, labels)`` for the AGMM modulation report (``None``:
            skipped).

    Returns:
        The row: accuracies in %, the mean and per-epoch weight sign flip ratio, epoch
        seconds, run directory, the Table 2 costs (size in MB, SOPs/MACs in millions,
        energy in uJ per sample) and, with ``probe``, the ``mod_*`` means.

    Raises:
        ConfigError: the config is invalid.
        DataError: the dataset is missing or corrupt (``spikebit data fetch``).
        TrainingError: a run diverged.
    """
    run = train_run(config)
    metrics, run_dir, history, model = run.metrics, run.run_dir, run.history(), run.model()
    curve = epoch_curve(history)
    row = {
        "test_acc": 100.0 * metrics["test_acc"],
        "best_test_acc": 100.0 * metrics["best_test_acc"],
        "mean_flip_ratio": sum(curve) / len(curve) if curve else None,
        "flip_ratio_per_epoch": curve,
        "flip_ratio_last_epoch_layers": history[-1]["flip_ratio"]["layers"],
        "epoch_seconds": [h["epoch_seconds"] for h in history],
        "run_dir": str(run_dir),
    }
    row.update(cost_summary(model, activity))
    if probe is not None:
        modulation = modulation_report(model, *probe)
        row["modulation"] = modulation
        row.update({f"mod_{k}": v for k, v in modulation["mean"].items()})
    return row


def compare_flips(agmm: list[float], vanilla: list[float]) -> dict[str, Any]:
    """Per-epoch AGMM vs vanilla mean flip ratio, and in how many epochs AGMM is lower.

    Args:
        agmm: AGMM-BSNN's mean flip ratio per epoch (fractions in [0, 1]).
        vanilla: vanilla BSNN's mean flip ratio per epoch.

    Returns:
        ``{"agmm", "vanilla", "agmm_lower_epochs", "epochs"}`` over the epochs both
        lists cover.
    """
    pairs = list(zip(agmm, vanilla))
    return {"agmm": agmm, "vanilla": vanilla,
            "agmm_lower_epochs": sum(a < b for a, b in pairs), "epochs": len(pairs)}


def flip_table(configs: list[tuple[Labeled, dict[str, Any]]], activity: list[torch.Tensor],
               probe: tuple[torch.Tensor, torch.Tensor] | None, figure: str,
               title: str) -> dict[str, Any]:
    """Train every ``(variant, run config)`` of ``configs`` (:func:`train_variant` on the
    ``activity`` batches and ``probe``); the result's rows, columns, the AGMM vs vanilla
    flip comparison (when both ran) and the flip-ratio plot ``figure`` (a file name in
    the results folder) titled ``title``."""
    rows = [{"model": v.label, "variant": v.name, **train_variant(config, activity, probe)}
            for v, config in configs]
    curves = {r["model"]: r["flip_ratio_per_epoch"] for r in rows}
    path = plot_flip_ratios(curves, current_results_dir() / figure, title=title)
    by_name = {r["variant"]: r for r in rows}
    comparison = {}
    if "agmm-bsnn" in by_name and "bsnn" in by_name:
        comparison = compare_flips(by_name["agmm-bsnn"]["flip_ratio_per_epoch"],
                                   by_name["bsnn"]["flip_ratio_per_epoch"])
    return {"rows": rows, "columns": RESULT_COLUMNS, "flip_ratio_comparison": comparison,
            "figures": [str(path)] if path is not None else []}


def run_fmnist(budget: str, work_dir: Path, variants: tuple[Variant, ...] = VARIANTS,
               name: str = "agmm-fmnist",
               optim: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Train every variant at ``budget`` under ``work_dir``; rows + flip-ratio PNG.

    Args:
        budget: ``"smoke"`` (seconds), ``"cpu"`` (the published CPU runs) or ``"full"``
            (the paper's scale).
        work_dir: where the runs are trained (finished runs are reused).
        variants: the models to compare (default: all four :data:`VARIANTS`).
        name: the experiment name, used in the figure's file name (and in run names when
            ``optim`` is given).
        optim: optimizer settings overriding every variant's (runs are then named
            ``<name>-<variant>``).

    Returns:
        The experiment result: ``rows``, ``columns``, ``flip_ratio_comparison``,
        ``figures`` and ``note``.

    Raises:
        ConfigError: an unknown budget.
        DataError: the dataset is missing or corrupt (``spikebit data fetch``).
        TrainingError: a run diverged.
    """
    b = budget_for(budget)
    activity, probe = measurement_inputs(b)
    configs = []
    for v in variants:
        config = copy.deepcopy(run_config(v.name, budget))
        config.update(out_dir=str(work_dir), plots=budget != "smoke")
        if optim:
            config["optim"].update(optim)
            config["name"] = f"{name}-{v.name}"
        configs.append((v, config))
    settings = {**OPTIM, "epochs": b.epochs, **(optim or {})}
    return {
        **flip_table(configs, activity, probe, f"{name}-flip-ratio.png",
                     f"{name}: ResNet-19 T={STEPS}, mean flip ratio"),
        "note": (f"{budget_note(b)}, {settings['epochs']} epoch(s), SGD lr {settings['lr']} "
                 f"momentum {settings['momentum']} cosine, "
                 f"weight decay {settings['weight_decay']}. Accuracies in %; "
                 "flip ratio = mean over binary layers of the fraction of latent weights "
                 "whose sign changed in an epoch; SOPs/MACs in millions and energy in uJ "
                 "per sample; mod_* = means over binary units on 256 test images of the "
                 "AGMM gate, |BN gamma| and |latent grad| / |latent weight| "
                 "(spikebit.methods.agmm.analysis). Paper reference (CIFAR-100, full "
                 "width, Table 2): AGMM-BSNN 2.46 MB / 0.045 G SOPs / 0.064 mJ, vanilla "
                 "BSNN 2.31 MB / 0.056 G / 0.066 mJ, FP-SNN 50.46 MB / 0.750 G / 0.330 mJ; "
                 "no Fashion-MNIST number."),
    }


@register_experiment("agmm-fmnist", "AGMM: FP-SNN vs vanilla BSNN vs AGMM-BSNN (causal and "
                     "all-T mean), Fashion-MNIST ResNet-19 T=2: accuracy, flip ratios, Table 2")
def agmm_fmnist(budget: str, work_dir: Path) -> dict[str, Any]:
    """``spikebit reproduce agmm-fmnist``: all four variants (:func:`run_fmnist`).

    Args:
        budget: ``"smoke"`` (seconds), ``"cpu"`` (the published CPU runs) or ``"full"``
            (the paper's scale).
        work_dir: where the runs are trained (finished runs are reused).

    Returns:
        The experiment result (rows, columns, flip-ratio comparison, figure, note).

    Raises:
        ConfigError: an unknown budget.
        DataError: the dataset is missing or corrupt (``spikebit data fetch``).
        TrainingError: a run diverged.
    """
    return run_fmnist(budget, work_dir)


@register_experiment("agmm-fmnist-nowd", "Ablation: vanilla BSNN vs AGMM-BSNN without weight "
                     "decay (does AGMM lower the flip ratio when WD does not set the step?)")
def agmm_fmnist_nowd(budget: str, work_dir: Path) -> dict[str, Any]:
    """Ablation: vanilla BSNN vs AGMM-BSNN without weight decay (same budget as
    ``agmm-fmnist``).

    Args:
        budget: ``"smoke"`` (seconds), ``"cpu"`` (the published CPU runs) or ``"full"``
            (the paper's scale).
        work_dir: where the runs are trained (finished runs are reused).

    Returns:
        The experiment result (rows, columns, flip-ratio comparison, figure, note).

    Raises:
        ConfigError: an unknown budget.
        DataError: the dataset is missing or corrupt (``spikebit data fetch``).
        TrainingError: a run diverged.
    """
    variants = tuple(v for v in VARIANTS if v.name in ("bsnn", "agmm-bsnn"))
    return run_fmnist(budget, work_dir, variants, name="agmm-fmnist-nowd",
                      optim={"weight_decay": 0.0})
