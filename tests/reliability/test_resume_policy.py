"""Issue 20 items 1 and 4: resuming applies allowed changes for real and refuses the rest."""

import math

import pytest
import torch

from spikebit.errors import CheckpointError, ConfigError
from spikebit.train import config_from_dict, load_checkpoint
from spikebit.train.checkpoint import save_checkpoint
from spikebit.train.run import train_from_config


def _cfg(toy_config, **optim):
    return dict(toy_config, optim={"epochs": 2, "batch_size": 32, "lr": 0.01, **optim})


def test_resume_with_constant_schedule_and_more_epochs(toy_config):
    cfg = _cfg(toy_config, schedule="constant")
    train_from_config(config_from_dict(cfg))
    more = config_from_dict(dict(cfg, optim=dict(cfg["optim"], epochs=3)))
    metrics, run_dir = train_from_config(more, resume=True)
    assert metrics["epoch"] == 3 and metrics["lr"] == 0.01
    # equals the uninterrupted 3-epoch run exactly
    full, _ = train_from_config(config_from_dict(dict(cfg, name="full",
                                                      optim=dict(cfg["optim"], epochs=3))))
    assert full["test_acc"] == metrics["test_acc"] and full["train_loss"] == metrics["train_loss"]


def test_lr_change_is_applied_to_the_cosine_schedule(toy_config):
    cfg = _cfg(toy_config)  # cosine over 2 epochs x 8 steps
    train_from_config(config_from_dict(cfg))
    changed = config_from_dict(dict(cfg, optim=dict(cfg["optim"], lr=0.1, epochs=4)))
    metrics, run_dir = train_from_config(changed, resume=True)
    ckpt = load_checkpoint(run_dir / "last.safetensors")
    # the logged lr is the rate of each epoch's first step: the cosine of base lr 0.1 over
    # 32 steps gives 0.1 * (1 + cos(pi * s / 32)) / 2 at step s = 16 (epoch 3) and 24 (epoch 4)
    history = ckpt.meta["trainer"]["history"]
    assert history[2]["lr"] == pytest.approx(0.1 * (1 + math.cos(math.pi * 16 / 32)) / 2)
    assert history[3]["lr"] == pytest.approx(0.1 * (1 + math.cos(math.pi * 24 / 32)) / 2)
    assert ckpt.meta["optimizer"]["param_groups"][0]["lr"] == pytest.approx(0.0, abs=1e-12)
    assert ckpt.meta["config"]["optim"]["lr"] == 0.1
    assert ckpt.meta["optimizer"]["param_groups"][0]["initial_lr"] == 0.1


@pytest.mark.parametrize("change", [
    {"seed": 4},
    {"model": {"name": "albsnn-mnist", "args": {"spec": "4C3-AP2-8C3-GAP", "steps": 3,
                                                "full_precision": [0]}}},
    {"optim": {"epochs": 3, "batch_size": 16, "lr": 0.01}},
    {"optim": {"epochs": 3, "batch_size": 32, "lr": 0.01, "optimizer": "sgd"}},
    {"data": {"name": "toy", "train_limit": 100}},
])
def test_resume_refuses_changes_that_make_another_run(toy_config, change):
    cfg = _cfg(toy_config)
    train_from_config(config_from_dict(cfg))
    with pytest.raises(ConfigError, match="cannot resume .* the config changes"):
        train_from_config(config_from_dict(dict(cfg, **change)), resume=True)


def test_resume_from_another_runs_checkpoint_is_refused(toy_config):
    cfg = _cfg(toy_config)
    _, a = train_from_config(config_from_dict(dict(cfg, name="a", seed=1)))
    _, b = train_from_config(config_from_dict(dict(cfg, name="b", seed=2)))
    (b / "last.safetensors").write_bytes((a / "last.safetensors").read_bytes())
    more = config_from_dict(dict(cfg, name="b", seed=2, optim=dict(cfg["optim"], epochs=3)))
    with pytest.raises(ConfigError, match=r"name: 'a' -> 'b'; seed: 1 -> 2"):
        train_from_config(more, resume=True)


def test_nothing_left_to_train_is_an_error(toy_config):
    cfg = _cfg(toy_config)
    train_from_config(config_from_dict(cfg))
    for epochs in (1, 2):
        fewer = config_from_dict(dict(cfg, optim=dict(cfg["optim"], epochs=epochs)))
        with pytest.raises(ConfigError, match="already trained 2 epoch.*optim.epochs=3"):
            train_from_config(fewer, resume=True)


def test_dropped_optimizer_state_is_an_error(toy_config):
    cfg = _cfg(toy_config)
    _, run_dir = train_from_config(config_from_dict(cfg))
    ckpt = load_checkpoint(run_dir / "last.safetensors")
    ckpt.tensors = {k: v for k, v in ckpt.tensors.items() if not k.startswith("optim.")}
    ckpt.meta["optimizer"]["scalars"] = {}
    save_checkpoint(run_dir / "last.safetensors", ckpt)  # re-hashed: a consistent file
    more = config_from_dict(dict(cfg, optim=dict(cfg["optim"], epochs=3)))
    with pytest.raises(CheckpointError, match="optim.* is missing although 16 steps"):
        train_from_config(more, resume=True)


def test_optimizer_state_of_wrong_shape_or_name(toy_config):
    cfg = _cfg(toy_config)
    _, run_dir = train_from_config(config_from_dict(cfg))
    more = config_from_dict(dict(cfg, optim=dict(cfg["optim"], epochs=3)))
    ckpt = load_checkpoint(run_dir / "last.safetensors")
    key = next(k for k in ckpt.tensors if k.endswith(".exp_avg"))
    for tensors, pattern in [
        ({**ckpt.tensors, key: torch.zeros(3)}, "has shape"),
        ({**{k: v for k, v in ckpt.tensors.items() if k != key},
          key.replace("exp_avg", "exp_avg_renamed"): ckpt.tensors[key]}, "not a Adam state"),
    ]:
        save_checkpoint(run_dir / "last.safetensors", type(ckpt)(tensors, ckpt.meta))
        with pytest.raises(CheckpointError, match=pattern):
            train_from_config(more, resume=True)
