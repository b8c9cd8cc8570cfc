"""MNIST-format datasets read from IDX files: ``fashion-mnist`` and user-supplied ``mnist``.

Fashion-MNIST is taken from ``/usr/share/datasets/fashion-mnist`` when present, else
from the Debian package ``dataset-fashion-mnist`` (``apt-get download``, no root),
else from the official URLs with the official MD5 checksums.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from spikebit.data.cache import ENV_VAR
from spikebit.data.catalog import register_dataset
from spikebit.data.dataset import ArrayDataset, from_uint8
from spikebit.data.download import download
from spikebit.data.idx import read_idx_pair
from spikebit.data.packages import apt_download_extract
from spikebit.errors import DataError

STEMS = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
FASHION_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_DEB = "dataset-fashion-mnist"
FASHION_DEB_PATH = "usr/share/datasets/fashion-mnist"  # inside the package's file tree
FASHION_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
# Official MD5s of the .gz files (Fashion-MNIST README).
FASHION_MD5 = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}
# SHA256 of the decompressed IDX payloads (by stem); Debian recompressed the .gz files, so
# their MD5s differ from the official ones while the data are the same.
FASHION_PAYLOAD_SHA256 = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}


def idx_files(folder: Path, train: bool) -> tuple[Path, Path] | None:
    """Images and labels IDX files for a split in ``folder`` (``.gz`` or not), or None.

    Accepts the official names (``train-images-idx3-ubyte[.gz]``) and the common
    variant with a dot (``train-images.idx3-ubyte``).

    Args:
        folder: the folder to look in (not searched recursively).
        train: ``True`` for ``train-*`` files, ``False`` for ``t10k-*``.

    Returns:
        ``(images_path, labels_path)``, or ``None`` when either file is missing.
    """
    found = []
    for stem in STEMS[train]:
        dotted = stem.replace("-idx", ".idx")
        names = [stem + ".gz", stem, dotted + ".gz", dotted]
        hit = next((folder / n for n in names if (folder / n).is_file()), None)
        if hit is None:
            return None
        found.append(hit)
    return found[0], found[1]


def find_idx_folder(candidates: list[Path]) -> Path | None:
    """First folder among ``candidates`` that holds both splits.

    Args:
        candidates: folders to try, in order.

    Returns:
        The first folder with train and test IDX files (see :func:`idx_files`), or
        ``None``.
    """
    for folder in candidates:
        if idx_files(folder, True) and idx_files(folder, False):
            return folder
    return None


def load_idx_folder(folder: Path, train: bool, name: str, num_classes: int = 10) -> ArrayDataset:
    """Read one split of an MNIST-layout folder as ``[N, 1, H, W]`` in ``[0, 1]``.

    Args:
        folder: folder holding the IDX files (see :func:`idx_files` for the names).
        train: ``True`` for the ``train-*`` files, ``False`` for ``t10k-*``.
        name: dataset name for messages and the result's ``name``.
        num_classes: labels must lie in ``[0, num_classes)``.

    Returns:
        The split as an :class:`~spikebit.data.dataset.ArrayDataset`: float32 images
        ``[N, 1, H, W]`` (bytes / 255) and int64 labels ``[N]``.

    Raises:
        DataError: the IDX files are missing or fail :func:`~spikebit.data.idx.read_idx_pair`.
    """
    files = idx_files(folder, train)
    if files is None:
        stems = ", ".join(STEMS[train])
        raise DataError(f"{name}: {folder} lacks the IDX files {stems} (.gz or plain).")
    images, labels = read_idx_pair(files[0], files[1], num_classes)
    return from_uint8(images, labels, num_classes, f"{name}/{'train' if train else 'test'}")


def _payload_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with gzip.open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def apt_available() -> bool:
    """True when ``apt-get`` and ``dpkg`` can be run."""
    return shutil.which("apt-get") is not None and shutil.which("dpkg") is not None


def _fashion_via_apt(dest: Path) -> None:
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".fetch-") as tmp:
        tree = apt_download_extract(FASHION_DEB, Path(tmp))
        src = tree / FASHION_DEB_PATH
        for stem, sha in FASHION_PAYLOAD_SHA256.items():
            fname = f"{stem}.gz"
            if not (src / fname).is_file() or _payload_sha256(src / fname) != sha:
                raise DataError(
                    f"Debian package {FASHION_DEB} file {src / fname} is missing or its "
                    "data differ from Fashion-MNIST; the package changed upstream."
                )
        for stem in FASHION_PAYLOAD_SHA256:
            os.replace(src / f"{stem}.gz", dest / f"{stem}.gz")


def _fashion_via_url(dest: Path) -> None:
    for fname, md5 in FASHION_MD5.items():
        download(FASHION_URL + fname, dest / fname, f"md5:{md5}")


def fetch_fashion_mnist(root: Path) -> Path:
    """Locate or download Fashion-MNIST (60k train / 10k test); return its folder.

    Tried in order: IDX files already in ``<root>/fashion-mnist``, ``root`` or
    ``/usr/share/datasets/fashion-mnist``; the Debian package ``dataset-fashion-mnist``
    via ``apt-get download`` (payload SHA256-checked); the official URLs
    (Xiao et al. 2017, MD5-checked).

    Args:
        root: cache root; downloads go to ``<root>/fashion-mnist``.

    Returns:
        The folder holding the four IDX ``.gz`` files (train/t10k images and labels).

    Raises:
        DataError: every route failed (the message names both failures and the files
            to copy by hand).
    """
    dest = root / "fashion-mnist"
    found = find_idx_folder([dest, root, FASHION_SYSTEM_DIR])
    if found is not None:
        return found
    dest.mkdir(parents=True, exist_ok=True)
    apt_error = ""
    if apt_available():
        try:
            _fashion_via_apt(dest)
            return dest
        except DataError as err:
            apt_error = f" (apt-get route failed first: {err})"
    try:
        _fashion_via_url(dest)
    except DataError as err:
        raise DataError(
            f"cannot fetch fashion-mnist into {dest}{apt_error}: {err} Alternatively copy the "
            f"four files {', '.join(FASHION_MD5)} into {dest}."
        ) from None
    return dest


def fetch_user_mnist(root: Path) -> Path:
    """Locate user-supplied MNIST IDX files in ``<root>/mnist`` or ``<root>``.

    Args:
        root: cache root to search.

    Returns:
        The first of ``<root>/mnist`` and ``root`` that holds both splits.

    Raises:
        DataError: neither folder holds the four IDX files (the message names them
            and where to put them).
    """
    found = find_idx_folder([root / "mnist", root])
    if found is None:
        names = ", ".join(s + ".gz" for s in STEMS[True] + STEMS[False])
        raise DataError(
            f"mnist: no MNIST IDX files in {root / 'mnist'}. Download {names} (plain or "
            f"gzipped) into that folder, or point data_dir / ${ENV_VAR} at the folder "
            "that holds them."
        )
    return found


@register_dataset(
    "fashion-mnist",
    fetch=fetch_fashion_mnist,
    summary="Fashion-MNIST, 10 classes, 1x28x28, 60000 train / 10000 test",
)
def load_fashion_mnist(folder: Path, train: bool) -> ArrayDataset:
    """Fashion-MNIST split as ``[N, 1, 28, 28]``, read from IDX files.

    Args:
        folder: the folder returned by :func:`fetch_fashion_mnist`.
        train: ``True`` for the 60,000 training images, ``False`` for the 10,000 test.

    Returns:
        The split as an :class:`~spikebit.data.dataset.ArrayDataset`: float32 images
        ``[N, 1, 28, 28]`` in ``[0, 1]``, int64 labels ``[N]`` in ``[0, 10)``.

    Raises:
        DataError: the IDX files are missing or corrupt (see :func:`load_idx_folder`).
    """
    return load_idx_folder(folder, train, "fashion-mnist")


@register_dataset(
    "mnist", fetch=fetch_user_mnist, summary="MNIST from user-supplied IDX files, 1x28x28"
)
def load_mnist(folder: Path, train: bool) -> ArrayDataset:
    """MNIST split as ``[N, 1, 28, 28]``, read from user-supplied IDX files.

    Args:
        folder: the folder returned by :func:`fetch_user_mnist`.
        train: ``True`` for the ``train-*`` files (60,000 images in the official
            set), ``False`` for ``t10k-*`` (10,000).

    Returns:
        The split as an :class:`~spikebit.data.dataset.ArrayDataset`: float32 images
        ``[N, 1, 28, 28]`` in ``[0, 1]``, int64 labels ``[N]`` in ``[0, 10)``.

    Raises:
        DataError: the IDX files are missing or corrupt (see :func:`load_idx_folder`).
    """
    return load_idx_folder(folder, train, "mnist")
