"""ANN zoo for conversion: plain ReLU networks returning logits ``[B, K]``.

Every builder takes ``num_classes``, ``in_channels``, ``input_size`` (square
images, pixels) and ``width`` (channel multiplier), and is registered by name in
:data:`ANN_ZOO`. Convolutions are followed by BatchNorm (folded away before
conversion). The forward pass of every model applies its children in order,
which is what :func:`spikebit.conversion.lower.lower` relies on.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from spikebit.conversion.errors import ConversionError
from spikebit.conversion.validate import check_number
from spikebit.registry import Registry

ANN_ZOO: Registry[Callable[..., nn.Module]] = Registry("conversion ANN")
POOLS: Registry[type[nn.Module]] = Registry("pooling")
POOLS.register("avg")(nn.AvgPool2d)
POOLS.register("max")(nn.MaxPool2d)


def build_ann(name: str, **kwargs: object) -> nn.Module:
    """Build the registered ANN ``name`` (see :data:`ANN_ZOO`) with ``kwargs``.

    Args:
        name: ``"mnist-cnn"``, ``"vgg16"``, ``"resnet18"``, ``"resnet20"``, ``"resnet34"``
            (or a plug-in).
        **kwargs: the builder's keywords (``num_classes``, ``in_channels``,
            ``input_size``, ``width``, ...).

    Returns:
        The ANN, images ``[B, C, H, W]`` to logits ``[B, K]``.

    Raises:
        RegistryError: ``name`` is not registered.
        ConversionError: the builder refuses its arguments.
    """
    return ANN_ZOO.get(name)(**kwargs)


def scaled(channels: int, width: float) -> int:
    """Channel count ``channels * width``, at least 1.

    Args:
        channels: the channel count at width 1.
        width: the channel multiplier (> 0).

    Returns:
        ``max(1, round(channels * width))``.

    Raises:
        ConversionError: ``width`` is not a number (a bool or string is refused) or
            ``width <= 0``.
    """
    if check_number("width", width, meaning="channel multiplier", example=1.0) <= 0:
        raise ConversionError(f"width must be > 0, got {width}; pass e.g. width=0.5")
    return max(1, round(channels * width))


def conv_bn_relu(c_in: int, c_out: int, kernel: int, padding: int) -> list[nn.Module]:
    """``[Conv2d, BatchNorm2d, ReLU]`` (conv bias kept; BN folds into it).

    Args:
        c_in: input channels.
        c_out: output channels.
        kernel: square kernel size in pixels.
        padding: zero padding in pixels.

    Returns:
        The three modules, in order.
    """
    return [
        nn.Conv2d(c_in, c_out, kernel, padding=padding),
        nn.BatchNorm2d(c_out),
        nn.ReLU(),
    ]


@ANN_ZOO.register("mnist-cnn")
def mnist_cnn(
    num_classes: int = 10,
    in_channels: int = 1,
    input_size: int = 28,
    width: float = 1.0,
    pool: str = "avg",
) -> nn.Module:
    """Kim et al. (2018) CNN ``12C5-P2-64C5-P2-10`` (valid convs, 2x2 pools).

    Args:
        num_classes: output classes ``K`` (logits ``[B, K]``).
        in_channels: input channels ``C`` of images ``[B, C, H, W]``.
        input_size: the side ``H = W`` of square input images, in pixels.
        width: channel multiplier (> 0; 1.0: the paper's width).
        pool: ``"avg"`` or ``"max"`` pooling (``POOLS``).

    Returns:
        The network, images ``[B, C, H, W]`` to logits ``[B, K]``.

    Raises:
        ConversionError: ``input_size < 16`` or ``width <= 0``.
        RegistryError: an unknown ``pool``.
    """
    pool_cls = POOLS.get(pool)
    c1, c2 = scaled(12, width), scaled(64, width)
    side = ((input_size - 4) // 2 - 4) // 2
    if side < 1:
        raise ConversionError(f"mnist-cnn needs input_size >= 16, got {input_size}")
    return nn.Sequential(
        *conv_bn_relu(in_channels, c1, 5, 0),
        pool_cls(2),
        *conv_bn_relu(c1, c2, 5, 0),
        pool_cls(2),
        nn.Flatten(),
        nn.Linear(c2 * side * side, num_classes),
    )


VGG16_CFG: tuple[int | str, ...] = (
    64, 64, "P", 128, 128, "P", 256, 256, 256, "P", 512, 512, 512, "P", 512, 512, 512, "P",
)


@ANN_ZOO.register("vgg16")
def vgg16(
    num_classes: int = 10,
    in_channels: int = 3,
    input_size: int = 32,
    width: float = 1.0,
    pool: str = "avg",
    pad_input: bool = False,
) -> nn.Module:
    """CIFAR-style VGG16: 13 conv3x3-BN-ReLU, 5 pools, one linear classifier.

    ``pad_input`` zero-pads inputs whose size is not a multiple of 32 up to the
    next multiple (28 -> 32 for MNIST-like data) through the first conv's
    padding, which equals padding the image and keeps the network convertible.

    Args:
        num_classes: output classes ``K`` (logits ``[B, K]``).
        in_channels: input channels ``C`` of images ``[B, C, H, W]``.
        input_size: the side ``H = W`` of square input images, in pixels.
        width: channel multiplier (> 0; 1.0: the paper's width).
        pool: ``"avg"`` or ``"max"`` pooling (``POOLS``).
        pad_input: zero-pad the input to the next multiple of 32 (both sides equally).

    Returns:
        The network, images ``[B, C, H, W]`` to logits ``[B, K]``.

    Raises:
        ConversionError: ``input_size`` not a multiple of 32 without ``pad_input``, an odd
            padding, or ``width <= 0``.
        RegistryError: an unknown ``pool``.
    """
    pool_cls = POOLS.get(pool)
    extra = -input_size % 32
    if extra and not pad_input:
        raise ConversionError(f"vgg16 needs input_size divisible by 32, got {input_size}; "
                              "pass pad_input=True to zero-pad it to the next multiple of 32")
    if extra % 2:
        raise ConversionError(f"vgg16 pad_input pads both sides equally: input_size "
                              f"{input_size} is {extra} short of a multiple of 32 (odd)")
    layers: list[nn.Module] = []
    c_in = in_channels
    padding = 1 + extra // 2
    for item in VGG16_CFG:
        if item == "P":
            layers.append(pool_cls(2))
        else:
            c_out = scaled(int(item), width)
            layers += conv_bn_relu(c_in, c_out, 3, padding)
            c_in, padding = c_out, 1
    side = (input_size + extra) // 32
    layers += [nn.Flatten(), nn.Linear(c_in * side * side, num_classes)]
    return nn.Sequential(*layers)
