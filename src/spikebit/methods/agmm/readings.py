"""``spikebit reproduce agmm-readings``: which reading of AGMM eq. 11 lowers the flip ratio?

The text of eq. 11 leaves open what the gate's mean averages over, where the gate sits
relative to BN and which steps the "time-scaled average" covers; the paper's optimizer
is "SGD [...] with a cosine annealing schedule", weight decay unstated. This experiment
trains, on the Fashion-MNIST budget of ``agmm-fmnist`` (ResNet-19 width 0.125, T=2),
the vanilla BSNN with and without weight decay, AGMM with
:data:`~spikebit.methods.agmm.module.DEFAULT_READING`, and every one-factor change from
it (per-channel or per-sample mean, before or after BN, cumulative or all-T window, no
weight decay; :data:`FACTORS`). Each row reports accuracy, the mean and per-epoch flip
ratio and the differences to the vanilla BSNN with the same weight decay (same seed), so
``--seeds 3`` gives paired mean ± std.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from spikebit.methods.agmm import module as agmm_module
from spikebit.methods.agmm.experiments import (
    FLIP_CALLBACK,
    OPTIM,
    STEPS,
    budget_for,
    budget_note,
    flip_table,
    measurement_inputs,
)
from spikebit.methods.agmm.module import AGMMReading
from spikebit.models.blocks import BLOCK_POSITIONS
from spikebit.reproduce import register_experiment
from spikebit.reproduce.budget import run_spec

WEIGHT_DECAY = float(OPTIM["weight_decay"])
"""The weight decay of the default reading's optimizer (SGD lr 0.5, momentum 0.9, cosine)."""

FACTORS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "mean": ("sample", "channel"),
    "position": BLOCK_POSITIONS,
    "window": ("cumulative", "all"),
})
"""The values each reading factor takes in the experiment: per-sample vs per-channel mean,
after vs before BN, cumulative (causal) vs all-T window. The block implements more
(``MEANS``: ``batch``, ``neuron``; ``WINDOWS``: ``step``); adding one here adds its row."""

BASE_COLUMNS = ["model", "weight_decay", "test_acc", "best_test_acc", "mean_flip_ratio",
                "d_acc", "d_flip", "flip_lower_epochs"]
TAIL_COLUMNS = ["mean_firing_rate", "mod_gate", "mod_grad_to_weight"]


@dataclass(frozen=True)
class ReadingRow:
    """One training of the comparison: a BSNN with or without AGMM, and its weight decay.

    Args:
        name: the row's id (``"bsnn-wd"``, ``"default"``, ``"mean-channel"``, ...).
        label: the row's name in the result table.
        reading: the AGMM reading, or ``None`` for the vanilla BSNN.
        weight_decay: SGD weight decay on every parameter (0: none).
    """

    name: str
    label: str
    reading: AGMMReading | None
    weight_decay: float

    def run_name(self) -> str:
        """The run's name: the full reading and weight decay, not the row's role, so that
        changing ``DEFAULT_READING`` reuses the runs already trained."""
        model = "bsnn" if self.reading is None else f"agmm-{self.reading.slug()}"
        return f"agmm-readings-{model}-wd{self.weight_decay:g}"

    def model_args(self) -> dict[str, Any]:
        """Zoo keyword arguments: sign weights, and the whole AGMM reading written out."""
        if self.reading is None:
            return {"quantizer": "sign", "agmm": False}
        return {"quantizer": "sign", "agmm": True, "agmm_kwargs": self.reading.block_kwargs()}


def reading_rows(default: AGMMReading | None = None,
                 weight_decay: float = WEIGHT_DECAY) -> list[ReadingRow]:
    """The rows: vanilla BSNN with and without weight decay, ``default``, and every
    one-factor change from it to a value of :data:`FACTORS` (mean, position, window), and
    ``default`` without weight decay.

    Args:
        default: the reference reading (``None``:
            :data:`~spikebit.methods.agmm.module.DEFAULT_READING`).
        weight_decay: the reference weight decay (``> 0``; the changed row uses 0).

    Returns:
        The rows, vanilla first: ``2 + 1 + 3 + 1 = 7`` with the current :data:`FACTORS`
        and a default inside them.
    """
    if default is None:
        default = agmm_module.DEFAULT_READING
    rows = [ReadingRow("bsnn-wd", "Vanilla BSNN", None, weight_decay),
            ReadingRow("bsnn-nowd", "Vanilla BSNN, no weight decay", None, 0.0),
            ReadingRow("default", f"AGMM default ({default.describe()})", default,
                       weight_decay)]
    for field, values in FACTORS.items():
        for value in values:
            if value != getattr(default, field):
                reading = replace(default, **{field: value})
                rows.append(ReadingRow(f"{field}-{value}", f"AGMM {field}={value}", reading,
                                       weight_decay))
    rows.append(ReadingRow("nowd", "AGMM default, no weight decay", default, 0.0))
    return rows


