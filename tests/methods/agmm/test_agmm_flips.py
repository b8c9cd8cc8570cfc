"""Weight sign flip ratio (AGMM eq. 8): hand counts, the callback in training, resume."""

import copy

import pytest
import torch

from spikebit.errors import ShapeError
from spikebit.metrics.flips import (
    FlipRatio,
    epoch_curve,
    flip_ratio,
    flip_ratios,
    layer_signs,
    plot_flip_ratios,
)
from spikebit.quant import quantized_layers
from spikebit.train import (
    CALLBACKS,
    Callback,
    Trainer,
    config_from_dict,
    load_checkpoint,
    prepare,
    train_from_config,
)


def test_flip_ratio_of_a_hand_made_history():
    w0 = torch.tensor([[0.5, -0.2, 0.0], [1.0, -1.0, 0.3]])
    w1 = torch.tensor([[0.4, 0.1, -0.1], [1.0, -1.0, 0.3]])   # flips: -0.2->0.1, 0->-0.1
    w2 = torch.tensor([[-0.4, 0.1, 0.0], [-1.0, 1.0, -0.3]])  # flips: 0.4, -0.1->0, 3 in row 2
    assert flip_ratio(w0, w1) == pytest.approx(2 / 6)
    assert flip_ratio(w1, w2) == pytest.approx(5 / 6)
    assert flip_ratio(w0, w2) == pytest.approx(5 / 6)  # 0.5, -0.2, row 2 (0 -> 0 is no flip)
    assert flip_ratio(w0, w0 * 3) == 0.0
    # eq. 8 as written: sum |sign(W_b) - sign(W_a)| / (2 n), with sign(0) = +1
    sign = lambda w: torch.where(w >= 0, 1.0, -1.0)  # noqa: E731
    assert flip_ratio(w1, w2) == pytest.approx(float((sign(w2) - sign(w1)).abs().sum() / 12))
    with pytest.raises(ShapeError, match="same shape"):
        flip_ratio(w0, w0.T)


def test_flip_ratios_per_layer_mean_and_overall():
    before = {"a": torch.ones(4), "b": torch.ones(12)}
    after = {"a": torch.tensor([1.0, -1, -1, 1]), "b": -torch.ones(12)}
    r = flip_ratios(before, after)
    assert r["layers"] == {"a": 0.5, "b": 1.0}
    assert r["mean"] == pytest.approx(0.75)
    assert r["overall"] == pytest.approx((2 + 12) / 16)


def test_training_records_ratios_and_matches_the_weights(tiny_config):
    """One epoch: the recorded per-layer ratios equal the flips between the initial
    weights (same seed) and the checkpointed ones; one step entry per batch."""
    cfg = copy.deepcopy(tiny_config)
    cfg["optim"]["epochs"] = 1
    config = config_from_dict(cfg)
    assert isinstance(CALLBACKS.get("flip-ratio")(), FlipRatio)
    initial = layer_signs(prepare(config)[0])
    metrics, run_dir = train_from_config(config)
    record = metrics["flip_ratio"]
    assert set(record["layers"]) == set(initial) and len(initial) == 16
    model = prepare(config)[0]
    tensors = load_checkpoint(run_dir / "last.safetensors").section("model")
    model.load_state_dict(tensors, strict=False)
    expected = flip_ratios(initial, layer_signs(model))
    for name, value in expected["layers"].items():
        assert record["layers"][name] == pytest.approx(value)
    assert record["mean"] == pytest.approx(expected["mean"]) and record["mean"] > 0
    assert metrics["flip_ratio_mean"] == record["mean"]
    steps = record["steps"]
    assert len(steps["mean"]) == 128 // 32
    assert all(0.0 <= v <= 1.0 for v in steps["mean"])
    assert set(steps["layers"]) == set(initial)


class _KillAt(Callback):
    def __init__(self, at: int) -> None:
        self.at = at

    def on_step_start(self, trainer, step):
        if step == self.at:
            raise KeyboardInterrupt


def test_resume_continues_the_flip_history(tiny_config):
    """Killed in epoch 2 and resumed == uninterrupted (callback state is checkpointed)."""
    cfg = copy.deepcopy(tiny_config)
    cfg["callbacks"][0]["args"]["every_step"] = False
    full, run = train_from_config(config_from_dict(dict(cfg, name="full")))
    config = config_from_dict(dict(cfg, name="part"))
    model, train, test, transform = prepare(config)
    trainer = Trainer(config, model, train, test, [FlipRatio(), _KillAt(5)], transform)
    with pytest.raises(KeyboardInterrupt):  # 4 steps per epoch: killed inside epoch 2
        trainer.fit()
    resumed, _ = train_from_config(config, resume=True)
    assert resumed["flip_ratio"] == full["flip_ratio"]
    history = load_checkpoint(run / "last.safetensors").meta["trainer"]["history"]
    assert len(epoch_curve(history)) == 2 and epoch_curve(history)[1] == full["flip_ratio_mean"]


def test_state_dict_roundtrip_and_full_precision_option():
    from spikebit.models import build_model

    model = build_model("agmm-resnet19", in_shape=(1, 8, 8), width=1 / 32)

    class _T:  # the trainer attributes the callback uses
        pass

    trainer = _T()
    trainer.model = model
    cb = FlipRatio(include_full_precision=True)
    cb.on_train_start(trainer)
    tensors, meta = cb.state_dict()
    assert len(tensors) == len(quantized_layers(model))  # stem, 16 binary, 1x1 x2, FC
    assert all(t.dtype == torch.int8 for t in tensors.values())
    cb2 = FlipRatio(include_full_precision=True)
    cb2.load_state_dict(tensors, meta)
    with torch.no_grad():
        for _, layer in quantized_layers(model):
            layer.weight.neg_()
    metrics: dict = {}
    cb2.on_epoch_end(trainer, 0, metrics)
    assert metrics["flip_ratio"]["overall"] > 0.99  # every nonzero weight flipped


def test_plot_writes_a_png(tmp_path):
    path = plot_flip_ratios({"a": [0.1, 0.05, 0.02], "b": [0.2, 0.1, 0.0]}, tmp_path / "f.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
