"""LIF, IF and multi-threshold LIF neurons."""

from __future__ import annotations

from spikebit.errors import ConfigError
from spikebit.functional.firing import BinaryFiring, StaircaseFiring
from spikebit.functional.lif import Backend, Reset
from spikebit.functional.surrogate import Surrogate, get_surrogate
from spikebit.neurons.base import NEURONS, IntegrateFireNeuron


@NEURONS.register("lif")
class LIF(IntegrateFireNeuron):
    """Binary LIF: ``s = H(h - V)``. ALBSNN: V=0.5, tau=0.25; AGMM: V=1, tau=0.5.

    ``learn_tau`` / ``learn_threshold`` (with ``per_channel`` and ``channels``) make the
    leak and ``V`` learnable (see :class:`IntegrateFireNeuron`).
    """

    kind = "lif"

    def __init__(
        self,
        threshold: float = 1.0,
        tau: float = 0.5,
        reset: Reset = "hard",
        surrogate: str | Surrogate = "rectangle",
        width: float = 1.0,
        detach_reset: bool = False,
        backend: Backend = "eager",
        learn_tau: bool = False,
        learn_threshold: bool = False,
        per_channel: bool = False,
        channels: int | None = None,
    ) -> None:
        super().__init__(tau, reset, detach_reset, backend, threshold=threshold,
                         learn_tau=learn_tau, learn_threshold=learn_threshold,
                         per_channel=per_channel, channels=channels)
        self._firing = BinaryFiring(float(threshold), get_surrogate(surrogate, width))


@NEURONS.register("if")
class IF(LIF):
    """Integrate-and-fire: LIF without leak (``tau = 1``), soft reset by default."""

    kind = "if"

    def __init__(
        self,
        threshold: float = 1.0,
        reset: Reset = "soft",
        surrogate: str | Surrogate = "rectangle",
        width: float = 1.0,
        detach_reset: bool = False,
        backend: Backend = "eager",
        tau: float = 1.0,
        learn_threshold: bool = False,
        per_channel: bool = False,
        channels: int | None = None,
    ) -> None:
        if tau != 1.0:
            raise ConfigError("IF has no leak: tau must be 1.0 (use 'lif' for a leaky neuron)")
        super().__init__(threshold, 1.0, reset, surrogate, width, detach_reset, backend,
                         learn_threshold=learn_threshold, per_channel=per_channel,
                         channels=channels)


@NEURONS.register("mtlif")
class MultiThresholdLIF(IntegrateFireNeuron):
    """Multi-threshold LIF: emits ``min(floor(h / V), O_max)`` spikes per step.

    Reset by subtraction (``v = h - V * o``), so the residual potential carries
    over. ``curve`` is a staircase surrogate (see ``spikebit.functional.staircase``).
    """

    kind = "mtlif"

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
        learn_tau: bool = False,
        learn_threshold: bool = False,
        per_channel: bool = False,
        channels: int | None = None,
    ) -> None:
        if reset != "soft":
            raise ConfigError("MultiThresholdLIF resets by subtraction: reset must be 'soft'")
        if max_spikes < 1:
            raise ConfigError(f"max_spikes (O_max) must be >= 1, got {max_spikes}")
        super().__init__(tau, "soft", detach_reset, backend, threshold=threshold,
                         learn_tau=learn_tau, learn_threshold=learn_threshold,
                         per_channel=per_channel, channels=channels)
        from spikebit.functional.staircase import get_staircase

        curve = get_staircase(surrogate, max_spikes, height=height, width=width)
        self._firing = StaircaseFiring(float(threshold), int(max_spikes), curve)
