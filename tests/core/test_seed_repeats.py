"""``spikebit reproduce NAME --seeds N``: repeats with shifted seeds, mean ± std rows."""

from __future__ import annotations

import json
import math

import pytest

from spikebit.errors import ConfigError, SpikebitError
from spikebit.reproduce import EXPERIMENTS, Experiment, run_experiment
from spikebit.reproduce.seeds import aggregate_fields, aggregate_rows, mean_std
from spikebit.train.seeds import current_repeat, seed_repeat, with_repeat_seed


def test_repeat_zero_keeps_the_config_and_later_repeats_shift_seed_and_name():
    config = {"name": "demo", "seed": 3, "optim": {"lr": 0.1}}
    assert with_repeat_seed(config) is config
    with seed_repeat(2):
        assert current_repeat() == 2
        shifted = with_repeat_seed(config)
    assert shifted == {"name": "demo-seed2", "seed": 5, "optim": {"lr": 0.1}}
    assert config["seed"] == 3 and current_repeat() == 0


def test_mean_and_sample_std_by_hand():
    assert mean_std([0.8, 0.9, 1.0]) == pytest.approx((0.9, 0.1))
    assert mean_std([2.0]) == (2.0, 0.0)


def test_rows_aggregate_varying_numbers_and_keep_constants():
    rows = aggregate_rows([[{"method": "a", "paper": 92.0, "acc": 90.0}],
                           [{"method": "a", "paper": 92.0, "acc": 91.0}],
                           [{"method": "a", "paper": 92.0, "acc": 92.0}]])
    assert rows == [{"method": "a", "paper": 92.0, "acc": 91.0, "acc_std": 1.0,
                     "acc_seeds": [90.0, 91.0, 92.0]}]
    with pytest.raises(SpikebitError, match="numbers of rows"):
        aggregate_rows([[{"a": 1}], []])


@pytest.fixture
def fake_experiment():
    def runner(budget, work_dir):
        k = current_repeat()
        return {"columns": ["method", "acc"], "rows": [{"method": "x", "acc": 80.0 + 2 * k}]}

    EXPERIMENTS.register("fake-seeds")(Experiment("a fake table", runner))
    yield "fake-seeds"
    EXPERIMENTS._items.pop("fake-seeds", None)  # the registry has no public removal


def test_run_experiment_with_seeds_writes_mean_and_std(fake_experiment, tmp_path):
    path = run_experiment(fake_experiment, budget="smoke", out_dir=tmp_path, seeds=3)
    result = json.loads(path.read_text())
    (row,) = result["rows"]
    assert result["seeds"] == 3 and row["acc"] == 82.0 and math.isclose(row["acc_std"], 2.0)
    assert row["acc_seeds"] == [80.0, 82.0, 84.0]
    assert "| x | 82.00 ± 2.00 |" in (tmp_path / f"{fake_experiment}.md").read_text()
    with pytest.raises(ConfigError, match="seeds"):
        run_experiment(fake_experiment, seeds=0, out_dir=tmp_path)


def test_top_level_numbers_aggregate_like_columns():
    results = [{"rows": [1], "note": "n", "gap": 3.0, "target": 1.5},
               {"rows": [2], "note": "n", "gap": 2.0, "target": 1.5}]
    out = aggregate_fields(results)
    assert out == {"rows": [1], "note": "n", "gap": 2.5, "gap_std": pytest.approx(0.5 ** 0.5),
                   "gap_seeds": [3.0, 2.0], "target": 1.5}


def test_smoke_runs_never_share_a_directory_with_cpu_runs():
    from pathlib import Path

    from spikebit.reproduce import work_dir

    assert work_dir("albsnn-table5", "cpu") == Path("runs/reproduce/albsnn-table5")
    assert work_dir("albsnn-table5", "smoke") == Path("runs/reproduce/smoke/albsnn-table5")
    assert work_dir("albsnn-table5", "full").parent.name == "full"
