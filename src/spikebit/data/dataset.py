"""In-memory image dataset and the fixed per-class split used by small datasets."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from spikebit.errors import DataError


@dataclass(eq=False, repr=False)
class ArrayDataset:
    """Images and labels held in memory.

    Attributes:
        images: float32 ``[N, C, H, W]``, pixel values scaled to ``[0, 1]``; or event
            frames ``[N, T, C, H, W]`` (event counts per bin).
        labels: int64 ``[N]``, each in ``[0, num_classes)``.
        num_classes: number of classes.
        name: dataset name plus split, e.g. ``"fashion-mnist/train"``.

    Raises:
        DataError: images not float32 of rank 4 or 5, labels not int64 ``[N]``,
            counts that differ, ``num_classes < 1``, or a label outside
            ``[0, num_classes)``.
    """

    images: torch.Tensor
    labels: torch.Tensor
    num_classes: int
    name: str

    def __post_init__(self) -> None:
        if self.images.dtype != torch.float32 or self.images.dim() not in (4, 5):
            raise DataError(
                f"dataset {self.name!r}: images must be float32 [N, C, H, W] (or event frames "
                "[N, T, C, H, W]), got "
                f"{self.images.dtype} {tuple(self.images.shape)}; convert with "
                "images.float().div(255) and add a channel axis if missing."
            )
        if self.labels.dtype != torch.int64 or self.labels.dim() != 1:
            raise DataError(
                f"dataset {self.name!r}: labels must be int64 [N], got "
                f"{self.labels.dtype} {tuple(self.labels.shape)}; use labels.long().flatten()."
            )
        if len(self.images) != len(self.labels):
            raise DataError(
                f"dataset {self.name!r}: {len(self.images)} images but {len(self.labels)} "
                "labels; every image needs exactly one label."
            )
        if self.num_classes < 1:
            raise DataError(f"dataset {self.name!r}: num_classes must be >= 1.")
        if len(self.labels) and (
            int(self.labels.min()) < 0 or int(self.labels.max()) >= self.num_classes
        ):
            raise DataError(
                f"dataset {self.name!r}: labels span [{int(self.labels.min())}, "
                f"{int(self.labels.max())}] but num_classes={self.num_classes}; labels must "
                "lie in [0, num_classes)."
            )

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:
        return (
            f"ArrayDataset(name={self.name!r}, images={tuple(self.images.shape)}, "
            f"num_classes={self.num_classes})"
        )

    @property
    def shape(self) -> tuple[int, int, int]:
        """Shape ``(C, H, W)`` of one image (of one time bin for event frames)."""
        c, h, w = self.images.shape[-3:]
        return int(c), int(h), int(w)

    def subset(self, indices: Sequence[int] | torch.Tensor) -> ArrayDataset:
        """Return a new dataset holding rows ``indices`` (in that order).

        Args:
            indices: row indices in ``[0, len(self))``; repeats are allowed.

        Returns:
            A new :class:`ArrayDataset` with ``len(indices)`` rows (copied tensors).

        Raises:
            DataError: an index lies outside ``[0, len(self))``.
        """
        idx = torch.as_tensor(indices, dtype=torch.int64).flatten()
        if len(idx) and (int(idx.min()) < 0 or int(idx.max()) >= len(self)):
            raise DataError(
                f"dataset {self.name!r}: subset indices must lie in [0, {len(self)}), got "
                f"[{int(idx.min())}, {int(idx.max())}]."
            )
        return ArrayDataset(
            self.images.index_select(0, idx),
            self.labels.index_select(0, idx),
            self.num_classes,
            self.name,
        )


def split_per_class(labels: np.ndarray, fraction: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
    """Fixed split: per class, the first ``floor(fraction * n_c)`` samples in file order train.

    Deterministic (no shuffling), so the same file always gives the same split.

    Args:
        labels: integer class labels ``[N]`` in file order.
        fraction: share of each class's ``n_c`` samples that goes to training, in
            ``[0, 1]``.

    Returns:
        ``(train_idx, test_idx)``: int64 row indices into ``labels``, both sorted
        ascending (file order kept); together they cover every row once.
    """
    labels = np.asarray(labels)
    train = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        rows = np.flatnonzero(labels == c)
        train[rows[: int(len(rows) * fraction + 1e-9)]] = True
    return np.flatnonzero(train), np.flatnonzero(~train)


def from_uint8(
    images: np.ndarray, labels: np.ndarray, num_classes: int, name: str, scale: float = 255.0
) -> ArrayDataset:
    """Build an :class:`ArrayDataset` from integer ``[N, H, W]`` or ``[N, C, H, W]`` arrays.

    Pixels are divided by ``scale`` (255 for bytes, 16 for the 8x8 digits).

    Args:
        images: integer pixels ``[N, H, W]`` (a channel axis is added) or
            ``[N, C, H, W]``.
        labels: integer labels ``[N]`` in ``[0, num_classes)``.
        num_classes: number of classes.
        name: dataset name plus split for messages, e.g. ``"mnist/train"``.
        scale: the largest pixel value; pixels become ``value / scale`` in ``[0, 1]``.

    Returns:
        float32 images ``[N, C, H, W]`` and int64 labels ``[N]`` as an :class:`ArrayDataset`.

    Raises:
        DataError: the arrays are inconsistent (image and label counts differ, a
            label outside ``[0, num_classes)``, ``num_classes < 1``).
    """
    x = torch.from_numpy(np.ascontiguousarray(images)).to(torch.float32).div_(scale)
    if x.dim() == 3:
        x = x.unsqueeze(1)
    y = torch.from_numpy(np.asarray(labels).astype(np.int64))
    return ArrayDataset(x, y, num_classes, name)
