"""The init-weights callback: a fresh run starts from a trained model; a resumed one does not."""

from __future__ import annotations

import copy

import pytest
import torch

from spikebit.errors import CheckpointError
from spikebit.quant import quantized_layers
from spikebit.train import Callback, config_from_dict, prepare
from spikebit.train.callbacks import InitWeights
from spikebit.train.checkpoint import load_checkpoint
from spikebit.train.run import train_from_config
from spikebit.train.trainer import Trainer


class _Weights(Callback):
    """Keeps a copy of the model's state at train start."""

    def on_train_start(self, trainer):
        self.state = {k: v.clone() for k, v in trainer.model.state_dict().items()}
        self.flags = {n: layer.quantize for n, layer in quantized_layers(trainer.model)}


def test_fresh_run_starts_from_the_checkpoint(toy_config, tmp_path):
    toy_config["optim"]["epochs"] = 1
    _, first_dir = train_from_config(config_from_dict(toy_config))
    saved = load_checkpoint(first_dir / "last.safetensors")
    second = copy.deepcopy(toy_config)
    second.update(name="toy-finetune", seed=9)
    second["model"]["args"]["full_precision"] = []  # flags come from the checkpoint
    config = config_from_dict(second)
    model, train, test, _ = prepare(config)
    probe = _Weights()
    trainer = Trainer(config, model, train, test, [InitWeights(str(first_dir)), probe])
    trainer.fit()
    trained = saved.section("model")
    assert probe.state.keys() == trained.keys()
    assert all(torch.equal(probe.state[k], trained[k]) for k in trained)
    assert probe.flags == saved.meta["quantize"] and not all(probe.flags.values())
    # a resumed run (step > 0) keeps its own weights
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    InitWeights(str(first_dir)).on_train_start(trainer)
    assert all(torch.equal(before[k], v) for k, v in trainer.model.state_dict().items())
    with pytest.raises(CheckpointError, match="does not exist"):
        trainer.state.step = 0
        InitWeights(str(tmp_path / "missing.safetensors")).on_train_start(trainer)
