"""The conversion ANNs as ``ann-*`` zoo models: arguments, padding, training via the trainer."""

import pytest
import torch
import torch.nn.functional as F

from spikebit.conversion import ANN_ZOO, ConversionError, build_ann
from spikebit.errors import SpikebitError
from spikebit.models import MODELS
from spikebit.train import config_from_dict, model_from_checkpoint, train_from_config
from spikebit.train.build import model_from_config


def test_every_conversion_ann_is_in_the_model_zoo() -> None:
    assert {f"ann-{n}" for n in ANN_ZOO.names()} <= set(MODELS.names())


def test_zoo_arguments_map_to_the_builder() -> None:
    net = MODELS.get("ann-mnist-cnn")(in_shape=(2, 20, 20), num_classes=3, width=0.5, pool="max")
    assert net[0].in_channels == 2 and net[0].out_channels == 6  # 12 * 0.5
    assert any(isinstance(m, torch.nn.MaxPool2d) for m in net.modules())
    assert net(torch.rand(4, 2, 20, 20)).shape == (4, 3)
    with pytest.raises(ConversionError, match=r"unknown model.args \['pool'\].*valid: .*width"):
        MODELS.get("ann-resnet20")(in_shape=(3, 32, 32), num_classes=10, pool="max")
    with pytest.raises(ConversionError, match="square images"):
        MODELS.get("ann-resnet20")(in_shape=(3, 32, 16), num_classes=10)


def test_vgg16_pad_input_equals_zero_padding_the_image() -> None:
    torch.manual_seed(0)
    padded = build_ann("vgg16", in_channels=1, input_size=28, width=0.0625, pad_input=True)
    plain = build_ann("vgg16", in_channels=1, input_size=32, width=0.0625)
    plain.load_state_dict(padded.state_dict())
    padded.eval(), plain.eval()
    x = torch.rand(3, 1, 28, 28)
    torch.testing.assert_close(padded(x), plain(F.pad(x, (2, 2, 2, 2))))
    assert padded[0].padding == (3, 3) and padded[3].padding == (1, 1)
    with pytest.raises(SpikebitError, match="odd"):
        build_ann("vgg16", input_size=27, pad_input=True)
    assert MODELS.get("ann-vgg16")(in_shape=(1, 28, 28), num_classes=10, width=0.0625) is not None


def test_model_from_config_fills_shape_and_classes_from_the_dataset() -> None:
    config = config_from_dict({"model": {"name": "ann-resnet20", "args": {"width": 0.25}}})
    net = model_from_config(config, (1, 8, 8), 2)
    assert net(torch.rand(5, 1, 8, 8)).shape == (5, 2)


@pytest.mark.parametrize(
    ("name", "dataset", "width"),
    [("ann-mnist-cnn", "toy28", 0.5), ("ann-resnet20", "toy", 0.25),
     ("ann-vgg16", "toy28", 0.0625), ("ann-resnet18", "toy", 0.0625),
     ("ann-resnet34", "toy", 0.0625)],
)
def test_ann_zoo_entries_train_through_the_trainer(name, dataset, width, toy_config) -> None:
    cfg = dict(toy_config, name=name, model={"name": name, "args": {"width": width}},
               data={"name": dataset},
               optim={"optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "epochs": 2,
                      "batch_size": 32, "schedule": "cosine"})
    metrics, run_dir = train_from_config(config_from_dict(cfg))
    # learning signal on the two-class toy sets (chance = 0.5). After 16 steps the BN running
    # statistics of the deep narrow nets are not settled yet, so their eval-mode test accuracy
    # can still sit at chance: the signal is the training accuracy.
    assert metrics["train_acc"] > 0.75, metrics
    model, _, ckpt = model_from_checkpoint(run_dir / "last.safetensors")
    x = torch.rand(2, *ckpt.meta["input"]["in_shape"])
    assert model.eval()(x).shape == (2, 2)
