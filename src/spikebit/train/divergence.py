"""Stop training on divergence, with the step, the cause and a truthful note on what is kept.

Training has diverged when, at any step,

* the loss is NaN or inf,
* the gradient norm is NaN or inf,
* a weight or buffer (e.g. BatchNorm ``running_var``) is NaN or inf after the update, or
* the loss exceeds ``BLOWUP_FACTOR`` (10^3) times the reference loss, the loss of the
  first step of this process (before any update of this process; at least 0.1).
  Cross-entropy starts near ``ln(classes)`` (2.3 for 10 classes) and only falls in a
  working run, so a loss of 10^3 times its start happens only when the updates have
  blown up (SGD at lr 10^3 on the test suite's toy set: 0.72 at step 0, 954 at step 1).

Before a checkpoint is written every tensor in it (weights, buffers, optimizer state,
callback state) is checked too, so a checkpoint on disk never holds NaN/inf.

With a gradient scaler (fp16 mixed precision), where an occasional inf gradient only
makes the scaler skip the step, :meth:`DivergenceMonitor.check_grads` belongs after
unscaling and only on steps the scaler applies.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn

from spikebit.errors import SpikebitError, TrainingError

BLOWUP_FACTOR = 1e3
_ADVICE = ("Try a lower learning rate (--set optim.lr=...) or gradient clipping "
           "(--set optim.grad_clip=1.0).")


def kept_note(run_dir: Path) -> str:
    """What ``run_dir`` holds now, checked (not assumed) to be finite and loadable.

    Args:
        run_dir: the run directory; its ``last.safetensors`` is loaded and verified.

    Returns:
        One or two sentences for the stop message: no checkpoint, an unusable one
        (with the reason), or the last good one and its epoch.
    """
    from spikebit.train.checkpoint import load_checkpoint

    last = run_dir / "last.safetensors"
    if not last.is_file():
        return (f"No checkpoint was written in {run_dir} (the run diverged before its first "
                "epoch ended).")
    try:
        epoch = load_checkpoint(last).meta.get("trainer", {}).get("epoch", "?")
    except SpikebitError as exc:
        return f"The checkpoint {last} is not usable either: {exc}."
    return (f"The last good checkpoint, {last} (epoch {epoch}, all tensors finite), is kept; "
            "continue from it with --resume.")


def _flat_norm(tensors: list[torch.Tensor]) -> float:
    if not tensors:
        return 0.0
    return float(torch.linalg.vector_norm(
        torch.stack([torch.linalg.vector_norm(t.detach().float()) for t in tensors])))


class DivergenceMonitor:
    """Checks each step's loss, gradients and updated tensors (see the module docstring).

    Every check raises :class:`TrainingError` with the epoch (0-based ``epoch`` shown
    1-based), the global ``step`` and the cause.

    Args:
        model: the trained module (its gradients, parameters and buffers are checked).
        run_dir: the run directory, described in the stop message (:func:`kept_note`).
    """

    def __init__(self, model: nn.Module, run_dir: Path) -> None:
        self.model, self.run_dir = model, run_dir
        self.reference: float | None = None

    def _stop(self, epoch: int, step: int, cause: str) -> TrainingError:
        return TrainingError(
            f"training diverged: {cause} at epoch {epoch + 1}, step {step}; training stopped. "
            f"{kept_note(self.run_dir)} {_ADVICE}"
        )

    def check_loss(self, loss: torch.Tensor, epoch: int, step: int) -> None:
        """``loss`` (scalar) finite and below the blow-up bound at ``epoch``, ``step``.

        The first call sets the reference loss (``max(loss, 0.1)``).

        Args:
            loss: the step's scalar loss.
            epoch: 0-based epoch, for the message.
            step: global step, for the message.

        Raises:
            TrainingError: the loss is NaN/inf, or above ``BLOWUP_FACTOR`` (10^3)
                times the reference.
        """
        value = float(loss.detach())
        if not math.isfinite(value):
            raise self._stop(epoch, step, f"loss became {value}")
        if self.reference is None:
            self.reference = max(value, 0.1)
            return
        reference = self.reference
        if value > BLOWUP_FACTOR * reference:
            raise self._stop(epoch, step, f"the loss {value:.4g} exceeds {BLOWUP_FACTOR:g} times "
                             f"its starting value {reference:.4g} (loss blow-up)")

    def check_grads(self, epoch: int, step: int, norm: float | None = None) -> None:
        """The gradient ``norm`` (computed when ``None``) is finite at ``epoch``, ``step``.

        Args:
            epoch: 0-based epoch, for the message.
            step: global step, for the message.
            norm: the global L2 gradient norm (e.g. from ``clip_grad_norm_``), or
                ``None`` to compute it over the parameters' ``.grad``.

        Raises:
            TrainingError: the norm is NaN or inf.
        """
        if norm is None:
            norm = _flat_norm([p.grad for p in self.model.parameters() if p.grad is not None])
        if not math.isfinite(norm):
            raise self._stop(epoch, step, f"the gradient norm became {norm} (NaN/inf, or "
                             "above the float32 range)")

    def check_update(self, epoch: int, step: int) -> None:
        """Every weight and buffer is finite after the update of ``epoch``, ``step``.

        Args:
            epoch: 0-based epoch, for the message.
            step: global step, for the message.

        Raises:
            TrainingError: a floating parameter or buffer holds NaN/inf (the message
                names up to three).
        """
        named = [(n, t) for n, t in (*self.model.named_parameters(), *self.model.named_buffers())
                 if t.is_floating_point()]
        if not named:
            return
        finite = torch.stack([torch.isfinite(t.detach()).all() for _, t in named])
        if bool(finite.all()):
            return
        bad = [n for (n, _), ok in zip(named, finite.tolist()) if not ok]
        raise self._stop(epoch, step, f"the update made {bad[:3]} NaN/inf")

    def check_checkpoint(self, tensors: dict[str, torch.Tensor], epoch: int, step: int) -> None:
        """Refuse ``tensors`` (a checkpoint's: weights, buffers, optimizer state) holding
        NaN/inf at the end of ``epoch`` (global ``step``).

        Args:
            tensors: the tensors about to be written, by name.
            epoch: 0-based epoch, for the message.
            step: global step, for the message.

        Raises:
            TrainingError: a floating tensor holds NaN/inf (nothing is written).
        """
        from spikebit.train.checkpoint import nonfinite_tensors

        bad = nonfinite_tensors(tensors)
        if bad:
            raise self._stop(epoch, step, f"the checkpoint tensors {bad[:3]} hold NaN/inf "
                             "(it was not written)")
