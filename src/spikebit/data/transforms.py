"""Batch transforms in plain torch: ``t(x, generator) -> x`` on ``[B, C, H, W]``.

Every random choice is drawn from the explicit ``torch.Generator`` (one draw per
sample, in batch order), so a seeded generator gives the same output every run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import torch
import torch.nn.functional as F

from spikebit.errors import DataError


class Transform(Protocol):
    """A batch transform: ``[B, C, H, W] -> [B, C, H', W']``.

    Called as ``transform(x, generator)`` with a float batch ``x`` and the
    ``torch.Generator`` that every random choice is drawn from (one draw per sample,
    in batch order), so a seeded generator reproduces the output.
    """

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor: ...


def _check_batch(x: torch.Tensor, who: str) -> None:
    if x.dim() != 4:
        raise DataError(
            f"{who} expects a batch [B, C, H, W], got shape {tuple(x.shape)}; add the batch "
            "axis with x.unsqueeze(0)."
        )


class Normalize:
    """``(x - mean[c]) / std[c]`` per channel; deterministic (the generator is unused).

    Args:
        mean: one mean per channel ``C``, in the pixel scale of the batch (``[0, 1]``).
        std: one positive standard deviation per channel.

    Raises:
        DataError: ``mean`` and ``std`` are empty or differ in length, a ``std`` is
            not positive; when called, the batch is not ``[B, C, H, W]`` or its ``C``
            differs from ``len(mean)``.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        if len(mean) != len(std) or not len(mean):
            raise DataError(f"Normalize: mean {mean} and std {std} need one value per channel.")
        if any(s <= 0 for s in std):
            raise DataError(f"Normalize: std {std} must be positive.")
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        _check_batch(x, "Normalize")
        if x.shape[1] != self.mean.shape[1]:
            raise DataError(
                f"Normalize has {self.mean.shape[1]} channel statistics but the batch has "
                f"{x.shape[1]} channels; give one mean/std per channel."
            )
        mean, std = self.mean.to(x), self.std.to(x)
        return (x - mean) / std

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean.flatten().tolist()}, std={self.std.flatten().tolist()})"


class RandomCrop:
    """Zero-pad by ``padding`` on every side, then crop ``size`` at a random offset per sample.

    Args:
        size: crop size in pixels, an int (square) or ``(height, width)``.
        padding: zero padding in pixels added on every side before cropping.

    Raises:
        DataError: ``size < 1`` or ``padding < 0``; when called, the batch is not
            ``[B, C, H, W]`` or the crop is larger than the padded image.
    """

    def __init__(self, size: int | tuple[int, int], padding: int = 0) -> None:
        self.size = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
        if min(self.size) < 1 or padding < 0:
            raise DataError(f"RandomCrop: size {size} must be >= 1 and padding {padding} >= 0.")
        self.padding = int(padding)

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        _check_batch(x, "RandomCrop")
        p, (ch, cw) = self.padding, self.size
        if p:
            x = F.pad(x, (p, p, p, p))
        b, _, h, w = x.shape
        if ch > h or cw > w:
            raise DataError(
                f"RandomCrop: crop {self.size} is larger than the padded image {(h, w)}; "
                "lower the crop size or raise the padding."
            )
        top = torch.randint(0, h - ch + 1, (b,), generator=generator)
        left = torch.randint(0, w - cw + 1, (b,), generator=generator)
        rows = (top[:, None] + torch.arange(ch))[:, :, None]  # [B, ch, 1]
        cols = (left[:, None] + torch.arange(cw))[:, None, :]  # [B, 1, cw]
        batch = torch.arange(b, device=x.device)[:, None, None]
        # advanced indices around a slice put their dims first: [B, ch, cw, C]
        return x[batch, :, rows.to(x.device), cols.to(x.device)].permute(0, 3, 1, 2).contiguous()

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class RandomHorizontalFlip:
    """Mirror each sample left-right (along ``W``) with probability ``p``.

    Args:
        p: flip probability per sample, in ``[0, 1]``.

    Raises:
        DataError: ``p`` outside ``[0, 1]``; when called, the batch is not
            ``[B, C, H, W]``.
    """

    def __init__(self, p: float = 0.5) -> None:
        if not 0.0 <= p <= 1.0:
            raise DataError(f"RandomHorizontalFlip: p={p} must lie in [0, 1].")
        self.p = float(p)

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        _check_batch(x, "RandomHorizontalFlip")
        flip = torch.rand(x.shape[0], generator=generator) < self.p
        return torch.where(flip.to(x.device)[:, None, None, None], x.flip(-1), x)

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


class Compose:
    """Apply transforms in order, all drawing from the same generator.

    Args:
        transforms: the :class:`Transform` objects, applied first to last.
    """

    def __init__(self, transforms: Sequence[Transform]) -> None:
        self.transforms = list(transforms)

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        for t in self.transforms:
            x = t(x, generator)
        return x

    def __repr__(self) -> str:
        return f"Compose({self.transforms!r})"
