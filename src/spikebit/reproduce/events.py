"""Shared budget of the experiments on simulated event Fashion-MNIST (``nfmnist``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from spikebit.errors import ConfigError, did_you_mean


@dataclass(frozen=True)
class EventBudget:
    """Seeded sample subset (``None`` = all), epochs and network width of one budget."""

    train_limit: int | None
    test_limit: int | None
    epochs: int
    width: float
    batch_size: int = 32
    activity_samples: int = 500

    def data_section(self, steps: int) -> dict[str, Any]:
        """The config ``data`` mapping: ``nfmnist`` binned into ``steps`` frames."""
        data: dict[str, Any] = {"name": "nfmnist", "frames": {"T": steps}}
        data.update({k: getattr(self, k) for k in ("train_limit", "test_limit")
                     if getattr(self, k)})
        return data

    def describe(self, steps: int) -> str:
        return (f"T={steps} frames of simulated saccade events (34x34, 2 polarities), first "
                f"{self.train_limit or 'all'} train / {self.test_limit or 'all'} test samples, "
                f"{self.epochs} epochs, batch {self.batch_size}")


def pick_event_budget(budgets: Mapping[str, EventBudget], budget: str) -> EventBudget:
    if budget not in budgets:
        raise ConfigError(f"unknown budget {budget!r}.{did_you_mean(budget, budgets)} "
                          f"Use one of: {', '.join(budgets)}.")
    return budgets[budget]
