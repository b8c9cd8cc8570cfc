"""Memory-free parallel spiking neuron (MFP-QSNN eq. 6-8).

For input currents ``X [T, B, ...]`` (``X[t] = W_b S[t]`` after BN) the neuron computes,
for all ``T`` steps at once and with no membrane state::

    H = alpha * M @ X        # along the time axis: H[t] = alpha * sum_{i<=t} M[t, i] X[i]
    S = Heaviside(H - V)     # spikes, surrogate gradient in backward

``M`` is a learnable lower-triangular ``T x T`` matrix (a :class:`TimeMixing`, kept
lower-triangular by a mask). There is no reset: ``H[t]`` is a weighted sum of all past
inputs. ``forward`` saves only ``X`` (the spikes and surrogate derivatives are
recomputed in backward); the kernels (``backend="native"``, the default: forward and
backward fused in a C++ CPU kernel, falling back to eager where it does not apply;
``"eager"``: one ``torch.mm`` over ``[T, N]``; ``"compiled"``: fused with torch.compile)
live in :mod:`spikebit.methods.mfp.kernel`.

``step(x_t, state)`` is the exact serial path: the state holds the inputs seen so far
(``[T, B, ...]``, zeros for future steps) and step ``t`` evaluates row ``t`` of the same
``T x T`` product with the neuron's own backend, so its spikes equal the parallel ones
bit for bit (a zero-padded future contributes exact zeros). A general learned ``M``
needs that history: the exact serial form is not memory-free (see
``docs/methods/mfp.md``).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from spikebit.errors import ConfigError, ShapeError
from spikebit.functional.surrogate import Surrogate, get_surrogate
from spikebit.methods.mfp.kernel import Backend, check_backend, mfp_sequence
from spikebit.neurons import NEURONS, NeuronDynamics, SpikingNeuron, check_sequence
from spikebit.neurons.params import check_count, check_real
from spikebit.registry import Registry

MIXINGS: Registry[type[TimeMixing]] = Registry("MFP time mixing")
__all__ = ["MIXINGS", "MFPNeuron", "MFPState", "TimeMixing", "mfp_sequence"]


class TimeMixing(nn.Module):
    """A learnable lower-triangular ``T x T`` time-mixing matrix ``M`` (``matrix()``), masked.

    Base of the forms in :data:`MIXINGS` (MFP-QSNN eq. 6-8): ``H[t] = sum_{i<=t} M[t, i]
    X[i]``; the mask (a non-persistent ``[T, T]`` buffer of ones on and below the
    diagonal) keeps ``M`` causal.

    Args:
        steps: the horizon ``T`` in time steps (an integer >= 1).

    Raises:
        ConfigError: ``steps`` is not an integer >= 1 (bools and floats such as 2.7 refused).
    """

    def __init__(self, steps: int) -> None:
        super().__init__()
        self.steps = check_count(steps, "steps (T)")
        self.register_buffer("mask", torch.ones(self.steps, self.steps).tril(),
                             persistent=False)

    def matrix(self) -> torch.Tensor:  # pragma: no cover - abstract
        """The masked mixing matrix ``M``, lower-triangular ``[T, T]`` (subclasses define it).

        Raises:
            NotImplementedError: on the base class.
        """
        raise NotImplementedError("subclasses define the mixing matrix")

    def free_parameters(self) -> int:
        """Number of stored values of ``M`` at inference (the free entries)."""
        return sum(p.numel() for p in self.parameters()) - self.masked_out()

    def masked_out(self) -> int:
        """Number of stored parameter values the mask forces to zero (not free at inference).

        Returns:
            0 for the base class (a form that stores no masked entries).
        """
        return 0


@MIXINGS.register("full")
class LowerTriangularMixing(TimeMixing):
    """Eq. 7-8: a full learnable lower-triangular ``M``; init ``M[t, i] = tau^(t-i)``.

    With this init, ``H`` is an LIF membrane without reset (leak ``tau``). The upper
    triangle is stored but masked to zero (its gradient is zero). Source: MFP-QSNN
    eq. 7-8 (``docs/methods/mfp.md``).

    Args:
        steps: the horizon ``T`` in time steps (an integer >= 1).
        tau: leak factor per step in ``[0, 1]`` giving the initial ``M[t, i] = tau^(t-i)``.

    Raises:
        ConfigError: ``steps`` is not an integer >= 1, or ``tau`` not a finite number.
    """

    def __init__(self, steps: int, tau: float = 0.5) -> None:
        super().__init__(steps)
        tau = check_real(tau, "tau")
        t = torch.arange(self.steps, dtype=torch.float32)
        lag = (t[:, None] - t[None, :]).clamp(min=0)
        self.weight = nn.Parameter(tau ** lag * self.mask)

    def matrix(self) -> torch.Tensor:
        """``M``: the ``[T, T]`` weight with its upper triangle zeroed.

        Returns:
            The lower-triangular mixing matrix (differentiable in ``weight``).
        """
        return self.weight * self.mask

    def masked_out(self) -> int:
        """The ``T (T - 1) / 2`` stored entries above the diagonal, always masked to zero.

        Returns:
            Their count, subtracted from the parameter count by :meth:`free_parameters`.
        """
        return self.steps * (self.steps - 1) // 2


@MIXINGS.register("gain")
class StepGainMixing(TimeMixing):
    """Eq. 6: ``M[t, i] = tau_i`` for ``i <= t`` (one learnable gain per input step).

    ``H[t] = sum_{i<=t} tau_i X[i]``; gains start at 1 (integration without leak);
    the ``tau`` argument is not used by this form. Source: MFP-QSNN eq. 6
    (``docs/methods/mfp.md``).

    Args:
        steps: the horizon ``T`` in time steps (an integer >= 1); one gain per step.
        tau: accepted for a common signature with the other forms; unused.

    Raises:
        ConfigError: ``steps`` is not an integer >= 1.
    """

    def __init__(self, steps: int, tau: float = 0.5) -> None:
        super().__init__(steps)
        self.gains = nn.Parameter(torch.ones(self.steps))

    def matrix(self) -> torch.Tensor:
        """``M[t, i] = gains[i]`` for ``i <= t``, 0 above the diagonal.

        Returns:
            The lower-triangular ``[T, T]`` mixing matrix (differentiable in ``gains``).
        """
        return self.mask * self.gains


class MFPState(NamedTuple):
    """Serial state: the inputs seen so far ``[T, B, ...]`` (future steps zero) and ``t``."""

    inputs: torch.Tensor
    t: int


@NEURONS.register("mfp")
class MFPNeuron(SpikingNeuron):
    """Memory-free parallel neuron over ``[T, B, ...]`` with a fixed horizon ``steps = T``.

    ``H = alpha * M @ X`` along time, ``S = H(H - V)``. ``alpha`` is the paper's weight
    quantization factor; in spikebit the quantizer's scale and BN come before the neuron,
    so it defaults to 1 (kept as an explicit constant for eq. 9 folding).
    Source: Zhang et al., MFP-QSNN, eq. 6-8 (``docs/methods/mfp.md``).

    Args:
        steps: the horizon ``T`` in time steps (an integer >= 1); inputs must have
            exactly ``T`` steps.
        threshold: firing threshold ``V`` (in units of the input current; finite).
        tau: leak factor per step in ``[0, 1]`` for the ``"full"`` form's initial
            ``M[t, i] = tau^(t-i)`` (not a time constant; unused by ``"gain"``).
        alpha: the paper's weight quantization factor scaling ``M`` (finite, non-zero; 1
            because the quantizer's scale and BN come before the neuron, kept for eq. 9
            folding).
        mixing: the form of ``M`` (:data:`MIXINGS`: ``"full"`` eq. 7-8, ``"gain"`` eq. 6).
        surrogate: name in ``SURROGATES`` (or an instance) for ``dS/dH`` in backward.
        width: the surrogate's width (in units of the potential; finite, > 0).
        backend: the kernel (:mod:`spikebit.methods.mfp.kernel`): ``"native"`` (fused C++
            CPU kernel; on GPU, in half precision, with a sigmoid or plug-in surrogate, for
            ``T > 32`` or without a C++ compiler it runs ``"eager"``), ``"eager"`` (the
            ``torch.mm`` reference) or ``"compiled"`` (fused with torch.compile).

    Raises:
        ConfigError: an unknown ``backend``; ``steps`` not an integer >= 1 (bools and
            floats such as 2.7 refused); ``threshold``, ``tau`` or ``alpha`` not a finite
            number, ``alpha == 0``; ``width`` not a finite number > 0.
        RegistryError: an unknown ``mixing`` or ``surrogate`` name.
    """

    needs_steps = True  # the network builder passes ``steps=T``

    def __init__(
        self,
        steps: int,
        threshold: float = 1.0,
        tau: float = 0.5,
        alpha: float = 1.0,
        mixing: str = "full",
        surrogate: str | Surrogate = "rectangle",
        width: float = 1.0,
        backend: Backend = "native",
    ) -> None:
        super().__init__()
        self.backend = check_backend(backend)
        self.steps = check_count(steps, "steps (T)")
        self.threshold = check_real(threshold, "threshold (V)")
        self.alpha = check_real(alpha, "alpha (weight quantization factor)")
        if self.alpha == 0:
            raise ConfigError("alpha (weight quantization factor) must be non-zero")
        self.mixing = MIXINGS.get(mixing)(self.steps, tau)
        self.surrogate = get_surrogate(surrogate, check_real(width, "width (surrogate)",
                                                             positive=True))

    def effective_matrix(self, dtype: torch.dtype | None = None) -> torch.Tensor:
        """``alpha * M`` (lower-triangular ``[T, T]``), optionally cast to ``dtype``.

        Args:
            dtype: cast the matrix to this dtype (``None``: the parameters' dtype).

        Returns:
            The effective mixing matrix of eq. 7-8, differentiable in ``M``.
        """
        m = self.mixing.matrix()
        if self.alpha != 1.0:
            m = self.alpha * m
        return m if dtype is None else m.to(dtype)

    def _check_steps(self, t: int, who: str) -> None:
        if t != self.steps:
            raise ShapeError(
                f"{who}: this MFP neuron mixes exactly T={self.steps} steps (its M is "
                f"{self.steps}x{self.steps}), got {t}. Build it with steps={t} (the network "
                f"builder passes ModelConfig.steps) or feed {self.steps} steps."
            )

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        """All ``T`` steps at once: ``S = Heaviside(alpha * M @ X - V)`` along time.

        Args:
            x_seq: input currents ``[T, B, ...]`` (time-major), ``T == steps``.

        Returns:
            Binary spikes ``[T, B, ...]`` in ``x_seq``'s dtype (surrogate gradient in
            backward).

        Raises:
            ShapeError: ``x_seq`` is not a ``[T, B, ...]`` sequence or ``T != steps``.
        """
        check_sequence(x_seq, "MFPNeuron")
        self._check_steps(x_seq.shape[0], "MFPNeuron.forward")
        return mfp_sequence(x_seq, self.effective_matrix(x_seq.dtype), self.threshold,
                            self.surrogate, self.backend)

    def init_state(self, x_t: torch.Tensor) -> MFPState:
        """The serial state before step 0: zero inputs ``[T, B, ...]`` and ``t = 0``.

        Args:
            x_t: one step's input ``[B, ...]``; gives shape, dtype and device.

        Returns:
            The initial :class:`MFPState`, with an all-zero history.
        """
        return MFPState(x_t.new_zeros(self.steps, *x_t.shape), 0)

    def step(
        self, x_t: torch.Tensor, state: MFPState | None = None
    ) -> tuple[torch.Tensor, MFPState]:
        """One step ``x_t [B, ...] -> (s_t, state)``; spikes equal ``forward``'s exactly.

        Step ``t`` stores ``x_t`` in the input history and evaluates row ``t`` of the same
        ``T x T`` product, so the serial path keeps all past inputs (it is not
        memory-free).

        Args:
            x_t: this step's input current ``[B, ...]``.
            state: the state returned by the previous step (``None``: a new sample, step 0).

        Returns:
            The spikes ``s_t`` ``[B, ...]`` and the state for the next step.

        Raises:
            ShapeError: all ``T`` steps of ``state`` are used already.
        """
        if state is None:
            state = self.init_state(x_t)
        t = state.t
        if t >= self.steps:
            raise ShapeError(
                f"MFPNeuron.step: all T={self.steps} steps of this state are used; start a "
                "new sample with state=None"
            )
        index = torch.tensor([t], device=x_t.device)
        inputs = state.inputs.index_copy(0, index, x_t.unsqueeze(0))
        s = mfp_sequence(inputs, self.effective_matrix(x_t.dtype), self.threshold,
                         self.surrogate, self.backend)[t]  # row t of the same kernel
        return s, MFPState(inputs, t + 1)

    @property
    def dynamics(self) -> NeuronDynamics:
        """No membrane and no reset: ``H = alpha * M @ X`` (``mixing``), binary spikes."""
        return NeuronDynamics(kind="mfp", threshold=self.threshold, leak=0.0, reset="none",
                              max_spikes=1, needs_steps=True, time_mixing=True,
                              exact_step=True, steps=self.steps,
                              mixing=self.effective_matrix().detach())

    def extra_repr(self) -> str:
        return (f"steps={self.steps}, threshold={self.threshold}, alpha={self.alpha}, "
                f"mixing={type(self.mixing).__name__}, surrogate={self.surrogate}, "
                f"backend={self.backend}")
