"""CIFAR-style ResNets (18/20/34) for conversion, registered in :data:`ANN_ZOO`.

Blocks are :class:`BasicBlock` (two conv3x3-BN, ReLU after the sum). Shortcuts
that change shape use conv1x1-BN ("option B"), which converts cleanly.
"""

from __future__ import annotations

from torch import Tensor, nn

from spikebit.conversion.zoo import ANN_ZOO, scaled


class BasicBlock(nn.Module):
    """``relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))``; x ``[B, C, H, W]``.

    The shortcut is the identity, or conv1x1-BN ("option B") when the shape changes.

    Args:
        c_in: input channels.
        c_out: output channels.
        stride: stride of the first conv and of the shortcut (2 halves ``H`` and ``W``).
    """

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut: nn.Module = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)
            )
        self.relu2 = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        """The block's ANN forward.

        Args:
            x: input ``[B, c_in, H, W]``.

        Returns:
            The output ``[B, c_out, H / stride, W / stride]``.
        """
        h = self.relu1(self.bn1(self.conv1(x)))
        return self.relu2(self.bn2(self.conv2(h)) + self.shortcut(x))


def cifar_resnet(
    stage_blocks: tuple[int, ...],
    stage_channels: tuple[int, ...],
    num_classes: int,
    in_channels: int,
    width: float,
) -> nn.Sequential:
    """Stem conv3x3-BN-ReLU, stages of BasicBlocks (stride 2 from stage 2), GAP, FC.

    Args:
        stage_blocks: number of blocks per stage.
        stage_channels: channels per stage (before ``width``).
        num_classes: output classes ``K``.
        in_channels: input channels ``C``.
        width: channel multiplier (> 0).

    Returns:
        The network, images ``[B, C, H, W]`` to logits ``[B, K]``.

    Raises:
        ConversionError: ``width <= 0``.
    """
    c_stem = scaled(stage_channels[0], width)
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, c_stem, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_stem),
        nn.ReLU(),
    ]
    c_in = c_stem
    for i, (blocks, channels) in enumerate(zip(stage_blocks, stage_channels)):
        c_out = scaled(channels, width)
        for j in range(blocks):
            stride = 2 if (i > 0 and j == 0) else 1
            layers.append(BasicBlock(c_in, c_out, stride))
            c_in = c_out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, num_classes)]
    return nn.Sequential(*layers)


@ANN_ZOO.register("resnet18")
def resnet18(
    num_classes: int = 10, in_channels: int = 3, input_size: int = 32, width: float = 1.0
) -> nn.Module:
    """CIFAR ResNet18: stages [2, 2, 2, 2] at 64/128/256/512 channels.

    Args:
        num_classes: output classes ``K`` (logits ``[B, K]``).
        in_channels: input channels ``C`` of images ``[B, C, H, W]``.
        input_size: the side ``H = W`` of square input images, in pixels (unused: the GAP
            head takes any size >= 8).
        width: channel multiplier (> 0; 1.0: the paper's width).

    Returns:
        The network, images ``[B, C, H, W]`` to logits ``[B, K]``.

    Raises:
        ConversionError: ``width <= 0``.
    """
    del input_size  # GAP head: any input size >= 8 works
    return cifar_resnet((2, 2, 2, 2), (64, 128, 256, 512), num_classes, in_channels, width)


@ANN_ZOO.register("resnet20")
def resnet20(
    num_classes: int = 10, in_channels: int = 3, input_size: int = 32, width: float = 1.0
) -> nn.Module:
    """CIFAR ResNet20 (He et al. 2016): stages [3, 3, 3] at 16/32/64 channels.

    Args:
        num_classes: output classes ``K`` (logits ``[B, K]``).
        in_channels: input channels ``C`` of images ``[B, C, H, W]``.
        input_size: the side ``H = W`` of square input images, in pixels (unused: the GAP
            head takes any size >= 8).
        width: channel multiplier (> 0; 1.0: the paper's width).

    Returns:
        The network, images ``[B, C, H, W]`` to logits ``[B, K]``.

    Raises:
        ConversionError: ``width <= 0``.
    """
    del input_size
    return cifar_resnet((3, 3, 3), (16, 32, 64), num_classes, in_channels, width)


@ANN_ZOO.register("resnet34")
def resnet34(
    num_classes: int = 10, in_channels: int = 3, input_size: int = 32, width: float = 1.0
) -> nn.Module:
    """CIFAR ResNet34: stages [3, 4, 6, 3] at 64/128/256/512 channels.

    Args:
        num_classes: output classes ``K`` (logits ``[B, K]``).
        in_channels: input channels ``C`` of images ``[B, C, H, W]``.
        input_size: the side ``H = W`` of square input images, in pixels (unused: the GAP
            head takes any size >= 8).
        width: channel multiplier (> 0; 1.0: the paper's width).

    Returns:
        The network, images ``[B, C, H, W]`` to logits ``[B, K]``.

    Raises:
        ConversionError: ``width <= 0``.
    """
    del input_size
    return cifar_resnet((3, 4, 6, 3), (64, 128, 256, 512), num_classes, in_channels, width)
