"""Safe, durable checkpoints: one safetensors file with JSON metadata, written atomically.

A checkpoint file holds the model tensors (``model.*``), optional optimizer and
callback tensors, and JSON metadata (``config``, ``metrics``, ``trainer``,
``quantize`` flags, ``provenance``). It is written to a temporary file in the
same directory, fsynced and renamed over the target, so a crash never leaves a
half-written checkpoint (a temp file left by a kill is removed by
:func:`clean_stale_temps` when the run starts again). Loading never unpickles anything.

Integrity: ``integrity`` in the metadata holds the SHA-256 of every tensor
(dtype, shape and bytes) and of the rest of the metadata; :func:`load_checkpoint`
verifies both (``verify=False`` or ``SPIKEBIT_VERIFY_CHECKPOINTS=0`` skips the
hashing for speed) and refuses non-finite values in any floating tensor.
Every failure is a :class:`~spikebit.errors.CheckpointError` naming the field.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from spikebit.errors import CheckpointError
from spikebit.provenance import PROVENANCE_KEY, environment
from spikebit.quant import quantized_layers
from spikebit.train.checkpoint_meta import validate_meta

FORMAT = "spikebit-checkpoint-1"
INTEGRITY = "integrity"
VERIFY_ENV = "SPIKEBIT_VERIFY_CHECKPOINTS"
TEMP_SUFFIX = ".tmp"


def _write_error(path: Path, exc: BaseException) -> CheckpointError:
    return CheckpointError(
        f"cannot write {path} ({type(exc).__name__}: {exc}); check that {path.parent} is a "
        "writable directory with free space (set out_dir elsewhere with --set out_dir=...)"
    )


def _temp_for(path: Path) -> str:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    os.close(fd)
    return tmp


def _commit(tmp: str, path: Path) -> None:
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file + fsync + rename (:class:`CheckpointError`).

    Args:
        path: destination file; parent folders are created.
        data: the complete file contents.

    Raises:
        CheckpointError: the folder is not writable or the disk is full (any
            ``OSError``); the temp file is removed.
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = _temp_for(path)
        with open(tmp, "wb") as f:
            f.write(data)
        _commit(tmp, path)
    except OSError as exc:
        raise _write_error(path, exc) from None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def atomic_write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as indented, key-sorted JSON atomically (see :func:`atomic_write_bytes`).

    Args:
        path: destination file; parent folders are created.
        obj: a JSON-serializable value.

    Raises:
        CheckpointError: the file cannot be written.
        TypeError: ``obj`` is not JSON-serializable (from :func:`json.dumps`).
    """
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def clean_stale_temps(folder: str | Path) -> list[Path]:
    """Remove temp files (``.NAME.*.tmp``) that a killed write left in ``folder``.

    Args:
        folder: a run directory (not searched recursively; a missing folder is fine).

    Returns:
        The removed files.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    stale = [p for p in folder.glob(".*" + TEMP_SUFFIX) if p.is_file()]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


@dataclass
class Checkpoint:
    """What a checkpoint file holds.

    Attributes:
        tensors: every tensor by name: ``model.*`` (the state dict), optionally
            ``optimizer.*`` and ``callback.<key>.*``.
        meta: JSON-able metadata by field (``format``, ``config``, ``metrics``,
            ``trainer``, ``quantize``, ``provenance``, ``integrity``, ...).
    """

    tensors: dict[str, torch.Tensor]
    meta: dict[str, Any] = field(default_factory=dict)

    def section(self, prefix: str) -> dict[str, torch.Tensor]:
        """Tensors under ``prefix.`` with the prefix stripped.

        Args:
            prefix: a section name without the dot, e.g. ``"model"``.

        Returns:
            The section's tensors keyed by the rest of their names.
        """
        n = len(prefix) + 1
        return {k[n:]: v for k, v in self.tensors.items() if k.startswith(prefix + ".")}


def tensor_digest(t: torch.Tensor) -> str:
    """SHA-256 of a tensor's dtype, shape and bytes (hex).

    Args:
        t: any tensor (copied to the CPU, contiguous).

    Returns:
        64 hex digits; equal for tensors with equal dtype, shape and bytes.
    """
    t = t.detach().cpu().contiguous()
    h = hashlib.sha256(f"{t.dtype}|{tuple(t.shape)}|".encode())
    if t.numel():
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _meta_digest(meta: dict[str, Any]) -> str:
    body = {k: v for k, v in meta.items() if k != INTEGRITY}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def nonfinite_tensors(tensors: dict[str, torch.Tensor]) -> list[str]:
    """Names of floating tensors holding NaN or inf (weights, buffers, optimizer state).

    Args:
        tensors: tensors by name; integer and bool tensors are skipped.

    Returns:
        The names of floating (or complex) tensors with a non-finite value, in order.
    """
    return [k for k, v in tensors.items()
            if (v.is_floating_point() or v.is_complex()) and not bool(torch.isfinite(v).all())]


def save_checkpoint(path: str | Path, ckpt: Checkpoint) -> None:
    """Atomically write ``ckpt`` to ``path`` with provenance and integrity hashes.

    Tensors are moved to the CPU; ``provenance`` (:func:`spikebit.provenance.environment`)
    is added unless present, and ``integrity`` records a SHA-256 of every tensor and of
    the other metadata.

    Args:
        path: destination ``.safetensors`` file; parent folders are created.
        ckpt: the tensors and metadata to write.

    Raises:
        CheckpointError: metadata that is not plain JSON, or any write failure
            (read-only folder, full disk).
    """
    path = Path(path)
    tensors = {k: v.detach().contiguous().cpu() for k, v in ckpt.tensors.items()}
    meta = dict(ckpt.meta)
    meta.setdefault(PROVENANCE_KEY, environment())
    meta.pop(INTEGRITY, None)
    meta[INTEGRITY] = {"tensors": {k: tensor_digest(v) for k, v in tensors.items()},
                       "meta": _meta_digest(meta)}
    try:
        encoded = {k: json.dumps(v) for k, v in meta.items()}
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint metadata for {path} is not plain JSON: {exc}") from None
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = _temp_for(path)
        save_file(tensors, tmp, metadata=encoded)
        _commit(tmp, path)
    except (OSError, SafetensorError) as exc:
        raise _write_error(path, exc) from None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def _verify(path: Path, ckpt: Checkpoint) -> None:
    record = ckpt.meta.get(INTEGRITY)
    if record is None:
        return  # written before hashes were recorded
    fix = ("the file was modified or damaged after it was written; use the run's other "
           "checkpoint (last/best.safetensors) or retrain")
    if not isinstance(record, dict) or not isinstance(record.get("tensors"), dict):
        raise CheckpointError(f"checkpoint {path}: metadata field 'integrity' is malformed; {fix}")
    hashes = record["tensors"]
    if set(hashes) != set(ckpt.tensors):
        diff = sorted(set(hashes) ^ set(ckpt.tensors))[:3]
        raise CheckpointError(
            f"checkpoint {path}: the tensors {diff} do not match the recorded tensor list "
            f"(metadata 'integrity'); {fix}"
        )
    for name, tensor in ckpt.tensors.items():
        if tensor_digest(tensor) != hashes[name]:
            raise CheckpointError(
                f"checkpoint {path}: tensor {name!r} fails its SHA-256 check; {fix}"
            )
    if record.get("meta") != _meta_digest(ckpt.meta):
        raise CheckpointError(
            f"checkpoint {path}: the metadata fails its SHA-256 check (a field such as "
            f"'config', 'quantize' or 'trainer' was changed); {fix}"
        )


def verify_enabled() -> bool:
    """Hash verification on load (off with ``SPIKEBIT_VERIFY_CHECKPOINTS=0``).

    Returns:
        ``False`` when the variable is ``0``, ``false``, ``no`` or ``off`` (any case),
        else ``True``.
    """
    return os.environ.get(VERIFY_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def load_checkpoint(path: str | Path, verify: bool | None = None) -> Checkpoint:
    """Read, verify and validate a checkpoint.

    Nothing is unpickled: tensors come from safetensors, metadata from JSON.

    Args:
        path: a ``.safetensors`` checkpoint, or a run directory (its
            ``last.safetensors`` is read).
        verify: check the SHA-256 hashes; ``None`` uses :func:`verify_enabled`.

    Returns:
        The loaded :class:`Checkpoint` (tensors on the CPU, metadata decoded).

    Raises:
        CheckpointError: the file is missing, unreadable, fails its hashes, has
            malformed metadata or holds non-finite floating tensors.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "last.safetensors"
    if not path.is_file():
        raise CheckpointError(
            f"checkpoint {path} does not exist: pass a .safetensors file written by "
            "'spikebit train' (e.g. runs/NAME/best.safetensors) or its run directory"
        )
    try:
        tensors = load_file(str(path))
        with safe_open(str(path), framework="pt") as f:
            raw = f.metadata() or {}
        meta = {k: json.loads(v) for k, v in raw.items()}
    except (SafetensorError, OSError, ValueError, RecursionError, MemoryError) as exc:
        raise CheckpointError(
            f"checkpoint {path} is unreadable or corrupt ({exc}); use another checkpoint "
            "(the run directory keeps last.safetensors and best.safetensors)"
        ) from None
    ckpt = Checkpoint(tensors, meta)
    if verify_enabled() if verify is None else verify:
        _verify(path, ckpt)
    validate_meta(meta, tensors, str(path))
    bad = nonfinite_tensors(tensors)
    if bad:
        raise CheckpointError(
            f"checkpoint {path} holds NaN/inf values in {bad[:5]}"
            f"{f' and {len(bad) - 5} more' if len(bad) > 5 else ''}; the run diverged before "
            "it was written: use an earlier checkpoint or retrain with a lower learning rate"
        )
    return ckpt


