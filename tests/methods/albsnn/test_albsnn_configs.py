"""Configs in configs/albsnn, the CIFAR smoke run, and the experiment runners."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml

from spikebit.data import fetch
from spikebit.errors import ConfigError, DataError
from spikebit.methods.albsnn import experiments
from spikebit.methods.albsnn.recipes import RULES, VARIANTS, rule_run, variant_run
from spikebit.metrics import model_storage
from spikebit.quant import quantized_layers
from spikebit.reproduce import EXPERIMENTS
from spikebit.train import config_from_dict, load_config
from spikebit.train.build import build_callbacks, model_from_config
from spikebit.train.run import train_from_config

ROOT = Path(__file__).resolve().parents[3]
CONFIGS = ROOT / "configs" / "albsnn"
SHAPES = {"fashion-mnist": ((1, 28, 28), 10), "cifar10": ((3, 32, 32), 10),
          "cifar100": ((3, 32, 32), 100)}


def _static_formats():
    path = ROOT / "tests" / "data" / "static_formats.py"
    spec = importlib.util.spec_from_file_location("albsnn_static_formats", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_config_loads_and_builds(path):
    config = load_config(path)
    build_callbacks(config)
    in_shape, classes = SHAPES[config.data.name]
    model = model_from_config(config, in_shape, classes)
    assert sum(p.numel() for p in model.parameters()) > 0


def test_fmnist_configs_equal_the_cpu_recipes():
    for variant in VARIANTS:
        on_disk = yaml.safe_load((CONFIGS / f"fmnist-{variant}.yaml").read_text())
        assert on_disk == variant_run(variant, "cpu"), variant
    for rule in RULES:
        on_disk = yaml.safe_load((CONFIGS / f"fmnist-albsnn-{rule}.yaml").read_text())
        assert on_disk == rule_run(rule, "cpu"), rule
    with pytest.raises(ConfigError, match="unknown ALBSNN variant"):
        variant_run("xnor", "cpu")
    with pytest.raises(ConfigError, match="unknown budget"):
        rule_run("sc1", "huge")


@pytest.mark.parametrize("name, writer, n", [("cifar10-albsnn-bwo.yaml", "write_cifar10", 2),
                                             ("cifar100-albsnn-bwo.yaml", "write_cifar100", 8)])
def test_cifar_configs_run_on_generated_pickles(tmp_path, name, writer, n):
    getattr(_static_formats(), writer)(tmp_path / "data", n)  # 10 / 8 training images
    overrides = [f"data.data_dir={tmp_path / 'data'}", f"out_dir={tmp_path / 'runs'}",
                 "plots=false", "optim.epochs=1", "optim.batch_size=4",
                 "model.args.spec=4C3-8C3-AP2-8C3-AP2-8C3-GAP", "log_every=1000"]
    metrics, run_dir = train_from_config(load_config(CONFIGS / name, overrides))
    assert metrics["albsnn"]["bwo"]["applied"] > 0
    assert len(metrics["albsnn"]["selected"]) == 2 and len(metrics["albsnn"]["R"]) == 5
    assert (run_dir / "last.safetensors").exists()


def test_train_run_smoke_on_fashion_mnist(tmp_path):
    try:
        fetch("fashion-mnist")
    except DataError as err:
        pytest.skip(f"Fashion-MNIST not available: {err}")
    outcome = experiments.measure_run(variant_run("albsnn-bwo", "smoke"), tmp_path)
    row = outcome.row()
    assert outcome.metrics["albsnn"]["bwo"]["applied"] == 2
    assert row["fp_layers"] == ",".join(map(str, outcome.metrics["albsnn"]["applied"]))
    assert 3 / 32 < row["binarized_bits"] < 0.12  # 3 bits per weight + 3 fp32 alphas per layer
    assert row["binarized_bits"] < row["weight_storage"] < 1.0
    assert row["ale_overhead"] > 0 and row["epochs"] == 1


def _fake_measure_run(seen: list):
    """Builds the run's model untrained; ALBSNN runs keep layer 1 full precision."""

    def fake(run, work_dir):
        seen.append(run)
        model = model_from_config(config_from_dict(run), (1, 28, 28), 10)
        if run["callbacks"]:
            quantized_layers(model)[0][1].quantize = False
        metrics = {"test_acc": 0.5, "best_test_acc": 0.6, "epoch": 1, "epoch_seconds": 2.0}
        if run["callbacks"]:
            metrics["albsnn"] = {"ale_seconds": 0.5}
        return experiments.RunOutcome(metrics, model_storage(model))

    return fake


def test_table5_rows(monkeypatch, tmp_path):
    seen: list = []
    monkeypatch.setattr(experiments, "measure_run", _fake_measure_run(seen))
    result = EXPERIMENTS.get("albsnn-table5").runner("smoke", tmp_path)
    assert [r["name"] for r in seen] == [f"fmnist-{v}" for v in VARIANTS]
    rows = {r["method"]: r for r in result["rows"]}
    assert list(rows) == ["FPSNN", "BSNN", "FLNBSNN", "ALBSNN", "ALBSNN+BWO"]
    assert rows["FPSNN"]["fp_layers"] == "all" and rows["FPSNN"]["weight_storage"] == 1.0
    assert rows["FPSNN"]["binarized_bits"] is None and rows["FPSNN"]["ale_overhead"] is None
    assert rows["BSNN"]["fp_layers"] == "-" and rows["FLNBSNN"]["fp_layers"] == "1,5"
    assert rows["BSNN"]["binarized_bits"] == pytest.approx(rows["BSNN"]["weight_storage"])
    assert rows["ALBSNN"]["fp_layers"] == "1" and rows["ALBSNN"]["ale_overhead"] == 0.25
    assert (rows["ALBSNN+BWO"]["paper_acc"], rows["ALBSNN"]["paper_fp_layers"]) == (93.39, "1,2")
    assert all(set(result["columns"]) <= set(r) for r in result["rows"])
    assert "64/64 samples" in result["note"]


def test_table8_rows(monkeypatch, tmp_path):
    seen: list = []
    monkeypatch.setattr(experiments, "measure_run", _fake_measure_run(seen))
    result = EXPERIMENTS.get("albsnn-table8").runner("smoke", tmp_path)
    assert [r["callbacks"][0]["args"]["rule"] for r in seen] == ["sc1", "sc2", "sc3", "sc4"]
    row = result["rows"][0]
    assert (row["criterion"], row["fp_layers"], row["paper_fp_layers"]) == ("SC1", "1", "1")
    assert (row["acc"], row["best_acc"], row["ale_overhead"]) == (50.0, 60.0, 0.25)
    assert [r["paper_acc"] for r in result["rows"]] == [92.81, 93.10, 93.26, 93.21]


def test_selection_experiment_matches_paper_top2_at_initialization(tmp_path):
    result = EXPERIMENTS.get("albsnn-selection").runner("smoke", tmp_path)
    direct = [r for r in result["rows"] if r["theta"] == "direct" and r["paper_top2"] != "-"]
    assert len(direct) == 4
    assert all(r["top-k"] == r["paper_top2"] for r in direct)
    mnist = next(r for r in direct if r["model"] == "albsnn-mnist")
    assert (mnist["sc1"], mnist["sc3"], mnist["sc4"]) == ("1", "1,2,7", "1,3,7")  # as Table 8
