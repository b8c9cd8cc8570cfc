"""Run configs and result rows of the multi-threshold experiments.

A run's directory is ``<work_dir>/<label>``; a run whose ``last.safetensors``
exists is resumed (a finished one is not retrained), so an interrupted sweep
picks up where it stopped. Budgets are :class:`spikebit.reproduce.Budget`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spikebit.methods.multithreshold.loss import TARGET_COUNT
from spikebit.reproduce.budget import Budget, run_spec

__all__ = ["Budget", "mt_budget", "result_row", "run_config"]


def mt_budget(dataset: str, model: str, epochs: int = 1, **fields: Any) -> Budget:
    """A :class:`Budget` of ``model`` on ``dataset`` for ``epochs`` epochs with the
    multi-threshold defaults (Adam lr 0.005, batch 128) unless ``fields`` (other
    :class:`Budget` fields) say otherwise."""
    return Budget(dataset, model, epochs, **{"lr": 0.005, "batch_size": 128, **fields})


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
    """A run-config mapping of one multi-threshold training.

    Inputs are normalized, cropped with the budget's padding; no callbacks, no plots.

    Args:
        label: the run's name (its directory is ``<work_dir>/<label>``).
        budget: dataset, model, epochs and optimizer settings (:func:`mt_budget`).
        work_dir: the runs' ``out_dir``.
        model_args: keyword arguments for the zoo model (``steps``, ``max_spikes``, ...).
        loss: ``"count"``: the paper's per-step spike-count MSE (loss ``mt-mse``, eq. 6);
            otherwise a registered loss name.
        target_count: desired spikes per step of the label's output neuron (``"count"``
            loss only).
        seed: the run's seed.

    Returns:
        The config mapping, ready for :func:`spikebit.reproduce.train_run`.
    """
    return run_spec(
        label, budget, model_args=model_args, out_dir=work_dir, seed=seed,
        loss=({"name": "mt-mse", "args": {"target_count": target_count}}
              if loss == "count" else loss),
        data=budget.data_section(normalize=True, crop_padding=budget.crop_padding),
        callbacks=[], plots=False, log_every=100)


def result_row(metrics: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """Fields plus accuracies in percent (test, best test, train) and the last epoch's
    seconds, from final metrics."""
    return {**fields,
            "test_acc": 100.0 * metrics["test_acc"],
            "best_test_acc": 100.0 * metrics.get("best_test_acc", metrics["test_acc"]),
            "train_acc": 100.0 * metrics["train_acc"],
            "epoch_seconds": metrics.get("epoch_seconds")}  # wall time of the last epoch
