"""Issue 20, configs: every bad value is a ConfigError naming the field, before anything runs."""

import pytest
from tests_toy import toy_config_dict

from spikebit.errors import ConfigError
from spikebit.train import config_from_dict, load_config
from spikebit.train.run import train_from_config


def _with(section, key, value, tmp_path):
    cfg = toy_config_dict(tmp_path / "runs")
    if section:
        cfg[section] = dict(cfg[section], **{key: value})
    else:
        cfg[key] = value
    return cfg


CASES = [
    ("optim", "lr", "0.01", "optim.lr must be a number"),
    ("optim", "lr", "fast", "optim.lr must be a number"),
    ("optim", "lr", [0.1], "optim.lr must be a number"),
    ("optim", "lr", -0.1, "optim.lr must be a finite number > 0"),
    ("optim", "lr", float("nan"), "optim.lr must be a finite number > 0"),
    ("optim", "lr", 0, "optim.lr must be a finite number > 0"),
    ("optim", "eval_batch_size", 0, "optim.eval_batch_size must be an integer >= 1"),
    ("optim", "eval_batch_size", -1, "optim.eval_batch_size must be an integer >= 1"),
    ("optim", "weight_decay", "1e-4x", "optim.weight_decay must be a number"),
    ("optim", "weight_decay", -1e-4, "optim.weight_decay must be a finite number >= 0"),
    ("optim", "momentum", "high", "optim.momentum must be a number"),
    ("optim", "momentum", -0.5, r"optim.momentum must be a number in \[0, 1\)"),
    ("optim", "grad_clip", "abc", "optim.grad_clip must be a number"),
    ("optim", "grad_clip", -1.0, "optim.grad_clip must be null or a finite number > 0"),
    ("optim", "epochs", 0, "optim.epochs must be an integer >= 1"),
    ("optim", "epochs", -1, "optim.epochs must be an integer >= 1"),
    ("optim", "batch_size", True, "optim.batch_size must be int"),
    (None, "seed", -1, r"seed must be an integer in \[0, 2\*\*63 - 1\]"),
    (None, "seed", 2**70, r"seed must be an integer in \[0, 2\*\*63 - 1\]"),
    (None, "log_every", 0, "log_every must be an integer >= 1"),
    ("data", "train_limit", -5, "data.train_limit must be null"),
    ("data", "test_limit", -1, "data.test_limit must be null"),
    ("data", "crop_padding", -2, "data.crop_padding must be an integer"),
    ("model", "args", [1, 2], "model.args must be a mapping"),
    ("model", "args", {"spec": "4C3-GAP", "depth": 3}, "model.args .* unknown argument 'depth'"),
    ("model", "args", {"spec": "4C3-GAP", "steps": 0}, r"model.args.steps must be an integer"),
    ("model", "args", {"spec": "4C3-GAP", "steps": -1}, r"model.args.steps must be an integer"),
    ("model", "name", "albsnn-mnistt", "model.name: unknown model .*Did you mean"),
    (None, "callbacks", [{"name": "quantizer-schedule", "args": {"x": 1}}],
     r"callbacks\[0\].args .* unknown argument 'x'"),
    (None, "callbacks", [{"name": "nope"}], r"callbacks\[0\].name: unknown callback"),
    (None, "loss", "hinge", "loss: unknown loss"),
]


@pytest.mark.parametrize("section,key,value,pattern", CASES)
def test_bad_field_is_a_config_error(tmp_path, section, key, value, pattern):
    with pytest.raises(ConfigError, match=pattern):
        config_from_dict(_with(section, key, value, tmp_path))


def test_set_override_values_are_checked_too(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model: {name: albsnn-mnist, args: {spec: 4C3-GAP}}\ndata: {name: toy}\n")
    for override, pattern in [("optim.lr=fast", "optim.lr must be a number"),
                              ("optim.lr=[1]", "optim.lr must be a number"),
                              ("optim.lr=-1", "optim.lr must be a finite number > 0")]:
        with pytest.raises(ConfigError, match=pattern):
            load_config(path, [override])


def test_duplicate_yaml_key_is_an_error(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text("optim:\n  lr: 0.1\n  lr: 0.001\n")
    with pytest.raises(ConfigError, match="duplicate key 'lr'"):
        load_config(path)
    ok = tmp_path / "ok.yaml"
    ok.write_text("seed: 1\n")
    with pytest.raises(ConfigError, match="duplicate key 'a'"):
        load_config(ok, ["model.args={a: 1, a: 2}"])


def test_checks_that_need_the_data(tmp_path):
    cfg = toy_config_dict(tmp_path)
    cfg["model"]["args"]["num_classes"] = 1  # the toy set has 2 labels
    with pytest.raises(ConfigError, match="num_classes=1 is below the 2 classes"):
        train_from_config(config_from_dict(cfg))
    cfg = toy_config_dict(tmp_path)
    cfg["optim"]["batch_size"] = 1000  # 256 training images
    with pytest.raises(ConfigError, match="batch_size=1000 is larger than the training set"):
        train_from_config(config_from_dict(cfg))
    assert not (tmp_path / "toy" / "last.safetensors").exists()


def test_component_that_refuses_a_value_gives_a_config_error(tmp_path):
    cfg = toy_config_dict(tmp_path)
    cfg["model"]["args"]["full_precision"] = "all"
    with pytest.raises(ConfigError, match="model 'albsnn-mnist' refused its arguments"):
        train_from_config(config_from_dict(cfg))
