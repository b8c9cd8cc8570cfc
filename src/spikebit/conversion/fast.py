"""Conversion methods for few time steps (T <= 4): per-channel thresholds, half-threshold
initial potentials, burst spikes.

All three are rate-coded IF neurons with soft reset (Rueckauer et al. 2017) and real
input current, run in the normalized units of :func:`spikebit.conversion.graph.fire`
(threshold 1, spike value 1; the per-channel threshold is folded into the spike):

* ``ltb`` -- local threshold balancing (Bu, Li & Yu, CVPR 2025, arXiv:2409.03368):
  per-channel thresholds from calibration batches
  (:mod:`spikebit.conversion.thresholds`), membrane potentials starting at half the
  threshold. The half-threshold start turns the IF neuron's floor quantization into
  rounding, which makes the expected conversion error zero (Bu et al., "Optimal
  ANN-SNN conversion for high-accuracy and ultra-low-latency SNNs", ICLR 2022,
  Theorem 2; Deng & Gu, ICLR 2021, threshold shift). The same recipe as
  SpikingJelly 2.0's ``LocalThresholdBalancingRecipe``.
* ``burst`` -- burst spikes (Li & Zeng, "Efficient and accurate conversion of spiking
  neural network with burst spikes", IJCAI 2022): a neuron may fire up to
  ``max_spikes`` (Gamma) spikes in one step, each worth ``theta / Gamma``, so one step
  carries ``log2(Gamma + 1)`` bits and T steps resolve ``Gamma * T`` levels of the
  activation. Thresholds: the per-channel ``percentile`` (default 99.99) of the
  activations (Kim et al. 2020 channel-wise normalization): with Gamma levels per step
  the resolution is there already, and the LTB clip (about twice the channel mean)
  cost 0.8 points on the Fashion-MNIST CNN in ``benchmarks/conversion_latency.py``.
  Initial potential half a spike threshold.
* ``signed`` / ``signed-burst`` -- error compensation with signed neurons and memory
  (Wang et al., "Signed neuron with memory: towards simple, accurate and
  high-efficient ANN-SNN conversion", IJCAI 2022): as ``ltb`` / ``burst``, but a neuron
  whose potential falls below the lower rounding bound (0 after the half-threshold
  start) fires a *negative* spike, as long as its spike count so far is positive (the
  memory). Spikes that later inputs prove premature are taken back, so the count
  tracks ``round(accumulated input)`` clipped to ``[0, Gamma t]`` instead of never
  decreasing (the "unevenness error" of Bu et al. 2022).
* ``qcfs`` -- for ANNs trained with the quantization-clip-floor-shift activation
  (Bu et al., ICLR 2022; :mod:`spikebit.conversion.qcfs`): the learned clip
  ``lambda`` of each layer is the threshold, the potential starts at ``lambda / 2``
  (the shift phi = 1/2). No calibration data is needed.
"""

from __future__ import annotations

from typing import ClassVar, NamedTuple

import torch
from torch import Tensor

from spikebit.conversion.dynamics import METHODS, Clock, RateIF
from spikebit.conversion.validate import check_int


class HalfThresholdIF(RateIF):
    """IF neuron, threshold 1, spike value 1, soft reset, initial potential 1/2."""

    name = "half-if"
    initial: ClassVar[float] = 0.5

    def fire(self, current: Tensor, clock: Clock, state: Tensor | None) -> tuple[Tensor, Tensor]:
        """IF neuron starting at half the threshold: ``u = 1/2 + sum current``, spike 1 where
        ``u >= 1``, soft reset (Bu et al. 2022, Theorem 2).

        Args:
            current: the input current at this step ``[B, C, H, W]`` or ``[B, F]``, in normalized
                units (threshold 1).
            clock: the step's :class:`~spikebit.conversion.dynamics.Clock` (unused: every step is
                alike).
            state: the potential from the previous step, None at ``t = 0``.

        Returns:
            ``(spikes in {0, 1}, new potential)``, both of ``current``'s shape.
        """
        u = self.initial + current if state is None else state + current
        s = (u >= 1.0).to(u.dtype)
        return s, u - s


