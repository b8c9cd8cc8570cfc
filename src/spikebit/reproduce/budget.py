"""One budget type and one run-spec builder for every ``spikebit reproduce`` experiment.

A :class:`Budget` says how big an experiment's trainings are at one budget name
(``smoke``, ``cpu``, ``full``): data set and sample limits, zoo model and width,
epochs, batch size, learning rate. An experiment keeps a ``{budget name: Budget}``
mapping, picks one with :func:`pick_budget` and turns it into a run config (the
plain mapping :func:`spikebit.train.config_from_dict` reads) with :func:`run_spec`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from spikebit.errors import ConfigError, did_you_mean

BUDGET_NAMES = ("smoke", "cpu", "full")
"""The budget names every experiment defines: a seconds-long check, the CPU runs
behind the published numbers, the paper's own scale."""


@dataclass(frozen=True)
class Budget:
    """How big the runs of one experiment are at one budget name.

    Args:
        dataset: data set name of :func:`spikebit.data.load_dataset` (``nfmnist`` for
            simulated event frames).
        model: zoo model (``""``: the experiment names one per variant).
        epochs: training epochs.
        train_limit: first training samples used (``None``: the whole split).
        test_limit: first test samples used (``None``: the whole split).
        lr: learning rate.
        batch_size: training batch size.
        schedule: learning-rate schedule (``cosine`` or ``constant``).
        crop_padding: random-crop padding in pixels (0: no augmentation).
        width: channel multiplier of the network (1.0: the paper's width).
        model_args: extra zoo-model keyword arguments of every run.
        activity_samples: test samples on which firing rates and costs are measured.
        extra: settings only one method reads (e.g. ALBSNN's BWO window).
    """

    dataset: str = "fashion-mnist"
    model: str = ""
    epochs: int = 1
    train_limit: int | None = None
    test_limit: int | None = None
    lr: float = 1e-3
    batch_size: int = 64
    schedule: str = "cosine"
    crop_padding: int = 0
    width: float = 1.0
    model_args: Mapping[str, Any] = field(default_factory=dict)
    activity_samples: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict)

    def limits(self) -> dict[str, int]:
        """``train_limit`` / ``test_limit`` where set (the config ``data`` keys)."""
        return {k: v for k, v in (("train_limit", self.train_limit),
                                  ("test_limit", self.test_limit)) if v is not None}

    def data_section(self, frames: int | None = None, **keys: Any) -> dict[str, Any]:
        """The config ``data`` mapping: the data set, ``keys`` and the sample limits.

        Args:
            frames: for event data, time bins ``T`` per sample (``{"T": frames}``);
                ``None`` for static images.
            keys: further ``data`` keys (``normalize``, ``crop_padding``, ...).

        Returns:
            The mapping for a run config's ``data`` section.
        """
        data: dict[str, Any] = {"name": self.dataset, **keys}
        if frames is not None:
            data["frames"] = {"T": frames}
        data.update(self.limits())
        return data

    def describe(self) -> str:
        """One line: model, data, epochs and optimizer settings (result notes)."""
        n = "all" if self.train_limit is None else str(self.train_limit)
        return (f"{self.model} on {self.dataset} ({n} training samples), {_epochs(self.epochs)}, "
                f"Adam lr {self.lr}, batch {self.batch_size}, {self.schedule} schedule, "
                f"random crop padding {self.crop_padding}")

    def describe_frames(self, steps: int) -> str:
        """One line for simulated event data binned into ``steps`` frames (result notes).

        Args:
            steps: time bins ``T`` per sample.

        Returns:
            The sentence describing frames, sample limits, epochs and batch size.
        """
        return (f"T={steps} frames of simulated saccade events (34x34, 2 polarities), first "
                f"{self.train_limit or 'all'} train / {self.test_limit or 'all'} test samples, "
                f"{_epochs(self.epochs)}, batch {self.batch_size}")


def _epochs(n: int) -> str:
    return f"{n} epoch" if n == 1 else f"{n} epochs"


B = TypeVar("B")


def pick_budget(budgets: Mapping[str, B], name: str) -> B:
    """The entry ``name`` of ``budgets``, an experiment's ``{budget name: Budget}`` mapping.

    Args:
        budgets: the experiment's budgets by name (``smoke``, ``cpu``, ``full``).
        name: the requested budget.

    Returns:
        ``budgets[name]``.

    Raises:
        ConfigError: ``name`` is not one of the mapping's budget names.
    """
    if name not in budgets:
        raise ConfigError(f"unknown budget {name!r}.{did_you_mean(name, budgets)} "
                          f"Use one of: {', '.join(budgets)}.")
    return budgets[name]


def pick_variant(variants: Iterable[str], name: str, what: str) -> str:
    """``name`` if it is one of ``variants``.

    Args:
        variants: the valid names.
        name: the requested name.
        what: the kind of name, for the error message (e.g. ``"AGMM variant"``).

    Returns:
        ``name`` unchanged.

    Raises:
        ConfigError: unknown ``name`` (with the closest valid name, if any).
    """
    names = list(variants)
    if name not in names:
        raise ConfigError(f"unknown {what} {name!r}.{did_you_mean(name, names)} "
                          f"Use one of: {', '.join(names)}.")
    return name


def run_spec(
    name: str,
    budget: Budget,
    *,
    model: str | None = None,
    model_args: Mapping[str, Any] | None = None,
    data: Mapping[str, Any] | None = None,
    optim: Mapping[str, Any] | None = None,
    loss: Any = None,
    callbacks: list[dict[str, Any]] | None = None,
    out_dir: str | Path | None = None,
    seed: int = 0,
    **settings: Any,
) -> dict[str, Any]:
    """The run config of one training of an experiment at ``budget``.

    Args:
        name: run name (its directory under ``out_dir``; finished runs are reused by name
            and config, so it must stay stable).
        budget: sizes; ``budget.model`` unless ``model`` is given, ``budget.model_args``
            under ``model_args``, Adam with ``budget.lr`` / ``budget.schedule`` /
            ``budget.epochs`` / ``budget.batch_size`` under ``optim``.
        model: zoo model overriding ``budget.model``.
        model_args: zoo-model keyword arguments (on top of ``budget.model_args``).
        data: the ``data`` mapping (default :meth:`Budget.data_section`).
        optim: optimizer keys overriding the budget's (e.g. SGD, weight decay, epochs).
        loss: ``loss`` entry (a name or ``{name, args}``); omitted when ``None``.
        callbacks: ``callbacks`` entry; omitted when ``None``.
        out_dir: where run directories go; omitted when ``None``.
        seed: training seed.
        settings: other top-level keys (``plots``, ``log_every``).

    Returns:
        A plain mapping for :func:`spikebit.train.config_from_dict`.
    """
    spec: dict[str, Any] = {"name": name, "seed": seed}
    if loss is not None:
        spec["loss"] = loss
    if out_dir is not None:
        spec["out_dir"] = str(out_dir)
    spec["model"] = {"name": model or budget.model,
                     "args": {**budget.model_args, **(model_args or {})}}
    spec["data"] = dict(data) if data is not None else budget.data_section()
    spec["optim"] = {"optimizer": "adam", "lr": budget.lr, "schedule": budget.schedule,
                     "epochs": budget.epochs, "batch_size": budget.batch_size, **(optim or {})}
    if callbacks is not None:
        spec["callbacks"] = callbacks
    spec.update(settings)
    return spec
