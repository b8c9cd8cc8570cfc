"""The ``bsnn-*`` experiments: registration, configs, the smoke budget end to end, run reuse."""

import json
from pathlib import Path

import pytest

from spikebit.conversion.experiments import Variant
from spikebit.conversion.recipes import BUDGETS, PAPER, budget_for, train_config
from spikebit.conversion.reproduce import variant_family
from spikebit.errors import SpikebitError
from spikebit.reproduce import EXPERIMENTS, run_experiment
from spikebit.train import config_from_dict, load_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "bsnn"


def test_experiments_are_registered() -> None:
    assert {"bsnn-fmnist", "bsnn-mnist-subset", "bsnn-table2"} <= set(EXPERIMENTS.names())
    with pytest.raises(SpikebitError, match="unknown budget 'gpu'"):
        budget_for("bsnn-fmnist", "gpu")


@pytest.mark.parametrize(
    ("variant", "family"),
    [(Variant("a", "rate", 100.0), "rate-max"), (Variant("b", "rate", 99.9), "rate-p"),
     (Variant("c", "phase", 100.0, 8, True), "phase-sn"), (Variant("d", "phase"), "phase"),
     (Variant("e", "bsnn", synchronous=False), "bsnn-nosn"),
     (Variant("f", "bsnn", synchronous=True), "bsnn")],
)
def test_variant_family(variant: Variant, family: str) -> None:
    assert variant_family(variant) == family


def test_paper_numbers_of_table1_and_table2() -> None:
    assert (PAPER["cnn/bsnn"].ann, PAPER["cnn/bsnn"].snn, PAPER["cnn/bsnn"].T) == (99.30, 99.31, 35)
    assert (PAPER["vgg16/bsnn"].snn, PAPER["vgg16/bsnn"].T) == (94.12, 166)
    assert (PAPER["resnet20/bsnn"].snn, PAPER["resnet20/bsnn"].T) == (95.16, 206)
    for key in ("table2/phase-sn", "table2/bsnn-nosn", "table2/bsnn"):  # ANN = SNN + loss
        ref = PAPER[key]
        assert ref.ann == pytest.approx(ref.snn + ref.loss)


@pytest.mark.parametrize(
    ("experiment", "key"),
    [("bsnn-fmnist", "cnn"), ("bsnn-fmnist", "resnet20"), ("bsnn-fmnist", "vgg16"),
     ("bsnn-table2", "resnet18")],
)
def test_fmnist_yaml_equals_the_cpu_budget_config(experiment: str, key: str) -> None:
    """configs/bsnn/fmnist-*.yaml train exactly the ANN the cpu budget trains (so it is reused)."""
    budget = BUDGETS[experiment]["cpu"]
    plan = next(n for n in budget.nets if n.key == key)
    planned = train_config(plan, budget, "cpu", f"runs/reproduce/{experiment}")
    assert load_config(CONFIGS / f"fmnist-{key}.yaml").to_dict() == config_from_dict(
        planned).to_dict()


def test_table2_smoke_writes_rows_with_paper_numbers(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # the runner trains under runs/ and plots under results/
    path = run_experiment("bsnn-table2", budget="smoke", out_dir=tmp_path / "results")
    result = json.loads(path.read_text())
    rows = result["rows"]
    assert [r["variant"] for r in rows] == ["IF w/ SN", "BIF w/out SN", "BIF w/ SN"]
    assert [r["paper_snn"] for r in rows] == [94.37, 94.04, 94.83]
    assert [r["paper_T"] for r in rows] == [394, 395, 218]
    detail = result["details"]["resnet18"]
    names = {"IF w/ SN": "phase-sn", "BIF w/out SN": "bsnn-K8-nosn", "BIF w/ SN": "bsnn-K8"}
    for r in rows:
        assert r["network"] == "resnet18" and r["T_max"] == 16
        given = [a for a in detail["accuracy_curves"][names[r["variant"]]] if a is not None]
        if not given:  # the readout starts after T_max: no best, no loss ("no output")
            assert (r["snn_acc"], r["best_T"], r["loss"]) == (None, None, None)
            continue
        assert 1 <= r["best_T"] <= 16 and r["snn_acc"] == max(given)
        assert r["loss"] == pytest.approx(r["ann_acc"] - r["snn_acc"])
    assert "Budget smoke" in result["note"] and "width 0.0625" in result["note"]
    report = json.loads(Path(detail["report"]).read_text())
    assert set(report["results"]) == {"phase-sn", "bsnn-K8-nosn", "bsnn-K8"}
    assert (tmp_path / "results" / "bsnn-table2.md").read_text().count("| resnet18 |") == 3
    pytest.importorskip("matplotlib")
    assert len(detail["figures"]) == 2 and all(Path(f).exists() for f in detail["figures"])


def test_finished_runs_are_reused(toy_config, tmp_path) -> None:
    from spikebit.train import train_or_reuse

    cfg = dict(toy_config, optim={"epochs": 1, "batch_size": 64})
    first, run_dir = train_or_reuse(cfg)
    stamp = (run_dir / "last.safetensors").stat().st_mtime_ns
    again, same_dir = train_or_reuse(cfg)
    assert same_dir == run_dir and again == first
    assert (run_dir / "last.safetensors").stat().st_mtime_ns == stamp  # not retrained
    longer, _ = train_or_reuse(dict(cfg, optim={"epochs": 2, "batch_size": 64}))
    assert longer["epoch"] == 2  # a different config trains (here: from scratch, 2 epochs)
    kept = list(run_dir.parent.glob(f"{run_dir.name}.replaced-*"))
    assert len(kept) == 1 and (kept[0] / "last.safetensors").is_file()  # old run kept