@METHODS.register("ltb")
class LocalThresholdIF(HalfThresholdIF):
    """``ltb``: per-channel LTB thresholds + half-threshold start (see module doc)."""

    name = "ltb"
    thresholds = "ltb"


@METHODS.register("qcfs")
class QCFSIF(HalfThresholdIF):
    """``qcfs``: thresholds = the QCFS clip ``lambda`` learned by the ANN; start at 1/2."""

    name = "qcfs"
    thresholds = "module"


@METHODS.register("burst")
class BurstIF(RateIF):
    """``burst``: up to ``max_spikes`` spikes of value ``1 / max_spikes`` per step (Li & Zeng,
    IJCAI 2022).

    The state is the potential in units of one spike threshold ``1 / Gamma``: it
    starts at 1/2, gains ``Gamma * current`` per step, emits ``n = clamp(floor(w), 0,
    Gamma)`` spikes and keeps ``w - n`` (soft reset).

    Args:
        K: unused phase parameter (kept for the common constructor), ``1 .. 24``.
        max_spikes: ``Gamma``, the most spikes per step, ``1 .. 255``.

    Raises:
        ConversionError: ``max_spikes`` or ``K`` out of range.
    """

    name = "burst"
    thresholds = "percentile"
    options = ("max_spikes",)

    def __init__(self, K: int = 8, max_spikes: int = 4) -> None:
        super().__init__(K)
        self.max_spikes = check_int("max_spikes", max_spikes, 1, 255,
                                    meaning="spikes per step", example=4)

    def fire(self, current: Tensor, clock: Clock, state: Tensor | None) -> tuple[Tensor, Tensor]:
        """Burst IF neuron: ``n = clamp(floor(w), 0, Gamma)`` spikes of value ``1 / Gamma``.

        Args:
            current: the input current at this step ``[B, C, H, W]`` or ``[B, F]``, in normalized
                units (threshold 1).
            clock: the step's :class:`~spikebit.conversion.dynamics.Clock` (unused: every step is
                alike).
            state: the potential ``w`` (in units of ``1 / Gamma``), None at ``t = 0``.

        Returns:
            ``(spike values n / Gamma, new potential)``, both of ``current``'s shape.
        """
        g = self.max_spikes
        w = 0.5 + g * current if state is None else state + g * current
        n = torch.clamp(torch.floor(w), 0, g)
        return n / g, w - n


class SignedState(NamedTuple):
    """Potential (in spike-threshold units) and net spike count so far, same shape."""

    w: Tensor
    count: Tensor


@METHODS.register("signed-burst")
class SignedBurstIF(BurstIF):
    """``signed-burst``: bursts of ``-count .. max_spikes`` spikes per step (see module doc)."""

    name = "signed-burst"

    def fire(self, current: Tensor, clock: Clock,
             state: SignedState | None) -> tuple[Tensor, SignedState]:
        """Signed burst IF neuron with memory (Wang et al., IJCAI 2022): ``n`` in
        ``[-count, Gamma]`` spikes of value ``1 / Gamma``.

        Args:
            current: the input current at this step ``[B, C, H, W]`` or ``[B, F]``, in normalized
                units (threshold 1).
            clock: the step's :class:`~spikebit.conversion.dynamics.Clock` (unused: every step is
                alike).
            state: the :class:`SignedState` ``(w, count)``, None at ``t = 0``.

        Returns:
            ``(spike values n / Gamma, new SignedState)``; the spikes have ``current``'s shape.
        """
        g = self.max_spikes
        if state is None:
            w, count = 0.5 + g * current, torch.zeros_like(current)
        else:
            w, count = state.w + g * current, state.count
        n = torch.maximum(torch.clamp(torch.floor(w), -g, g), -count)
        return n / g, SignedState(w - n, count + n)


@METHODS.register("signed")
class SignedIF(SignedBurstIF):
    """``signed``: spikes of value +1 or -1, LTB thresholds (Wang et al., IJCAI 2022).

    Args:
        K: unused phase parameter (kept for the common constructor), ``1 .. 24``.

    Raises:
        ConversionError: ``K`` out of range.
    """

    name = "signed"
    thresholds = "ltb"  # binary spikes need the resolution of the LTB clip
    options = ()

    def __init__(self, K: int = 8) -> None:
        super().__init__(K, max_spikes=1)
