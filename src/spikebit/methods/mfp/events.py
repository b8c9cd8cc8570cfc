"""MFP-QSNN on event data: ``spikebit reproduce mfp-nfmnist`` (VGGSNN, T=10).

The paper's event benchmark is CIFAR10-DVS (VGGSNN, T=10). Offline, the stand-in is
Fashion-MNIST seen by the saccade simulator (``nfmnist``: 34x34, 2 polarities) in
T=10 frames. The FP LIF baseline and MFP-QSNN train with the same budget; rows give
accuracy, inference memory per sample, and the serial path's agreement with the
parallel outputs on test frames.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from spikebit.methods.mfp.experiments import add_memory_ratios, memory_row
from spikebit.methods.mfp.memory import inference_memory
from spikebit.methods.mfp.serial import find_spiking_net, serial_forward
from spikebit.reproduce import register_experiment, train_run
from spikebit.reproduce.budget import Budget, pick_budget, pick_variant, run_spec

STEPS = 10
IN_SHAPE = [2, 34, 34]
MODELS = {"fp-lif": "mfp-vggsnn-cifar10dvs-fp-lif", "mfp": "mfp-vggsnn-cifar10dvs"}


EVENT_BUDGETS = {
    "smoke": Budget("nfmnist", epochs=1, train_limit=96, test_limit=48, width=0.0625,
                    batch_size=16),
    "cpu": Budget("nfmnist", epochs=5, train_limit=4000, test_limit=1000, width=0.125,
                  batch_size=32),
    "full": Budget("nfmnist", epochs=100, width=1.0, batch_size=32),
}


def event_run_config(kind: str, budget: str, work_dir: Path) -> dict[str, Any]:
    """Run config of ``kind`` ("fp-lif" or "mfp") on ``nfmnist`` frames at ``budget``.

    A narrow VGGSNN at ``T = 10`` on simulated event frames ``[T, B, 2, 34, 34]``.

    Args:
        kind: ``"fp-lif"`` or ``"mfp"``.
        budget: ``"smoke"``, ``"cpu"`` or ``"full"``.
        work_dir: the runs' ``out_dir``.

    Returns:
        The config mapping, ready for :func:`spikebit.reproduce.train_run`.

    Raises:
        ConfigError: an unknown kind or budget.
    """
    b = pick_budget(EVENT_BUDGETS, budget)
    return run_spec(f"mfp-nfmnist-{kind}-{budget}", b,
                    model=MODELS[pick_variant(MODELS, kind, "model")],
                    model_args={"width": b.width, "steps": STEPS, "in_shape": IN_SHAPE},
                    data=b.data_section(frames=STEPS), out_dir=work_dir, plots=False)


@torch.no_grad()
def serial_max_abs_diff(model: torch.nn.Module, frames: torch.Tensor) -> float:
    """Largest output difference, serial vs parallel, on time-major ``frames``.

    Puts ``model`` in eval mode (BatchNorm must use running statistics to step).

    Args:
        model: a trained network containing a ``SpikingNet``.
        frames: input frames ``[T, B, C, H, W]`` (time-major).

    Returns:
        ``max |parallel - serial|`` over the outputs (0.0 when the serial path is exact).

    Raises:
        SerialInferenceError: no ``SpikingNet`` in ``model``, or a layer without a
            ``step`` API.
        ShapeError: ``frames`` do not fit the network.
    """
    net = find_spiking_net(model)
    model.eval()
    return float((model(frames) - serial_forward(net, frames)).abs().max())


@register_experiment("mfp-nfmnist", "MFP-QSNN vs FP LIF on simulated event Fashion-MNIST, "
                     "VGGSNN (narrow) T=10: accuracy, inference memory, serial path")
def mfp_nfmnist(budget: str, work_dir: Path) -> dict[str, Any]:
    """``spikebit reproduce mfp-nfmnist``: MFP-QSNN vs FP LIF on simulated event frames.

    Args:
        budget: ``"smoke"`` (seconds), ``"cpu"`` (the published CPU runs) or ``"full"``
            (the paper's scale).
        work_dir: where the runs are trained (finished runs are reused).

    Returns:
        The experiment result: ``rows``, ``columns``, ``accuracy_gap_points`` and
        ``note`` (accuracies in %, memory in KiB per sample).

    Raises:
        ConfigError: an unknown budget.
        DataError: the dataset is missing or corrupt (``spikebit data fetch``).
        TrainingError: a run diverged.
    """
    rows = []
    for kind in MODELS:
        run = train_run(event_run_config(kind, budget, Path(work_dir)))
        metrics, model = run.metrics, run.model()
        row = memory_row(kind, metrics, inference_memory(model))
        if kind == "mfp":
            test = run.test_split()
            row["serial_output_max_abs_diff"] = serial_max_abs_diff(
                model, test.images[:64].transpose(0, 1))
        rows.append(row)
    add_memory_ratios(rows)
    b = pick_budget(EVENT_BUDGETS, budget)
    return {
        "rows": rows,
        "columns": ["model", "test_acc", "best_test_acc", "memory_kib", "memory_ratio",
                    "serial_memory_kib", "serial_output_max_abs_diff"],
        "accuracy_gap_points": rows[0]["test_acc"] - rows[1]["test_acc"],
        "note": (f"VGGSNN width {b.width}, {b.describe_frames(STEPS)}, Adam 1e-3 cosine. "
                 "memory_kib: per-sample inference bytes as the paper counts them; "
                 "serial_memory_kib adds the input history of the exact serial path. "
                 "Paper reference (CIFAR10-DVS, a real recording): "
                 "MFP-QSNN 81.1% at T=10, FP LIF baseline 79.6%; no number for this simulation."),
    }
