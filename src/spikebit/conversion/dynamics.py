"""Spiking dynamics of the conversion methods and their input encoders.

Clock: step ``t = 0, 1, ...``, period ``p = t // K``, phase ``k = t % K`` and
phase weight ``S_k = 2^-(1 + k)`` (BSNN eq. 5). After normalization every
threshold is ``V = 1``: the rate IF neuron fires a spike of value 1 at
threshold 1; phase-coded neurons fire a *weighted* spike of value ``S_k`` at
threshold ``S_k`` (eq. 4). All neurons reset by subtraction (eq. 2).

``beta(clock)`` is the weight of constant currents (biases, direct input) at a
step; it sums to 1 over one period (one step for rate coding), and the readout
divides its accumulated current by the running sum of ``beta``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import torch
from torch import Tensor

from spikebit.conversion.calibrate import nonzero_percentile
from spikebit.conversion.errors import ConversionError
from spikebit.conversion.validate import check_int
from spikebit.registry import Registry

MAX_K = 24  # float32 resolves 2^-24 relative to 1


@dataclass(frozen=True)
class Clock:
    """Time step ``t`` of a simulation with ``K`` phases per period (BSNN eq. 5).

    Args:
        t: the time step, counted from 0.
        K: phases per period (bits of the phase code), ``1 .. 24``.
    """

    t: int
    K: int

    @property
    def phase(self) -> int:
        """The phase ``k = t % K`` (0 .. K - 1) within the current period."""
        return self.t % self.K

    @property
    def period(self) -> int:
        """The period ``p = t // K``, counted from 0."""
        return self.t // self.K

    @property
    def spike_weight(self) -> float:
        """``S_k = 2^-(1 + k)``: threshold and spike value of phase-coded neurons."""
        return 2.0 ** -(1 + self.phase)


class Method(ABC):
    """Neuron dynamics of one conversion method, with ``K`` phases per period.

    Args:
        K: phases per period (time steps per period of the phase code, its bits), an
            ``int`` in ``1 .. 24``.

    Raises:
        ConversionError: ``K`` is not an int in ``1 .. 24`` (a bool is refused).
    """

    name: ClassVar[str]
    default_encoder: ClassVar[str]
    default_synchronous: ClassVar[bool]
    pipelined: ClassVar[bool] = False  # information crosses one layer per period
    # None: layer-wise data-based normalization (thresholds 1); else the per-channel
    # threshold rule of spikebit.conversion.thresholds ("ltb", "percentile") or "module"
    # (thresholds learned in the ANN, e.g. QCFS)
    thresholds: ClassVar[str | None] = None
    options: ClassVar[tuple[str, ...]] = ()  # extra keyword options of __init__
    # the dynamics read the phase k = t % K (phase-shaped beta, weighted spikes), so K
    # matters; methods without phases (rate coding and its few-step variants) ignore K
    phased: ClassVar[bool] = True
    # steps of pre-simulation before the measured run (SRP, COS: spikebit.conversion.presim)
    presim: int = 0

    def __init__(self, K: int = 8) -> None:
        self.K = check_int("K", K, 1, MAX_K, meaning="phases per period", example=8)

    def beta(self, clock: Clock) -> float:
        """Weight of constant currents (biases, direct input) at this step.

        Phase-shaped, ``beta = S_k / (1 - 2^-K)`` with ``S_k = 2^-(1 + k)`` (BSNN eq. 5), so
        it sums to 1 over one period of ``K`` steps.

        Args:
            clock: the step's :class:`Clock`.

        Returns:
            The weight ``beta`` (dimensionless).
        """
        return clock.spike_weight / (1.0 - 2.0**-self.K)

    def bias_weight(self, clock: Clock, onset: int) -> float:
        """``beta`` for a layer whose inputs carry information from period ``onset`` on.

        Pipelined methods (``bsnn``) inject no bias before the onset.

        Args:
            clock: the step's :class:`Clock`.
            onset: the first period (not step) in which the layer's inputs carry information.

        Returns:
            ``beta(clock)``, or 0.0 before ``onset`` for pipelined methods.
        """
        if self.pipelined and clock.period < onset:
            return 0.0
        return self.beta(clock)

    def restart(self, state: Any) -> Any:
        """A neuron's state at the start of the measured run, after the pre-simulation.

        Only methods with ``presim > 0`` are restarted; the default forgets everything.

        Args:
            state: the neuron's state after the ``presim`` pre-simulation steps.

        Returns:
            The state the measured run starts from (None: as at ``t = 0``).
        """
        return None

    @abstractmethod
    def fire(self, current: Tensor, clock: Clock, state: Any) -> tuple[Tensor, Any]:
        """Integrate ``current`` and fire.

        Args:
            current: the input current at this step, ``[B, C, H, W]`` or ``[B, F]``, in units
                of the normalized threshold (1).
            clock: the step's :class:`Clock` (phase ``k``, period ``p``).
            state: the membrane potential(s) from the previous step, ``None`` at the first step
                (zeros).

        Returns:
            ``(spike values, new state)``; the spikes have ``current``'s shape.
        """


