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
