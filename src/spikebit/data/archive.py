"""Safe extraction of user-supplied dataset archives (``.tar.gz`` / ``.zip``)."""

from __future__ import annotations

import os
import tarfile
import tempfile
import zipfile
from pathlib import Path

from spikebit.data.download import parse_checksum, verify
from spikebit.errors import DataError

_TAR_FILTER = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}


def _check_member(archive: Path, name: str) -> None:
    parts = Path(name).parts
    if Path(name).is_absolute() or ".." in parts:
        raise DataError(f"archive {archive} has an unsafe member path {name!r}; refusing it.")


def extract(archive: Path, dest: Path, top: str, checksum: str | None = None) -> Path:
    """Extract ``archive`` and move its top-level folder ``top`` to ``dest / top``.

    Extraction happens in a temp folder inside ``dest``, so an interrupted run leaves
    no half-filled ``dest / top``. Members with absolute paths, ``..``, links or
    devices are refused.

    Args:
        archive: a ``.zip`` or any tar archive Python's :mod:`tarfile` opens
            (``.tar.gz``, ...).
        dest: an existing folder that receives ``top``.
        top: the archive's top-level folder, e.g. ``"cifar-10-batches-py"``.
        checksum: ``"md5:<hex>"`` or ``"sha256:<hex>"`` checked before extracting, or
            ``None`` to skip the check.

    Returns:
        ``dest / top``.

    Raises:
        DataError: the checksum differs, the archive is unreadable or holds an
            unsafe member, it has no folder ``top``, or ``dest / top`` already exists.
    """
    if checksum is not None and not verify(archive, checksum):
        algo, digest = parse_checksum(checksum)
        raise DataError(
            f"archive {archive} does not match the official {algo} {digest}; it is "
            "incomplete or a different file. Download it again."
        )
    with tempfile.TemporaryDirectory(dir=dest, prefix=".extract-") as tmp:
        try:
            if zipfile.is_zipfile(archive):
                with zipfile.ZipFile(archive) as zf:
                    for name in zf.namelist():
                        _check_member(archive, name)
                    zf.extractall(tmp)
            else:
                with tarfile.open(archive) as tar:
                    for member in tar.getmembers():
                        _check_member(archive, member.name)
                        if not (member.isfile() or member.isdir()):
                            raise DataError(
                                f"archive {archive} has a link or device {member.name!r}; "
                                "refusing it."
                            )
                    tar.extractall(tmp, **_TAR_FILTER)
        except (OSError, EOFError, tarfile.TarError, zipfile.BadZipFile) as err:
            raise DataError(
                f"archive {archive} cannot be extracted ({err}). Download it again."
            ) from None
        if not (Path(tmp) / top).is_dir():
            raise DataError(f"archive {archive} has no top-level folder {top!r}.")
        if (dest / top).exists():
            raise DataError(
                f"{dest / top} already exists but is incomplete; remove it so that "
                f"{archive} can be extracted afresh."
            )
        os.replace(Path(tmp) / top, dest / top)
    return dest / top
