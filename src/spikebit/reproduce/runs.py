"""Train (or reuse) one run of an experiment and read back what its rows need."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from spikebit.data.dataset import ArrayDataset


@dataclass(frozen=True)
class TrainedRun:
    """A finished run (returned by :func:`train_run`).

    Args:
        metrics: the last epoch's metrics (``test_acc`` in [0, 1], ``best_test_acc``,
            ``epoch_seconds``, ...).
        run_dir: the run's directory (checkpoints, ``log.csv``).
        config: the run config mapping it was trained with.
    """

    metrics: dict[str, Any]
    run_dir: Path
    config: Mapping[str, Any]

    def model(self) -> nn.Module:
        """The trained model, rebuilt from ``last.safetensors`` (weights loaded)."""
        from spikebit.train.build import model_from_checkpoint

        return model_from_checkpoint(self.run_dir / "last.safetensors")[0]

    def history(self) -> list[dict[str, Any]]:
        """The per-epoch records of ``metrics.json``."""
        return json.loads((self.run_dir / "metrics.json").read_text())["history"]

    def test_split(self) -> ArrayDataset:
        """The run's test split, as its config loads it (limits, event frames)."""
        from spikebit.train.config import config_from_dict
        from spikebit.train.datasets import load_data

        return load_data(config_from_dict(dict(self.config)).data)[1]


def train_run(config: Mapping[str, Any], **overrides: Any) -> TrainedRun:
    """Train the run ``{**config, **overrides}`` or reuse it when finished.

    A finished run with the same config in ``out_dir/name`` is reused, an unfinished one
    resumed (:func:`spikebit.train.train_or_reuse`); inside ``spikebit reproduce --seeds``
    the seed and run name follow the repeat.

    Args:
        config: a run config mapping (:func:`spikebit.reproduce.budget.run_spec`).
        overrides: top-level keys replacing the config's (e.g. ``out_dir``, ``plots``).

    Raises:
        ConfigError: the config is invalid.
    """
    from spikebit.train.run import train_or_reuse

    config = {**config, **overrides}
    metrics, run_dir = train_or_reuse(config)
    return TrainedRun(metrics, Path(run_dir), config)
