"""AGMM on event data: ``spikebit reproduce agmm-nfmnist`` (VGGSNN, T=10).

The paper's event benchmark is DVS-CIFAR10 with VGGSNN at T=10. Offline, the
stand-in is Fashion-MNIST seen by the saccade simulator (``nfmnist``: 34x34,
2 polarities), binned into T=10 frames. FP-SNN, vanilla BSNN and AGMM-BSNN
(causal mean) train with the same budget; rows as in ``agmm-fmnist``.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch

from spikebit.methods.agmm.experiments import FLIP_CALLBACK, VARIANTS, flip_table, variant_for
from spikebit.reproduce import register_experiment
from spikebit.reproduce.budget import Budget, pick_budget, run_spec

STEPS = 10


def _frames_budget(train_limit: int | None, test_limit: int | None, epochs: int, width: float,
                   batch_size: int = 32, activity_samples: int = 500) -> Budget:
    return Budget("nfmnist", "agmm-vggsnn", epochs, train_limit, test_limit, width=width,
                  batch_size=batch_size, activity_samples=activity_samples)


EVENT_BUDGETS = {
    "smoke": _frames_budget(96, 48, 1, 0.0625, batch_size=16, activity_samples=48),
    "cpu": _frames_budget(4000, 1000, 5, 0.125),
    "full": _frames_budget(None, None, 100, 1.0),
}
EVENT_VARIANTS = tuple(v for v in VARIANTS if v.name in ("fp-snn", "bsnn", "agmm-bsnn"))


def event_budget(budget: str) -> Budget:
    """The event-data :class:`Budget` named ``budget``; ConfigError when unknown."""
    return pick_budget(EVENT_BUDGETS, budget)


def event_run_config(variant: str, budget: str, work_dir: Path) -> dict[str, Any]:
    """The run config of one variant on ``nfmnist`` frames at ``budget``.

    VGGSNN at ``T = 10`` on simulated event Fashion-MNIST frames ``[T, B, 2, 34, 34]``.

    Args:
        variant: ``"fp-snn"``, ``"bsnn"`` or ``"agmm-bsnn"``.
        budget: ``"smoke"``, ``"cpu"`` or ``"full"``.
        work_dir: the runs' ``out_dir``.

    Returns:
        The config mapping, ready for :func:`spikebit.reproduce.train_run`.

    Raises:
        ConfigError: an unknown variant or budget.
    """
    v = variant_for(variant, EVENT_VARIANTS)
    b = event_budget(budget)
    return run_spec(f"agmm-nfmnist-{v.name}-{budget}", b, loss="ce", out_dir=work_dir,
                    model_args={"steps": STEPS, "width": b.width, **v.model_args()},
                    data=b.data_section(frames=STEPS),
                    callbacks=[copy.deepcopy(dict(FLIP_CALLBACK))], plots=False)


def _event_activity(b: Budget, batch: int = 100
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
    """``spikebit reproduce agmm-nfmnist``: FP-SNN, vanilla BSNN, AGMM-BSNN on event frames.

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
    b = event_budget(budget)
    activity, probe = _event_activity(b)  # the same test frames for every variant
    configs = [(v, event_run_config(v.name, budget, Path(work_dir))) for v in EVENT_VARIANTS]
    return {
        **flip_table(configs, activity, probe, "agmm-nfmnist-flip-ratio.png",
                     f"event Fashion-MNIST VGGSNN T={STEPS}: mean flip ratio"),
        "note": (f"VGGSNN width {b.width}, {b.describe_frames(STEPS)}, Adam 1e-3 cosine, CE. "
                 "Paper reference (DVS-CIFAR10, a real recording, VGGSNN T=10): "
                 "AGMM-BSNN 82.40%; no number for this simulation."),
    }
