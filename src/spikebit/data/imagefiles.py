"""Image files decoded lazily, one sample at a time (in ``DataLoader`` workers).

:class:`ImageFiles` is a map-style dataset over image paths and labels. Nothing is
held in memory but the path list: each ``__getitem__`` opens, decodes and transforms
one file with Pillow and returns ``(float32 [C, size, size] in [0, 1], label)``.

Transforms (the usual ImageNet recipe, in Pillow; one resampling per sample):

* train: random resized crop (area fraction uniform in ``scale``, log aspect ratio
  uniform in ``log(3/4)..log(4/3)``, 10 tries, then a center crop), resized to
  ``size x size`` (bilinear), then a horizontal flip with probability 1/2;
* test: resize the shorter side to ``round(size / crop_fraction)``, center crop
  ``size x size`` (``crop_fraction = 0.875``: 256 -> 224).

Training samples are keyed ``(index, seed)`` (``seeded = True``) and draw their crop and
flip from ``numpy.random.default_rng(seed)``, so augmentation is reproducible whatever
worker decodes the sample.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from spikebit.data.decode import require_pillow
from spikebit.errors import DataError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_LOG_RATIO = (math.log(3 / 4), math.log(4 / 3))


def random_resized_box(width: int, height: int, rng: np.random.Generator,
                       scale: tuple[float, float]) -> tuple[int, int, int, int]:
    """A crop box ``(left, top, right, bottom)`` of random area and aspect ratio.

    Args:
        width: image width in pixels.
        height: image height in pixels.
        rng: the generator every draw comes from.
        scale: range of the box area as a fraction of ``width * height``.
    """
    area = width * height
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(*_LOG_RATIO))
        w = round(math.sqrt(target * aspect))
        h = round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            top = int(rng.integers(0, height - h + 1))
            left = int(rng.integers(0, width - w + 1))
            return left, top, left + w, top + h
    side = min(width, height)  # fall back to the central square
    left, top = (width - side) // 2, (height - side) // 2
    return left, top, left + side, top + side


def center_box(width: int, height: int, size: int, crop_fraction: float
               ) -> tuple[tuple[int, int], tuple[int, int, int, int]]:
    """Resized ``(w, h)`` with the shorter side ``round(size / crop_fraction)`` and the
    central ``size x size`` box in it.

    Args:
        width: image width in pixels.
        height: image height in pixels.
        size: side of the crop in pixels.
        crop_fraction: crop side over the resized shorter side (0.875: 224 of 256).
    """
    short = max(size, round(size / crop_fraction))
    if width <= height:
        new = (short, max(short, round(height * short / width)))
    else:
        new = (max(short, round(width * short / height)), short)
    left, top = (new[0] - size) // 2, (new[1] - size) // 2
    return new, (left, top, left + size, top + size)


class ImageFiles(Dataset):
    """Lazily decoded image files: ``files[i] -> (image [C, size, size], label)``.

    Args:
        paths: image files (any Pillow format).
        labels: int ``[N]`` class of each file, in ``[0, num_classes)``.
        num_classes: number of classes.
        size: output side in pixels (e.g. 224 for ImageNet, 64 for TinyImageNet).
        train: random resized crop + flip (keys ``(index, seed)``) instead of resize +
            center crop (keys ``index``).
        name: dataset name and split, for messages.
        scale: area fraction range of the random crop.
        crop_fraction: test-time crop over resize side.
        mode: Pillow mode, ``"RGB"`` (C = 3) or ``"L"`` (C = 1).

    Raises:
        DataError: on construction if lengths disagree or labels are out of range; on
            access if a file cannot be decoded (naming the file).
    """

    def __init__(self, paths: list[Path], labels: np.ndarray | list[int], num_classes: int,
                 size: int, train: bool, name: str, scale: tuple[float, float] = (0.08, 1.0),
                 crop_fraction: float = 0.875, mode: str = "RGB") -> None:
        labels = np.asarray(labels, dtype=np.int64)
        if len(paths) != len(labels):
            raise DataError(f"{name}: {len(paths)} files but {len(labels)} labels.")
        if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
            raise DataError(f"{name}: labels must lie in [0, {num_classes}).")
        if size < 1 or not 0 < crop_fraction <= 1 or not 0 < scale[0] <= scale[1] <= 1:
            raise DataError(
                f"{name}: size={size} must be >= 1, crop_fraction={crop_fraction} in (0, 1] "
                f"and scale={scale} an increasing range within (0, 1]."
            )
        if mode not in ("RGB", "L"):
            raise DataError(f"{name}: mode must be 'RGB' or 'L', got {mode!r}.")
        require_pillow(name)
        self.paths = [str(p) for p in paths]
        self.labels = labels
        self.num_classes = int(num_classes)
        self.size, self.train, self.name = int(size), bool(train), name
        self.scale, self.crop_fraction, self.mode = scale, crop_fraction, mode
        self.seeded = self.train
        self.shape = (3 if mode == "RGB" else 1, self.size, self.size)
        self.stats = (IMAGENET_MEAN, IMAGENET_STD) if mode == "RGB" else ((0.5,), (0.25,))

    def __len__(self) -> int:
        return len(self.paths)

    def subset(self, indices: torch.Tensor) -> ImageFiles:
        """The files at ``indices`` (an int64 tensor ``[M]``), with the same transforms.

        Used for ``data.train_limit``/``test_limit``; nothing is decoded here.
        """
        import copy

        out = copy.copy(self)
        idx = [int(i) for i in indices]
        out.paths = [self.paths[i] for i in idx]
        out.labels = self.labels[idx]
        return out

    def __repr__(self) -> str:
        return (f"ImageFiles(name={self.name!r}, files={len(self)}, size={self.size}, "
                f"train={self.train})")

    def __getitem__(self, key: Any) -> tuple[torch.Tensor, int]:
        index, seed = key if isinstance(key, tuple) else (key, 0)
        return self.load(int(index), int(seed)), int(self.labels[index])

    def load(self, index: int, seed: int = 0) -> torch.Tensor:
        """Decode and transform file ``index`` (crop and flip drawn from ``seed`` if training).

        Training: a random resized crop (area fraction in ``scale``) to
        ``size x size`` and a horizontal flip with probability 0.5, both drawn from
        ``numpy.random.default_rng(seed)``; else a resize and center crop
        (``crop_fraction``). Bilinear resampling in both cases.

        Args:
            index: file index in ``[0, N)``.
            seed: seed of the crop and flip (ignored for the test split).

        Returns:
            float32 ``[C, size, size]`` in ``[0, 1]`` (bytes / 255).

        Raises:
            DataError: the file cannot be opened or decoded (naming it).
        """
        from PIL import Image

        path = self.paths[index]
        try:
            with Image.open(path) as im:
                im = im.convert(self.mode)
                if self.train:
                    rng = np.random.default_rng(seed)
                    box = random_resized_box(im.width, im.height, rng, self.scale)
                    out = im.resize((self.size, self.size), Image.Resampling.BILINEAR, box=box)
                    if rng.random() < 0.5:
                        out = out.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
                else:
                    new, box = center_box(im.width, im.height, self.size, self.crop_fraction)
                    out = im.resize(new, Image.Resampling.BILINEAR).crop(box)
                arr = np.asarray(out, dtype=np.uint8)
        except (OSError, ValueError) as err:
            raise DataError(
                f"{self.name}: cannot decode image {path} ({err}). Remove or replace the file."
            ) from None
        x = torch.from_numpy(arr.copy())
        x = x.unsqueeze(0) if x.ndim == 2 else x.permute(2, 0, 1)
        return x.to(torch.float32).div_(255.0)
