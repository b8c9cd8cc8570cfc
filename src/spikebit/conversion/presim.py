"""Error compensation from a pre-simulation: ``srp`` and ``cos`` (Hao et al. 2023).

Both methods run the converted SNN for ``presim`` steps on the sample, read every
neuron's residual membrane potential, reset the network (membrane potentials back
to half the threshold, readout and max-pool counts to zero) and run it again; only
the second run is read out. The price is latency: a readout after ``T`` measured
steps has cost ``presim + T`` steps per sample (``SpikingConverted.presim``). Neurons
are the half-threshold IF neurons of :mod:`spikebit.conversion.fast` (threshold
``theta`` per channel, spike value ``theta``, soft reset), written here in units of
``theta``: ``v(0) = 1/2``, ``v(t) = v(t-1) + x(t) - s(t)``, ``s(t) = [v(t-1) + x(t) >= 1]``.

After ``tau`` steps with input sum ``S = sum_t x(t)`` and ``N`` spikes the residual
potential is ``v(tau) = 1/2 + S - N``. The QCFS ANN (Bu et al. 2022, with ``L = tau``)
asks for ``clip(round(S), 0, tau)`` spikes (inputs spread evenly), so

* ``v(tau) < 0`` with ``N > 0``: ``N > round(S)`` -- the neuron fired at least one spike
  too many (offset spike ``psi >= +1``), e.g. early positive inputs that later negative
  ones cancel (the "unevenness error", Bu et al. 2022);
* ``v(tau) >= 1``: ``N < round(S)`` -- at least one spike too few (``psi <= -1``), e.g.
  late input.

Methods:

* ``srp`` -- Hao, Bu, Ding, Huang & Yu, "Reducing ANN-SNN conversion error through
  residual membrane potential", AAAI 2023 (arXiv:2302.02091; code
  github.com/hzc1208/ANN2SNN_SRP, ``modules.MPLayer``). The paper finds the case
  "ANN output 0, SNN output > 0" the most frequent unevenness error and detects it
  from the residual potential after ``tau`` pre-simulation steps: a neuron with
  ``v(tau) <= eps`` (``eps = 1e-3``, as in the authors' code) is silenced in the
  measured run: it integrates and resets as before, but its spikes are not sent
  (``s'(t) = m s(t)``, ``m = [v(tau) > eps]``).
* ``cos`` -- Hao, Ding, Bu, Huang & Yu, "Bridging the gap between ANNs and SNNs by
  calibrating offset spikes", ICLR 2023 (arXiv:2302.10685; code
  github.com/hzc1208/ANN2SNN_COS, ``modules.MPLayer``). One spike too many or too few
  (``|psi| = 1``) is the main conversion error; it is calibrated by shifting the
  neuron's initial potential. Shifting ``v(0)`` down by ``delta`` removes exactly one
  spike when ``delta`` is the smallest shift that stops one firing step, ``delta =
  max(1, u_min - 1 + eps)`` with ``u_min`` the lowest pre-reset potential at a firing
  step (with ``delta = 1`` the shifted trajectory merges with the original at the
  first suppressed spike); likewise the smallest upward shift that adds a spike is
  ``max(1, 1 + eps - u_max)`` with ``u_max`` the highest potential at a non-firing
  step. So ``v'(0) = 1/2 - [v(rho) < 0, N > 0] delta_down + [v(rho) >= 1] delta_up``
  (no upward shift for a neuron that fired at every step: it cannot fire more).

  The paper calibrates layer by layer, replaying each layer's recorded input sequence
  after its upstream layers are calibrated; here every layer is pre-simulated and
  restarted at once (one pre-simulation of ``rho`` steps for the whole network, a
  latency of ``rho + T`` steps), so a layer's measured input comes from calibrated
  upstream layers and differs from the one it was calibrated on.

Thresholds default to the LTB rule (as ``ltb`` and ``signed``); for an ANN trained with
QCFS activations use ``thresholds="module"``, the setting both papers use.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from spikebit.conversion.dynamics import METHODS, Clock
from spikebit.conversion.fast import HalfThresholdIF
from spikebit.conversion.validate import check_int

EPS = 1e-3  # the margin of the authors' code (SRP mask, COS shift)
MAX_PRESIM = 1024


def check_presim(presim: int) -> int:
    """Return ``presim`` if it is an int in ``1 .. 1024``, else raise.

    Args:
        presim: pre-simulation steps (``tau`` of SRP, ``rho`` of COS).

    Returns:
        ``presim``.

    Raises:
        ConversionError: ``presim`` is not an int in ``1 .. 1024``.
    """
    return check_int("presim", presim, 1, MAX_PRESIM, meaning="pre-simulation steps",
                     example=4)


class MaskedState(NamedTuple):
    """SRP neuron: potential (threshold units) and the send mask (None while pre-simulating)."""

    v: Tensor
    mask: Tensor | None


class _PresimIF(HalfThresholdIF):
    """Half-threshold IF neurons run ``presim`` steps before the measured run (SRP, COS).

    Args:
        K: unused phase parameter (kept for the common constructor), ``1 .. 24``.
        presim: the pre-simulation steps, ``1 .. 1024``.

    Raises:
        ConversionError: ``presim`` or ``K`` out of range.
    """

    thresholds = "ltb"
    options = ("presim",)

    def __init__(self, K: int = 8, presim: int = 4) -> None:
        super().__init__(K)
        self.presim = check_presim(presim)


@METHODS.register("srp")
class ResidualPotentialIF(_PresimIF):
    """``srp``: half-threshold IF neurons silenced where the residual potential after the
    pre-simulation is ``<= 1e-3`` (Hao et al., AAAI 2023; see the module doc).

    Args:
        K: unused phase parameter (kept for the common constructor), ``1 .. 24``.
        presim: ``tau``, the pre-simulation steps, ``1 .. 1024`` (the paper uses 4 to 14).

    Raises:
        ConversionError: ``presim`` or ``K`` out of range.
    """

    name = "srp"

    def fire(self, current: Tensor, clock: Clock,
             state: MaskedState | None) -> tuple[Tensor, MaskedState]:
        """Half-threshold IF step; spikes of silenced neurons are dropped (``s' = m s``).

        Args:
            current: the input current at this step ``[B, C, H, W]`` or ``[B, F]``, in units of
                the threshold.
            clock: the step's :class:`~spikebit.conversion.dynamics.Clock` (unused).
            state: the :class:`MaskedState`, None at the first pre-simulation step.

        Returns:
            ``(spikes in {0, 1}, new MaskedState)``; the spikes have ``current``'s shape.
        """
        v, mask = (self.initial + current, None) if state is None else (state.v + current,
                                                                         state.mask)
        s = (v >= 1.0).to(v.dtype)
        return (s if mask is None else s * mask), MaskedState(v - s, mask)

    def restart(self, state: MaskedState) -> MaskedState:
        """Potential back to 1/2; mask ``m = [v(tau) > 1e-3]`` from the residual potential.

        Args:
            state: the neuron's :class:`MaskedState` after ``tau`` pre-simulation steps.

        Returns:
            The measured run's start as a ``MaskedState`` (potential 1/2, the mask).
        """
        keep = (state.v > EPS).to(state.v.dtype)
        return MaskedState(torch.full_like(state.v, self.initial), keep)


class OffsetState(NamedTuple):
    """COS neuron: potential, spike count, lowest firing and highest non-firing potential."""

    v: Tensor
    count: Tensor
    fire_min: Tensor
    rest_max: Tensor


def _fresh(v: Tensor) -> OffsetState:
    """An :class:`OffsetState` with potential ``v``, no spikes and no extremes yet."""
    return OffsetState(v, torch.zeros_like(v), torch.full_like(v, torch.inf),
                       torch.full_like(v, -torch.inf))


@METHODS.register("cos")
class OffsetCalibratedIF(_PresimIF):
    """``cos``: half-threshold IF neurons whose initial potential is shifted by the offset
    spike the pre-simulation shows (Hao et al., ICLR 2023; see the module doc).

    Args:
        K: unused phase parameter (kept for the common constructor), ``1 .. 24``.
        presim: ``rho``, the pre-simulation steps, ``1 .. 1024``.

    Raises:
        ConversionError: ``presim`` or ``K`` out of range.
    """

    name = "cos"

    def fire(self, current: Tensor, clock: Clock,
             state: OffsetState | None) -> tuple[Tensor, OffsetState]:
        """Half-threshold IF step that also records the count and the potential extremes.

        Args:
            current: the input current at this step ``[B, C, H, W]`` or ``[B, F]``, in units of
                the threshold.
            clock: the step's :class:`~spikebit.conversion.dynamics.Clock` (unused).
            state: the :class:`OffsetState`, None at the first pre-simulation step.

        Returns:
            ``(spikes in {0, 1}, new OffsetState)``; the spikes have ``current``'s shape.
        """
        st = _fresh(torch.full_like(current, self.initial)) if state is None else state
        v = st.v + current
        fired = v >= 1.0
        s = fired.to(v.dtype)
        return s, OffsetState(v - s, st.count + s,
                              torch.where(fired, torch.minimum(st.fire_min, v), st.fire_min),
                              torch.where(fired, st.rest_max, torch.maximum(st.rest_max, v)))

    def restart(self, state: OffsetState) -> OffsetState:
        """Initial potential ``1/2 - [v < 0, N > 0] delta_down + [v >= 1] delta_up``.

        Args:
            state: the neuron's :class:`OffsetState` after ``rho`` pre-simulation steps.

        Returns:
            The measured run's start as an ``OffsetState``.
        """
        extra = (state.v < 0) & (state.count > 0)
        down = torch.clamp_min(state.fire_min - (1.0 - EPS), 1.0)
        up = torch.clamp_min((1.0 + EPS) - state.rest_max, 1.0)
        missing = (state.v >= 1.0) & torch.isfinite(state.rest_max)
        v0 = torch.full_like(state.v, self.initial)
        v0 = torch.where(extra, v0 - down, v0)
        return _fresh(torch.where(missing, v0 + up, v0))
