"""Where a run computes and in which precision: device resolution, autocast, grad scaling.

``device`` strings (config key ``device``, CLI ``--device``):

* ``auto``: ``cuda`` when CUDA is available (under ``torchrun``: ``cuda:LOCAL_RANK``),
  else ``cpu``;
* ``cpu``, ``cuda``, ``cuda:N``, ``mps``.

``precision`` (config key ``precision``):

* ``fp32``: no autocast (the default; bit-for-bit the runs before this option existed);
* ``bf16`` / ``fp16``: forward and loss under :func:`torch.autocast` with that dtype;
  ``fp16`` adds a gradient scaler (:class:`torch.amp.GradScaler`). Parameters, optimizer
  state, BatchNorm statistics and LIF membrane state stay float32 (the fused LIF kernel
  computes in float32 and returns spikes, exactly 0/1, in the input dtype).

Every bad value is a :class:`~spikebit.errors.ConfigError` raised before training starts.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import itertools
import os
import re
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn

from spikebit.errors import CheckpointError, ConfigError
from spikebit.train.loader import head, model_input

PRECISIONS = ("fp32", "bf16", "fp16")
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
_PATTERN = re.compile(r"^(auto|cpu|mps|cuda)(?::(\d+))?$")


def cuda_count() -> int:
    """Number of visible CUDA devices (0 without CUDA)."""
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def mps_available() -> bool:
    """True when this PyTorch has a usable MPS (Apple GPU) backend."""
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def resolve_device(spec: str | torch.device | None = "auto") -> torch.device:
    """Turn a device string into a :class:`torch.device` that exists on this machine.

    Args:
        spec: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps`` (case and surrounding
            spaces ignored), a :class:`torch.device`, or ``None`` (= ``auto``).

    ``None`` and ``"auto"`` pick ``cuda:LOCAL_RANK`` (``LOCAL_RANK`` from ``torchrun``,
    default 0) when CUDA is available, else ``cpu``.

    Raises:
        ConfigError: unknown string, CUDA/MPS asked for but absent, or a CUDA index
            beyond the visible devices.
    """
    if isinstance(spec, torch.device):
        spec = str(spec)
    text = (spec or "auto").strip().lower()
    match = _PATTERN.match(text)
    if match is None:
        raise ConfigError(
            f"unknown device {spec!r}; use one of 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps' "
            "(e.g. --device cpu or 'device: cuda:0' in the config)."
        )
    kind, index = match.group(1), match.group(2)
    if kind in ("auto", "cpu", "mps") and index is not None:
        raise ConfigError(f"device {spec!r} takes no index; use {kind!r}.")
    count = cuda_count()
    if kind == "auto":
        if not count:
            return torch.device("cpu")
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")) % count)
    if kind == "cpu":
        return torch.device("cpu")
    if kind == "mps":
        if not mps_available():
            raise ConfigError(
                "device 'mps' was requested but this PyTorch has no usable MPS (Apple GPU) "
                "backend; use --device cpu (or device: auto)."
            )
        return torch.device("mps")
    if not count:
        raise ConfigError(
            f"device {spec!r} was requested but CUDA is not available on this machine "
            f"(torch {torch.__version__}, CUDA build: {torch.version.cuda or 'no'}); "
            "use --device cpu (or device: auto, which falls back to the CPU)."
        )
    if index is None:
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")) % count)
    if int(index) >= count:
        raise ConfigError(
            f"device {spec!r} does not exist: this machine has {count} CUDA device(s), "
            f"cuda:0..cuda:{count - 1}; pick one of those or use device: auto."
        )
    return torch.device("cuda", int(index))


def check_precision(precision: str, device: torch.device) -> torch.dtype:
    """Validate ``precision`` for ``device``.

    Args:
        precision: ``"fp32"``, ``"bf16"`` or ``"fp16"``.
        device: where training runs.

    Returns:
        The autocast dtype (``torch.float32``, ``torch.bfloat16`` or ``torch.float16``).

    Raises:
        ConfigError: an unknown precision, or a half precision the device cannot autocast to
            (e.g. ``bf16`` on a GPU without bfloat16 support).
    """
    if precision not in DTYPES:
        raise ConfigError(
            f"precision must be one of {', '.join(map(repr, PRECISIONS))}, got {precision!r}."
        )
    if device.type == "cuda" and precision == "bf16" and not torch.cuda.is_bf16_supported():
        raise ConfigError(
            f"precision 'bf16' needs a GPU with bfloat16 support, which {device} lacks; "
            "use precision: fp16 (with gradient scaling) or fp32."
        )
    return DTYPES[precision]


@contextlib.contextmanager
def autocast(device: torch.device, precision: str) -> Iterator[None]:
    """Autocast region for the forward pass and loss on ``device`` at ``precision``.

    Args:
        device: where the forward pass runs (its type selects the autocast backend).
        precision: ``"bf16"`` or ``"fp16"``; ``"fp32"`` makes the region a no-op.

    Yields:
        Nothing; ops inside run under ``torch.autocast`` at the precision's dtype.
    """
    if precision == "fp32":
        yield
        return
    with torch.autocast(device_type=device.type, dtype=DTYPES[precision]):
        yield


def make_scaler(device: torch.device, precision: str) -> torch.amp.GradScaler:
    """A gradient scaler for ``device``'s type, enabled only when ``precision`` is ``fp16``.

    bf16 has float32's exponent range and needs no scaling.

    Args:
        device: where training runs.
        precision: ``"fp32"``, ``"bf16"`` or ``"fp16"``.

    Returns:
        A ``torch.amp.GradScaler`` (a pass-through when disabled).
    """
    return torch.amp.GradScaler(device.type, enabled=precision == "fp16")


def probe_precision(
    model: nn.Module, sample: torch.Tensor, loss_fn: Any, labels: torch.Tensor,
    device: torch.device, precision: str,
) -> None:
    """Run one forward+backward of a copy of ``model`` under ``precision`` on ``sample``.

    Args:
        model: the network (not modified: a deep copy runs).
        sample: a small input batch on ``device`` (e.g. two training samples).
        loss_fn: ``loss_fn(output, labels) -> scalar``.
        labels: int64 ``[B]`` labels of ``sample``.
        device: where ``model`` and ``sample`` are.
        precision: ``fp32`` (nothing to check), ``bf16`` or ``fp16``.

    Finds ops without a half-precision kernel on this device *before* training starts
    (the model itself, its BatchNorm statistics and its RNG-free state are not touched).

    Raises:
        ConfigError: the probe failed in a half-precision kernel, naming the op's message.
    """
    if precision == "fp32":
        return
    probe = copy.deepcopy(model)
    try:
        with autocast(device, precision):
            out = probe(sample)
            loss = loss_fn(out, labels)
        loss.float().backward()
    except (RuntimeError, NotImplementedError, TypeError) as exc:
        raise ConfigError(
            f"precision {precision!r} does not run on {device}: {str(exc).splitlines()[0]}. "
            "Use precision: fp32 here (or bf16 on CPU, or train on a CUDA GPU)."
        ) from None
    finally:
        del probe


def preflight(model: nn.Module, train: Any, loss_fn: Callable[..., torch.Tensor],
              device: torch.device, precision: str) -> None:
    """Forward+backward a copy of ``model`` on 2 samples of ``train`` in ``precision``
    (:func:`probe_precision`), before anything is written. Nothing runs for ``fp32``.

    Args:
        model: the network, already on ``device``.
        train: the training set (an ``ArrayDataset`` or a map-style dataset); its first
            2 samples are the probe batch.
        loss_fn: the run's loss, called as ``loss_fn(output, labels)``.
        device: where ``model`` is and the probe runs.
        precision: ``"fp32"``, ``"bf16"`` or ``"fp16"`` (the config's ``precision``).

    Raises:
        ConfigError: an op has no kernel for that precision on ``device``.
    """
    if precision != "fp32":
        images, labels = head(train, 2)
        probe_precision(model, model_input(images.to(device)), loss_fn, labels.to(device),
                        device, precision)


def to_device(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Move batch tensor ``x`` to ``device`` (asynchronously from pinned memory on CUDA).

    Args:
        x: a batch tensor (images ``[B, C, H, W]``, frames, labels ``[B]``).
        device: the target device.

    Returns:
        ``x`` itself when already on ``device``, else its copy there.
    """
    if x.device == device:
        return x
    return x.to(device, non_blocking=device.type == "cuda" and x.is_pinned())


def model_device(model: nn.Module) -> torch.device:
    """Device of ``model``'s first parameter or buffer (the CPU for a stateless model).

    Args:
        model: any module.

    Returns:
        The device of its first parameter or buffer, or ``cpu`` when it has none.
    """
    for t in itertools.chain(model.parameters(), model.buffers()):
        return t.device
    return torch.device("cpu")


def checkpoint_device(spec: str | torch.device | None) -> torch.device:
    """Device to load a checkpoint onto (``map_location`` semantics).

    Args:
        spec: a device string as for :func:`resolve_device`; ``None`` means the CPU.

    Raises:
        CheckpointError: the device does not exist here (naming the fix).
    """
    if spec is None:
        return torch.device("cpu")
    try:
        return resolve_device(spec)
    except ConfigError as exc:
        raise CheckpointError(
            f"cannot load the checkpoint onto {spec!r}: {exc} Checkpoints are stored on the "
            "CPU and load anywhere: pass --device cpu."
        ) from None


def rng_state(device: torch.device) -> dict[str, torch.Tensor]:
    """Random-number state of ``device``'s generator (empty on CPU: the CPU one is saved apart)."""
    if device.type == "cuda":
        return {"rng.cuda": torch.cuda.get_rng_state(device)}
    return {}


def set_rng_state(tensors: dict[str, torch.Tensor], device: torch.device) -> None:
    """Restore what :func:`rng_state` saved (found in ``tensors``, a checkpoint's tensors)
    onto ``device``'s generator, when it was saved on the same kind of device."""
    state = tensors.get("rng.cuda")
    if state is not None and device.type == "cuda":
        torch.cuda.set_rng_state(state.cpu(), device)


_OVERRIDE: contextvars.ContextVar[str | None] = contextvars.ContextVar("spikebit_device",
                                                                        default=None)


@contextlib.contextmanager
def use_device(spec: str | None) -> Iterator[None]:
    """Within this block, runs and checkpoint loads use device ``spec`` instead of their
    config's ``device`` (``spikebit reproduce --device``, ``convert --device``).

    Args:
        spec: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``; ``None``
            changes nothing.

    Yields:
        Nothing; the override is reset on exit (per thread/context).
    """
    token = _OVERRIDE.set(spec)
    try:
        yield
    finally:
        _OVERRIDE.reset(token)


def requested_device(configured: str | None) -> str | None:
    """The device string in force: a :func:`use_device` override, else ``configured``.

    Args:
        configured: the config's ``device`` (or ``None``).

    Returns:
        The override when one is active, else ``configured``.
    """
    return _OVERRIDE.get() or configured


def _enter_fp32(module: nn.Module, args: tuple) -> None:
    w = next((a for a in args if torch.is_tensor(a)), None)
    kind = w.device.type if w is not None else "cpu"
    if torch.is_autocast_enabled(kind):
        ctx = torch.autocast(device_type=kind, enabled=False)
        ctx.__enter__()
        module.__dict__.setdefault("_fp32_contexts", []).append(ctx)
    else:
        module.__dict__.setdefault("_fp32_contexts", []).append(None)


def _exit_fp32(module: nn.Module, args: tuple, output: Any) -> None:
    ctx = module.__dict__.get("_fp32_contexts", [None]).pop()
    if ctx is not None:
        ctx.__exit__(None, None, None)


def fp32_quantizers(model: nn.Module) -> int:
    """Run every weight quantizer of ``model`` with autocast off (float32 statistics).

    Under autocast, the matmuls inside a quantizer (ABC-Net's least squares for its
    alphas, ``B B^T`` and ``B w``) would run in bfloat16/float16; forward hooks switch
    autocast off around each :class:`~spikebit.quant.quantizers.WeightQuantizer` call, so
    the effective weight is the float32 one (the layer's convolution still autocasts).
    Idempotent; returns the number of quantizers hooked.
    """
    from spikebit.quant.quantizers import WeightQuantizer

    hooked = 0
    for m in model.modules():
        if isinstance(m, WeightQuantizer) and not getattr(m, "_fp32_hooked", False):
            m.register_forward_pre_hook(_enter_fp32)
            m.register_forward_hook(_exit_fp32, always_call=True)
            m._fp32_hooked = True
            hooked += 1
    return hooked


def restore_device_state(trainer: Any, ckpt: Any) -> None:
    """Put what :meth:`Trainer.checkpoint` saved about the device back into ``trainer``:
    the CUDA generator state (``ckpt.tensors["rng.cuda"]``, when training on CUDA) and the
    fp16 gradient scaler (``ckpt.meta["device"]["scaler"]``, when fp16 is in use)."""
    set_rng_state(ckpt.tensors, getattr(trainer, "device", torch.device("cpu")))
    scaler = getattr(trainer, "scaler", None)
    saved = (ckpt.meta.get("device") or {}).get("scaler")
    if scaler is not None and saved and scaler.is_enabled():
        scaler.load_state_dict(saved)
