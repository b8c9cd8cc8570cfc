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
from types import MappingProxyType
from typing import Any

from spikebit.errors import ConfigError
from spikebit.reproduce.budget import Budget, pick_budget, run_spec

# Fashion-MNIST budgets. cpu: the narrow *MNIST structure (last two convs 128/256
# instead of 256/1024), the first 5,000 training and 5,000 test images, 3 epochs, batch
# 64 instead of the paper's 16 (~2.5 min per binary run on one core, so 3 seeds of all
# five variants take ~35 min); full: the paper's width,
# batch and 50 epochs. extra: the BWO window (last ``bwo_epochs`` epochs, ``bwo_times``
# applications) and the fine-tuning epochs after training of the post-training BWO
# readings (``bwo_post_epochs``, ``albsnn-bwo-readings``).
BUDGETS = MappingProxyType({
    "smoke": Budget(model="albsnn-mnist-narrow", epochs=1, batch_size=32,
                    model_args={"spec": "4C3-4C3-AP2-8C3-AP2-8C3-GAP"}, train_limit=64,
                    test_limit=64, extra={"bwo_epochs": 1, "bwo_times": 2, "bwo_post_epochs": 1}),
    "cpu": Budget(model="albsnn-mnist-narrow", epochs=3, batch_size=64, train_limit=5000,
                  test_limit=5000, extra={"bwo_epochs": 1, "bwo_times": 20, "bwo_post_epochs": 1}),
    "full": Budget(model="albsnn-mnist", epochs=50, batch_size=16,
                   extra={"bwo_epochs": 10, "bwo_times": 20, "bwo_post_epochs": 10}),
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
    """The :class:`Budget` named ``budget``; ConfigError when unknown."""
    return pick_budget(BUDGETS, budget)


def base_run(name: str, budget: str, epochs: int | None = None) -> dict[str, Any]:
    """The common Fashion-MNIST run (T=1, MSE, Adam 1e-3, cosine) at ``budget``.

    Args:
        name: the run's name (its directory under ``out_dir``).
        budget: ``"smoke"``, ``"cpu"`` or ``"full"``.
        epochs: training epochs (default: the budget's).

    Returns:
        The config mapping with no callbacks, ready for variant settings.

    Raises:
        ConfigError: an unknown budget.
    """
    b = get_budget(budget)
    return run_spec(name, b, loss="mse", model_args={"steps": 1},
                    optim={"epochs": epochs} if epochs else None, callbacks=[])


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
            cb["args"] = {"epochs": b.extra["bwo_epochs"], "times": b.extra["bwo_times"],
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
