"""Datasets stored as image files: ``imagefolder``, ``tinyimagenet``, ``imagenet``.

* ``imagefolder``: ``<dir>/train/<class>/*.png|jpg...`` and ``<dir>/val/`` (or
  ``test/``) with the same class folders; classes are the sorted train folder names.
* ``tinyimagenet``: the official ``tiny-imagenet-200`` layout,
  ``train/<wnid>/images/*.JPEG`` and ``val/images/*.JPEG`` labelled by
  ``val/val_annotations.txt``; classes are the sorted wnids; 3x64x64.
* ``imagenet``: ``train/<wnid>/*.JPEG`` and ``val/<wnid>/*.JPEG`` (validation images
  sorted into class folders), resized to ``IMAGENET_SIZE`` (shorter side, then center
  crop) when held in memory; :func:`stream_folder` decodes them lazily at 224 px instead.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from spikebit.data.archive import extract
from spikebit.data.cache import ENV_VAR
from spikebit.data.catalog import register_dataset
from spikebit.data.dataset import ArrayDataset, from_uint8
from spikebit.data.decode import is_image, read_images
from spikebit.data.imagefiles import ImageFiles
from spikebit.errors import DataError

IMAGENET_SIZE = 64
TINY_FOLDER = "tiny-imagenet-200"
TINY_ARCHIVE = "tiny-imagenet-200.zip"


def _split_dir(folder: Path, train: bool, name: str) -> Path:
    names = ["train"] if train else ["val", "test"]
    for n in names:
        if (folder / n).is_dir():
            return folder / n
    raise DataError(
        f"{name}: {folder} has no {' or '.join(names)}/ folder. Arrange the images as "
        f"{folder}/train/<class>/<image> and {folder}/val/<class>/<image>."
    )


def class_names(split: Path) -> list[str]:
    """Sorted names of the sub-folders of ``split``.

    Args:
        split: a split folder such as ``<dir>/train``.

    Returns:
        The sub-folder names, sorted (the class order).
    """
    return sorted(p.name for p in split.iterdir() if p.is_dir())


def scan_classes(
    split: Path, name: str, classes: list[str] | None = None, sub: str = ""
) -> tuple[list[Path], np.ndarray, list[str]]:
    """Image paths and labels of ``split/<class>/<sub>/*`` in sorted order.

    Args:
        split: the split folder holding one sub-folder per class.
        name: dataset name, for error messages.
        classes: fixes the label order (e.g. from the train split); a class folder
            not in it is an error. ``None`` uses the sorted sub-folders of ``split``.
        sub: sub-folder inside each class folder (``"images"`` for TinyImageNet).

    Returns:
        ``(paths, labels, classes)``: image files (class by class, sorted by name),
        int64 labels ``[N]`` (index into ``classes``) and the class list used.

    Raises:
        DataError: a class folder not in ``classes``, or no image files at all.
    """
    found = class_names(split)
    classes = found if classes is None else classes
    unknown = sorted(set(found) - set(classes))
    if unknown:
        raise DataError(
            f"{name}: class folders {unknown[:5]} in {split} do not exist in the train split; "
            "train and test must use the same class names."
        )
    paths: list[Path] = []
    labels: list[int] = []
    for label, cls in enumerate(classes):
        folder = split / cls / sub
        files = sorted(p for p in folder.iterdir() if is_image(p)) if folder.is_dir() else []
        paths += files
        labels += [label] * len(files)
    if not paths:
        raise DataError(f"{name}: no image files under {split}. Check the folder layout.")
    return paths, np.asarray(labels, dtype=np.int64), classes


def _dataset(
    paths: list[Path], labels: np.ndarray, classes: list[str], name: str, size: int | None = None
) -> ArrayDataset:
    images = read_images(paths, name, size)
    return from_uint8(images, labels, len(classes), name)


def _locate(root: Path, name: str, candidates: list[Path], marker: str) -> Path:
    for folder in candidates:
        if (folder / marker).exists():
            return folder
    raise DataError(
        f"{name}: no dataset found at {candidates[0]} (looked for {marker}). Put the images "
        f"there as <dir>/train/<class>/<image> and <dir>/val/<class>/<image>, or point "
        f"data_dir / ${ENV_VAR} at the folder that holds train/."
    )


def fetch_imagefolder(root: Path) -> Path:
    """Locate an image-folder dataset in ``<root>/imagefolder`` or ``<root>``.

    Args:
        root: cache root to search.

    Returns:
        The first of ``<root>/imagefolder`` and ``root`` that holds ``train/``.

    Raises:
        DataError: neither holds ``train/`` (the message shows the layout).
    """
    return _locate(root, "imagefolder", [root / "imagefolder", root], "train")


def fetch_imagenet(root: Path) -> Path:
    """Locate ImageNet in ``<root>/imagenet`` or ``<root>`` (user-supplied).

    Args:
        root: cache root to search.

    Returns:
        The first of ``<root>/imagenet`` and ``root`` that holds ``train/``.

    Raises:
        DataError: neither holds ``train/``.
    """
    return _locate(root, "imagenet", [root / "imagenet", root], "train")


def fetch_tinyimagenet(root: Path) -> Path:
    """Locate TinyImageNet, extracting ``tiny-imagenet-200.zip`` from ``root`` if present.

    Nothing is downloaded.

    Args:
        root: cache root searched for ``tiny-imagenet-200/`` (or the layout directly),
            else for the archive to extract.

    Returns:
        The folder holding ``train/`` and ``val/val_annotations.txt``.

    Raises:
        DataError: neither the folder nor the archive is found (the message gives the
            download address), or the archive cannot be extracted.
    """
    marker = "val/val_annotations.txt"
    for folder in (root / TINY_FOLDER, root):
        if (folder / marker).is_file() and (folder / "train").is_dir():
            return folder
    if (root / TINY_ARCHIVE).is_file():
        return extract(root / TINY_ARCHIVE, root, TINY_FOLDER)
    raise DataError(
        f"tinyimagenet: {root / TINY_FOLDER} not found. Download {TINY_ARCHIVE} "
        f"(http://cs231n.stanford.edu/{TINY_ARCHIVE}) into {root}, where it will be "
        f"extracted, or point data_dir / ${ENV_VAR} at the extracted folder."
    )


def _tiny_val(folder: Path, classes: list[str]) -> tuple[list[Path], np.ndarray]:
    ann = folder / "val" / "val_annotations.txt"
    index = {c: i for i, c in enumerate(classes)}
    paths, labels = [], []
    for n, line in enumerate(ann.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 2 or fields[1] not in index:
            raise DataError(
                f"tinyimagenet: {ann} line {n} is {line!r}; expected '<file>\\t<wnid>\\t...' "
                "with a wnid that has a train folder. Replace the file with the official one."
            )
        path = folder / "val" / "images" / fields[0]
        if not path.is_file():
            raise DataError(f"tinyimagenet: {ann} line {n} names {path}, which is missing.")
        paths.append(path)
        labels.append(index[fields[1]])
    return paths, np.asarray(labels, dtype=np.int64)


@register_dataset(
    "imagefolder",
    fetch=fetch_imagefolder,
    summary="user images in <dir>/{train,val}/<class>/*, all of one size",
)
def load_imagefolder(folder: Path, train: bool) -> ArrayDataset:
    """One split of an image-folder dataset as ``[N, C, H, W]`` (C = 1 or 3).

    Images are decoded with Pillow and must all share one size; ``C`` is 1 when every
    image is grayscale, else 3.

    Args:
        folder: the folder returned by :func:`fetch_imagefolder`, holding ``train/``
            and ``val/`` (or ``test/``) with one sub-folder per class.
        train: ``True`` for ``train/``, ``False`` for ``val/`` (else ``test/``).

    Returns:
        The split as an :class:`~spikebit.data.dataset.ArrayDataset`: float32 images
        in ``[0, 1]`` (bytes / 255), int64 labels ``[N]`` indexing the sorted
        ``train/`` class folders.

    Raises:
        DataError: a split folder is missing, a class folder is unknown to the train
            split, no images are found, or an image cannot be decoded or differs in
            size (see :func:`~spikebit.data.decode.read_images`).
    """
    classes = class_names(_split_dir(folder, True, "imagefolder"))
    split = _split_dir(folder, train, "imagefolder")
    paths, labels, _ = scan_classes(split, "imagefolder", classes)
    return _dataset(paths, labels, classes, f"imagefolder/{split.name}")


@register_dataset(
    "tinyimagenet",
    fetch=fetch_tinyimagenet,
    summary="TinyImageNet-200, 3x64x64, 100000 train / 10000 val",
)
def load_tinyimagenet(folder: Path, train: bool) -> ArrayDataset:
    """TinyImageNet train or val split as ``[N, 3, 64, 64]``.

    Args:
        folder: the ``tiny-imagenet-200`` folder returned by :func:`fetch_tinyimagenet`.
        train: ``True`` for ``train/<wnid>/images/*`` (100,000 images), ``False`` for
            ``val/images/*`` labelled by ``val/val_annotations.txt`` (10,000).

    Returns:
        The split as an :class:`~spikebit.data.dataset.ArrayDataset`: float32 images
        in ``[0, 1]``, int64 labels ``[N]`` indexing the sorted wnids (from
        ``wnids.txt``, else the train folders).

    Raises:
        DataError: a malformed annotation line, a missing or undecodable image, or no
            images in a class folder at all.
    """
    train_dir = folder / "train"
    wnids = folder / "wnids.txt"
    classes = sorted(wnids.read_text().split()) if wnids.is_file() else class_names(train_dir)
    if train:
        paths, labels, _ = scan_classes(train_dir, "tinyimagenet", classes, sub="images")
    else:
        paths, labels = _tiny_val(folder, classes)
    return _dataset(paths, labels, classes, f"tinyimagenet/{'train' if train else 'val'}")


@register_dataset(
    "imagenet",
    fetch=fetch_imagenet,
    summary=f"ImageNet class folders, resized to 3x{IMAGENET_SIZE}x{IMAGENET_SIZE}",
)
def load_imagenet(folder: Path, train: bool) -> ArrayDataset:
    """ImageNet train or val split as ``[N, 3, IMAGENET_SIZE, IMAGENET_SIZE]``.

    Each image is resized (shorter side to ``IMAGENET_SIZE`` = 64 pixels, bilinear)
    and center-cropped, since the whole split is held in memory.

    Args:
        folder: the folder returned by :func:`fetch_imagenet`, holding
            ``train/<wnid>/*`` and ``val/<wnid>/*`` (or ``test/``).
        train: ``True`` for ``train/``, ``False`` for ``val/`` (else ``test/``).

    Returns:
        The split as an :class:`~spikebit.data.dataset.ArrayDataset`: float32 images
        in ``[0, 1]``, int64 labels ``[N]`` indexing the sorted ``train/`` wnids.

    Raises:
        DataError: a split folder is missing, a class folder is unknown to the train
            split, no images are found, or an image cannot be decoded.
    """
    classes = class_names(_split_dir(folder, True, "imagenet"))
    split = _split_dir(folder, train, "imagenet")
    paths, labels, _ = scan_classes(split, "imagenet", classes)
    return _dataset(paths, labels, classes, f"imagenet/{split.name}", IMAGENET_SIZE)


# -- streaming (lazy decoding at full resolution) ----------------------------------------
STREAM_SIZES = {"imagenet": 224, "tinyimagenet": 64}
"""Default side of streamed samples: ImageNet's 224-px crops, TinyImageNet's native 64 px."""
_STREAM_SCALE = {"imagenet": (0.08, 1.0), "tinyimagenet": (0.35, 1.0), "imagefolder": (0.35, 1.0)}
_CROP_FRACTION = {"imagenet": 0.875, "tinyimagenet": 1.0, "imagefolder": 1.0}


def stream_folder(name: str, train: bool, data_dir: str | Path | None = None,
                  size: int | None = None) -> ImageFiles:
    """One split of ``imagenet``, ``tinyimagenet`` or ``imagefolder`` as lazily decoded files.

    Args:
        name: ``imagenet``, ``tinyimagenet`` or ``imagefolder``.
        train: the train split (random crops and flips) or the test/val split.
        data_dir: cache root (default ``$SPIKEBIT_DATA`` or ``~/.cache/spikebit``).
        size: output side in pixels.

    Nothing but the file list is read up front; every sample is decoded when a
    ``DataLoader`` worker asks for it (see :class:`~spikebit.data.imagefiles.ImageFiles`),
    at ``size`` pixels (default :data:`STREAM_SIZES`, 224 for ImageNet; ``imagefolder``
    needs it). Train samples get a random resized crop and flip, test samples a resize and
    center crop.

    Raises:
        DataError: unknown name, missing folders, no images, or no ``size`` for imagefolder.
    """
    from spikebit.data.cache import cache_dir

    if name not in _STREAM_SCALE:
        raise DataError(
            f"dataset {name!r} cannot be streamed from files; streaming datasets: "
            f"{', '.join(sorted(_STREAM_SCALE))} (set data.stream: false for the others)."
        )
    size = size or STREAM_SIZES.get(name)
    if size is None:
        raise DataError(f"{name}: set data.image_size (pixels) to stream image files.")
    root = cache_dir(data_dir)
    if name == "tinyimagenet":
        folder = fetch_tinyimagenet(root)
        wnids = folder / "wnids.txt"
        classes = (sorted(wnids.read_text().split()) if wnids.is_file()
                   else class_names(folder / "train"))
        if train:
            paths, labels, _ = scan_classes(folder / "train", name, classes, sub="images")
        else:
            paths, labels = _tiny_val(folder, classes)
        split = "train" if train else "val"
    else:
        folder = fetch_imagenet(root) if name == "imagenet" else fetch_imagefolder(root)
        classes = class_names(_split_dir(folder, True, name))
        split_dir = _split_dir(folder, train, name)
        paths, labels, _ = scan_classes(split_dir, name, classes)
        split = split_dir.name
    return ImageFiles(paths, labels, len(classes), size, train, f"{name}/{split}",
                      scale=_STREAM_SCALE[name], crop_fraction=_CROP_FRACTION[name])
