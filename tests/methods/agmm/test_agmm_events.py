"""agmm-nfmnist: event-data comparison runs end to end at the smoke budget."""

import json

import pytest

from spikebit.errors import ConfigError
from spikebit.methods.agmm.events import event_run_config
from spikebit.reproduce import run_experiment
from spikebit.train import config_from_dict


def test_event_configs_share_everything_but_the_variant(tmp_path):
    fp, agmm = (event_run_config(v, "cpu", tmp_path) for v in ("fp-snn", "agmm-bsnn"))
    assert fp["data"] == agmm["data"] == {"name": "nfmnist", "frames": {"T": 10},
                                          "train_limit": 4000, "test_limit": 1000}
    assert fp["optim"] == agmm["optim"] and fp["optim"]["epochs"] == 5
    assert fp["model"]["args"]["quantizer"] == "fp" and agmm["model"]["args"]["agmm"] is True
    config_from_dict(event_run_config("bsnn", "full", tmp_path))
    with pytest.raises(ConfigError, match="agmm-bsnn"):
        event_run_config("agmm-bsnn-allt", "cpu", tmp_path)
    with pytest.raises(ConfigError, match="smoke"):
        event_run_config("bsnn", "smok", tmp_path)


def test_smoke_run_writes_three_rows_and_the_flip_plot(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # runs and the PNG go under the working directory
    path = run_experiment("agmm-nfmnist", budget="smoke", out_dir=tmp_path / "out")
    result = json.loads(path.read_text())
    assert [r["variant"] for r in result["rows"]] == ["fp-snn", "bsnn", "agmm-bsnn"]
    for row in result["rows"]:
        assert set(result["columns"]) <= set(row) and row["SOPs_M"] > 0
    assert result["flip_ratio_comparison"]["epochs"] == 1
    assert all(0 <= r["mean_flip_ratio"] <= 1 for r in result["rows"])
    assert (tmp_path / "out" / "agmm-nfmnist-flip-ratio.png").is_file() or not _has_mpl()
    assert not (tmp_path / "results").exists()  # everything went to out_dir


def _has_mpl() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True
