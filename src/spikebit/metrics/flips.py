"""Weight sign flip ratio (AGMM eq. 8, Helwegen et al. 2019).

Per layer ``l`` between two snapshots ``W_a``, ``W_b``::

    FR_l = sum |sign(W_b) - sign(W_a)| / (2 * numel(W_l))

i.e. the fraction of weights whose sign changed (``sign(0) = +1``, as in the
``sign`` quantizer). The :class:`FlipRatio` callback records it for every
quantized layer per epoch (and per optimizer step on request).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from spikebit.errors import ShapeError
from spikebit.plotting import new_figure
from spikebit.quant import quantized_layers
from spikebit.train.callbacks import CALLBACKS, Callback

if TYPE_CHECKING:
    from spikebit.train.trainer import Trainer


def weight_signs(w: torch.Tensor) -> torch.Tensor:
    """``sign(w)`` as int8 with ``sign(0) = +1`` (the binarizer's convention).

    Args:
        w: a weight tensor, any shape (detached).

    Returns:
        int8 ``+1``/``-1`` of the shape of ``w``.
    """
    return torch.where(w.detach() >= 0, 1, -1).to(torch.int8)


def flip_ratio(before: torch.Tensor, after: torch.Tensor) -> float:
    """Fraction of entries whose sign differs between two weight (or sign) tensors.

    AGMM eq. 8 for one layer: ``FR = sum |sign(W_b) - sign(W_a)| / (2 numel)``, with
    ``sign(0) = +1``.

    Args:
        before: weights (or int8 signs) of one layer at the earlier snapshot, any shape.
        after: the same layer at the later snapshot, same shape.

    Returns:
        The flip ratio in ``[0, 1]`` (0.0 for empty tensors).

    Raises:
        ShapeError: the two snapshots differ in shape.
    """
    if before.shape != after.shape:
        raise ShapeError(f"flip_ratio needs two snapshots of one layer (same shape), got "
                         f"{tuple(before.shape)} and {tuple(after.shape)}")
    if before.numel() == 0:
        return 0.0
    flips = (weight_signs(before).to(after.device) != weight_signs(after)).sum()
    return float(flips) / before.numel()


def layer_signs(model: nn.Module, include_full_precision: bool = False) -> dict[str, torch.Tensor]:
    """Signs of the latent weights of quantized layers (``quantize`` on), by layer name.

    Args:
        model: a model with :class:`~spikebit.quant.QuantizedMixin` layers.
        include_full_precision: also layers whose ``quantize`` flag is off.

    Returns:
        ``{layer name: int8 signs (+1/-1) of the shape of its weight}``.
    """
    return {name: weight_signs(layer.weight) for name, layer in quantized_layers(model)
            if include_full_precision or layer.quantize}


def flip_ratios(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Per-layer ratios, their unweighted ``mean`` and the weight-weighted ``overall``.

    AGMM eq. 8 per layer (:func:`flip_ratio`).

    Args:
        before: ``{layer name: weights or signs}`` at the earlier snapshot
            (e.g. :func:`layer_signs`).
        after: the same layers at the later snapshot.

    Returns:
        ``{"layers": {name: ratio}, "mean": float, "overall": float}`` (ratios in
            ``[0, 1]``; 0.0 when there are no layers or weights).

    Raises:
        ShapeError: the snapshots name different layers, or a layer's shapes differ.
    """
    if before.keys() != after.keys():
        raise ShapeError(f"flip_ratios: snapshots name different layers: {sorted(before)} vs "
                         f"{sorted(after)}")
    layers = {name: flip_ratio(before[name], after[name]) for name in after}
    total = sum(t.numel() for t in after.values())
    flipped = sum(layers[n] * after[n].numel() for n in after)
    return {"layers": layers,
            "mean": sum(layers.values()) / len(layers) if layers else 0.0,
            "overall": flipped / total if total else 0.0}


@CALLBACKS.register("flip-ratio")
class FlipRatio(Callback):
    """Record sign flip ratios of quantized layers into ``metrics["flip_ratio"]``.

    Per epoch: ``{"layers": {name: ratio}, "mean", "overall"}`` against the
    signs at the previous epoch's end (the initial weights for epoch 1), plus
    ``metrics["flip_ratio_mean"]`` for the CSV log. ``every_step=True`` adds
    ``"steps"``: ``{"mean": [...], "layers": {name: [...]}}``, one entry per
    optimizer step against the previous step. ``include_full_precision`` also
    tracks layers whose ``quantize`` flag is off (first conv, last FC).
    AGMM eq. 8 (Helwegen et al. 2019).

    Args:
        every_step: also record ratios per optimizer step.
        include_full_precision: also track layers whose ``quantize`` flag is off.
    """

    def __init__(self, every_step: bool = False, include_full_precision: bool = False) -> None:
        self.every_step = bool(every_step)
        self.include_full_precision = bool(include_full_precision)
        self._epoch_ref: dict[str, torch.Tensor] | None = None
        self._step_ref: dict[str, torch.Tensor] | None = None
        self._steps: list[dict[str, Any]] = []

    def _signs(self, trainer: Trainer) -> dict[str, torch.Tensor]:
        return layer_signs(trainer.model, self.include_full_precision)

    def on_train_start(self, trainer: Trainer) -> None:
        """Take the initial sign snapshot (kept when resumed from a checkpoint).

        Args:
            trainer: the running trainer (its ``model``).
        """
        if self._epoch_ref is None:
            self._epoch_ref = self._signs(trainer)
        if self._step_ref is None:
            self._step_ref = self._epoch_ref

    def on_step_end(self, trainer: Trainer, step: int, loss: float) -> None:
        """With ``every_step``, record the flip ratios against the previous step.

        Args:
            trainer: the running trainer (its ``model``).
            step: the global optimizer step (unused).
            loss: the step's loss (unused).
        """
        if not self.every_step:
            return
        now = self._signs(trainer)
        self._steps.append(flip_ratios(self._step_ref or now, now))
        self._step_ref = now

    def on_epoch_end(self, trainer: Trainer, epoch: int, metrics: dict[str, Any]) -> None:
        """Add ``metrics["flip_ratio"]`` (see the class) and ``metrics["flip_ratio_mean"]``.

        Args:
            trainer: the running trainer (its ``model``).
            epoch: the finished epoch (unused).
            metrics: the epoch's metrics, updated in place.
        """
        now = self._signs(trainer)
        record = flip_ratios(self._epoch_ref or now, now)
        if self.every_step:
            names = list(now)
            record["steps"] = {
                "mean": [s["mean"] for s in self._steps],
                "layers": {n: [s["layers"][n] for s in self._steps] for n in names},
            }
        metrics["flip_ratio"] = record
        metrics["flip_ratio_mean"] = record["mean"]
        self._epoch_ref, self._step_ref, self._steps = now, now, []

    def state_dict(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Sign snapshots as tensors ``epoch.NAME`` / ``step.NAME`` and the settings."""
        tensors = {f"epoch.{n}": t for n, t in (self._epoch_ref or {}).items()}
        if self._step_ref is not None and self._step_ref is not self._epoch_ref:
            tensors.update({f"step.{n}": t.clone() for n, t in self._step_ref.items()})
        return tensors, {"every_step": self.every_step,
                         "include_full_precision": self.include_full_precision}

    def load_state_dict(self, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
        """Restore the sign snapshots of :meth:`state_dict` (per-step history restarts).

        Args:
            tensors: ``epoch.NAME`` / ``step.NAME`` sign tensors.
            meta: the JSON state (not applied: the constructor's settings are kept).
        """
        refs: dict[str, dict[str, torch.Tensor]] = {"epoch": {}, "step": {}}
        for key, t in tensors.items():
            kind, name = key.split(".", 1)
            refs[kind][name] = t.to(torch.int8)
        self._epoch_ref = refs["epoch"] or None
        self._step_ref = refs["step"] or self._epoch_ref
        self._steps = []


def epoch_curve(history: list[dict[str, Any]], key: str = "mean") -> list[float]:
    """Per-epoch flip ratio (``mean`` or ``overall``) from a trainer's metric history.

    Args:
        history: per-epoch metrics dicts; epochs without ``"flip_ratio"`` are skipped.
        key: ``"mean"`` (unweighted over layers) or ``"overall"`` (weighted by weights).

    Returns:
        One ratio in ``[0, 1]`` per recorded epoch.
    """
    return [h["flip_ratio"][key] for h in history if "flip_ratio" in h]


def plot_flip_ratios(curves: dict[str, list[float]], path: str | Path,
                     title: str = "Weight sign flip ratio", xlabel: str = "epoch") -> Path | None:
    """Plot one flip-ratio curve per run (x from 1) to a PNG at ``path``.

    Args:
        curves: ``{run label: flip ratios per epoch}``.
        path: the PNG file to write (parent folders are created).
        title: the plot title.
        xlabel: the x-axis label.

    Returns:
        The path, or ``None`` (after a one-line warning) without matplotlib.
    """
    path = Path(path)
    fig = new_figure(path.name, figsize=(5, 3.5))
    if fig is None:
        return None
    from matplotlib.ticker import MaxNLocator

    path.parent.mkdir(parents=True, exist_ok=True)
    ax = fig.subplots()
    for label, ys in curves.items():
        ax.plot(range(1, len(ys) + 1), ys, marker="o" if len(ys) < 30 else None, label=label)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(xlabel)
    ax.set_ylabel("flip ratio")
    ax.set_title(title)
    if all(y > 0 for ys in curves.values() for y in ys):
        ax.set_yscale("log")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path
