"""A tiny multi-threshold training learns; experiment runners produce rows and plots."""

import json

import pytest

from spikebit.methods.multithreshold import experiments
from spikebit.methods.multithreshold.runs import Budget, run_config
from spikebit.reproduce import EXPERIMENTS, train_run

TOY = Budget("toy", "mt-mnist-cnn", epochs=5, batch_size=32, lr=0.02,
             model_args={"spec": "4C3-P2-16", "padding": "same"})


def test_tiny_multithreshold_training_learns(tmp_path):
    config = run_config("toy", TOY, tmp_path, {"steps": 2}, target_count=2.0)
    metrics = train_run(config).metrics
    history = json.loads((tmp_path / "toy" / "metrics.json").read_text())["history"]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert metrics["test_acc"] > 0.75  # chance is 0.5
    again = train_run(config).metrics  # finished run: resumed, not retrained
    assert again["test_acc"] == metrics["test_acc"]


def test_every_experiment_is_registered():
    names = {"mt-fmnist", "mt-mnist-subset", "mt-curves", "mt-width", "mt-omax", "mt-steps",
             "mt-albsnn"}
    assert names <= set(EXPERIMENTS.names())


def test_sweep_runner_writes_rows_and_plot(tmp_path, monkeypatch):
    monkeypatch.setitem(experiments.ABLATION, "smoke", Budget(**{**TOY.__dict__, "epochs": 1}))
    monkeypatch.chdir(tmp_path)  # outside run_experiment, plots go to ./results
    out = EXPERIMENTS.get("mt-omax").runner("smoke", tmp_path / "work")
    assert [r["value"] for r in out["rows"]] == [1, 2]
    assert all(0 <= r["test_acc"] <= 100 for r in out["rows"])
    assert set(out["columns"]) <= set(out["rows"][0])
    assert (tmp_path / "results" / "mt-omax.png").stat().st_size > 0
    json.dumps(out)


def test_width_runner_reports_our_width(tmp_path, monkeypatch):
    monkeypatch.setitem(experiments.ABLATION, "smoke", Budget(**{**TOY.__dict__, "epochs": 1}))
    monkeypatch.chdir(tmp_path)
    out = EXPERIMENTS.get("mt-width").runner("smoke", tmp_path / "work")
    assert [r["width_ours"] for r in out["rows"]] == pytest.approx([0.002, 0.2])


def test_unknown_budget_is_a_clear_error(tmp_path):
    from spikebit.errors import ConfigError

    with pytest.raises(ConfigError, match="smoke, cpu, full"):
        EXPERIMENTS.get("mt-steps").runner("huge", tmp_path)
