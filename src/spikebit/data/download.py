"""Checksummed downloads: write to a temp file, rename only after the digest matches."""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import BinaryIO

from spikebit.errors import DataError
from spikebit.progress import ProgressBar

_CHUNK = 1 << 20
_ALGOS = {32: "md5", 64: "sha256"}


def parse_checksum(checksum: str) -> tuple[str, str]:
    """Split ``"sha256:<hex>"``, ``"md5:<hex>"`` or a bare hex digest into ``(algo, hex)``.

    A bare digest is MD5 when 32 hex digits long and SHA256 when 64.

    Args:
        checksum: ``"md5:<32 hex>"``, ``"sha256:<64 hex>"`` or a bare digest (any case).

    Returns:
        ``(algo, digest)``: ``"md5"`` or ``"sha256"`` and the lower-case hex digest.

    Raises:
        DataError: the algorithm is not MD5/SHA256 or the digest has the wrong
            length or a non-hex character.
    """
    algo, _, digest = checksum.rpartition(":")
    digest = digest.strip().lower()
    algo = algo.lower() or _ALGOS.get(len(digest), "")
    valid = algo in ("md5", "sha256") and len(digest) == {"md5": 32, "sha256": 64}[algo]
    if not valid or any(ch not in "0123456789abcdef" for ch in digest):
        raise DataError(
            f"checksum {checksum!r} is not an MD5 (32 hex digits) or SHA256 (64 hex digits) "
            "digest; pass e.g. 'sha256:<64 hex>' or 'md5:<32 hex>'."
        )
    return algo, digest


def file_digest(path: str | Path, algo: str = "sha256") -> str:
    """Hex digest of a file, read in 1 MiB chunks.

    Args:
        path: the file to hash.
        algo: a :func:`hashlib.new` algorithm name, e.g. ``"sha256"`` or ``"md5"``.

    Returns:
        The lower-case hex digest of the file's bytes.

    Raises:
        OSError: the file cannot be opened or read (not wrapped).
    """
    h = hashlib.new(algo, usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def verify(path: str | Path, checksum: str) -> bool:
    """True when ``path`` exists and its digest equals ``checksum``.

    Args:
        path: the file to check.
        checksum: the expected digest (see :func:`parse_checksum`).

    Returns:
        Whether ``path`` is a regular file whose digest matches.

    Raises:
        DataError: ``checksum`` is malformed.
    """
    algo, digest = parse_checksum(checksum)
    return Path(path).is_file() and file_digest(path, algo) == digest


def download(url: str, dest: str | Path, checksum: str, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` and check its MD5/SHA256 ``checksum``; return ``dest``.

    Idempotent: a ``dest`` that already matches is kept without a request. The data go
    to a temp file beside ``dest`` that is renamed only after the digest matches, so a
    failed, truncated or corrupted download never leaves a file at ``dest``. A progress
    bar (bytes) is shown while downloading.

    Args:
        url: the file's address.
        dest: where to save it; parent folders are created.
        checksum: expected digest, ``"md5:<hex>"``, ``"sha256:<hex>"`` or bare hex.
        timeout: socket timeout in seconds for the connection and each read.

    Returns:
        ``dest`` as a :class:`~pathlib.Path`.

    Raises:
        DataError: ``checksum`` is malformed, the request fails, the body is
            shorter than its ``Content-Length`` (truncated), or its digest differs.
    """
    algo, digest = parse_checksum(checksum)
    dest = Path(dest)
    if dest.is_file() and file_digest(dest, algo) == digest:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            got = _stream(url, out, algo, dest, timeout)
        if got != digest:
            raise DataError(
                f"download of {url} for {dest} failed its {algo} check: expected {digest}, "
                f"got {got}. The file is corrupt or changed upstream; try again, or fetch it "
                f"by hand, check its {algo}, and place it at {dest}."
            )
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def _stream(url: str, out: BinaryIO, algo: str, dest: Path, timeout: float) -> str:
    """Copy the response body of ``url`` into ``out``; return the body's hex digest."""
    hasher = hashlib.new(algo, usedforsecurity=False)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            expected = resp.headers.get("Content-Length")
            received = 0
            size = int(expected) if expected is not None and expected.isdigit() else None
            with ProgressBar(size, f"download {dest.name}", unit="B", unit_scale=True) as bar:
                for chunk in iter(lambda: resp.read(_CHUNK), b""):
                    out.write(chunk)
                    hasher.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
    except http.client.IncompleteRead as err:
        raise DataError(
            f"download of {url} for {dest} was truncated: the connection closed with "
            f"{err.expected} bytes missing; nothing was saved. Try again, or place a copy "
            f"at {dest}."
        ) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
        raise DataError(
            f"could not download {url} for {dest}: {err}. Check the network, or download "
            f"it by hand and place it at {dest}."
        ) from None
    if expected is not None and expected.isdigit() and received != int(expected):
        raise DataError(
            f"download of {url} for {dest} was truncated: got {received} of {expected} "
            f"bytes; nothing was saved. Try again, or place a copy at {dest}."
        )
    return hasher.hexdigest()
