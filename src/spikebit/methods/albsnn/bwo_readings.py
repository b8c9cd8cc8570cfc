"""The readings of BWO (ALBSNN §3.5) trained side by side (``albsnn-bwo-readings``).

One row per reading of ``docs/methods/albsnn.md`` ("Binary weight optimization: the
readings"), all on the Table 5 ALBSNN at one budget:

- ``none``: ALBSNN without BWO (the ``albsnn-table5`` run, reused when it already ran);
- in training (BWO in the last ``bwo_epochs`` epochs of an ALBSNN run, same epochs and
  schedule as ``none``): ``capped`` (our Table 5 setting) and ``epoch-mean`` (the mean
  gradient since the previous application, once per epoch); the text's rule with the batch
  gradient is measured after training only (``albsnn-bwo-bound`` shows one application to
  a trained model already costs most of its accuracy);
- after training (a fine-tuning run of ``bwo_post_epochs`` epochs, Adam at the budget's
  learning rate with its cosine schedule, starting from the trained ``none`` model):
  ``post-control`` (fine-tuning only), ``post-literal`` and ``post-capped`` (BWO
  ``bwo_times`` times during the fine-tuning).

``none`` and ``capped`` are the ``albsnn-table5`` runs ALBSNN and ALBSNN+BWO (reused); the
post-training rows share ``none``'s training.
``gain`` pairs each BWO row with its baseline of the same seed: ``none`` for the
in-training rows, ``post-control`` for the post-training rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spikebit.methods.albsnn.recipes import (
    BWO_MAX_FRACTION,
    base_run,
    get_budget,
    variant_run,
)
from spikebit.reproduce import register_experiment, train_run

WHEN_NONE, WHEN_TRAINING, WHEN_AFTER = "-", "in training", "after training"


@dataclass(frozen=True)
class Reading:
    """One row of ``albsnn-bwo-readings``.

    Args:
        key: short name; the run is ``fmnist-albsnn-bwo-<key>`` (in training) or
            ``fmnist-albsnn-<key>`` (after training).
        setting: the reading in words (a table cell).
        when: ``"-"`` (no BWO), ``"in training"`` or ``"after training"``.
        bwo: ``albsnn-bwo`` arguments on top of the budget's window and ``times``, or
            ``None`` for no BWO.
    """

    key: str
    setting: str
    when: str
    bwo: dict[str, Any] | None


def readings(budget: str) -> tuple[Reading, ...]:
    """The rows of ``albsnn-bwo-readings`` at ``budget``, in table order.

    Args:
        budget: ``"smoke"``, ``"cpu"`` or ``"full"``.

    Returns:
        The readings: ``none``, two in training, three after training.

    Raises:
        ConfigError: an unknown budget.
    """
    b = get_budget(budget)
    times, window = b.extra["bwo_times"], b.extra["bwo_epochs"]
    cap = f"at most {BWO_MAX_FRACTION:.1%} of a layer per application"
    literal = "batch gradient, |c - lr g| <= 100 |g|, no cap"
    return (
        Reading("none", "ALBSNN, no BWO", WHEN_NONE, None),
        Reading("capped", f"batch gradient, |c - lr g| <= 100 |g|, {cap}; "
                f"{times}x in the last {window} epochs (our Table 5 setting)", WHEN_TRAINING,
                {"max_fraction": BWO_MAX_FRACTION}),
        Reading("epoch-mean", "mean gradient since the previous application, "
                f"|c - lr g| <= 100 |g|, no cap; once per epoch of the last {window}",
                WHEN_TRAINING, {"gradient": "mean", "times": window}),
        Reading("post-control", "fine-tuning only, no BWO (control)", WHEN_AFTER, None),
        Reading("post-literal", f"{literal}; {times}x during the fine-tuning", WHEN_AFTER, {}),
        Reading("post-capped", f"batch gradient, |c - lr g| <= 100 |g|, {cap}; {times}x "
                "during the fine-tuning", WHEN_AFTER, {"max_fraction": BWO_MAX_FRACTION}),
    )


def reading_run(reading: Reading, budget: str, init: str | None = None) -> dict[str, Any]:
    """The run config of one reading (``none`` is ``variant_run("albsnn", budget)``).

    Args:
        reading: the row (``when`` decides the kind of run).
        budget: ``"smoke"``, ``"cpu"`` or ``"full"``.
        init: for ``"after training"``: the trained ALBSNN checkpoint to start from.

    Returns:
        The config mapping. In training: the ALBSNN run plus ``albsnn-bwo`` over the last
        ``bwo_epochs`` epochs. After training: ``bwo_post_epochs`` epochs of fine-tuning
        (``init-weights``, the selector, and ``albsnn-bwo`` over the whole run if any).

    Raises:
        ConfigError: an unknown budget, or an after-training reading without ``init``.
    """
    from spikebit.errors import ConfigError

    b = get_budget(budget)
    if reading.when == WHEN_NONE:
        return variant_run("albsnn", budget)
    if reading.when == WHEN_TRAINING:
        run = variant_run("albsnn", budget)
        run["name"] = f"fmnist-albsnn-bwo-{reading.key}"
        window = b.extra["bwo_epochs"]
    else:
        if init is None:
            raise ConfigError(f"BWO reading {reading.key!r} fine-tunes a trained model: pass "
                              "init, the trained ALBSNN checkpoint")
        window = b.extra["bwo_post_epochs"]
        run = base_run(f"fmnist-albsnn-{reading.key}", budget, window)
        run["model"]["args"]["full_precision"] = []
        selector = variant_run("albsnn", budget)["callbacks"]
        run["callbacks"] = [{"name": "init-weights", "args": {"path": init}}, *selector]
    if reading.bwo is not None:
        args = {"epochs": window, "times": b.extra["bwo_times"], **reading.bwo}
        run["callbacks"].append({"name": "albsnn-bwo", "args": args})
    return run


def _bwo_cells(metrics: dict[str, Any]) -> tuple[int, float]:
    """(applications, share of the binarized elements adjusted at least once)."""
    bwo = metrics.get("albsnn", {}).get("bwo")
    if not bwo:
        return 0, 0.0
    elements = sum(bwo.get("elements", {}).values())
    touched = sum(bwo.get("touched", {}).values())
    return int(bwo["applied"]), touched / elements if elements else 0.0


@register_experiment(
    "albsnn-bwo-readings",
    "BWO readings (ALBSNN §3.5) on the Table 5 ALBSNN (Fashion-MNIST, T=1): gradient, "
    "bound, cap, in or after training",
)
def bwo_readings(budget: str, work_dir: Path) -> dict[str, Any]:
    """Experiment ``albsnn-bwo-readings``: every row of :func:`readings` (module docstring).

    Args:
        budget: ``"smoke"``, ``"cpu"`` or ``"full"``.
        work_dir: this experiment's run folder; the ALBSNN run of ``albsnn-table5`` beside
            it is reused (or trained there).

    Returns:
        ``{"rows": [...], "columns": [...], "note": str}``: accuracies in %, ``gain`` in
            points against the row's baseline, ``adjusted_share`` in ``[0, 1]``.

    Raises:
        ConfigError: an unknown budget.
        DataError: the dataset is missing or corrupt (``spikebit data fetch``).
        TrainingError: a run diverged.
    """
    b = get_budget(budget)
    base = train_run(variant_run("albsnn", budget), out_dir=str(work_dir.parent / "albsnn-table5"),
                     plots=False)
    init = str(base.run_dir / "last.safetensors")
    rows: list[dict[str, Any]] = []
    acc: dict[str, float] = {}
    for reading in readings(budget):
        if reading.when == WHEN_NONE:
            m, epochs, best = base.metrics, base.metrics["epoch"], base.metrics["best_test_acc"]
        elif reading.key == "capped":  # the same run as Table 5's ALBSNN+BWO: reuse it
            m = train_run(variant_run("albsnn-bwo", budget),
                          out_dir=str(work_dir.parent / "albsnn-table5"), plots=False).metrics
            epochs, best = m["epoch"], m["best_test_acc"]
        else:
            m = train_run(reading_run(reading, budget, init), out_dir=str(work_dir),
                          plots=False).metrics
            epochs, best = m["epoch"], m["best_test_acc"]
            if reading.when == WHEN_AFTER:  # best epoch over both trainings
                epochs += base.metrics["epoch"]
                best = max(best, base.metrics["best_test_acc"])
        applied, share = _bwo_cells(m)
        acc[reading.key] = 100.0 * m["test_acc"]
        baseline = "none" if reading.when == WHEN_TRAINING else "post-control"
        gain = acc[reading.key] - acc[baseline] if reading.bwo is not None else None
        rows.append({"reading": reading.key, "when": reading.when, "setting": reading.setting,
                     "applications": applied, "test_acc": acc[reading.key],
                     "best_test_acc": 100.0 * best, "gain": gain, "adjusted_share": share,
                     "epochs": epochs})
    columns = ["reading", "when", "setting", "applications", "test_acc", "best_test_acc",
               "gain", "adjusted_share", "epochs"]
    return {"rows": rows, "columns": columns, "note": (
        f"{b.describe()}; T=1, MSE, the ALBSNN of Table 5 (selector top-2), seed 0 and "
        f"repeats. In training: BWO in the last {b.extra['bwo_epochs']} epochs of the same "
        f"run. After training: {b.extra['bwo_post_epochs']} more epoch(s) from the trained "
        "ALBSNN (fresh Adam, the budget's lr and cosine schedule); best_test_acc is the best "
        "epoch of both trainings and epochs counts both. lr of the adjustment: the "
        "optimizer's current rate; descent_only everywhere. gain = test_acc - test_acc of "
        "the same seed's `none` (in training) or `post-control` (after training), in "
        "points. adjusted_share = binarized weight elements that lost a base at least once "
        "/ elements of the layers BWO acted on. Readings: docs/methods/albsnn.md.")}
