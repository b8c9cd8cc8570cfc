"""Write export files atomically and load models from checkpoints for export."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from torch import nn

from spikebit.errors import CheckpointError, ExportError


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it over ``path``.

    On any error the temporary file is removed, so no partial output is left behind.
    """
    path = Path(path)
    if path.is_dir():
        raise ExportError(f"output {path} is a directory: give a file name, e.g. {path}/model")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomic(path: str | Path, write: Callable[[Path], None]) -> Path:
    """``write(tmp)`` then rename ``tmp`` to ``path``; returns ``path``."""
    with atomic_path(path) as tmp:
        write(tmp)
    return Path(path)


def model_for_export(checkpoint: str | Path) -> nn.Module:
    """Rebuild a trained model from a checkpoint (eval mode) for export.

    Raises :class:`CheckpointError` if the file is missing, corrupt or not a
    spikebit checkpoint.
    """
    from spikebit.train import model_from_checkpoint

    try:
        model, _, _ = model_from_checkpoint(checkpoint)
    except CheckpointError:
        raise
    except (KeyError, TypeError) as exc:
        raise CheckpointError(
            f"checkpoint {checkpoint} has no usable model config ({exc!r}): export a "
            "checkpoint written by 'spikebit train'"
        ) from None
    return model.eval()