METHODS: Registry[type[Method]] = Registry("conversion method")


@METHODS.register("rate")
class RateIF(Method):
    """Rueckauer et al. (2017): IF neurons, threshold 1, soft reset, spike value 1."""

    name = "rate"
    default_encoder = "direct"
    default_synchronous = False
    phased = False  # beta = 1 at every step: K is never read

    def beta(self, clock: Clock) -> float:
        """Rate coding weighs constant currents equally at every step.

        Args:
            clock: the step's :class:`Clock` (unused).

        Returns:
            1.0 (one step is one period).
        """
        return 1.0

    def fire(self, current: Tensor, clock: Clock, state: Tensor | None) -> tuple[Tensor, Tensor]:
        """IF neuron: ``u += current``; spike 1 where ``u >= 1``; reset by subtraction (BSNN eq. 2).

        Args:
            current: the input current at this step, ``[B, C, H, W]`` or ``[B, F]``, in units
                of the normalized threshold (1).
            clock: the step's :class:`Clock` (phase ``k``, period ``p``).
            state: the membrane potential(s) from the previous step, ``None`` at the first step
                (zeros).

        Returns:
            ``(spikes in {0, 1}, new potential)``, both of ``current``'s shape.
        """
        u = current if state is None else state + current
        s = (u >= 1.0).to(u.dtype)
        return s, u - s


@METHODS.register("phase")
class PhaseIF(Method):
    """Kim et al. (2018) weighted spikes: threshold and spike value ``S_k`` (eq. 4-5)."""

    name = "phase"
    default_encoder = "phase"
    default_synchronous = False

    def fire(self, current: Tensor, clock: Clock, state: Tensor | None) -> tuple[Tensor, Tensor]:
        """Weighted-spike IF neuron: spike ``S_k`` where ``u >= S_k``, reset by subtraction
        (Kim et al. 2018; BSNN eq. 4-5).

        Args:
            current: the input current at this step, ``[B, C, H, W]`` or ``[B, F]``, in units
                of the normalized threshold (1).
            clock: the step's :class:`Clock` (phase ``k``, period ``p``).
            state: the membrane potential(s) from the previous step, ``None`` at the first step
                (zeros).

        Returns:
            ``(spikes in {0, S_k}, new potential)``, both of ``current``'s shape.
        """
        u = current if state is None else state + current
        th = clock.spike_weight
        s = (u >= th).to(u.dtype) * th
        return s, u - s


class BIFState(NamedTuple):
    """Membrane potentials of the A and B neurons of every unit (same shape)."""

    a: Tensor
    b: Tensor


@METHODS.register("bsnn")
class BistableIF(Method):
    """BSNN bistable IF pairs (eq. 11-13).

    A fires only in odd periods, B only in even ones, each with the phase
    threshold ``S_k``. In any period all layers fire the same neuron type, so
    the incoming current at step t always comes from the firing type of the
    previous layer and goes to the non-firing one: A integrates B's spikes and
    vice versa, with shared weights. The unit's output is ``A + B`` (eq. 12),
    i.e. the spikes of whichever neuron may fire now.
    """

    name = "bsnn"
    default_encoder = "direct"
    default_synchronous = True
    pipelined = True

    def fire(
        self, current: Tensor, clock: Clock, state: BIFState | None
    ) -> tuple[Tensor, BIFState]:
        """Bistable IF pair (BSNN eq. 11-13): in odd periods A fires (threshold and spike value
        ``S_k``) while B integrates ``current``; in even periods the roles swap.

        Args:
            current: the input current at this step, ``[B, C, H, W]`` or ``[B, F]``, in units
                of the normalized threshold (1).
            clock: the step's :class:`Clock` (phase ``k``, period ``p``).
            state: the :class:`BIFState` ``(a, b)`` of the previous step, ``None`` at the first step
                (zeros).

        Returns:
            ``(spikes in {0, S_k}, new BIFState)``; the spikes have ``current``'s shape.
        """
        if state is None:
            state = BIFState(torch.zeros_like(current), torch.zeros_like(current))
        th = clock.spike_weight
        if clock.period % 2:  # odd period: A fires, B integrates
            s = (state.a >= th).to(current.dtype) * th
            return s, BIFState(state.a - s, state.b + current)
        s = (state.b >= th).to(current.dtype) * th  # even period: B fires, A integrates
        return s, BIFState(state.a + current, state.b - s)


def build_method(name: str, K: int = 8, **options: Any) -> Method:
    """Instantiate the registered conversion method ``name``.

    Args:
        name: a name in ``METHODS``: ``"rate"``, ``"phase"``, ``"bsnn"``, ``"ltb"``,
            ``"signed"``, ``"burst"``, ``"signed-burst"``, ``"qcfs"``, ``"srp"``, ``"cos"`` (or a
            plug-in).
        K: phases per period (time steps per period), ``1 .. 24``.
        **options: the method's own options (``Method.options``, e.g. ``max_spikes`` for
            burst, ``presim`` for srp and cos); None values are dropped.

    Returns:
        The method instance.

    Raises:
        RegistryError: ``name`` is not registered.
        ConversionError: an option the method does not take, or ``K`` out of range.
    """
    cls = METHODS.get(name)
    given = {k: v for k, v in options.items() if v is not None}
    unknown = sorted(set(given) - set(cls.options))
    if unknown:
        users = {k: option_users(k) or ["none"] for k in unknown}
        raise ConversionError(
            f"method {name!r} takes no option(s) {unknown}; its options: "
            f"{list(cls.options) or 'none'}. Methods that take them: "
            + "; ".join(f"{k}: {', '.join(u)}" for k, u in users.items()))
    return cls(K, **given)


