"""The shared reproduction harness: one Budget, one run-spec builder, one of each helper."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

import pytest

from spikebit.errors import ConfigError
from spikebit.reproduce import Budget, pick_budget, run_spec
from spikebit.train import config_from_dict

SRC = Path(__file__).resolve().parents[2] / "src" / "spikebit"


def test_run_spec_fills_every_section_from_the_budget():
    b = Budget("mnist", "mt-mnist-cnn", 3, train_limit=100, lr=0.01, batch_size=16,
               model_args={"steps": 2})
    spec = run_spec("r1", b, model_args={"width": 0.5}, loss="mse", out_dir=Path("w"))
    assert spec == {
        "name": "r1", "seed": 0, "loss": "mse", "out_dir": "w",
        "model": {"name": "mt-mnist-cnn", "args": {"steps": 2, "width": 0.5}},
        "data": {"name": "mnist", "train_limit": 100},
        "optim": {"optimizer": "adam", "lr": 0.01, "schedule": "cosine", "epochs": 3,
                  "batch_size": 16},
    }
    config_from_dict(spec)  # a valid run config


def test_run_spec_overrides_win_and_settings_are_top_level():
    b = Budget(epochs=10, model="m")
    spec = run_spec("r", b, model="other", optim={"optimizer": "sgd", "epochs": 2},
                    callbacks=[], plots=False, seed=3)
    assert spec["model"]["name"] == "other" and spec["seed"] == 3
    assert spec["optim"]["optimizer"] == "sgd" and spec["optim"]["epochs"] == 2
    assert spec["callbacks"] == [] and spec["plots"] is False
    assert "loss" not in spec and "out_dir" not in spec


def test_data_section_frames_keys_and_limits():
    b = Budget("nfmnist", train_limit=40, test_limit=None)
    assert b.data_section(frames=10) == {"name": "nfmnist", "frames": {"T": 10},
                                         "train_limit": 40}
    assert b.data_section(normalize=True) == {"name": "nfmnist", "normalize": True,
                                              "train_limit": 40}
    assert "4000 train / all test" in Budget(train_limit=4000).describe_frames(10)


def test_pick_budget_names_the_choices():
    budgets = {"smoke": Budget(), "cpu": Budget(epochs=5)}
    assert pick_budget(budgets, "cpu").epochs == 5
    with pytest.raises(ConfigError, match=r"'cpuu'.*Did you mean 'cpu'.*smoke, cpu"):
        pick_budget(budgets, "cpuu")


def _definitions() -> Counter:
    names: Counter = Counter()
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                names[node.name] += 1
    return names


@pytest.mark.parametrize("name", ["Budget", "EventBudget", "train_run", "run_spec",
                                  "vggsnn_spec", "plot_sweep", "pick_budget"])
def test_one_definition_of_each_harness_name(name):
    """The harness is not written again per method (``EventBudget`` is gone)."""
    assert _definitions()[name] == (0 if name == "EventBudget" else 1)
