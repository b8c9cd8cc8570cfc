"""The run configs shipped with spikebit: list them, show them, copy them, resolve names.

In a wheel they are the package data ``spikebit.configs``; in a source checkout, the
repository's ``configs/`` folder. A config is named by its path below that folder without
``.yaml``: ``demo``, ``albsnn/fmnist-albsnn``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import spikebit
from spikebit.errors import ConfigError, did_you_mean


def configs_root() -> Path:
    """The folder holding the shipped configs.

    Raises:
        ConfigError: neither the installed package data nor a checkout's ``configs/``
            exists (a broken installation).
    """
    package = Path(spikebit.__file__).resolve().parent
    for root in (package / "configs", package.parents[1] / "configs"):  # wheel, checkout
        if root.is_dir():
            return root
    raise ConfigError(
        "the shipped configs are missing from this installation; reinstall spikebit "
        "(pip install --force-reinstall spikebit)."
    )


def shipped_configs() -> dict[str, Path]:
    """``{name: path}`` of every shipped config, sorted by name."""
    root = configs_root()
    found = {
        p.relative_to(root).with_suffix("").as_posix(): p for p in root.rglob("*.yaml")
    }
    return dict(sorted(found.items()))


def shipped_config(name: str) -> Path:
    """The path of the shipped config ``name`` (``.yaml`` optional).

    Args:
        name: a shipped config's name, e.g. ``"demo"`` or ``"albsnn/fmnist-albsnn"``.

    Returns:
        The path of its YAML file.

    Raises:
        ConfigError: no shipped config of that name (the message suggests the nearest).
    """
    configs = shipped_configs()
    key = name[:-5] if name.endswith(".yaml") else name
    if key in configs:
        return configs[key]
    raise ConfigError(
        f"no shipped config named {name!r}; list them with `spikebit configs list`."
        f"{did_you_mean(key, configs)}"
    )


def resolve_config(name_or_path: str | Path) -> Path:
    """A config file path from a path (existing file) or a shipped config's name.

    A path that exists wins; otherwise ``name_or_path`` is looked up among the shipped
    configs (``demo``, ``albsnn/fmnist-albsnn``; a leading ``configs/`` is ignored, so
    ``configs/demo.yaml`` works from any directory).

    Args:
        name_or_path: a path to a config file, or a shipped config's name.

    Returns:
        The config file's path.

    Raises:
        ConfigError: neither a file nor a shipped config.
    """
    path = Path(name_or_path)
    if path.is_file():
        return path
    name = path.as_posix()
    if name.startswith("configs/"):
        name = name[len("configs/"):]
    try:
        return shipped_config(name)
    except ConfigError:
        raise ConfigError(
            f"{str(name_or_path)!r} is neither a config file nor a shipped config name; "
            "list the shipped ones with `spikebit configs list`, copy one with "
            "`spikebit configs copy NAME DIR`."
            f"{did_you_mean(name.removesuffix('.yaml'), shipped_configs())}"
        ) from None


def copy_config(name: str, directory: str | Path, overwrite: bool = False) -> Path:
    """Copy the shipped config ``name`` into ``directory`` (created if needed).

    Args:
        name: a shipped config's name.
        directory: the destination folder; the file keeps its base name
            (``demo.yaml``).
        overwrite: replace an existing file of that name.

    Returns:
        The path of the copy.

    Raises:
        ConfigError: unknown name, the target file exists and ``overwrite`` is False
            (a user's edited copy is never replaced silently), or the copy fails.
    """
    src = shipped_config(name)
    dest_dir = Path(directory)
    dest = dest_dir / src.name
    if dest.exists() and not overwrite:
        raise ConfigError(f"{dest} exists; pass --overwrite to replace it or choose another DIR.")
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
    except OSError as exc:
        raise ConfigError(f"cannot copy {name!r} to {dest}: {exc.strerror or exc}.") from None
    return dest
