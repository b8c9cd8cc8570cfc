"""Where datasets live on disk: ``data_dir`` > ``$SPIKEBIT_DATA`` > ``~/.cache/spikebit``."""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "SPIKEBIT_DATA"
DEFAULT_CACHE = Path("~/.cache/spikebit")


def cache_dir(data_dir: str | Path | None = None) -> Path:
    """Return the data root: ``data_dir`` if given, else ``$SPIKEBIT_DATA``, else the default.

    The directory is not created here; fetchers create what they write into.

    Args:
        data_dir: an explicit root (``~`` is expanded), or ``None``.

    Returns:
        ``data_dir``, else ``$SPIKEBIT_DATA``, else ``~/.cache/spikebit``, user-expanded.
    """
    if data_dir is not None:
        return Path(data_dir).expanduser()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return DEFAULT_CACHE.expanduser()


def first_existing(candidates: list[Path], names: list[str]) -> Path | None:
    """Return the first directory in ``candidates`` holding every file in ``names``.

    Args:
        candidates: folders to try, in order.
        names: file names that must all exist (as regular files) in the folder.

    Returns:
        The first matching folder, or ``None``.
    """
    for folder in candidates:
        if all((folder / n).is_file() for n in names):
            return folder
    return None
