"""A tiny SNN learns from simulated event frames (the whole event path through the trainer)."""

import torch

from spikebit.train import config_from_dict, train_from_config


def test_tiny_snn_learns_on_simulated_event_shapes(tmp_path):
    torch.set_num_threads(1)
    cfg = {
        "name": "events", "out_dir": str(tmp_path / "runs"), "plots": False, "seed": 0,
        "model": {"name": "albsnn-mnist",
                  "args": {"spec": "8C3-AP2-16C3-AP2-32", "steps": 4, "quantizer": "fp"}},
        "data": {"name": "shapes", "data_dir": str(tmp_path / "data"), "frames": {"T": 4},
                 "train_limit": 400, "test_limit": 200},
        "optim": {"epochs": 4, "batch_size": 32, "lr": 0.01},
    }
    metrics, run_dir = train_from_config(config_from_dict(cfg))
    assert metrics["test_acc"] > 0.5  # 4 classes: chance is 0.25
    assert (tmp_path / "data" / "frames").is_dir()  # frames were cached for later epochs/runs
