"""One model builder (``spikebit.models.build_model``); a run's model from its config."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from spikebit.errors import ConfigError
from spikebit.models import MODEL_INFO, MODELS, build_model, register_model
from spikebit.train import config_from_dict
from spikebit.train.build import Normalized, model_from_config

PROBES = ("test-probe-named", "test-probe-kwargs", "test-probe-bare")


@pytest.fixture
def calls():
    """Three factories that record the arguments they receive: one naming ``in_shape``
    and ``num_classes``, one taking ``**kwargs``, one taking neither."""
    seen: list[tuple] = []

    @register_model(PROBES[0], "records in_shape, num_classes, width")
    def named(in_shape=(1, 2, 2), num_classes=3, width=1):
        seen.append(("named", in_shape, num_classes, width))
        return nn.Identity()

    @register_model(PROBES[1], "records its keyword arguments")
    def anything(**kwargs):
        seen.append(("kwargs", kwargs))
        return nn.Identity()

    @register_model(PROBES[2], "records width")
    def bare(width=1):
        seen.append(("bare", width))
        return nn.Identity()

    yield seen
    for name in PROBES:
        MODELS.remove(name)
        MODEL_INFO.pop(name)


def test_defaults_fill_only_what_the_factory_accepts_and_overrides_leave_open(calls):
    data = {"in_shape": [1, 8, 8], "num_classes": 5}
    build_model(PROBES[0], defaults=data, width=2)
    build_model(PROBES[0], defaults=data, num_classes=7, in_shape=[2, 4, 4])
    build_model(PROBES[1], defaults=data)
    build_model(PROBES[2], defaults=data)
    build_model(PROBES[0])
    assert calls == [
        ("named", (1, 8, 8), 5, 2),      # a list shape becomes a tuple
        ("named", (2, 4, 4), 7, 1),      # the overrides win over the data's defaults
        ("kwargs", {"in_shape": (1, 8, 8), "num_classes": 5}),
        ("bare", 1),                     # not accepted: not passed
        ("named", (1, 2, 2), 3, 1),      # no defaults: the factory's own
    ]


def test_a_refused_argument_is_a_config_error_naming_the_model(calls):
    with pytest.raises(ConfigError, match=r"model 'test-probe-bare' refused its arguments"):
        build_model(PROBES[2], colour=1)


def test_the_run_builds_its_model_with_the_one_builder(toy_config):
    config = config_from_dict(toy_config)
    torch.manual_seed(0)
    from_config = model_from_config(config, (1, 8, 8), 2)
    torch.manual_seed(0)
    direct = build_model("albsnn-mnist", in_shape=(1, 8, 8), num_classes=2,
                         **toy_config["model"]["args"])
    a, b = from_config.state_dict(), direct.state_dict()
    assert list(a) == list(b)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_normalized_subtracts_the_mean_and_divides_by_the_std_per_channel():
    net = Normalized(nn.Identity(), mean=[1.0, 2.0], std=[2.0, 4.0])
    x = torch.tensor([3.0, 6.0]).reshape(1, 2, 1, 1).expand(3, 2, 2, 2)  # [B, C, H, W]
    assert torch.equal(net(x), torch.ones(3, 2, 2, 2))  # (3-1)/2 = (6-2)/4 = 1
    seq = x.unsqueeze(0).expand(4, 3, 2, 2, 2)  # [T, B, C, H, W]
    assert torch.equal(net(seq), torch.ones(4, 3, 2, 2, 2))
    assert sorted(dict(net.named_buffers())) == ["mean", "std"]  # saved with the weights


def test_model_from_config_wraps_only_with_statistics(toy_config):
    config = config_from_dict(toy_config)
    assert not isinstance(model_from_config(config, (1, 8, 8), 2), Normalized)
    wrapped = model_from_config(config, (1, 8, 8), 2, norm=([0.5], [0.25]))
    assert isinstance(wrapped, Normalized)
    assert wrapped.mean.flatten().tolist() == [0.5] and wrapped.std.flatten().tolist() == [0.25]
