"""Spiking neuron modules: a pure sequence API and an explicit-state step API."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from spikebit.errors import ShapeError
from spikebit.functional.firing import Firing
from spikebit.functional.lif import Backend, Reset, lif_sequence, lif_step
from spikebit.registry import Registry

NEURONS: Registry[type[nn.Module]] = Registry("neuron", discover=("spikebit.methods",))


class LIFState(NamedTuple):
    """Membrane potential after reset, ``v`` of shape ``[B, ...]``."""

    v: torch.Tensor


def check_sequence(x: torch.Tensor, who: str) -> None:
    """Raise a clear error unless ``x`` is time-major ``[T, B, ...]``."""
    if x.ndim < 2:
        raise ShapeError(
            f"{who} expects a time-major sequence [T, B, ...] (at least 2 dims), got shape "
            f"{tuple(x.shape)}. Add a time dimension, e.g. x.unsqueeze(0) for T=1, or use "
            f"step(x_t, state) for single steps."
        )


class IntegrateFireNeuron(nn.Module):
    """Leaky integrate-and-fire family over ``[T, B, ...]`` tensors.

    ``forward(x_seq)`` starts from a zero state and leaves no state behind.
    ``step(x_t, state)`` advances one step from an explicit :class:`LIFState`.
    Subclasses choose the firing function.
    """

    def __init__(
        self,
        tau: float,
        reset: Reset,
        detach_reset: bool = False,
        backend: Backend = "eager",
    ) -> None:
        super().__init__()
        if reset not in ("hard", "soft"):
            raise ValueError(f"reset must be 'hard' or 'soft', got {reset!r}")
        if not 0.0 <= tau <= 1.0:
            raise ValueError(f"tau (leak factor) must be in [0, 1], got {tau}")
        self.tau = float(tau)
        self.reset = reset
        self.detach_reset = detach_reset
        self.backend = backend

    @property
    def firing(self) -> Firing:  # pragma: no cover - abstract
        raise NotImplementedError("subclasses define their firing function")

    @property
    def threshold(self) -> float:
        return self.firing.threshold

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        """``[T, B, ...]`` input current -> ``[T, B, ...]`` spikes (or counts)."""
        check_sequence(x_seq, type(self).__name__)
        return lif_sequence(
            x_seq, self.firing, self.tau, self.reset, self.detach_reset, self.backend
        )

    def init_state(self, x_t: torch.Tensor) -> LIFState:
        return LIFState(torch.zeros_like(x_t))

    def step(
        self, x_t: torch.Tensor, state: LIFState | None = None
    ) -> tuple[torch.Tensor, LIFState]:
        """One step: ``x_t [B, ...]`` -> ``(s_t [B, ...], next state)``."""
        if state is None:
            state = self.init_state(x_t)
        s, v = lif_step(x_t, state.v, self.firing, self.tau, self.reset, self.detach_reset)
        return s, LIFState(v)

    def extra_repr(self) -> str:
        return f"tau={self.tau}, firing={self.firing}, reset={self.reset}"
