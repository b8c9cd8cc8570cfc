"""LIF, IF and multi-threshold LIF neurons."""

from __future__ import annotations

from spikebit.functional.firing import BinaryFiring, StaircaseFiring
from spikebit.functional.lif import Backend, Reset
from spikebit.functional.surrogate import Surrogate, get_surrogate
from spikebit.neurons.base import NEURONS, IntegrateFireNeuron


@NEURONS.register("lif")
class LIF(IntegrateFireNeuron):
    """Binary LIF: ``s = H(h - V)``. ALBSNN: V=0.5, tau=0.25; AGMM: V=1, tau=0.5."""

    def __init__(
        self,
        threshold: float = 1.0,
        tau: float = 0.5,
        reset: Reset = "hard",
        surrogate: str | Surrogate = "rectangle",
        width: float = 1.0,
        detach_reset: bool = False,
        backend: Backend = "eager",
    ) -> None:
        super().__init__(tau, reset, detach_reset, backend)
        self._firing = BinaryFiring(float(threshold), get_surrogate(surrogate, width))

    @property
    def firing(self) -> BinaryFiring:
        return self._firing


@NEURONS.register("if")
class IF(LIF):
    """Integrate-and-fire: LIF without leak (``tau = 1``), soft reset by default."""

    def __init__(
        self,
        threshold: float = 1.0,
        reset: Reset = "soft",
        surrogate: str | Surrogate = "rectangle",
        width: float = 1.0,
        detach_reset: bool = False,
        backend: Backend = "eager",
        tau: float = 1.0,
    ) -> None:
        if tau != 1.0:
            raise ValueError("IF has no leak: tau must be 1.0 (use 'lif' for a leaky neuron)")
        super().__init__(threshold, 1.0, reset, surrogate, width, detach_reset, backend)


@NEURONS.register("mtlif")
class MultiThresholdLIF(IntegrateFireNeuron):
    """Multi-threshold LIF: emits ``min(floor(h / V), O_max)`` spikes per step.

    Reset by subtraction (``v = h - V * o``), so the residual potential carries
    over. ``curve`` is a staircase surrogate (see ``spikebit.functional.staircase``).
    """

    def __init__(
        self,
        threshold: float = 1.0,
        tau: float = 0.5,
        max_spikes: int = 15,
        surrogate: str | Surrogate = "mt-gauss",
        width: float = 1.0,
        height: float = 1.0,
        detach_reset: bool = False,
        backend: Backend = "eager",
        reset: Reset = "soft",
    ) -> None:
        if reset != "soft":
            raise ValueError("MultiThresholdLIF resets by subtraction: reset must be 'soft'")
        if max_spikes < 1:
            raise ValueError(f"max_spikes (O_max) must be >= 1, got {max_spikes}")
        super().__init__(tau, "soft", detach_reset, backend)
        from spikebit.functional.staircase import get_staircase

        curve = get_staircase(surrogate, max_spikes, height=height, width=width)
        self._firing = StaircaseFiring(float(threshold), int(max_spikes), curve)

    @property
    def firing(self) -> StaircaseFiring:
        return self._firing
