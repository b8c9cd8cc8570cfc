import pytest

from spikebit.errors import ConfigError
from spikebit.train.config import apply_overrides, config_from_dict, load_config


def test_unknown_key_suggests_nearest(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown config key 'optim.learning_rat'"):
        config_from_dict({"optim": {"learning_rat": 0.1}})
    with pytest.raises(ConfigError, match=r"'optim.lrr'\. Did you mean 'lr'\?"):
        config_from_dict({"optim": {"lrr": 0.1}})
    with pytest.raises(ConfigError, match="Did you mean 'seed'"):
        config_from_dict({"sed": 1})


def test_types_and_literals_are_checked():
    with pytest.raises(ConfigError, match="optim.epochs must be int"):
        config_from_dict({"optim": {"epochs": "ten"}})
    with pytest.raises(ConfigError, match="optim.optimizer must be one of 'adam', 'sgd'"):
        config_from_dict({"optim": {"optimizer": "adan"}})
    assert config_from_dict({"optim": {"lr": 1}}).optim.lr == 1.0


def test_overrides_parse_yaml_values(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: x\noptim:\n  lr: 0.1\n")
    cfg = load_config(path, ["optim.lr=0.01", "model.args.full_precision=[0, -1]",
                             "data.train_limit=100"])
    assert cfg.optim.lr == 0.01 and cfg.model.args["full_precision"] == [0, -1]
    assert cfg.data.train_limit == 100
    with pytest.raises(ConfigError, match="section.key=value"):
        apply_overrides({}, ["optim.lr"])


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("optim: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_every_shipped_config_is_valid():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "configs"
    files = sorted(root.rglob("*.yaml"))
    assert files, "configs/ holds one config per experiment"
    for f in files:
        load_config(f)


def test_overrides_address_list_entries_by_index():
    data = {"callbacks": [{"name": "a", "args": {"k": 2}}, {"name": "b", "args": {}}]}
    apply_overrides(data, ["callbacks.1.args.times=5", "callbacks.0.args.k=3"])
    assert data["callbacks"] == [{"name": "a", "args": {"k": 3}},
                                 {"name": "b", "args": {"times": 5}}]
    apply_overrides(data, ["callbacks.0={name: c}"])
    assert data["callbacks"][0] == {"name": "c"}
    for bad in ("callbacks.2.args.k=1", "callbacks.x.args.k=1", "callbacks.-1.args.k=1"):
        with pytest.raises(ConfigError, match=r"'callbacks' is a list of 2 entries.*0\.\.1"):
            apply_overrides(data, [bad])
    with pytest.raises(ConfigError, match="'k' is not a section"):
        apply_overrides({"k": 1}, ["k.x=2"])
