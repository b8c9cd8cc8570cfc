"""AGMM experiments: FP-SNN vs vanilla BSNN vs AGMM-BSNN at the same budget.

``spikebit reproduce agmm-fmnist --budget smoke|cpu|full`` trains a ResNet-19
(double skip) on Fashion-MNIST at T=2 four times: FP-SNN, vanilla BSNN,
AGMM-BSNN (causal mean, the default) and AGMM-BSNN with the all-T mean. It
reports accuracy, the per-epoch weight sign flip ratio (curves as a PNG in
``results/``), firing rates, and the paper's Table 2 columns (size, SOPs, MACs,
energy). The CPU-budget run configs are ``configs/agmm/fmnist-resnet19-*.yaml``
(``run_config(variant, "cpu")``; a test keeps them identical).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import torch

from spikebit.errors import ConfigError, did_you_mean
from spikebit.methods.agmm.analysis import modulation_report
from spikebit.methods.agmm.costs import cost_summary
from spikebit.metrics.flips import epoch_curve, plot_flip_ratios
from spikebit.reproduce import register_experiment
from spikebit.reproduce import results_dir as current_results_dir


@dataclass(frozen=True)
class Variant:
    """One model of the comparison: a label and the zoo factory's keyword args."""

    name: str
    label: str
    quantizer: str
    agmm: bool
    causal: bool = True

    def model_args(self) -> dict[str, Any]:
        args: dict[str, Any] = {"quantizer": self.quantizer, "agmm": self.agmm}
        if self.agmm:
            args["causal"] = self.causal
        return args


@dataclass(frozen=True)
class Budget:
    """Training size of one budget (same for every variant)."""

    epochs: int
    batch_size: int
    width: float
    stem_stride: int
    train_limit: int | None = None
    test_limit: int | None = None
    activity_samples: int = 1000


VARIANTS = (
    Variant("fp-snn", "FP-SNN", "fp", agmm=False),
    Variant("bsnn", "Vanilla BSNN", "sign", agmm=False),
    Variant("agmm-bsnn", "AGMM-BSNN (causal mean)", "sign", agmm=True, causal=True),
    Variant("agmm-bsnn-allt", "AGMM-BSNN (all-T mean)", "sign", agmm=True, causal=False),
)

FMNIST_BUDGETS: Mapping[str, Budget] = MappingProxyType({
    "smoke": Budget(epochs=1, batch_size=32, width=0.0625, stem_stride=2, train_limit=192,
                    test_limit=64, activity_samples=64),
    "cpu": Budget(epochs=10, batch_size=64, width=0.125, stem_stride=2),
    "full": Budget(epochs=400, batch_size=128, width=1.0, stem_stride=1),
})

STEPS = 2
RESULT_COLUMNS = ["model", "test_acc", "best_test_acc", "mean_flip_ratio", "size_MB", "SOPs_M",
                  "MACs_M", "energy_uJ", "mean_firing_rate", "mod_gate", "mod_bn_gamma_abs",
                  "mod_grad_to_weight"]
OPTIM: Mapping[str, Any] = MappingProxyType(
    {"optimizer": "sgd", "lr": 0.5, "momentum": 0.9, "weight_decay": 5e-4, "schedule": "cosine"})


def budget_for(budget: str) -> Budget:
    if budget not in FMNIST_BUDGETS:
        raise ConfigError(f"unknown budget {budget!r}.{did_you_mean(budget, FMNIST_BUDGETS)} "
                          f"Use one of: {', '.join(FMNIST_BUDGETS)}.")
    return FMNIST_BUDGETS[budget]


def variant_for(name: str) -> Variant:
    names = {v.name: v for v in VARIANTS}
    if name not in names:
        raise ConfigError(f"unknown AGMM variant {name!r}.{did_you_mean(name, names)} "
                          f"Use one of: {', '.join(names)}.")
    return names[name]


def run_config(variant: str, budget: str = "cpu") -> dict[str, Any]:
    """The run config (a ``RunConfig`` mapping) of one variant at one budget."""
    v, b = variant_for(variant), budget_for(budget)
    args = {"steps": STEPS, "width": b.width, "stem_stride": b.stem_stride, **v.model_args()}
    data: dict[str, Any] = {"name": "fashion-mnist"}
    if b.train_limit:
        data["train_limit"] = b.train_limit
    if b.test_limit:
        data["test_limit"] = b.test_limit
    return {
        "name": f"agmm-fmnist-{v.name}",
        "seed": 0,
        "loss": "ce",
        "out_dir": "runs/agmm",
        "model": {"name": "agmm-resnet19", "args": args},
        "data": data,
        "optim": {**OPTIM, "epochs": b.epochs, "batch_size": b.batch_size},
        "callbacks": [{"name": "flip-ratio", "args": {"every_step": False}}],
    }


