"""A run's model and callbacks, built from its config, and the model back from a checkpoint.

The model itself comes from :func:`spikebit.models.build_model` (the one model builder):
the config's ``model.args`` are its overrides, the data's ``in_shape``/``num_classes``
its defaults. With ``data.normalize`` the model is wrapped in :class:`Normalized`, whose
mean and std are saved with the weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from spikebit.errors import CheckpointError
from spikebit.models import build_model
from spikebit.registry import build_component, import_plugins
from spikebit.train.callbacks import CALLBACKS, Callback
from spikebit.train.checkpoint import Checkpoint, load_checkpoint, restore_model
from spikebit.train.config import config_from_dict
from spikebit.train.device import checkpoint_device, requested_device
from spikebit.train.schema import RunConfig
from spikebit.train.seeds import seed_everything


class Normalized(nn.Module):
    """``model((x - mean) / std)`` with fixed per-channel statistics.

    ``mean`` and ``std`` are buffers (``mean``, ``std``; ``model.mean`` and ``model.std``
    in a checkpoint of the wrapped network), so they are saved and restored with the
    weights.

    Args:
        model: the wrapped network.
        mean: one value per input channel ``C``.
        std: one value per input channel ``C`` (non-zero).
    """

    def __init__(self, model: nn.Module, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.model = model
        shape = (-1,) + (1,) * 2
        self.register_buffer("mean", torch.tensor(list(mean)).reshape(shape))
        self.register_buffer("std", torch.tensor(list(std)).reshape(shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalize ``x`` per channel, then run the model.

        Args:
            x: images ``[B, C, H, W]`` or a sequence ``[T, B, C, H, W]``.

        Returns:
            The wrapped model's output on ``(x - mean) / std``.
        """
        return self.model((x - self.mean) / self.std)


def model_from_config(config: RunConfig, in_shape: Sequence[int], num_classes: int,
                      norm: tuple[Sequence[float], Sequence[float]] | None = None) -> nn.Module:
    """The zoo model named in ``config.model``, with the data's shape and classes filled in.

    ``in_shape`` and ``num_classes`` are passed to the model factory when it accepts
    them and ``config.model.args`` does not set them
    (:func:`spikebit.models.build_model`'s ``defaults``).

    Args:
        config: the run config (``model.name``, ``model.args``).
        in_shape: per-sample input shape ``(C, H, W)`` (one time step for event frames).
        num_classes: number of output classes ``K``.
        norm: per-channel ``(mean, std)`` to wrap the model in :class:`Normalized`, or
            ``None`` for the bare model.

    Returns:
        The model, on the CPU.

    Raises:
        RegistryError: an unknown model name.
        ConfigError: the factory refuses its arguments.
    """
    model = build_model(config.model.name,
                        defaults={"in_shape": tuple(in_shape), "num_classes": int(num_classes)},
                        **config.model.args)
    return model if norm is None else Normalized(model, *norm)


def build_callbacks(config: RunConfig) -> list[Callback]:
    """The callbacks listed in ``config.callbacks``, built from their registered names.

    Each callback's ``config_name`` is set to its name, which keys its checkpoint state.

    Args:
        config: the run config; ``callbacks`` is a list of ``{name, args}`` entries.

    Returns:
        A list of one :class:`~spikebit.train.callbacks.Callback` per entry, in config
        order.

    Raises:
        RegistryError: an unknown callback name.
        ConfigError: a callback refuses its arguments.
    """
    callbacks = []
    for c in config.callbacks:
        cb = build_component(CALLBACKS.get(c.name), c.args, f"callback {c.name!r}")
        cb.config_name = c.name  # its checkpoint key (see callbacks.callback_keys)
        callbacks.append(cb)
    return callbacks


def model_from_checkpoint(
    path: str | Path, device: str | torch.device | None = None
) -> tuple[nn.Module, RunConfig, Checkpoint]:
    """Rebuild the model recorded in a checkpoint and load its weights (no data needed).

    The model is built from the checkpoint's ``config`` and ``input`` metadata
    (defaults ``in_shape = (1, 28, 28)``, ``num_classes = 10`` when absent), with the
    normalization wrapper when the checkpoint holds one.

    Args:
        path: a ``.safetensors`` checkpoint or a run directory.
        device: where the model lands (``map_location`` semantics; default: the CPU,
            or a :func:`~spikebit.train.device.use_device` override), whatever device
            trained it.

    Returns:
        ``(model, config, ckpt)``: the model with the saved weights and ``quantize``
        flags on ``device``, the run config, and the loaded checkpoint.

    Raises:
        CheckpointError: ``device`` does not exist here, or the file is missing,
            corrupt, lacks ``config``, or does not match the model its config builds.
        ConfigError: the recorded config is invalid or a plugin cannot be imported.
    """
    target = checkpoint_device(requested_device(device))
    ckpt = load_checkpoint(path)
    if "config" not in ckpt.meta:
        raise CheckpointError(f"checkpoint {path} lacks the metadata section 'config'; it was "
                              "not written by 'spikebit train' (or was edited)")
    config = config_from_dict(ckpt.meta["config"])
    import_plugins(config.imports)
    shape = ckpt.meta.get("input", {})
    seed_everything(config.seed)
    norm = None
    if "model.mean" in ckpt.tensors:  # the saved statistics replace these placeholders
        channels = ckpt.tensors["model.mean"].numel()
        norm = ([0.0] * channels, [1.0] * channels)
    model = model_from_config(config, tuple(shape.get("in_shape", (1, 28, 28))),
                              int(shape.get("num_classes", 10)), norm)
    restore_model(model, ckpt)
    return model.to(target), config, ckpt
