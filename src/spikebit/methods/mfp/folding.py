"""The paper's eq. 9 threshold folding, implemented as stated, and how far it is from eq. 7.

Eq. 9 fires from the *current* input alone against a per-step threshold::

    S[t] = H(X[t] - theta[t]),   theta = V * M^-1 [t] / alpha

i.e. it moves ``alpha M`` from ``alpha M X >= V`` to the threshold side as if the
inequality were an equation. Two readings of ``V M^-1[i] / alpha``
(:data:`THRESHOLD_READINGS`):

* ``"rowsum"``: ``theta = (alpha M)^-1 (V * 1)`` (the threshold vector ``V * 1`` pushed
  through ``M^-1``; row sums of ``M^-1`` times ``V / alpha``);
* ``"diagonal"``: ``theta[t] = V / (alpha M[t, t])`` (the diagonal of ``M^-1``).

Both equal the parallel form only when ``M`` is diagonal (no temporal mixing, i.e. no
memory) or ``T = 1``: with off-diagonal ``M`` the spike at ``t`` depends on ``X[i < t]``,
which a memoryless threshold cannot see. :func:`layer_spike_mismatch` measures it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import nn

from spikebit.errors import SpikebitError
from spikebit.functional.surrogate import Surrogate, spike
from spikebit.methods.mfp.neuron import MFPNeuron
from spikebit.neurons import NeuronDynamics, SpikingNeuron, check_sequence
from spikebit.registry import Registry

ThresholdReading = Callable[[torch.Tensor, float], torch.Tensor]
THRESHOLD_READINGS: Registry[ThresholdReading] = Registry("eq. 9 threshold reading")


class FoldingError(SpikebitError, ValueError):
    """Eq. 9 thresholds cannot be formed (e.g. ``M`` is singular)."""


def _check_diagonal(m: torch.Tensor) -> None:
    if bool((m.diagonal() == 0).any()):
        raise FoldingError(
            "eq. 9 needs M^-1, but M has a zero on its diagonal (M is singular); "
            f"diagonal = {m.diagonal().tolist()}"
        )


@THRESHOLD_READINGS.register("rowsum")
def rowsum_thresholds(m: torch.Tensor, threshold: float) -> torch.Tensor:
    """Eq. 9 thresholds, "rowsum" reading: ``theta = (alpha M)^-1 (V * 1)``.

    MFP-QSNN eq. 9 (one of two readings of ``V M^-1[i] / alpha``).

    Args:
        m: ``alpha M``, the effective lower-triangular mixing matrix ``[T, T]``.
        threshold: the neuron's threshold ``V``.

    Returns:
        Per-step thresholds ``theta`` ``[T]`` (dtype and device of ``m``).

    Raises:
        FoldingError: ``m`` has a zero on its diagonal (singular).
    """
    _check_diagonal(m)
    ones = torch.full((m.shape[0], 1), float(threshold), dtype=m.dtype, device=m.device)
    return torch.linalg.solve_triangular(m, ones, upper=False).squeeze(1)


@THRESHOLD_READINGS.register("diagonal")
def diagonal_thresholds(m: torch.Tensor, threshold: float) -> torch.Tensor:
    """Eq. 9 thresholds, "diagonal" reading: ``theta[t] = V / (alpha M[t, t])``.

    MFP-QSNN eq. 9 (the diagonal of ``M^-1`` times ``V / alpha``).

    Args:
        m: ``alpha M``, the effective lower-triangular mixing matrix ``[T, T]``.
        threshold: the neuron's threshold ``V``.

    Returns:
        Per-step thresholds ``theta`` ``[T]``.

    Raises:
        FoldingError: ``m`` has a zero on its diagonal (singular).
    """
    _check_diagonal(m)
    return float(threshold) / m.diagonal()


class FoldedState(NamedTuple):
    """Serial state of a folded neuron: only the step index (no membrane, no history)."""

    t: int


class FoldedThresholdNeuron(SpikingNeuron):
    """Eq. 9: ``S[t] = H(X[t] - theta[t])``, memoryless, one threshold per step.

    MFP-QSNN eq. 9 as the paper states it (not equivalent to eq. 7 when ``M`` mixes
    steps; see the module docstring). Built by :func:`fold_neuron`.

    Args:
        thresholds: per-step thresholds ``theta`` ``[T]`` (copied into a buffer), finite.
        surrogate: surrogate of the Heaviside in backward.

    Raises:
        FoldingError: ``thresholds`` is not a non-empty ``[T]`` vector of finite values
            (e.g. from an ``M`` with NaN entries: a NaN threshold never fires).
    """

    def __init__(self, thresholds: torch.Tensor, surrogate: Surrogate) -> None:
        super().__init__()
        if thresholds.ndim != 1 or thresholds.numel() == 0 \
                or not bool(torch.isfinite(thresholds).all()):
            raise FoldingError(
                f"eq. 9 thresholds must be a non-empty [T] vector of finite values, got "
                f"{thresholds.tolist()}; check that the neuron's M (alpha M) is finite")
        self.register_buffer("thresholds", thresholds.detach().clone())
        self.surrogate = surrogate

    @property
    def steps(self) -> int:
        """``T``, the number of time steps (one threshold each)."""
        return int(self.thresholds.numel())

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        """Spikes ``H(X[t] - theta[t])`` for every step.

        Args:
            x_seq: input currents ``[T, B, ...]`` (``T`` must equal :attr:`steps`).

        Returns:
            Binary spikes ``[T, B, ...]`` (dtype of ``x_seq``).

        Raises:
            ShapeError: ``x_seq`` has fewer than 2 dimensions.
        """
        check_sequence(x_seq, "FoldedThresholdNeuron")
        theta = self.thresholds.to(x_seq.dtype).reshape(-1, *([1] * (x_seq.ndim - 1)))
        return spike(x_seq - theta, self.surrogate)

    def init_state(self, x_t: torch.Tensor) -> FoldedState:
        """Step 0 (no membrane: ``x_t`` only fixes the protocol's signature).

        Args:
            x_t: one step's input ``[B, ...]`` (unused).

        Returns:
            ``FoldedState(0)``.
        """
        return FoldedState(0)

    @property
    def dynamics(self) -> NeuronDynamics:
        """Memoryless binary neuron with one threshold per step ``[T]``."""
        return NeuronDynamics(kind="mfp-eq9", threshold=self.thresholds.detach(), leak=0.0,
                              reset="none", max_spikes=1, needs_steps=False,
                              time_mixing=False, exact_step=True, steps=self.steps,
                              threshold_per_step=True)

    def step(
        self, x_t: torch.Tensor, state: FoldedState | None = None
    ) -> tuple[torch.Tensor, FoldedState]:
        """One step: ``H(x_t - theta[t])``; exact (equals ``forward`` at step ``t``).

        Args:
            x_t: input current of one step ``[B, ...]``.
            state: :class:`FoldedState` (the step index ``t``); ``None`` starts at step 0.

        Returns:
            ``(spikes [B, ...], state of the next step)``.
        """
        t = 0 if state is None else state.t
        return spike(x_t - self.thresholds[t].to(x_t.dtype), self.surrogate), FoldedState(t + 1)


def fold_neuron(neuron: MFPNeuron, reading: str = "rowsum") -> FoldedThresholdNeuron:
    """The eq. 9 neuron for ``neuron``'s current ``M`` and ``alpha`` (MFP-QSNN eq. 9).

    Args:
        neuron: a trained :class:`MFPNeuron` (its effective ``alpha M`` is read in float64).
        reading: name in :data:`THRESHOLD_READINGS` (``"rowsum"`` or ``"diagonal"``).

    Returns:
        A new :class:`FoldedThresholdNeuron` with float32 thresholds ``[T]`` and the same
            surrogate.

    Raises:
        RegistryError: unknown ``reading``.
        FoldingError: ``M`` is singular (a zero on its diagonal) or gives non-finite
            thresholds.
    """
    with torch.no_grad():
        m = neuron.effective_matrix(torch.float64)
        theta = THRESHOLD_READINGS.get(reading)(m, neuron.threshold)
    return FoldedThresholdNeuron(theta.float(), neuron.surrogate)


def fold_network(model: nn.Module, reading: str = "rowsum") -> nn.Module:
    """A copy of ``model`` with every :class:`MFPNeuron` replaced by its eq. 9 form.

    Args:
        model: any module holding :class:`MFPNeuron` layers (left unchanged; deep-copied).
        reading: name in :data:`THRESHOLD_READINGS` (``"rowsum"`` or ``"diagonal"``).

    Returns:
        The folded copy (same input and output shapes as ``model``).

    Raises:
        RegistryError: unknown ``reading``.
        FoldingError: some ``M`` is singular.
    """
    folded = copy.deepcopy(model)
    targets = [(name, m) for name, m in folded.named_modules() if isinstance(m, MFPNeuron)]
    for name, neuron in targets:
        parent_name, _, child = name.rpartition(".")
        parent = folded.get_submodule(parent_name) if parent_name else folded
        setattr(parent, child, fold_neuron(neuron, reading))
    return folded


@torch.no_grad()
def layer_spike_mismatch(
    model: nn.Module, x: torch.Tensor, reading: str = "rowsum"
) -> dict[str, float]:
    """Per MFP layer: fraction of spikes where eq. 9 differs from eq. 7 on the same input.

    Runs ``model`` in eval mode (BN running statistics) on ``x``.

    Each layer's input currents come from the parallel (exact) network, so errors do not
    compound; end-to-end effects show in the accuracy of :func:`fold_network`.

    Args:
        model: a network with :class:`MFPNeuron` layers (its train/eval mode is restored).
        x: a model input batch (e.g. ``[B, C, H, W]`` or ``[T, B, C, H, W]``).
        reading: name in :data:`THRESHOLD_READINGS` (``"rowsum"`` or ``"diagonal"``).

    Returns:
        ``{module name: fraction of spike positions that differ, in [0, 1]}``.

    Raises:
        RegistryError: unknown ``reading``.
        FoldingError: some ``M`` is singular.
    """
    inputs: dict[str, torch.Tensor] = {}
    neurons = {n: m for n, m in model.named_modules() if isinstance(m, MFPNeuron)}
    hooks = [m.register_forward_hook(lambda mod, args, out, n=n: inputs.__setitem__(n, args[0]))
             for n, m in neurons.items()]
    was_training = model.training
    model.eval()
    try:
        model(x)
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    out = {}
    for name, neuron in neurons.items():
        exact = neuron(inputs[name])
        folded = fold_neuron(neuron, reading)(inputs[name])
        out[name] = float((exact != folded).float().mean())
    return out
