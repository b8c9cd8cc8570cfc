"""The spiking-neuron protocol and the integrate-and-fire family built on it.

Every neuron subclasses :class:`SpikingNeuron`: ``forward(x_seq)`` over ``[T, B, ...]``
(pure: starts from a zero state, leaves none behind), ``step(x_t, state)`` with an
explicit state, ``init_state(x_t)`` and ``dynamics``, a :class:`NeuronDynamics` that
metrics and export read instead of looking at concrete classes. Models build neurons
with :func:`make_neuron`, which passes ``steps`` to neurons that need it.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import torch
from torch import nn

from spikebit.errors import ConfigError, RegistryError, ShapeError
from spikebit.functional.firing import Firing
from spikebit.functional.lif import Backend, Reset, lif_sequence, lif_step
from spikebit.neurons.params import check_count, check_real
from spikebit.registry import Registry

NEURONS: Registry[type[SpikingNeuron]] = Registry("neuron")  # + spikebit.methods, plugins


@dataclass(frozen=True)
class NeuronDynamics:
    """What a neuron computes, for metrics and export.

    ``h[t] = leak * v[t-1] + x[t]``, ``s[t] = fire(h[t])`` (binary ``H(h - V)`` when
    ``max_spikes == 1``, else ``min(floor(h / V), max_spikes)``), then reset.

    Fields:
        kind: the registry name (``"lif"``, ``"if"``, ``"mtlif"``, ``"mfp"``, ...).
        threshold: ``V``, a float, or a tensor (``[]`` per layer, ``[C]`` per channel) when
            learnable or per channel; ``[T]`` per step when ``threshold_per_step``.
        leak: the leak factor per step (``tau`` in ``[0, 1]``), float or tensor like
            ``threshold``; 0 and unused when ``time_mixing``.
        reset: ``"hard"`` ``v = h * (1 - s)``, ``"soft"`` ``v = h - V * s``, ``"none"`` (no
            membrane kept between steps).
        max_spikes: 1 for binary spikes, ``O_max`` for graded (multi-threshold) counts.
        needs_steps: built with ``steps=T`` (``make_neuron`` passes it).
        time_mixing: the output at step ``t`` is a fixed linear mix ``mixing`` ``[T, T]`` of
            the inputs (MFP), not a recurrence.
        exact_step: ``step`` reproduces ``forward`` exactly.
        steps: the fixed horizon ``T`` of neurons that need it, else None.
        mixing: the effective ``[T, T]`` time-mixing matrix (``time_mixing``), else None.
        threshold_per_step: ``threshold`` is ``[T]``, indexed by step (MFP eq. 9 folding).
    """

    kind: str
    threshold: float | torch.Tensor
    leak: float | torch.Tensor
    reset: str
    max_spikes: int
    needs_steps: bool
    time_mixing: bool
    exact_step: bool
    steps: int | None = None
    mixing: torch.Tensor | None = None
    threshold_per_step: bool = False


class SpikingNeuron(nn.Module):
    """Base class of every spiking neuron (``is_neuron(m)`` is ``isinstance`` of this).

    Subclasses implement ``forward(x_seq [T, B, ...]) -> [T, B, ...]``,
    ``step(x_t [B, ...], state) -> (s_t, state)``, ``init_state(x_t)`` and ``dynamics``.
    ``needs_steps = True`` makes :func:`make_neuron` pass ``steps=T`` to the constructor.
    """

    needs_steps: ClassVar[bool] = False

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """Input currents ``x_seq [T, B, ...]`` -> spikes ``[T, B, ...]``, from a zero state."""
        raise NotImplementedError(f"{type(self).__name__} must define forward(x_seq)")

    def init_state(self, x_t: torch.Tensor) -> Any:  # pragma: no cover - abstract
        """The state before the first step, for one step's input ``x_t [B, ...]``."""
        raise NotImplementedError(f"{type(self).__name__} must define init_state(x_t)")

    def step(self, x_t: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        """One step: ``x_t [B, ...]`` and ``state`` (None = ``init_state``) -> ``(s_t, state)``."""
        raise NotImplementedError(  # pragma: no cover - abstract
            f"{type(self).__name__} must define step(x_t, state)")

    @property
    def dynamics(self) -> NeuronDynamics:  # pragma: no cover - abstract
        """What this neuron computes (:class:`NeuronDynamics`), read by metrics and export."""
        raise NotImplementedError(f"{type(self).__name__} must define the dynamics property")


def is_neuron(module: object) -> bool:
    """True for spiking neurons (modules implementing :class:`SpikingNeuron`)."""
    return isinstance(module, SpikingNeuron)


def make_neuron(
    name: str, kwargs: dict[str, Any], steps: int, channels: int | None = None
) -> SpikingNeuron:
    """Build the registered neuron ``name`` with ``kwargs`` for a network of ``steps`` steps.

    ``steps`` (T) is passed to neurons with ``needs_steps`` (MFP's ``T x T`` mixing);
    ``channels`` (the layer's width) to neurons built with ``per_channel=True``.

    Raises:
        RegistryError: unknown ``name``, or the registered class is not a SpikingNeuron.
        ConfigError: ``kwargs`` do not match the neuron's constructor.
    """
    cls = NEURONS.get(name)
    if not (isinstance(cls, type) and issubclass(cls, SpikingNeuron)):
        raise RegistryError(
            f"neuron {name!r} ({cls!r}) does not subclass spikebit.neurons.SpikingNeuron; "
            "derive it from SpikingNeuron and implement forward/step/init_state/dynamics")
    args = dict(kwargs)
    if cls.needs_steps:
        if "steps" in args and args["steps"] != steps:
            raise ConfigError(
                f"neuron {name!r} got steps={args['steps']} in its kwargs but the network runs "
                f"T={steps} steps; drop 'steps' from neuron_kwargs (the builder passes it)")
        args["steps"] = steps
    if args.get("per_channel") and args.get("channels") is None:
        args["channels"] = channels
    try:
        inspect.signature(cls).bind(**args)
    except TypeError as err:
        raise ConfigError(
            f"neuron {name!r}: {err}; its arguments are {inspect.signature(cls)}") from None
    neuron = cls(**args)
    return neuron


class LIFState(NamedTuple):
    """Membrane potential after reset, ``v`` of shape ``[B, ...]``."""

    v: torch.Tensor


def check_sequence(x: torch.Tensor, who: str) -> None:
    """Raise a clear ShapeError (naming ``who``) unless ``x`` is time-major ``[T, B, ...]``."""
    if x.ndim < 2:
        raise ShapeError(
            f"{who} expects a time-major sequence [T, B, ...] (at least 2 dims), got shape "
            f"{tuple(x.shape)}. Add a time dimension, e.g. x.unsqueeze(0) for T=1, or use "
            f"step(x_t, state) for single steps."
        )


TAU_HELP = (
    "tau is the leak factor per step, in [0, 1]: h[t] = tau * v[t-1] + x[t] (1 = no leak, "
    "0 = no memory). It is not a time constant: for a membrane time constant tau_m in steps "
    "(SpikingJelly's tau, e.g. 2.0) use tau = 1 - 1/tau_m (SpikingJelly's discretisation "
    "with dt = 1 step, so tau_m=2.0 -> tau=0.5; SpikingJelly also scales the input by "
    "1/tau_m, which the BN or weights before the neuron absorb), or exp(-dt/tau_m) for the "
    "exact exponential decay"
)


class IntegrateFireNeuron(SpikingNeuron):
    """Leaky integrate-and-fire family over ``[T, B, ...]`` tensors.

    ``forward(x_seq)`` starts from a zero state and leaves no state behind.
    ``step(x_t, state)`` advances one step from an explicit :class:`LIFState`.
    Subclasses choose the firing function (``_firing``) and set ``kind``. ``tau``,
    ``reset``, ``detach_reset``, ``backend`` and ``threshold`` as for
    :class:`~spikebit.neurons.LIF`.

    Learnable dynamics (PLIF, Fang et al. 2021, eq. 6-7): ``learn_tau`` stores the leak as
    ``leak = sigmoid(w)`` (parameter ``leak_logit``, initialised to ``logit(tau)``) so it
    stays in (0, 1); ``learn_threshold`` stores ``V`` as parameter ``v_threshold``. Both are
    one value per layer, or one per channel (dim 2 of ``[T, B, C, ...]``) with
    ``per_channel=True`` and ``channels=C``. Fixed floats (the default) keep the kernel's
    float path unchanged.
    """

    kind: ClassVar[str] = "lif"

    def __init__(
        self,
        tau: float,
        reset: Reset,
        detach_reset: bool = False,
        backend: Backend = "eager",
        *,
        threshold: float = 1.0,
        learn_tau: bool = False,
        learn_threshold: bool = False,
        per_channel: bool = False,
        channels: int | None = None,
    ) -> None:
        super().__init__()
        if reset not in ("hard", "soft"):
            raise ConfigError(f"reset must be 'hard' or 'soft', got {reset!r}")
        threshold = check_real(threshold, "threshold (V)")
        tau = check_real(tau, "tau")
        if not 0.0 <= tau <= 1.0:
            raise ConfigError(f"tau={tau} is out of range: {TAU_HELP}")
        if learn_tau and not 0.0 < tau < 1.0:
            raise ConfigError(f"learn_tau needs an initial tau strictly inside (0, 1) (the leak "
                              f"is sigmoid(w), w = logit(tau)), got {tau}")
        if per_channel and channels is None:
            raise ConfigError(
                f"per_channel=True needs channels=C (the layer width), got {channels!r}; "
                "make_neuron passes it when a model builder gives the width")
        self.tau = tau
        self.reset = reset
        self.detach_reset = detach_reset
        self.backend = backend
        self.channels = check_count(channels, "channels (C)") if per_channel else None
        shape = (self.channels,) if self.channels else ()
        if learn_tau:
            logit = math.log(tau / (1.0 - tau))
            self.leak_logit = nn.Parameter(torch.full(shape, logit))
        else:
            self.leak_logit = None
        if learn_threshold:
            self.v_threshold = nn.Parameter(torch.full(shape, threshold))
        else:
            self.v_threshold = None

    @property
    def firing(self) -> Firing:
        """The firing function (fixed threshold; a learnable ``V`` is passed separately)."""
        return self._firing  # type: ignore[attr-defined,no-any-return]

    @property
    def leak(self) -> float | torch.Tensor:
        """The leak factor per step: ``tau`` or ``sigmoid(leak_logit)``."""
        return self.tau if self.leak_logit is None else torch.sigmoid(self.leak_logit)

    @property
    def threshold(self) -> float | torch.Tensor:
        """``V``: a float, or the learnable ``v_threshold`` parameter."""
        return self.firing.threshold if self.v_threshold is None else self.v_threshold

    def _shaped(self, p: torch.Tensor | float, x_t: torch.Tensor) -> torch.Tensor | float:
        """A per-channel ``[C]`` tensor viewed to broadcast over one step ``[B, C, ...]``."""
        if isinstance(p, torch.Tensor):
            p = p.to(x_t.dtype)
            if p.ndim == 1:
                return p.reshape(p.shape[0], *([1] * (x_t.ndim - 2)))
        return p

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        """``x_seq [T, B, ...]`` input current -> ``[T, B, ...]`` spikes (or counts)."""
        check_sequence(x_seq, type(self).__name__)
        x0 = x_seq[0]
        thr = None if self.v_threshold is None else self._shaped(self.v_threshold, x0)
        return lif_sequence(x_seq, self.firing, self._shaped(self.leak, x0), self.reset,
                            self.detach_reset, self.backend, threshold=thr)

    def init_state(self, x_t: torch.Tensor) -> LIFState:
        """Zero membrane potential shaped like one step's input ``x_t [B, ...]``."""
        return LIFState(torch.zeros_like(x_t))

    def step(
        self, x_t: torch.Tensor, state: LIFState | None = None
    ) -> tuple[torch.Tensor, LIFState]:
        """One step: ``x_t [B, ...]`` -> ``(s_t [B, ...], next state)``."""
        if state is None:
            state = self.init_state(x_t)
        thr = None if self.v_threshold is None else self._shaped(self.v_threshold, x_t)
        s, v = lif_step(x_t, state.v, self.firing, self._shaped(self.leak, x_t), self.reset,
                        self.detach_reset, threshold=thr)
        return s, LIFState(v)

    @property
    def dynamics(self) -> NeuronDynamics:
        """Kind, threshold and leak (detached tensors when learnable), reset, ``O_max``."""
        leak = self.leak
        return NeuronDynamics(
            kind=self.kind,
            threshold=self.threshold.detach() if isinstance(self.threshold, torch.Tensor)
            else self.threshold,
            leak=leak.detach() if isinstance(leak, torch.Tensor) else leak,
            reset=self.reset, max_spikes=int(self.firing.max_output), needs_steps=False,
            time_mixing=False, exact_step=True)

    def extra_repr(self) -> str:
        learn = "".join([", learn_tau" if self.leak_logit is not None else "",
                         ", learn_threshold" if self.v_threshold is not None else "",
                         f", channels={self.channels}" if self.channels else ""])
        return f"tau={self.tau}, firing={self.firing}, reset={self.reset}{learn}"
