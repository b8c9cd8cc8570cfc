"""configs/multithreshold/*.yaml load, build their models and match the experiments."""

from pathlib import Path

import pytest

from spikebit.methods.multithreshold import experiments
from spikebit.methods.multithreshold.runs import run_config
from spikebit.train import config_from_dict
from spikebit.train.build import build_callbacks, model_from_config
from spikebit.train.config import load_config

CONFIGS = sorted((Path(__file__).parents[3] / "configs" / "multithreshold").glob("*.yaml"))
SHAPES = {"fashion-mnist": (1, 28, 28), "mnist-subset": (1, 28, 28), "cifar10": (3, 32, 32)}


def test_there_are_configs():
    assert len(CONFIGS) >= 5


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_config_loads_and_builds(path):
    config = load_config(path)
    assert path.name.startswith(config.data.name)
    net = model_from_config(config, SHAPES[config.data.name], 10)
    assert net.steps == config.model.args["steps"]
    build_callbacks(config)


@pytest.mark.parametrize("name,budgets", [
    ("fashion-mnist-mt-fmnist-cnn.yaml", experiments.MAIN_FMNIST),
    ("mnist-subset-mt-mnist-cnn.yaml", experiments.MAIN_MNIST),
    ("fashion-mnist-mt-ablation.yaml", experiments.ABLATION),
])
def test_configs_match_the_cpu_experiments(name, budgets, tmp_path):
    path = next(p for p in CONFIGS if p.name == name)
    ours = config_from_dict(run_config("x", budgets["cpu"], tmp_path, {"steps": 2}))
    theirs = load_config(path)
    assert theirs.model == ours.model and theirs.callbacks == ours.callbacks
    assert theirs.optim == ours.optim
    for key in ("name", "normalize", "crop_padding", "train_limit", "test_limit"):
        assert getattr(theirs.data, key) == getattr(ours.data, key), key
