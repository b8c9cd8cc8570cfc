"""The event-data experiment runs end to end at the smoke budget and writes its table."""

import json

from spikebit.reproduce import run_experiment


def test_nfmnist_smoke_writes_fp_and_binary_rows(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # runs go under ./runs
    path = run_experiment("albsnn-nfmnist", budget="smoke", out_dir=tmp_path / "results")
    result = json.loads(path.read_text())
    rows = {r["variant"]: r for r in result["rows"]}
    assert set(rows) == {"fp", "albsnn"}
    assert rows["fp"]["fp_layers"] == "all" and rows["fp"]["weight_storage"] == 1.0
    assert rows["albsnn"]["weight_storage"] < 1.0
    assert len(rows["albsnn"]["fp_layers"].split(",")) == 2  # the top-2 selector
    assert (tmp_path / "results" / "albsnn-nfmnist.md").read_text().startswith("# albsnn")


def test_cpu_run_is_the_committed_one_and_budgets_are_checked():
    import pytest

    from spikebit.errors import ConfigError
    from spikebit.methods.albsnn.events import cifar10_spec, event_run

    assert cifar10_spec(1 / 16) == "8C3-16C3-AP2-32C3-AP2-64C3-32C3-GAP"  # results/albsnn-nfmnist
    assert cifar10_spec(1.0) == "128C3-256C3-AP2-512C3-AP2-1024C3-512C3-GAP"  # the paper's
    run = event_run("albsnn", "cpu")
    assert run["data"] == {"name": "nfmnist", "frames": {"T": 10}, "train_limit": 4000,
                           "test_limit": 1000}
    assert (run["optim"]["epochs"], run["optim"]["batch_size"]) == (5, 32)
    assert "train_limit" not in event_run("fp", "full")["data"]
    with pytest.raises(ConfigError, match="unknown budget 'cpuu'"):
        event_run("fp", "cpuu")
