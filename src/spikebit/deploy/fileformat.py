"""The ``.sbit`` container: a safetensors file, the graph as JSON metadata.

Reading parses a JSON header and raw little-endian arrays (safetensors): nothing is
unpickled or executed. Writing is atomic (temp file, then rename, with
:func:`spikebit.export.files.write_atomic`), so a failed export never leaves a partial
file. See ``docs/deploy.md`` for every field.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import load_file, save

from spikebit.errors import CheckpointError

FORMAT = "spikebit-packed"
VERSION = 1
META_KEY = "spikebit.packed"


class PackedFileError(CheckpointError):
    """A ``.sbit`` file is missing, corrupt or of another format/version."""


def write_packed(path: str | Path, graph: dict[str, Any], tensors: dict[str, np.ndarray]) -> int:
    """Atomically write ``graph`` + ``tensors`` to ``path``; returns the file size in bytes."""
    from spikebit.export.files import write_atomic

    data = save(tensors, metadata={META_KEY: json.dumps(graph, separators=(",", ":"))})
    write_atomic(path, lambda tmp: tmp.write_bytes(data))
    return len(data)


def read_packed(path: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """``(graph, tensors)`` of the ``.sbit`` file at ``path``; :class:`PackedFileError` if it
    is missing, unreadable or of another format/version."""
    path = Path(path)
    if not path.is_file():
        raise PackedFileError(f"packed model {path} does not exist: write one with "
                              "'spikebit export CKPT --format packed -o model.sbit'")
    try:
        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
        tensors = load_file(str(path))
        graph = json.loads(meta[META_KEY])
    except (SafetensorError, OSError, ValueError, KeyError) as exc:
        raise PackedFileError(f"{path} is not a readable spikebit packed model ({exc}); "
                              "re-export it with 'spikebit export --format packed'") from None
    if graph.get("format") != FORMAT or graph.get("version") != VERSION:
        raise PackedFileError(f"{path}: format {graph.get('format')!r} version "
                              f"{graph.get('version')!r}; this spikebit reads {FORMAT} "
                              f"version {VERSION}")
    return graph, tensors
