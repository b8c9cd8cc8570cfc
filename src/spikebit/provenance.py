"""What produced a number: the software, the machine and the threads it ran on.

Results files (``results/*.json``, ``metrics.json``) and checkpoints carry
:func:`environment` under the key ``provenance``. Identical code can give
different numbers on a different CPU kernel path or thread count (e.g. the demo
config at 3,000 images and 1 epoch: 51.2% with 2 threads, 49.9% with 1), so a
number is only comparable with others produced in the same environment.
"""

from __future__ import annotations

import functools
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import torch

PROVENANCE_KEY = "provenance"


@functools.lru_cache(maxsize=1)
def _git_commit() -> dict[str, Any]:
    """Commit of the source tree spikebit is imported from (``None`` outside a checkout)."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5
        )
        if commit.returncode != 0:
            return {"commit": None, "dirty": None}
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", str(here)],
            cwd=here, capture_output=True, text=True, timeout=5,
        )
        return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


@functools.lru_cache(maxsize=1)
def cpu_model() -> str:
    """The CPU's marketing name (``/proc/cpuinfo`` on Linux, else :mod:`platform`).

    Returns:
        The ``model name`` line of ``/proc/cpuinfo``, else ``platform.processor()``
        or ``platform.machine()`` (cached after the first call).
    """
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _spikebit_version() -> str:
    import spikebit  # the imported code's own version, also for editable installs

    return spikebit.__version__


def _device() -> str:
    if torch.cuda.is_available():
        return f"cuda: {torch.cuda.get_device_name(torch.cuda.current_device())}"
    return "cpu"


def environment() -> dict[str, Any]:
    """Software versions, source commit, CPU model and instruction set, threads, device.

    ``cpu_capability`` is the instruction set torch's CPU kernels dispatch to
    (``torch.backends.cpu.get_cpu_capability()``, e.g. ``AVX2``, ``AVX512``).

    Returns:
        A JSON-able dict with ``spikebit``, ``git_commit``, ``git_dirty`` (``None``
        outside a git checkout), ``torch``, ``numpy``, ``python``, ``platform``,
        ``cpu``, ``cpu_capability``, ``cpu_count``, ``threads`` (torch intra-op
        threads) and ``device`` (``"cpu"`` or ``"cuda: <name>"``).
    """
    import numpy as np

    git = _git_commit()
    return {
        "spikebit": _spikebit_version(),
        "git_commit": git["commit"],
        "git_dirty": git["dirty"],
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_count": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "device": _device(),
    }


def with_provenance(result: dict[str, Any]) -> dict[str, Any]:
    """``result`` plus ``provenance`` (an existing one, e.g. copied from a checkpoint, is kept).

    Args:
        result: a JSON-able results record.

    Returns:
        ``result`` itself when it already has ``provenance``, else a new dict with
        :func:`environment` added under ``provenance``.
    """
    if PROVENANCE_KEY in result:
        return result
    return {**result, PROVENANCE_KEY: environment()}


def describe(prov: dict[str, Any] | None) -> str:
    """One line for ``spikebit info`` from ``prov`` (a checkpoint's ``provenance``).

    Args:
        prov: a dict written by :func:`environment`, or ``None``/empty for files
            written before provenance was recorded.

    Returns:
        E.g. ``"spikebit 0.1.0 (0123456789ab+dirty), torch 2.x, <cpu> [AVX2], 2
        threads, device cpu"``.
    """
    if not prov:
        return "unknown (written before provenance was recorded)"
    commit = prov.get("git_commit") or "unknown commit"
    commit = commit[:12] + ("+dirty" if prov.get("git_dirty") else "")
    return (f"spikebit {prov.get('spikebit')} ({commit}), torch {prov.get('torch')}, "
            f"{prov.get('cpu')} [{prov.get('cpu_capability')}], {prov.get('threads')} threads, "
            f"device {prov.get('device')}")


def write_result_json(path: str | Path, result: dict[str, Any]) -> None:
    """Atomically write ``result`` to ``path`` with :func:`environment` under ``provenance``.

    Args:
        path: destination ``.json`` file; parent folders are created.
        result: a JSON-able results record (an existing ``provenance`` is kept).

    Raises:
        CheckpointError: the file cannot be written.
    """
    from spikebit.train.checkpoint import atomic_write_json

    atomic_write_json(Path(path), with_provenance(result))
