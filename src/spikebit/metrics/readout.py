"""Top-1 decisions of a readout, with the samples it cannot decide counted apart.

``argmax`` over a readout whose largest value is shared returns the first of the tied
classes: class 0 for an all-zero spike count (an output layer that never fired, a
converted SNN before its first output). Crediting that as a prediction makes a silent
network look right on every class-0 sample. Here such a sample has no prediction: it
counts as wrong and is reported as

* **no output** -- every class holds the same value (e.g. all zeros), or some class is
  NaN (a diverged network: ``argmax`` would return the first NaN's class), or
* **tied** -- the largest value is shared by some, not all, classes (e.g. two output
  neurons that fired equally often).

Spike-count readouts hit both often at few time steps. The rule is exact equality, no
tolerance, so it leaves distinct values' decisions unchanged; training, evaluation,
conversion and the packed engine all use this one helper. Float32 logits practically
never tie, but lower precision does: a bfloat16 value keeps 8 significant bits, so two
classes less than one bfloat16 step apart (2^-8 to 2^-7 of their value, 0.4-0.8%) can
round to the same value and tie. The trainer
therefore averages a ``[T, B, K]`` output over time in float32
(:func:`spikebit.train.losses.readout`); a bfloat16 ``[B, K]`` readout (an ANN, or
``T = 1``) keeps its ties, which count as wrong: that part of a gap between a bf16
accuracy and an fp32 evaluation of the same model is at most its ``tied`` share.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from spikebit.errors import ShapeError


@dataclass(frozen=True)
class Decisions:
    """The top-1 decision of every readout in a batch (see the module doc).

    Args:
        prediction: ``argmax`` over classes, int64 ``[...]`` (the first maximal class;
            only meaningful where :attr:`decided`).
        no_output: bool ``[...]``: every class holds the same value, or some class is NaN.
        tied: bool ``[...]``: the largest value is shared by some, not all, classes.
    """

    prediction: Tensor
    no_output: Tensor
    tied: Tensor

    @property
    def decided(self) -> Tensor:
        """Bool ``[...]``: exactly one class holds the largest value."""
        return ~(self.no_output | self.tied)

    def correct(self, labels: Tensor) -> Tensor:
        """Bool ``[...]``: decided and equal to the label (undecided samples are wrong).

        Args:
            labels: class indices, int ``[B]`` (broadcast against the leading dims of
                the readout, e.g. ``[T, B]`` for per-step readouts ``[T, B, K]``).

        Returns:
            ``(prediction == labels) & decided``.
        """
        return (self.prediction == labels) & self.decided


def decide(scores: Tensor) -> Decisions:
    """Top-1 decisions of readouts ``[..., K]``, undecided ones flagged (module doc).

    Args:
        scores: class scores ``[..., K]``: spike counts or rates (e.g. the time mean of
            a spiking output ``[T, B, K]``), running readouts ``[T, B, K]``, float logits
            ``[B, K]`` or boolean spikes.

    Returns:
        A ``Decisions`` over the leading dims ``[...]``.

    Raises:
        ShapeError: ``scores`` has no class dimension or no classes.
    """
    if scores.dim() < 1 or scores.shape[-1] == 0:
        raise ShapeError(f"scores must be [..., K] with K >= 1 classes, got shape "
                         f"{tuple(scores.shape)}")
    scores = scores.detach()
    if scores.dtype == torch.bool:  # binary spikes of one step: argmax needs numbers
        scores = scores.to(torch.uint8)
    top = scores.amax(-1, keepdim=True)  # NaN where a class is NaN
    no_output = (scores.amin(-1) == top.squeeze(-1)) | top.squeeze(-1).isnan()
    tied = ((scores == top).sum(-1) > 1) & ~no_output
    return Decisions(scores.argmax(-1), no_output, tied)


def count_decisions(scores: Tensor, labels: Tensor) -> Tensor:
    """``[correct, no output, tied]`` sample counts of a batch, as one int64 tensor.

    For accumulating over batches on the scores' device (no host sync per batch; int64
    is exact and available on every device).

    Args:
        scores: class scores ``[B, K]`` (see :func:`decide`).
        labels: class indices, int ``[B]``.

    Returns:
        int64 ``[3]`` on ``scores``' device.

    Raises:
        ShapeError: ``scores`` is not ``[B, K]`` or ``labels`` not ``[B]``.
    """
    if scores.dim() != 2 or labels.shape != scores.shape[:1]:
        raise ShapeError(f"expected scores [B, K] and labels [B], got {tuple(scores.shape)} "
                         f"and {tuple(labels.shape)}")
    d = decide(scores)
    return torch.stack([d.correct(labels).sum(), d.no_output.sum(), d.tied.sum()])


def decision_fractions(counts: Tensor | list[float], total: int | float) -> dict[str, float]:
    """``{"acc", "no_output", "tied"}``: counts from :func:`count_decisions` over ``total``.

    Args:
        counts: ``[correct, no output, tied]`` sample counts (summed over batches).
        total: the number of samples (0 gives fractions of 0).

    Returns:
        The three fractions in ``[0, 1]``; ``acc`` counts undecided samples as wrong.
    """
    values = counts.tolist() if isinstance(counts, Tensor) else list(counts)
    n = max(float(total), 1.0)
    return {"acc": values[0] / n, "no_output": values[1] / n, "tied": values[2] / n}
