"""mfp-nfmnist: event-data comparison runs end to end at the smoke budget."""

import json

import pytest

from spikebit.errors import ConfigError
from spikebit.methods.mfp.events import event_run_config
from spikebit.reproduce import run_experiment
from spikebit.train import config_from_dict


def test_event_configs_differ_only_in_the_model(tmp_path):
    fp, mfp = (event_run_config(k, "cpu", tmp_path) for k in ("fp-lif", "mfp"))
    assert fp["data"] == mfp["data"] and fp["optim"] == mfp["optim"]
    assert fp["model"]["args"] == mfp["model"]["args"] == {
        "width": 0.125, "steps": 10, "in_shape": [2, 34, 34]}
    config_from_dict(event_run_config("mfp", "full", tmp_path))
    with pytest.raises(ConfigError, match="mfp"):
        event_run_config("mpf", "cpu", tmp_path)


def test_smoke_run_reports_memory_and_an_exact_serial_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = run_experiment("mfp-nfmnist", budget="smoke", out_dir=tmp_path / "results")
    rows = {r["model"]: r for r in json.loads(path.read_text())["rows"]}
    assert set(rows) == {"fp-lif", "mfp"}
    assert rows["mfp"]["memory_ratio"] > 10  # 1-bit weights, no membrane state
    assert rows["mfp"]["serial_output_max_abs_diff"] < 1e-4