def option_users(option: str) -> list[str]:
    """The registered methods whose constructor takes ``option`` (``Method.options``).

    Args:
        option: a keyword option, e.g. ``"max_spikes"`` or ``"presim"``.

    Returns:
        The method names, sorted (empty if none takes it).
    """
    return [n for n in METHODS.names() if option in METHODS.get(n).options]


class InputCoding(ABC):
    """Turns the (scaled) input image into the signal fed to the first layer of a converted
    SNN, one step at a time on the conversion method's clock (phase, period).

    Not :data:`spikebit.functional.encoders.ENCODERS`: those map a static input
    ``[B, ...]`` to a whole sequence ``[T, B, ...]`` for directly trained SNNs; an input
    coding here also sets the input scale ``lambda_0`` and keeps its own state
    (e.g. the phase code's residual potential)."""

    phased: ClassVar[bool] = False  # the coding reads the phase k = t % K (K matters)

    @abstractmethod
    def input_scale(self, x: Tensor, percentile: float) -> float:
        """``lambda_0`` of the calibration images: the input is divided by it before encoding.

        Args:
            x: calibration images ``[B, C, H, W]``.
            percentile: the percentile in %, ``(0, 100]`` (of the magnitudes, for the phase
                code).

        Returns:
            The input scale ``lambda_0`` (> 0).
        """

    @abstractmethod
    def step(self, x: Tensor, clock: Clock, method: Method, state: Any) -> tuple[Tensor, Any]:
        """The signal fed to the first layer at this step.

        Args:
            x: the scaled input ``[B, C, H, W]``.
            clock: the step's :class:`Clock`.
            method: the conversion method (supplies ``beta``).
            state: the encoder's state, ``None`` at the first step.

        Returns:
            ``(signal of x's shape, new encoder state)``.
        """


INPUT_CODINGS: Registry[type[InputCoding]] = Registry("input coding")


@INPUT_CODINGS.register("direct")
class DirectInput(InputCoding):
    """Real-valued input current ``x * beta(t)`` (constant ``x`` for rate coding)."""

    def input_scale(self, x: Tensor, percentile: float) -> float:
        """``lambda_0`` of the direct (analog) input: the input is not rescaled.

        Args:
            x: calibration images ``[B, C, H, W]`` (unused).
            percentile: the normalization percentile in % (unused).

        Returns:
            1.0.
        """
        return 1.0

    def step(self, x: Tensor, clock: Clock, method: Method, state: None) -> tuple[Tensor, None]:
        """The analog input current at this step, ``x * beta(t)``.

        Args:
            x: the scaled input ``[B, C, H, W]``.
            clock: the step's :class:`Clock`.
            method: the conversion method (supplies ``beta``).
            state: unused (``None``).

        Returns:
            ``(current of x's shape, None)``.
        """
        beta = method.beta(clock)
        return (x if beta == 1.0 else x * beta), None


@INPUT_CODINGS.register("phase")
class PhaseInput(InputCoding):
    """Signed K-bit phase code: at phase 0 the encoder adds ``x`` to its potential, then at
    phase k emits ``sign(u) * S_k`` when ``|u| >= S_k`` (soft reset; the remainder is kept,
    so over n periods the code averages to ``x`` within ``2^-K / n``)."""

    phased = True

    def input_scale(self, x: Tensor, percentile: float) -> float:
        """``lambda_0``: the ``percentile``-th percentile of the nonzero magnitudes ``|x|``.

        Args:
            x: calibration images ``[B, C, H, W]``.
            percentile: the percentile in %, in ``(0, 100]``.

        Returns:
            The scale the input is divided by (1.0 if ``x`` is all zeros).

        Raises:
            ConversionError: ``percentile`` outside ``(0, 100]``.
        """
        return nonzero_percentile(x.abs(), percentile, default=1.0)

    def step(
        self, x: Tensor, clock: Clock, method: Method, state: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        """One step of the signed phase code: ``sign(u) * S_k`` where ``|u| >= S_k``, soft reset.

        Args:
            x: the scaled input ``[B, C, H, W]``, added to the potential at phase 0.
            clock: the step's :class:`Clock` (phase ``k``).
            method: the conversion method (unused).
            state: the encoder's residual potential, ``None`` at the first step.

        Returns:
            ``(signed spikes in {-S_k, 0, S_k}, new potential)``, both of ``x``'s shape.
        """
        u = x if state is None else (state + x if clock.phase == 0 else state)
        th = clock.spike_weight
        s = torch.sign(u) * (u.abs() >= th).to(u.dtype) * th
        return s, u - s
