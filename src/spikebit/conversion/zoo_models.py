"""The conversion ANNs in the project model zoo as ``ann-<name>`` (trainable by the trainer).

Each entry wraps :func:`spikebit.conversion.zoo.build_ann`: the zoo keywords
``in_shape`` ``(C, H, W)`` (square images) and ``num_classes`` map to
``in_channels``/``input_size``/``num_classes``; every other keyword (``width``,
``pool`` for the CNNs) goes to the builder. The models return logits ``[B, K]``.

Note: :data:`spikebit.models.MODELS` discovers ``spikebit.models`` and
``spikebit.methods`` only; these entries exist once ``spikebit.conversion`` is
imported (the ``convert`` command and the ``bsnn-*`` experiments do so).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

from torch import nn

from spikebit.conversion.errors import ConversionError
from spikebit.conversion.validate import check_int
from spikebit.conversion.zoo import ANN_ZOO, build_ann
from spikebit.models.zoo import register_model

PREFIX = "ann-"

INFO: dict[str, str] = {
    "mnist-cnn": "BSNN conversion ANN: Kim et al. CNN 12C5-P2-64C5-P2-10 (ReLU, BN; pool avg|max)",
    "vgg16": "BSNN conversion ANN: CIFAR VGG16, 13 conv3x3-BN-ReLU, 5 pools, linear "
             "(28x28 inputs zero-padded to 32)",
    "resnet18": "BSNN conversion ANN: CIFAR ResNet18 [2,2,2,2] x 64-512, conv1x1 shortcuts",
    "resnet20": "BSNN conversion ANN: CIFAR ResNet20 [3,3,3] x 16-64, conv1x1 shortcuts",
    "resnet34": "BSNN conversion ANN: CIFAR ResNet34 [3,4,6,3] x 64-512, conv1x1 shortcuts",
}

# builder keywords that a zoo entry sets itself (not user arguments) and entry defaults
RESERVED = ("in_channels", "input_size", "num_classes")
DEFAULTS: dict[str, dict[str, Any]] = {"vgg16": {"pad_input": True}}


def zoo_arguments(in_shape: Sequence[int], num_classes: int) -> dict[str, int]:
    """Builder keywords for a per-sample input ``(C, H, W)`` with ``H == W``.

    Args:
        in_shape: one input's shape ``(C, H, W)``, square images.
        num_classes: output classes ``K``.

    Returns:
        ``{"in_channels": C, "input_size": H, "num_classes": K}``.

    Raises:
        ConversionError: ``in_shape`` is not ``(C, H, H)``, or ``num_classes`` is not an
            int >= 1 (a bool is refused).
    """
    num_classes = check_int("num_classes", num_classes, meaning="output classes", example=10)
    shape = tuple(int(s) for s in in_shape)
    if len(shape) != 3 or shape[1] != shape[2]:
        raise ConversionError(
            f"conversion ANNs take square images (C, H, H); got in_shape {shape}")
    return {"in_channels": shape[0], "input_size": shape[1], "num_classes": num_classes}


def make_factory(name: str) -> Callable[..., nn.Module]:
    """Zoo factory ``(in_shape, num_classes, **builder_kwargs)`` for ``ANN_ZOO[name]``.

    Args:
        name: the :data:`ANN_ZOO` name.

    Returns:
        The factory; it raises ``ConversionError`` for unknown keywords or a non-square
        ``in_shape``.

    Raises:
        RegistryError: ``name`` is not in :data:`ANN_ZOO`.
    """
    builder = ANN_ZOO.get(name)
    allowed = sorted(p for p in inspect.signature(builder).parameters if p not in RESERVED)

    def factory(in_shape: Sequence[int] = (1, 28, 28), num_classes: int = 10,
                **kwargs: Any) -> nn.Module:
        unknown = sorted(set(kwargs) - set(allowed))
        if unknown:
            raise ConversionError(f"{PREFIX}{name} got unknown model.args {unknown}; "
                                  f"valid: in_shape, num_classes, {', '.join(allowed)}")
        args = {**DEFAULTS.get(name, {}), **kwargs, **zoo_arguments(in_shape, num_classes)}
        return build_ann(name, **args)

    factory.__name__ = f"ann_{name.replace('-', '_')}"
    factory.__doc__ = f"{INFO[name]}. Keywords: in_shape, num_classes, {', '.join(allowed)}."
    return factory


def register_all() -> None:
    """Register ``ann-<name>`` in :data:`MODELS` for every conversion ANN (runs on import).

    Only the ANNs registered so far (this package's) are listed: a discovering lookup
    from here would import every method package, experiments included.
    """
    for name in ANN_ZOO.registered():
        register_model(f"{PREFIX}{name}", INFO.get(name, f"conversion ANN {name}"))(
            make_factory(name))


register_all()
