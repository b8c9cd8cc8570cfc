import json
import math

import pytest
import torch

from spikebit.errors import CheckpointError, TrainingError
from spikebit.train import (
    Callback,
    config_from_dict,
    load_checkpoint,
    model_from_checkpoint,
    prepare,
)
from spikebit.train.build import build_callbacks
from spikebit.train.checkpoint import save_checkpoint
from spikebit.train.run import train_from_config
from spikebit.train.trainer import Trainer


def test_tiny_training_learns(toy_config):
    metrics, run_dir = train_from_config(config_from_dict(toy_config))
    history = json.loads((run_dir / "metrics.json").read_text())["history"]
    assert history[-1]["train_loss"] < history[0]["train_loss"] or metrics["test_acc"] > 0.9
    assert metrics["test_acc"] > 0.75  # chance is 0.5
    assert (run_dir / "log.csv").read_text().startswith("train_loss")
    for name in ("last.safetensors", "best.safetensors"):
        assert (run_dir / name).exists()


def test_training_again_without_resume_keeps_the_earlier_run(toy_config):
    config = config_from_dict(dict(toy_config, optim={"epochs": 1, "batch_size": 64}))
    _, run_dir = train_from_config(config)
    first = (run_dir / "last.safetensors").read_bytes()
    _, again = train_from_config(config)  # starts over: the first run is moved aside
    assert again == run_dir and (run_dir / "last.safetensors").is_file()
    kept = list(run_dir.parent.glob(f"{run_dir.name}.replaced-*"))
    assert len(kept) == 1 and (kept[0] / "last.safetensors").read_bytes() == first


class _KillAt(Callback):
    """Simulates the process being killed when global step ``at`` starts."""

    def __init__(self, at: int) -> None:
        self.at = at

    def on_step_start(self, trainer, step):
        if step == self.at:
            raise KeyboardInterrupt


def test_resume_reproduces_uninterrupted_run_exactly(toy_config):
    cfg = dict(toy_config, optim={"epochs": 3, "batch_size": 32, "lr": 0.01})
    full, _ = train_from_config(config_from_dict(dict(cfg, name="full")))
    config = config_from_dict(dict(cfg, name="part"))
    model, train, test, transform = prepare(config)
    trainer = Trainer(config, model, train, test, [_KillAt(20)], transform)
    with pytest.raises(KeyboardInterrupt):  # killed in the middle of epoch 3 (8 steps/epoch)
        trainer.fit()
    assert load_checkpoint(trainer.run_dir / "last.safetensors").meta["trainer"]["epoch"] == 2
    resumed, _ = train_from_config(config, resume=True)
    for key in ("train_loss", "train_acc", "test_acc", "test_loss"):
        assert resumed[key] == full[key], key


def test_nan_loss_stops_and_keeps_last_good_checkpoint(toy_config):
    config = config_from_dict(toy_config)
    model, train, test, transform = prepare(config)
    trainer = Trainer(config, model, train, test, build_callbacks(config), transform)
    trainer.config.optim.epochs = 1
    trainer.fit()
    good = (trainer.run_dir / "last.safetensors").read_bytes()
    trainer.config.optim.epochs = 2
    with torch.no_grad():
        list(model.parameters())[-1].fill_(math.nan)  # the output layer bias
    with pytest.raises(TrainingError, match=r"loss became nan at epoch 2, step \d+"):
        trainer.fit()
    assert (trainer.run_dir / "last.safetensors").read_bytes() == good


def test_checkpoint_roundtrip_and_corruption(toy_config, tmp_path):
    _, run_dir = train_from_config(config_from_dict(dict(toy_config, optim={"epochs": 1})))
    model, config, ckpt = model_from_checkpoint(run_dir / "best.safetensors")
    assert config.model.args["spec"] == "4C3-AP2-8C3-GAP"
    assert ckpt.meta["quantize"] == {"body.0.module": False, "body.4.module": True,
                                     "body.7.module": True}
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 10)
    with pytest.raises(CheckpointError, match="unreadable or corrupt"):
        load_checkpoint(bad)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.safetensors")
    truncated = tmp_path / "trunc.safetensors"
    truncated.write_bytes((run_dir / "last.safetensors").read_bytes()[:-100])
    with pytest.raises(CheckpointError):
        load_checkpoint(truncated)


def test_interrupted_write_leaves_previous_checkpoint(tmp_path, monkeypatch):
    from spikebit.train import checkpoint as ck

    path = tmp_path / "last.safetensors"
    save_checkpoint(path, ck.Checkpoint({"a": torch.ones(3)}, {"v": 1}))
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(ck, "save_file", boom)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, ck.Checkpoint({"a": torch.zeros(3)}, {"v": 2}))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["last.safetensors"]  # no temp left


def test_weight_decay_only_on_weights():
    from torch import nn

    from spikebit.train.optim import param_groups

    m = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Linear(2, 2))
    decay, rest = param_groups(m, 5e-4)
    assert decay["weight_decay"] == 5e-4 and all(p.ndim > 1 for p in decay["params"])
    assert rest["weight_decay"] == 0.0 and len(rest["params"]) == 4  # BN w,b + 2 biases