def readings_run_config(row: ReadingRow, budget: str, work_dir: Path) -> dict[str, Any]:
    """The run config of one row at ``budget`` (``agmm-fmnist``'s model, data and SGD).

    Args:
        row: the :class:`ReadingRow`.
        budget: ``"smoke"``, ``"cpu"`` or ``"full"``.
        work_dir: the runs' ``out_dir``.

    Returns:
        The config mapping, ready for :func:`spikebit.reproduce.train_run`.

    Raises:
        ConfigError: an unknown budget.
    """
    b = budget_for(budget)
    return run_spec(row.run_name(), b, loss="ce", out_dir=work_dir,
                    model_args={"steps": STEPS, "width": b.width, **row.model_args()},
                    optim={**OPTIM, "weight_decay": row.weight_decay},
                    callbacks=[copy.deepcopy(dict(FLIP_CALLBACK))], plots=budget != "smoke")


def add_comparisons(rows: list[dict[str, Any]], epochs: int) -> None:
    """Add per-epoch flip columns and the paired differences to each row, in place.

    ``flip_e<k>``: mean flip ratio in epoch ``k``; ``d_acc`` / ``d_flip``: test accuracy
    (points) / mean flip ratio minus those of the vanilla BSNN with the same weight decay;
    ``flip_lower_epochs``: epochs where the row's flip ratio is below that vanilla's.

    Args:
        rows: result rows with ``row`` (:class:`ReadingRow`), ``test_acc``,
            ``mean_flip_ratio`` and ``flip_ratio_per_epoch``.
        epochs: number of epochs (``flip_e1`` .. ``flip_e<epochs>``).
    """
    vanilla = {r["row"].weight_decay: r for r in rows if r["row"].reading is None}
    for r in rows:
        curve = r["flip_ratio_per_epoch"]
        for k in range(epochs):
            r[f"flip_e{k + 1}"] = curve[k] if k < len(curve) else None
        ref = vanilla.get(r["row"].weight_decay)
        if ref is None:
            r.update(d_acc=None, d_flip=None, flip_lower_epochs=None)
            continue
        r["d_acc"] = r["test_acc"] - ref["test_acc"]
        r["d_flip"] = r["mean_flip_ratio"] - ref["mean_flip_ratio"]
        r["flip_lower_epochs"] = sum(a < b for a, b in zip(curve, ref["flip_ratio_per_epoch"]))


@register_experiment("agmm-readings", "AGMM eq. 11 readings: vanilla BSNN (with/without weight "
                     "decay), the default reading and each one-factor change (mean, position "
                     "vs BN, time window, weight decay), Fashion-MNIST ResNet-19 T=2")
def agmm_readings(budget: str, work_dir: Path) -> dict[str, Any]:
    """``spikebit reproduce agmm-readings``: every row of :func:`reading_rows`.

    Args:
        budget: ``"smoke"`` (seconds), ``"cpu"`` (first 8000 training / 5000 test
            images, 4 epochs) or ``"full"`` (the paper's scale).
        work_dir: where the runs are trained (finished runs are reused, unfinished ones
            resumed).

    Returns:
        The experiment result: ``rows`` (one per reading row), ``columns``, ``figures``
        (flip ratio per epoch) and ``note``.

    Raises:
        ConfigError: an unknown budget.
        DataError: the dataset is missing or corrupt (``spikebit data fetch``).
        TrainingError: a run diverged.
    """
    b = budget_for(budget)
    activity, probe = measurement_inputs(b)
    specs = reading_rows()
    configs = [(row, readings_run_config(row, budget, work_dir)) for row in specs]
    table = flip_table(configs, activity, probe, "agmm-readings-flip-ratio.png",
                       f"agmm-readings: ResNet-19 T={STEPS}, mean flip ratio")
    rows = table["rows"]
    for r, row in zip(rows, specs):
        r["row"] = row
        r["weight_decay"] = row.weight_decay
        r["reading"] = row.reading.to_dict() if row.reading is not None else None
    add_comparisons(rows, b.epochs)
    for r in rows:
        del r["row"]
    flips = [f"flip_e{k + 1}" for k in range(b.epochs)]
    return {
        "rows": rows,
        "columns": BASE_COLUMNS + flips + TAIL_COLUMNS,
        "figures": table["figures"],
        "default_reading": agmm_module.DEFAULT_READING.to_dict(),
        "note": (f"{budget_note(b)}, {b.epochs} epoch(s), SGD lr {OPTIM['lr']} momentum "
                 f"{OPTIM['momentum']} cosine, batch {b.batch_size}, weight decay as in the "
                 "row. Accuracies in %; flip ratio = mean over binary layers of the fraction "
                 "of latent weights whose sign changed in an epoch (flip_e<k>: epoch k); "
                 "d_acc (points) and d_flip: the row minus the vanilla BSNN with the same "
                 "weight decay and seed; flip_lower_epochs: epochs in which the row's flip "
                 "ratio is below that vanilla BSNN's; mod_* = means over binary units on 256 "
                 "test images of the AGMM gate and |latent grad| / |latent weight|."),
    }
