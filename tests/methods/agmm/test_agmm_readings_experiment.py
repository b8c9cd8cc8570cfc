"""agmm-readings: one row per one-factor change of the default reading, paired differences."""

import json
from dataclasses import fields
from pathlib import Path

import pytest

from spikebit.errors import DataError
from spikebit.methods.agmm import DEFAULT_READING, WINDOWS, AGMMReading
from spikebit.methods.agmm import readings as exp
from spikebit.methods.agmm.analysis import binary_units
from spikebit.models import build_model
from spikebit.reproduce import EXPERIMENTS
from spikebit.train import config_from_dict


def _changes(row) -> int:
    """How many factors (mean, position, window, weight decay) differ from the default."""
    diff = sum(getattr(row.reading, f.name) != getattr(DEFAULT_READING, f.name)
               for f in fields(AGMMReading))
    return diff + (row.weight_decay != exp.WEIGHT_DECAY)


def test_rows_are_the_vanillas_the_default_and_every_one_factor_change():
    rows = exp.reading_rows()
    assert [r.name for r in rows[:3]] == ["bsnn-wd", "bsnn-nowd", "default"]
    assert [r.weight_decay for r in rows[:2]] == [exp.WEIGHT_DECAY, 0.0]
    assert rows[0].reading is None and rows[1].reading is None
    assert rows[2].reading == DEFAULT_READING and _changes(rows[2]) == 0
    agmm = rows[2:]
    assert all(_changes(r) == 1 for r in agmm[1:])
    # the other mean, the other position, the other window, no weight decay
    assert len(agmm) == 1 + 3 + 1 and len({r.run_name() for r in rows}) == len(rows)
    assert {r.name for r in agmm[1:]} == {"mean-channel", "position-before-bn", "window-all",
                                          "nowd"}


def test_rows_follow_the_default_and_the_factor_lists(monkeypatch):
    flipped = AGMMReading("channel", "before-bn", "all")
    names = {r.name for r in exp.reading_rows(flipped)[3:]}
    assert names == {"mean-sample", "position-after-bn", "window-cumulative", "nowd"}
    monkeypatch.setattr(exp, "FACTORS", {**exp.FACTORS, "window": WINDOWS})
    assert {r.name for r in exp.reading_rows()[3:]} == {"mean-channel", "position-before-bn",
                                                        "window-all", "window-step", "nowd"}


def test_run_names_follow_the_reading_not_the_role():
    """A flipped default reuses the runs: the same (reading, wd) has the same run name."""
    flipped = AGMMReading("channel", "after-bn", "cumulative")
    old = {(r.reading, r.weight_decay): r.run_name() for r in exp.reading_rows()}
    new = {(r.reading, r.weight_decay): r.run_name() for r in exp.reading_rows(flipped)}
    shared = set(old) & set(new)
    assert (DEFAULT_READING, exp.WEIGHT_DECAY) in shared and (flipped, exp.WEIGHT_DECAY) in shared
    assert all(old[k] == new[k] for k in shared)
    assert old[(None, 0.0)] == "agmm-readings-bsnn-wd0"


@pytest.mark.parametrize("budget", ["smoke", "cpu", "full"])
def test_configs_are_valid_and_build_the_row_reading(budget, tmp_path):
    for row in exp.reading_rows():
        config = exp.readings_run_config(row, budget, tmp_path)
        parsed = config_from_dict(config)
        assert parsed.optim.weight_decay == row.weight_decay and parsed.name == row.run_name()
        assert config["optim"]["optimizer"] == "sgd"
        if budget == "cpu":
            assert config["optim"]["epochs"] == 4 and config["data"]["train_limit"] == 8000
        if budget != "smoke":
            continue
        args = {**config["model"]["args"], "width": 1 / 32, "in_shape": (1, 16, 16)}
        units = binary_units(build_model(config["model"]["name"], **args))
        assert len(units) == 16
        assert {u.agmm.reading if u.agmm else None for u in units} == {row.reading}


def test_comparisons_by_hand():
    wd, nowd = exp.reading_rows()[0], exp.reading_rows()[1]
    default, no_decay = exp.reading_rows()[2], exp.reading_rows()[-1]
    rows = [
        {"row": wd, "test_acc": 80.0, "mean_flip_ratio": 0.2, "flip_ratio_per_epoch": [0.3, 0.1]},
        {"row": nowd, "test_acc": 78.0, "mean_flip_ratio": 0.1,
         "flip_ratio_per_epoch": [0.15, 0.05]},
        {"row": default, "test_acc": 81.5, "mean_flip_ratio": 0.25,
         "flip_ratio_per_epoch": [0.25, 0.25]},
        {"row": no_decay, "test_acc": 77.0, "mean_flip_ratio": 0.075,
         "flip_ratio_per_epoch": [0.1, 0.05]},
    ]
    exp.add_comparisons(rows, epochs=2)
    assert rows[0]["d_acc"] == 0 and rows[0]["flip_lower_epochs"] == 0
    assert rows[2]["d_acc"] == pytest.approx(1.5) and rows[2]["d_flip"] == pytest.approx(0.05)
    assert rows[2]["flip_lower_epochs"] == 1  # 0.25 < 0.3; 0.25 > 0.1
    assert rows[3]["d_acc"] == pytest.approx(-1.0) and rows[3]["d_flip"] == pytest.approx(-0.025)
    assert rows[3]["flip_lower_epochs"] == 1  # vs the vanilla without decay: 0.1 < 0.15
    assert (rows[2]["flip_e1"], rows[2]["flip_e2"]) == (0.25, 0.25)


def test_smoke_run_end_to_end(tmp_path, monkeypatch):
    """Registered, trains at the smoke budget (three rows to stay fast), then reuses the runs."""
    assert "agmm-readings" in EXPERIMENTS
    from spikebit.data import load_dataset

    try:
        load_dataset("fashion-mnist", train=False)
    except DataError as exc:  # pragma: no cover - the data ships with this machine
        pytest.skip(f"Fashion-MNIST not available: {exc}")
    monkeypatch.chdir(tmp_path)
    rows = exp.reading_rows()
    keep = [rows[0], rows[2], next(r for r in rows if r.name == "position-before-bn")]
    monkeypatch.setattr(exp, "reading_rows", lambda: keep)
    result = exp.agmm_readings("smoke", tmp_path / "work")
    assert [r["model"] for r in result["rows"]] == [r.label for r in keep]
    assert "flip_e1" in result["columns"] and "flip_e2" not in result["columns"]
    vanilla = result["rows"][0]
    for row in result["rows"]:
        assert set(result["columns"]) <= set(row)
        assert 0 <= row["mean_flip_ratio"] <= 1 and row["flip_e1"] == row["mean_flip_ratio"]
        assert row["d_acc"] == pytest.approx(row["test_acc"] - vanilla["test_acc"])
    assert result["rows"][2]["reading"]["position"] == "before-bn"
    json.dumps(result)  # JSON-able as run_experiment writes it
    stamps = {r["run_dir"]: (Path(r["run_dir"]) / "last.safetensors").stat().st_mtime_ns
              for r in result["rows"]}
    again = exp.agmm_readings("smoke", tmp_path / "work")  # finished runs are reused
    assert [r["test_acc"] for r in again["rows"]] == [r["test_acc"] for r in result["rows"]]
    assert {d: (Path(d) / "last.safetensors").stat().st_mtime_ns for d in stamps} == stamps
