"""ANN zoo and registries: every entry builds, folds and converts; unknown names are clear."""

import pytest
import torch
from conv_helpers import randomize_bn

from spikebit.conversion import (
    ANN_ZOO,
    INPUT_CODINGS,
    METHODS,
    build_ann,
    build_method,
    convert,
    fold_batchnorm,
)
from spikebit.conversion.qcfs import to_qcfs
from spikebit.errors import RegistryError, SpikebitError

INPUT = {"mnist-cnn": (1, 28)}  # (channels, size); the others are CIFAR-like


def small(name: str, **kwargs):
    channels, size = INPUT.get(name, (3, 32))
    net = build_ann(name, width=0.125, in_channels=channels, input_size=size,
                    num_classes=5, **kwargs)
    return randomize_bn(net), torch.rand(3, channels, size, size)


def test_zoo_has_the_papers_networks() -> None:
    assert set(ANN_ZOO.names()) == {"mnist-cnn", "vgg16", "resnet18", "resnet20", "resnet34"}
    assert set(METHODS.names()) == {"rate", "phase", "bsnn", "ltb", "burst", "qcfs", "signed",
                                    "signed-burst", "srp", "cos"}
    assert set(INPUT_CODINGS.names()) == {"direct", "phase"}


@pytest.mark.parametrize("name", ANN_ZOO.names())
def test_zoo_model_logits_and_folding(name: str) -> None:
    net, x = small(name)
    logits = net(x)
    assert logits.shape == (3, 5)
    torch.testing.assert_close(fold_batchnorm(net)(x), logits, atol=1e-5, rtol=0)


@pytest.mark.filterwarnings("ignore:layer .* is never active")  # random nets: dead layers
@pytest.mark.parametrize("name", ANN_ZOO.names())
def test_zoo_model_converts_with_every_method(name: str) -> None:
    net, x = small(name)
    for method in METHODS:
        # qcfs takes the thresholds its QCFS layers learned
        ann = to_qcfs(net, x) if method == "qcfs" else net
        snn = convert(ann, x, method=method, K=4 if method in ("phase", "bsnn") else None)
        out = snn.simulate(x, 6)
        assert out.shape == (6, 3, 5) and torch.isfinite(out).all()


@pytest.mark.parametrize("pool", ["avg", "max"])
def test_pool_choice(pool: str) -> None:
    net = build_ann("mnist-cnn", pool=pool)
    kinds = {type(m).__name__ for m in net.modules()}
    assert ("MaxPool2d" in kinds) == (pool == "max")
    assert net(torch.rand(2, 1, 28, 28)).shape == (2, 10)


def test_width_scales_channels() -> None:
    narrow, wide = build_ann("resnet20", width=0.5), build_ann("resnet20", width=1.0)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(narrow) < count(wide) / 3


@pytest.mark.parametrize(
    ("lookup", "bad", "hint"),
    [
        (lambda n: build_ann(n), "resnet21", "resnet20"),
        (lambda n: build_method(n), "bsn", "bsnn"),
        (lambda n: INPUT_CODINGS.get(n), "phaze", "phase"),
        (lambda n: build_ann("vgg16", pool=n), "mx", "max"),
    ],
)
def test_unknown_names_suggest_the_closest(lookup, bad: str, hint: str) -> None:
    with pytest.raises(RegistryError) as info:
        lookup(bad)
    message = str(info.value)
    assert bad in message and f"Did you mean {hint!r}" in message
    assert isinstance(info.value, SpikebitError)


def test_unknown_method_in_convert() -> None:
    net, x = small("mnist-cnn")
    with pytest.raises(RegistryError, match="unknown conversion method 'ratee'"):
        convert(net, x, method="ratee")


def test_bad_zoo_geometry() -> None:
    with pytest.raises(SpikebitError, match="divisible by 32"):
        build_ann("vgg16", input_size=28)
