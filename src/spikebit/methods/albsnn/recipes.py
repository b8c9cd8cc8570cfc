"""Run configs (plain dicts for :func:`spikebit.train.config_from_dict`) for the ALBSNN
baselines and selection rules, at the budgets of ``spikebit reproduce``.

All variants share one code path and differ only in configuration:
FPSNN (quantizer ``fp``), BSNN (every layer binarized), FLNBSNN (first and last
full precision), ALBSNN (``albsnn-selector``), ALBSNN+BWO (plus ``albsnn-bwo``).
The YAML files in ``configs/albsnn/fmnist-*.yaml`` are these dicts at the ``cpu``
budget (a test keeps them equal).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from spikebit.errors import ConfigError


@dataclass(frozen=True)
class Budget:
    """How big a run is: model, epochs, batch, data limits and the BWO window."""

    model: str
    epochs: int
    batch_size: int
    bwo_epochs: int
    bwo_times: int = 20
    model_args: dict[str, Any] = field(default_factory=dict)
    train_limit: int | None = None
    test_limit: int | None = None


# Fashion-MNIST budgets. cpu: the narrow *MNIST structure (last two convs 128/256
# instead of 256/1024), batch 64 instead of the paper's 16; full: the paper's width,
# batch and 50 epochs.
BUDGETS = MappingProxyType({
    "smoke": Budget("albsnn-mnist-narrow", 1, 32, 1, 2,
                    {"spec": "4C3-4C3-AP2-8C3-AP2-8C3-GAP"}, train_limit=64, test_limit=64),
    "cpu": Budget("albsnn-mnist-narrow", 10, 64, 2),
    "full": Budget("albsnn-mnist", 50, 16, 10),
})

TABLE8_EPOCHS = MappingProxyType({"smoke": 1, "cpu": 5, "full": 50})

# variant -> (model args, callbacks) on top of the base run
_SELECTOR = {"name": "albsnn-selector", "args": {"rule": "top-k", "k": 2}}
VARIANTS: MappingProxyType[str, tuple[dict[str, Any], list[dict[str, Any]]]] = MappingProxyType({
    "fpsnn": ({"quantizer": "fp"}, []),
    "bsnn": ({"full_precision": []}, []),
    "flnbsnn": ({"full_precision": [0, -1]}, []),
    "albsnn": ({"full_precision": []}, [_SELECTOR]),
    "albsnn-bwo": ({"full_precision": []}, [_SELECTOR, {"name": "albsnn-bwo", "args": {}}]),
})
RULES = ("sc1", "sc2", "sc3", "sc4")
# BWO adjusts at most this fraction of a layer's weights per application (our cap: the
# paper's bound alone selects a large share of the weights at our gradient scale).
BWO_MAX_FRACTION = 0.001


def get_budget(budget: str) -> Budget:
    if budget not in BUDGETS:
        raise ConfigError(f"unknown budget {budget!r}; use one of {', '.join(BUDGETS)}")
    return BUDGETS[budget]


def base_run(name: str, budget: str, epochs: int | None = None) -> dict[str, Any]:
    """The common Fashion-MNIST run (T=1, MSE, Adam 1e-3, cosine) at ``budget``."""
    b = get_budget(budget)
    data: dict[str, Any] = {"name": "fashion-mnist"}
    if b.train_limit:
        data["train_limit"] = b.train_limit
    if b.test_limit:
        data["test_limit"] = b.test_limit
    return {
        "name": name,
        "seed": 0,
        "loss": "mse",
        "model": {"name": b.model, "args": {"steps": 1, **b.model_args}},
        "data": data,
        "optim": {"optimizer": "adam", "lr": 0.001, "schedule": "cosine",
                  "epochs": epochs or b.epochs, "batch_size": b.batch_size},
        "callbacks": [],
    }


def variant_run(variant: str, budget: str) -> dict[str, Any]:
    """Run config of a Table 5 variant (``fpsnn``, ``bsnn``, ``flnbsnn``, ``albsnn``,
    ``albsnn-bwo``) at ``budget``."""
    if variant not in VARIANTS:
        raise ConfigError(f"unknown ALBSNN variant {variant!r}; use one of {', '.join(VARIANTS)}")
    model_args, callbacks = copy.deepcopy(VARIANTS[variant])
    run = base_run(f"fmnist-{variant}", budget)
    run["model"]["args"].update(model_args)
    b = get_budget(budget)
    for cb in callbacks:
        if cb["name"] == "albsnn-bwo":
            cb["args"] = {"epochs": b.bwo_epochs, "times": b.bwo_times,
                          "max_fraction": BWO_MAX_FRACTION}
    run["callbacks"] = callbacks
    return run


def rule_run(rule: str, budget: str) -> dict[str, Any]:
    """Run config of ALBSNN with selection rule ``rule`` (Table 8) at ``budget``."""
    if rule not in RULES:
        raise ConfigError(f"unknown Table 8 rule {rule!r}; use one of {', '.join(RULES)}")
    get_budget(budget)
    run = base_run(f"fmnist-albsnn-{rule}", budget, TABLE8_EPOCHS[budget])
    run["model"]["args"]["full_precision"] = []
    run["callbacks"] = [{"name": "albsnn-selector", "args": {"rule": rule}}]
    return run
