"""LIF, IF and multi-threshold LIF neurons."""

from __future__ import annotations

from spikebit.errors import ConfigError
from spikebit.functional.firing import BinaryFiring, StaircaseFiring
from spikebit.functional.lif import Backend, Reset
from spikebit.functional.surrogate import Surrogate, get_surrogate
from spikebit.neurons.base import NEURONS, IntegrateFireNeuron
from spikebit.neurons.params import check_count, check_real


@NEURONS.register("lif")
class LIF(IntegrateFireNeuron):
    """Binary LIF over ``[T, B, ...]``: ``h = tau * v + x``, ``s = H(h - V)``, then reset.

    ALBSNN: V=0.5, tau=0.25; AGMM: V=1, tau=0.5.

    Args:
        threshold: ``V`` (same unit as the input current).
        tau: leak factor per step in ``[0, 1]`` (not a time constant; see ``TAU_HELP``).
        reset: ``"hard"`` (``v = h * (1 - s)``) or ``"soft"`` (``v = h - V * s``).
        surrogate: name in ``SURROGATES`` (or an instance) for ``ds/dh`` in backward.
        width: the surrogate's width (in units of the potential).
        detach_reset: cut the reset's gradient path through ``s`` (SpikingJelly's option).
        backend: ``"eager"`` or ``"compiled"`` (``torch.compile``) fused kernel.
        learn_tau: learn the leak as ``sigmoid(w)``, ``w`` initialised to ``logit(tau)``
            (PLIF, Fang et al. 2021, eq. 6-7); needs ``tau`` strictly inside ``(0, 1)``.
        learn_threshold: learn ``V`` (parameter ``v_threshold``).
        per_channel: one learnable leak/threshold per channel (dim 2 of
            ``[T, B, C, ...]``) instead of one per layer; needs ``channels``.
        channels: the layer width ``C`` for ``per_channel`` (``make_neuron`` fills it in).

    Raises:
        ConfigError: ``tau`` outside ``[0, 1]`` (or not inside ``(0, 1)`` with
            ``learn_tau``), an unknown ``reset``, ``per_channel`` without ``channels``;
            a ``threshold`` or ``tau`` that is not a finite number, a ``width`` that is not
            a finite number > 0, ``channels`` that is not an integer >= 1 (bools refused).
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
        width = check_real(width, "width (surrogate)", positive=True)
        self._firing = BinaryFiring(float(threshold), get_surrogate(surrogate, width))


@NEURONS.register("if")
class IF(LIF):
    """Integrate-and-fire: LIF without leak (``tau = 1``), soft reset by default.

    ``threshold``, ``reset``, ``surrogate``, ``width``, ``detach_reset``, ``backend``,
    ``learn_threshold``, ``per_channel`` and ``channels`` as for :class:`LIF`; ``tau`` must
    be 1 (ConfigError otherwise).
    """

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
    over. ``threshold``, ``tau``, ``width``, ``detach_reset``, ``backend``, ``learn_tau``,
    ``learn_threshold``, ``per_channel`` and ``channels`` as for :class:`LIF`;
    ``max_spikes`` is ``O_max``; ``surrogate`` names a staircase curve (``STAIRCASES``,
    e.g. ``mt-gauss``) with bump ``height`` and ``width``; ``reset`` must be ``"soft"``.
    Source: multi-threshold SNN paper, eq. 3-5 (see docs/methods/multithreshold.md).

    Raises:
        ConfigError: as :class:`LIF`; ``reset`` other than ``"soft"``, ``max_spikes`` not
            an integer >= 1, ``threshold`` or ``width`` not a finite number > 0 (the
            output is ``floor(h / V)``), ``height`` not a finite number.
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
        max_spikes = check_count(max_spikes, "max_spikes (O_max)")
        threshold = check_real(threshold, "threshold (V)", positive=True)
        width = check_real(width, "width (staircase bump)", positive=True)
        height = check_real(height, "height (staircase bump)")
        super().__init__(tau, "soft", detach_reset, backend, threshold=threshold,
                         learn_tau=learn_tau, learn_threshold=learn_threshold,
                         per_channel=per_channel, channels=channels)
        from spikebit.functional.staircase import get_staircase

        curve = get_staircase(surrogate, max_spikes, height=height, width=width)
        self._firing = StaircaseFiring(threshold, max_spikes, curve)