def _activity_batches(dataset: str, limit: int, batch: int = 500) -> list[torch.Tensor]:
    from spikebit.data import load_dataset

    images = load_dataset(dataset, train=False).images[:limit]
    return [images[i:i + batch] for i in range(0, len(images), batch)]


def _probe_batch(dataset: str, size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``size`` test images and labels (gradient/modulation probe)."""
    from spikebit.data import load_dataset

    test = load_dataset(dataset, train=False)
    return test.images[:size], test.labels[:size]


def train_variant(config: dict[str, Any], activity: list[torch.Tensor],
                  probe: tuple[torch.Tensor, torch.Tensor] | None = None) -> dict[str, Any]:
    """Train one config; return its row (accuracy, flip ratios, Table 2 costs)."""
    from spikebit.train import model_from_checkpoint, train_or_reuse

    metrics, run_dir = train_or_reuse(config)
    history = json.loads((run_dir / "metrics.json").read_text())["history"]
    model, _, _ = model_from_checkpoint(run_dir / "last.safetensors")
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
    """Per-epoch AGMM vs vanilla mean flip ratio, and in how many epochs AGMM is lower."""
    pairs = list(zip(agmm, vanilla))
    return {"agmm": agmm, "vanilla": vanilla,
            "agmm_lower_epochs": sum(a < b for a, b in pairs), "epochs": len(pairs)}


def run_fmnist(budget: str, work_dir: Path, variants: tuple[Variant, ...] = VARIANTS,
               name: str = "agmm-fmnist",
               optim: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Train every variant at ``budget`` under ``work_dir``; rows + flip-ratio PNG.

    ``optim`` overrides optimizer settings of every variant (runs are then named
    ``<name>-<variant>``)."""
    b = budget_for(budget)
    activity = _activity_batches("fashion-mnist", b.activity_samples)
    probe = _probe_batch("fashion-mnist", min(256, b.activity_samples))
    rows, curves = [], {}
    for v in variants:
        config = copy.deepcopy(run_config(v.name, budget))
        config.update(out_dir=str(work_dir), plots=budget != "smoke")
        if optim:
            config["optim"].update(optim)
            config["name"] = f"{name}-{v.name}"
        row = {"model": v.label, "variant": v.name, **train_variant(config, activity, probe)}
        rows.append(row)
        curves[v.label] = row["flip_ratio_per_epoch"]
    figure = plot_flip_ratios(curves, current_results_dir() / f"{name}-flip-ratio.png",
                              title=f"{name}: ResNet-19 T={STEPS}, mean flip ratio")
    by_name = {r["variant"]: r for r in rows}
    settings = {**OPTIM, "epochs": b.epochs, **(optim or {})}
    comparison = {}
    if "agmm-bsnn" in by_name and "bsnn" in by_name:
        comparison = compare_flips(by_name["agmm-bsnn"]["flip_ratio_per_epoch"],
                                   by_name["bsnn"]["flip_ratio_per_epoch"])
    return {
        "rows": rows,
        "columns": RESULT_COLUMNS,
        "flip_ratio_comparison": comparison,
        "figures": [str(figure)] if figure is not None else [],
        "note": (f"ResNet-19 (double skip) width {b.width}, stem stride {b.stem_stride}, "
                 f"T={STEPS}, {settings['epochs']} epoch(s), SGD lr {settings['lr']} cosine, "
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
    return run_fmnist(budget, work_dir)


@register_experiment("agmm-fmnist-nowd", "Ablation: vanilla BSNN vs AGMM-BSNN without weight "
                     "decay (does AGMM lower the flip ratio when WD does not set the step?)")
def agmm_fmnist_nowd(budget: str, work_dir: Path) -> dict[str, Any]:
    variants = tuple(v for v in VARIANTS if v.name in ("bsnn", "agmm-bsnn"))
    epochs = {"smoke": 1, "cpu": 5}.get(budget, budget_for(budget).epochs)
    return run_fmnist(budget, work_dir, variants, name="agmm-fmnist-nowd",
                      optim={"weight_decay": 0.0, "epochs": epochs})
