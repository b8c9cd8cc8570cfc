"""``digits``: scikit-learn's 8x8 handwritten digits (1,797 samples, 16 gray levels).

The file ``sklearn/datasets/data/digits.csv.gz`` (64 pixel columns in 0..16, then the
label) is copied from an installed scikit-learn, or read out of the scikit-learn wheel
downloaded with pip. Fixed split: per digit, the first ``floor(0.8 * n_d)`` rows in
file order train (1,433), the rest test (364).
"""

from __future__ import annotations

import gzip
import importlib.resources
import importlib.util
import io
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from spikebit.data.catalog import register_dataset
from spikebit.data.dataset import ArrayDataset, from_uint8, split_per_class
from spikebit.data.packages import pip_download_wheel
from spikebit.errors import DataError

FILE = "digits.csv.gz"
MEMBER = "sklearn/datasets/data/digits.csv.gz"
TRAIN_FRACTION = 0.8


def parse_digits_csv(raw: bytes, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Parse gzipped CSV bytes into images ``[N, 8, 8]`` (0..16) and labels ``[N]``.

    Format: scikit-learn's ``digits.csv.gz``, one sample per row: 64 pixel columns
    (row-major 8x8, gray levels 0..16), then the label 0..9, comma-separated.

    Args:
        raw: the gzip-compressed CSV file contents.
        source: where ``raw`` came from (a path or wheel), for error messages.

    Returns:
        ``(images, labels)``: uint8 ``[N, 8, 8]`` with values 0..16 and uint8 ``[N]``
        with values 0..9.

    Raises:
        DataError: the bytes are not gzip or not a numeric CSV, there are no rows,
            a row does not have 65 columns, or a pixel or label is out of range.
    """
    try:
        table = np.loadtxt(io.BytesIO(gzip.decompress(raw)), delimiter=",", ndmin=2)
    except (OSError, EOFError, ValueError) as err:
        raise DataError(
            f"digits file {source} cannot be parsed ({err}). Delete it and fetch again."
        ) from None
    if table.shape[1] != 65 or len(table) == 0:
        raise DataError(
            f"digits file {source} has shape {table.shape}, expected [N, 65] "
            "(64 pixels + label). Delete it and fetch again."
        )
    pixels, labels = table[:, :64], table[:, 64]
    if pixels.min() < 0 or pixels.max() > 16 or labels.min() < 0 or labels.max() > 9:
        raise DataError(
            f"digits file {source} has pixels outside 0..16 or labels outside 0..9. "
            "Delete it and fetch again."
        )
    return pixels.astype(np.uint8).reshape(-1, 8, 8), labels.astype(np.uint8)


def _sklearn_bytes() -> bytes | None:
    """The CSV from an importable scikit-learn, or None when it is not installed."""
    if importlib.util.find_spec("sklearn") is None:
        return None
    return (importlib.resources.files("sklearn.datasets") / "data" / FILE).read_bytes()


def fetch_digits(root: Path) -> Path:
    """Cache ``digits.csv.gz`` under ``<root>/digits`` (once) and return that folder.

    The file is copied from an installed scikit-learn, else read out of a
    scikit-learn wheel downloaded with pip (``pip download --no-deps``); it is
    parsed before it is saved.

    Args:
        root: cache root.

    Returns:
        The folder holding ``digits.csv.gz`` (``<root>/digits``, or ``root`` when the
        file is already there).

    Raises:
        DataError: the wheel cannot be downloaded or read (the message says how to
            place the file by hand), or the CSV does not parse.
    """
    for folder in (root / "digits", root):
        if (folder / FILE).is_file():
            return folder
    dest = root / "digits"
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest, prefix=".fetch-") as tmp:
        raw = _sklearn_bytes()
        source = "installed scikit-learn"
        if raw is None:
            try:
                wheel = pip_download_wheel("scikit-learn", Path(tmp))
            except DataError as err:
                raise DataError(
                    f"{err} Install scikit-learn (`pip install scikit-learn`), or copy "
                    f"{MEMBER} from any scikit-learn wheel to {dest / FILE}."
                ) from None
            source = str(wheel)
            try:
                with zipfile.ZipFile(wheel) as zf:
                    raw = zf.read(MEMBER)
            except (OSError, KeyError, zipfile.BadZipFile) as err:
                raise DataError(
                    f"cannot read {MEMBER} from {wheel} ({err}). Install scikit-learn, or "
                    f"copy its {MEMBER} to {dest / FILE}."
                ) from None
        parse_digits_csv(raw, source)
        part = Path(tmp) / FILE
        part.write_bytes(raw)
        os.replace(part, dest / FILE)
    return dest


@register_dataset(
    "digits",
    fetch=fetch_digits,
    summary="scikit-learn 8x8 digits, 1x8x8, 1433 train / 364 test",
)
def load_digits(folder: Path, train: bool) -> ArrayDataset:
    """One split as ``[N, 1, 8, 8]`` (16 gray levels scaled by 1/16).

    Args:
        folder: the folder returned by :func:`fetch_digits`, holding ``digits.csv.gz``.
        train: ``True`` for the training split (per digit, the first
            ``floor(0.8 * n_d)`` rows in file order: 1,433 samples), ``False`` for the
            rest (364).

    Returns:
        The split as an :class:`~spikebit.data.dataset.ArrayDataset`: float32 images
        ``[N, 1, 8, 8]`` in ``[0, 1]`` and int64 labels ``[N]`` in ``[0, 10)``.

    Raises:
        DataError: ``digits.csv.gz`` is missing from ``folder`` or cannot be parsed
            (see :func:`parse_digits_csv`).
    """
    path = folder / FILE
    if not path.is_file():
        raise DataError(f"digits file {path} does not exist; call fetch('digits') first.")
    images, labels = parse_digits_csv(path.read_bytes(), str(path))
    train_idx, test_idx = split_per_class(labels, TRAIN_FRACTION)
    idx = train_idx if train else test_idx
    split = "train" if train else "test"
    return from_uint8(images[idx], labels[idx], 10, f"digits/{split}", scale=16.0)
