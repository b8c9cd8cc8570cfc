"""AGMM on event data: ``spikebit reproduce agmm-nfmnist`` (VGGSNN, T=10).

The paper's event benchmark is DVS-CIFAR10 with VGGSNN at T=10. Offline, the
stand-in is Fashion-MNIST seen by the saccade simulator (``nfmnist``: 34x34,
2 polarities), binned into T=10 frames. FP-SNN, vanilla BSNN and AGMM-BSNN
(causal mean) train with the same budget; rows as in ``agmm-fmnist``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from spikebit.errors import ConfigError, did_you_mean
from spikebit.methods.agmm.experiments import (
    RESULT_COLUMNS,
    VARIANTS,
    compare_flips,
    train_variant,
)
from spikebit.metrics.flips import plot_flip_ratios
from spikebit.reproduce import register_experiment
from spikebit.reproduce import results_dir as current_results_dir
from spikebit.reproduce.events import EventBudget, pick_event_budget

STEPS = 10


EVENT_BUDGETS = {
    "smoke": EventBudget(96, 48, 1, 0.0625, batch_size=16, activity_samples=48),
    "cpu": EventBudget(4000, 1000, 5, 0.125),
    "full": EventBudget(None, None, 100, 1.0),
}
EVENT_VARIANTS = tuple(v for v in VARIANTS if v.name in ("fp-snn", "bsnn", "agmm-bsnn"))


def event_budget(budget: str) -> EventBudget:
    return pick_event_budget(EVENT_BUDGETS, budget)


def event_run_config(variant: str, budget: str, work_dir: Path) -> dict[str, Any]:
    """The run config of one variant on ``nfmnist`` frames at ``budget``."""
    v = next((x for x in EVENT_VARIANTS if x.name == variant), None)
    if v is None:
        names = [x.name for x in EVENT_VARIANTS]
        raise ConfigError(f"unknown AGMM event variant {variant!r}.{did_you_mean(variant, names)}"
                          f" Use one of: {', '.join(names)}.")
    b = event_budget(budget)
    return {
        "name": f"agmm-nfmnist-{v.name}-{budget}",
        "seed": 0,
        "loss": "ce",
        "out_dir": str(work_dir),
        "model": {"name": "agmm-vggsnn", "args": {"steps": STEPS, "width": b.width,
                                                  **v.model_args()}},
        "data": b.data_section(STEPS),
        "optim": {"optimizer": "adam", "lr": 1e-3, "schedule": "cosine",
                  "epochs": b.epochs, "batch_size": b.batch_size},
        "callbacks": [{"name": "flip-ratio", "args": {"every_step": False}}],
        "plots": False,
    }


def _event_activity(b: EventBudget, batch: int = 100
                    ) -> tuple[list[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """Time-major test frames ``[T, B, 2, 34, 34]`` for firing rates and SOPs, and a
    probe batch (frames, labels) for the modulation report."""
    from spikebit.data.events.training import load_event_frames

    _, test = load_event_frames("nfmnist", T=STEPS, train_limit=b.train_limit,
                                test_limit=b.test_limit)
    frames = test.images[:b.activity_samples]
    probe = (frames[:64].transpose(0, 1), test.labels[:64])
    return [frames[i:i + batch].transpose(0, 1) for i in range(0, len(frames), batch)], probe


@register_experiment("agmm-nfmnist", "AGMM on simulated event Fashion-MNIST, VGGSNN (narrow) "
                     "T=10: FP-SNN vs vanilla BSNN vs AGMM-BSNN, accuracy and flip ratios")
def agmm_nfmnist(budget: str, work_dir: Path) -> dict[str, Any]:
    b = event_budget(budget)
    rows = []
    activity, probe = _event_activity(b)  # the same test frames for every variant
    for v in EVENT_VARIANTS:
        config = event_run_config(v.name, budget, Path(work_dir))
        rows.append({"model": v.label, "variant": v.name,
                     **train_variant(config, activity, probe)})
    curves = {r["model"]: r["flip_ratio_per_epoch"] for r in rows}
    figure = plot_flip_ratios(curves, current_results_dir() / "agmm-nfmnist-flip-ratio.png",
                              title=f"event Fashion-MNIST VGGSNN T={STEPS}: mean flip ratio")
    by_name = {r["variant"]: r for r in rows}
    return {
        "rows": rows,
        "columns": RESULT_COLUMNS,
        "flip_ratio_comparison": compare_flips(by_name["agmm-bsnn"]["flip_ratio_per_epoch"],
                                               by_name["bsnn"]["flip_ratio_per_epoch"]),
        "figures": [str(figure)] if figure is not None else [],
        "note": (f"VGGSNN width {b.width}, {b.describe(STEPS)}, Adam 1e-3 cosine, CE. "
                 "Paper reference (DVS-CIFAR10, a real recording, VGGSNN T=10): "
                 "AGMM-BSNN 82.40%; no number for this simulation."),
    }
