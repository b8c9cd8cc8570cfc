"""Run directories: checked before training, never overwritten when starting over.

A run writes ``last.safetensors``, ``best.safetensors``, ``log.csv``,
``metrics.json``, ``curves.png`` and ``tensorboard/`` into ``out_dir/name``.
Starting a run without ``--resume`` where any of these already exists (from an
earlier run, or a user's own files) first moves the whole directory aside to
``NAME.replaced-TIMESTAMP``; nothing the run did not create in this invocation
is overwritten.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from spikebit.errors import CheckpointError
from spikebit.train.checkpoint import clean_stale_temps

RUN_FILES = ("last.safetensors", "best.safetensors", "log.csv", "metrics.json",
             "curves.png", "tensorboard")


def run_files(run_dir: Path, names: tuple[str, ...] = RUN_FILES) -> list[str]:
    """The ``names`` (default :data:`RUN_FILES`) that exist in ``run_dir``.

    Args:
        run_dir: a run directory.
        names: file or folder names to look for.

    Returns:
        The names that exist there, in the order of ``names``.
    """
    return [n for n in names if (run_dir / n).exists()]


def move_aside(run_dir: Path, why: str) -> Path | None:
    """Rename ``run_dir`` to ``NAME.replaced-TIMESTAMP`` (a saved run is never overwritten).

    Args:
        run_dir: the run directory to move.
        why: what it holds, printed with the move (e.g. ``"files from an earlier run"``).

    Returns:
        The new path, or ``None`` if ``run_dir`` is gone.

    Raises:
        CheckpointError: the rename fails (permissions, another file system...).
    """
    stamp = time.strftime("%Y%m%d-%H%M%S")
    kept = run_dir.with_name(f"{run_dir.name}.replaced-{stamp}")
    n = 1
    while kept.exists():  # two moves within one second
        n += 1
        kept = run_dir.with_name(f"{run_dir.name}.replaced-{stamp}-{n}")
    try:
        run_dir.rename(kept)
    except FileNotFoundError:  # already gone
        return None
    except OSError as exc:
        raise CheckpointError(
            f"{run_dir} holds {why} and cannot be moved aside ({exc}); move or delete it, "
            "or choose another name (--set name=...)"
        ) from None
    print(f"{run_dir} held {why}; moved it to {kept}")
    return kept


def check_writable(run_dir: Path) -> None:
    """Create ``run_dir`` and write a probe file there, or raise :class:`CheckpointError`.

    Args:
        run_dir: the run directory (created with its parents; the probe is removed).

    Raises:
        CheckpointError: the folder cannot be created or written to.
    """
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=run_dir, prefix=".write-probe.", suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise CheckpointError(
            f"run directory {run_dir} is not writable "
            f"({type(exc).__name__}: {exc.strerror or exc}); "
            "choose a writable out_dir (--set out_dir=...) before training"
        ) from None


def prepare_run_dir(run_dir: Path, fresh: bool) -> None:
    """Before training in ``run_dir``: move an earlier run aside (``fresh``), check
    writability (:class:`CheckpointError`), remove stale temp files.

    Called by :meth:`spikebit.train.trainer.Trainer.fit` before the trainer opens its
    logs (whose TensorBoard writer creates ``tensorboard/``), so every name of
    :data:`RUN_FILES` counts as an earlier run's.

    Args:
        run_dir: the run directory.
        fresh: a new run (not ``--resume``): an earlier run's files are moved aside.

    Raises:
        CheckpointError: the earlier run cannot be moved aside, or the folder is not
            writable.
    """
    run_dir = Path(run_dir)
    if fresh and run_dir.is_dir():
        found = run_files(run_dir)
        if found:
            move_aside(run_dir, f"files from an earlier run ({', '.join(found)}; use --resume "
                       "to continue it)")
    check_writable(run_dir)
    clean_stale_temps(run_dir)
