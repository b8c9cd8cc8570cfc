"""The albsnn-selector callback: Box semantics, training history, checkpoint/resume."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch

from spikebit.errors import ConfigError
from spikebit.methods.albsnn import ALBSNNSelector
from spikebit.models import build_model
from spikebit.train import Callback, config_from_dict, load_checkpoint, prepare
from spikebit.train.run import train_from_config
from spikebit.train.trainer import Trainer


def _fake_trainer(quantizer: str = "abc"):
    torch.manual_seed(0)
    model = build_model("albsnn-mnist", spec="4C3-8C3-AP2-8C3-GAP", in_shape=(1, 8, 8),
                        num_classes=4, quantizer=quantizer)
    return SimpleNamespace(model=model, train_set=SimpleNamespace(num_classes=4))


def _fp_layers(selector: ALBSNNSelector) -> list[int]:
    return [i for i, (_, layer) in enumerate(selector.layers) if not layer.quantize]


def test_box_applies_each_selection_one_step_late():
    trainer = _fake_trainer()
    sel = ALBSNNSelector(rule="top-k", k=1)
    sel.on_train_start(trainer)
    assert sel.box == [0]  # the 36-weight first conv has by far the largest R
    sel.on_step_start(trainer, 0)
    assert _fp_layers(sel) == [0]
    # "optimizer step": the last layer's weights shrink, so its w_loss -> ~0 and R -> huge
    with torch.no_grad():
        sel.layers[3][1].weight.mul_(1e-6)
    sel.on_step_end(trainer, 0, loss=1.0)
    assert sel.box == [3]  # the Box holds the new selection ...
    assert _fp_layers(sel) == [0]  # ... but step 0 ran (and ends) with the old one
    sel.on_step_start(trainer, 1)
    assert _fp_layers(sel) == [3]  # step 1 uses step 0's selection
    sel.on_step_end(trainer, 1, loss=1.0)
    metrics: dict = {}
    sel.on_epoch_end(trainer, 0, metrics)
    rec = metrics["albsnn"]
    assert rec["selected"] == [4] and rec["applied"] == [4]
    assert rec["fp_steps"] == [1, 0, 0, 1] and rec["steps"] == 2 and rec["switches"] == 1
    assert len(rec["R"]) == 4 and rec["R"][3] == max(rec["R"])
    assert sel.steps == 0 and sel.fp_steps == [0, 0, 0, 0]  # per-epoch counters reset


def test_every_recomputes_less_often_and_bad_args():
    trainer = _fake_trainer()
    sel = ALBSNNSelector(rule="top-k", k=1, every=2)
    sel.on_train_start(trainer)
    with torch.no_grad():
        sel.layers[3][1].weight.mul_(1e-6)
    sel.on_step_end(trainer, 0, 1.0)
    assert sel.box == [0]  # step 0: (0+1) % 2 != 0, not recomputed
    sel.on_step_end(trainer, 1, 1.0)
    assert sel.box == [3]
    with pytest.raises(ConfigError, match="every must be"):
        ALBSNNSelector(every=0)
    with pytest.raises(ConfigError, match="quantizer: abc"):
        ALBSNNSelector().on_train_start(_fake_trainer("fp"))


class _Recorder(Callback):
    """Records, per step, the flags used in the forward pass and the Box after the step."""

    def __init__(self, selector: ALBSNNSelector) -> None:
        self.selector, self.used, self.boxes = selector, [], []

    def on_step_start(self, trainer, step):
        self.used.append(_fp_layers(self.selector))

    def on_step_end(self, trainer, step, loss):
        self.boxes.append(list(self.selector.box))


def test_tiny_training_with_selector_learns_and_logs_history(quad_config):
    config = config_from_dict(quad_config)
    model, train, test, transform = prepare(config)
    sel = ALBSNNSelector(rule="top-k", k=1)
    rec = _Recorder(sel)
    trainer = Trainer(config, model, train, test, [sel, rec], transform)
    metrics = trainer.fit()
    assert metrics["test_acc"] > 0.5  # chance is 0.25
    history = trainer.state.history
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert rec.used[1:] == rec.boxes[:-1]  # every step used the previous step's Box
    for epoch in history:
        a = epoch["albsnn"]
        assert a["steps"] == 16 and len(a["R"]) == len(a["layers"]) == 4
        assert all(0 <= n <= 16 for n in a["fp_steps"]) and sum(a["fp_steps"]) == 16
    saved = json.loads((trainer.run_dir / "metrics.json").read_text())
    assert saved["history"][-1]["albsnn"]["selected"] == history[-1]["albsnn"]["selected"]


class _KillAt(Callback):
    def __init__(self, at: int) -> None:
        self.at = at

    def on_step_start(self, trainer, step):
        if step == self.at:
            raise KeyboardInterrupt


def test_resume_keeps_selector_state(quad_config):
    cfg = dict(quad_config, optim={"epochs": 2, "batch_size": 16, "lr": 0.01},
               data={"name": "albsnn-quadrants", "train_limit": 64, "test_limit": 32})
    full, _ = train_from_config(config_from_dict(dict(cfg, name="full")))
    config = config_from_dict(dict(cfg, name="part"))
    model, train, test, transform = prepare(config)
    sel = ALBSNNSelector(rule="top-k", k=1)
    trainer = Trainer(config, model, train, test, [sel, _KillAt(6)], transform)
    with pytest.raises(KeyboardInterrupt):  # killed during epoch 2 (4 steps per epoch)
        trainer.fit()
    ckpt = load_checkpoint(trainer.run_dir / "last.safetensors").meta
    meta = ckpt["callbacks"]["albsnn-selector"]  # keyed by name
    assert [i + 1 for i in meta["box"]] == ckpt["metrics"]["albsnn"]["selected"]
    assert meta["num_classes"] == 4 and meta["steps"] == 0
    assert sel.steps == 3  # steps 4..6 had started when the kill came; not checkpointed
    resumed, _ = train_from_config(config, resume=True)
    for key in ("train_loss", "test_acc", "test_loss"):
        assert resumed[key] == full[key], key
    assert resumed["albsnn"] == {**full["albsnn"], "ale_seconds": resumed["albsnn"]["ale_seconds"]}


def test_ale_threads_are_restored():
    from spikebit.methods.albsnn.selector import intra_op_threads

    torch.set_num_threads(2)
    with intra_op_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2
    with intra_op_threads(None):
        assert torch.get_num_threads() == 2
