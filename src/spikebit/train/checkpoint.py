"""Safe, durable checkpoints: one safetensors file with JSON metadata, written atomically.

A checkpoint file holds the model tensors (``model.*``), optional optimizer and
callback tensors, and JSON metadata (``config``, ``metrics``, ``trainer``,
``quantize`` flags). It is written to a temporary file in the same directory,
fsynced and renamed over the target, so a crash never leaves a half-written
checkpoint. Loading never unpickles anything.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from spikebit.errors import CheckpointError
from spikebit.quant import quantized_layers


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file + fsync + rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


@dataclass
class Checkpoint:
    """What a checkpoint file holds."""

    tensors: dict[str, torch.Tensor]
    meta: dict[str, Any] = field(default_factory=dict)

    def section(self, prefix: str) -> dict[str, torch.Tensor]:
        """Tensors under ``prefix.`` with the prefix stripped."""
        n = len(prefix) + 1
        return {k[n:]: v for k, v in self.tensors.items() if k.startswith(prefix + ".")}


def save_checkpoint(path: str | Path, ckpt: Checkpoint) -> None:
    """Atomically write ``ckpt`` to ``path`` (safetensors)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {k: json.dumps(v) for k, v in ckpt.meta.items()}
    tensors = {k: v.detach().contiguous().cpu() for k, v in ckpt.tensors.items()}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=meta)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint; a clear :class:`CheckpointError` if it is missing or unreadable."""
    path = Path(path)
    if path.is_dir():
        path = path / "last.safetensors"
    if not path.exists():
        raise CheckpointError(
            f"checkpoint {path} does not exist: pass a .safetensors file written by "
            "'spikebit train' (e.g. runs/NAME/best.safetensors) or its run directory"
        )
    try:
        tensors = load_file(str(path))
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            raw = f.metadata() or {}
        meta = {k: json.loads(v) for k, v in raw.items()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(
            f"checkpoint {path} is unreadable or corrupt ({exc}); use another checkpoint "
            "(the run directory keeps last.safetensors and best.safetensors)"
        ) from None
    return Checkpoint(tensors, meta)


def model_tensors(model: nn.Module) -> dict[str, torch.Tensor]:
    return {f"model.{k}": v for k, v in model.state_dict().items()}


def quantize_flags(model: nn.Module) -> dict[str, bool]:
    """Per-layer ``quantize`` flags (chosen at run time, e.g. by the ALBSNN selector)."""
    return {name: bool(layer.quantize) for name, layer in quantized_layers(model)}


def restore_model(model: nn.Module, ckpt: Checkpoint) -> None:
    """Load model tensors and quantize flags from ``ckpt`` into ``model``."""
    try:
        model.load_state_dict(ckpt.section("model"))
    except RuntimeError as exc:
        raise CheckpointError(
            f"checkpoint does not match the model built from its config: {exc}"
        ) from None
    flags = ckpt.meta.get("quantize", {})
    for name, layer in quantized_layers(model):
        if name in flags:
            layer.quantize = bool(flags[name])


def optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """Split an optimizer state dict into tensors and JSON-able parts."""
    sd = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, state in sd["state"].items():
        for key, value in state.items():
            if torch.is_tensor(value):
                tensors[f"optim.{idx}.{key}"] = value
            else:
                scalars.setdefault(str(idx), {})[key] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def restore_optimizer(optimizer: torch.optim.Optimizer, ckpt: Checkpoint) -> None:
    info = ckpt.meta["optimizer"]
    state: dict[int, dict[str, Any]] = {}
    for key, value in ckpt.section("optim").items():
        idx, name = key.split(".", 1)
        state.setdefault(int(idx), {})[name] = value
    for idx, extra in info["scalars"].items():
        state.setdefault(int(idx), {}).update(extra)
    optimizer.load_state_dict({"state": state, "param_groups": info["param_groups"]})
