"""The agmm-fmnist experiment: configs on disk match the runner; a smoke run end to end."""

import json
from pathlib import Path

import pytest
import yaml

from spikebit.errors import ConfigError, DataError
from spikebit.methods.agmm.experiments import VARIANTS, compare_flips, run_config, run_fmnist
from spikebit.reproduce import EXPERIMENTS
from spikebit.train import config_from_dict, load_config

CONFIGS = Path(__file__).resolve().parents[3] / "configs" / "agmm"


@pytest.mark.parametrize("variant", [v.name for v in VARIANTS])
def test_config_files_are_the_cpu_budget_runs(variant):
    path = CONFIGS / f"fmnist-resnet19-{variant}.yaml"
    assert yaml.safe_load(path.read_text()) == run_config(variant, "cpu")
    config = load_config(path)
    assert config.model.name == "agmm-resnet19" and config.model.args["steps"] == 2
    assert [c.name for c in config.callbacks] == ["flip-ratio"]


def test_budgets_differ_only_in_size():
    smoke, cpu = run_config("agmm-bsnn", "smoke"), run_config("agmm-bsnn", "cpu")
    assert smoke["optim"]["epochs"] == 1 and cpu["optim"]["epochs"] == 4
    assert smoke["data"]["train_limit"] < 1000 and cpu["data"]["train_limit"] == 8000
    assert cpu["data"]["test_limit"] == 5000
    assert smoke["optim"]["optimizer"] == cpu["optim"]["optimizer"]
    for variant in VARIANTS:
        config_from_dict(run_config(variant.name, "full"))
    with pytest.raises(ConfigError, match="smoke"):
        run_config("agmm-bsnn", "smok")
    with pytest.raises(ConfigError, match="agmm-bsnn"):
        run_config("agmm-bsn", "cpu")


def test_compare_flips_counts_epochs_where_agmm_is_lower():
    r = compare_flips([0.1, 0.05, 0.03], [0.2, 0.04, 0.05])
    assert r["agmm_lower_epochs"] == 2 and r["epochs"] == 3


def test_smoke_run_end_to_end(tmp_path, monkeypatch):
    """Registered, runs at the smoke budget (vanilla vs AGMM to stay fast), writes the PNG."""
    assert "agmm-fmnist" in EXPERIMENTS
    from spikebit.data import load_dataset

    try:
        load_dataset("fashion-mnist", train=False)
    except DataError as exc:  # pragma: no cover - the data ships with this machine
        pytest.skip(f"Fashion-MNIST not available: {exc}")
    monkeypatch.chdir(tmp_path)
    variants = tuple(v for v in VARIANTS if v.name in ("bsnn", "agmm-bsnn"))
    result = run_fmnist("smoke", tmp_path / "work", variants=variants)
    assert [r["variant"] for r in result["rows"]] == ["bsnn", "agmm-bsnn"]
    for row in result["rows"]:
        assert set(result["columns"]) <= set(row)
        assert len(row["flip_ratio_per_epoch"]) == 1 and 0 <= row["mean_flip_ratio"] <= 1
        assert row["MACs_M"] > 0 and row["size_MB"] > 0 and row["firing_rates"]
    assert result["flip_ratio_comparison"]["epochs"] == 1
    assert Path(result["figures"][0]).read_bytes()[:4] == b"\x89PNG"
    json.dumps(result)  # JSON-able as run_experiment writes it
