"""Helpers for the multi-threshold experiments: budgets, run configs, training, plots.

A run's directory is ``<work_dir>/<label>``; a run whose ``last.safetensors``
exists is resumed (a finished one is not retrained), so an interrupted sweep
picks up where it stopped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spikebit.errors import ConfigError
from spikebit.methods.multithreshold.loss import TARGET_COUNT
from spikebit.plotting import new_figure
from spikebit.train.run import train_or_reuse

BUDGETS = ("smoke", "cpu", "full")


@dataclass(frozen=True)
class Budget:
    """Data, model and schedule of one budget. ``None`` limits use the whole split."""

    dataset: str
    model: str
    epochs: int
    train_limit: int | None = None
    test_limit: int | None = None
    lr: float = 0.005
    batch_size: int = 128
    schedule: str = "cosine"
    crop_padding: int = 0
    model_args: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        n = "all" if self.train_limit is None else str(self.train_limit)
        return (f"{self.model} on {self.dataset} ({n} training samples), {self.epochs} epochs, "
                f"Adam lr {self.lr}, batch {self.batch_size}, {self.schedule} schedule, "
                f"random crop padding {self.crop_padding}")


def pick(budgets: dict[str, Budget], budget: str) -> Budget:
    """The budget named ``budget`` (``smoke``, ``cpu`` or ``full``)."""
    if budget not in budgets:
        raise ConfigError(f"unknown budget {budget!r}: use one of {', '.join(budgets)}")
    return budgets[budget]


def run_config(
    label: str,
    budget: Budget,
    work_dir: Path,
    model_args: dict[str, Any] | None = None,
    *,
    loss: str = "count",
    target_count: float = TARGET_COUNT,
    seed: int = 0,
) -> dict[str, Any]:
    """A run-config mapping; ``loss="count"`` is the paper's per-step count MSE (``mt-mse``)."""
    return {
        "name": label,
        "seed": seed,
        "loss": ({"name": "mt-mse", "args": {"target_count": target_count}}
                 if loss == "count" else loss),
        "out_dir": str(work_dir),
        "plots": False,
        "log_every": 100,
        "model": {"name": budget.model, "args": {**budget.model_args, **(model_args or {})}},
        "data": {"name": budget.dataset, "normalize": True, "crop_padding": budget.crop_padding,
                 "train_limit": budget.train_limit, "test_limit": budget.test_limit},
        "optim": {"optimizer": "adam", "lr": budget.lr, "schedule": budget.schedule,
                  "epochs": budget.epochs, "batch_size": budget.batch_size},
        "callbacks": [],
    }


def train_run(config: dict[str, Any]) -> dict[str, Any]:
    """Train (or resume/reuse) one run; returns its final metrics."""
    metrics, _ = train_or_reuse(config)
    return metrics


def result_row(metrics: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """Fields plus accuracies in percent (test, best test, train) and the last epoch's
    seconds, from final metrics."""
    return {**fields,
            "test_acc": 100.0 * metrics["test_acc"],
            "best_test_acc": 100.0 * metrics.get("best_test_acc", metrics["test_acc"]),
            "train_acc": 100.0 * metrics["train_acc"],
            "epoch_seconds": metrics.get("epoch_seconds")}  # wall time of the last epoch


def plot_sweep(
    path: Path,
    x: Sequence[Any],
    series: dict[str, Sequence[float]],
    xlabel: str,
    title: str,
    logx: bool = False,
    bars: bool = False,
) -> Path | None:
    """Accuracy (%) against ``x`` for each named series, saved as PNG (``None`` without
    matplotlib)."""
    fig = new_figure(title, figsize=(5, 3.5))
    if fig is None:
        return None
    ax = fig.subplots()
    for i, (name, ys) in enumerate(series.items()):
        if bars:
            pos = [j + 0.8 * i / len(series) for j in range(len(x))]
            ax.bar(pos, ys, width=0.8 / len(series), label=name)
            ax.set_xticks(range(len(x)), [str(v) for v in x])
        else:
            ax.plot(list(x), list(ys), marker="o", label=name)
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path