def model_tensors(model: nn.Module) -> dict[str, torch.Tensor]:
    """The model's state dict with every key under ``model.`` (checkpoint naming).

    Args:
        model: the network.

    Returns:
        ``{"model.<key>": tensor}`` for every parameter and buffer (not copied).
    """
    return {f"model.{k}": v for k, v in model.state_dict().items()}


def quantize_flags(model: nn.Module) -> dict[str, bool]:
    """Per-layer ``quantize`` flags (chosen at run time, e.g. by the ALBSNN selector).

    Args:
        model: the network.

    Returns:
        ``{layer name: quantize}`` for every quantized layer of ``model``.
    """
    return {name: bool(layer.quantize) for name, layer in quantized_layers(model)}


def restore_model(model: nn.Module, ckpt: Checkpoint) -> None:
    """Load model tensors and quantize flags from ``ckpt`` into ``model``.

    Shapes and dtypes must match the model exactly (no silent casts), and the
    quantize flags must name exactly the model's quantized layers.

    Args:
        model: a network built from the checkpoint's config; changed in place.
        ckpt: the loaded checkpoint.

    Raises:
        CheckpointError: missing or unexpected tensors, a shape or dtype mismatch,
            or ``quantize`` flags naming other layers.
    """
    saved = ckpt.section("model")
    expected = model.state_dict()
    missing = sorted(set(expected) - set(saved))
    unexpected = sorted(set(saved) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            "checkpoint does not match the model built from its config: missing tensors "
            f"{['model.' + k for k in missing[:5]]}, "
            f"unexpected {['model.' + k for k in unexpected[:5]]}"
        )
    for key, ref in expected.items():
        got = saved[key]
        if got.shape != ref.shape or got.dtype != ref.dtype:
            raise CheckpointError(
                f"checkpoint tensor 'model.{key}' is {got.dtype} {tuple(got.shape)}, the model "
                f"expects {ref.dtype} {tuple(ref.shape)}; the checkpoint does not belong to "
                "this model"
            )
    model.load_state_dict(saved)
    flags = ckpt.meta.get("quantize", {})
    layers = dict(quantized_layers(model))
    if flags and set(flags) != set(layers):
        raise CheckpointError(
            f"checkpoint metadata field 'quantize' names layers {sorted(flags)[:5]} but the model "
            f"has quantized layers {sorted(layers)[:5]}; the metadata belongs to another model"
        )
    for name, layer in layers.items():
        if name in flags:
            layer.quantize = bool(flags[name])


__all__ = [
    "Checkpoint", "atomic_write_bytes", "atomic_write_json", "clean_stale_temps",
    "load_checkpoint", "model_tensors", "nonfinite_tensors", "quantize_flags",
    "restore_model", "save_checkpoint", "tensor_digest",
]
