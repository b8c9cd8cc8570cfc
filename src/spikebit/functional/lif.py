"""Fused multi-step LIF/IF dynamics: one autograd function over the whole sequence.

Dynamics (time-major ``x`` of shape ``[T, B, ...]``)::

    h[t] = tau * v[t-1] + x[t]          # charge (v[-1] = 0)
    s[t] = firing.fire(h[t])            # spike (binary or count)
    v[t] = h[t] * (1 - s[t])            # hard reset
    v[t] = h[t] - V * s[t]              # soft reset (reset by subtraction)

Only ``h`` (one tensor the size of the input) is saved for backward; spikes
and surrogate derivatives are recomputed from it. The backward is the exact
BPTT of the formulas above with ``ds/dh`` replaced by the surrogate (and, with
``detach_reset``, the reset term's dependence on ``s`` cut).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Literal

import torch

from spikebit.functional.firing import Firing

Reset = Literal["hard", "soft"]
Backend = Literal["eager", "compiled"]


def _forward_loop(
    x: torch.Tensor, tau: float, reset: Reset, firing: Firing
) -> tuple[torch.Tensor, torch.Tensor]:
    spikes = torch.empty_like(x)
    h_all = torch.empty_like(x)
    v = torch.zeros_like(x[0])
    for t in range(x.shape[0]):
        h = torch.add(x[t], v, alpha=tau) if t else x[t]
        s = firing.fire(h)
        h_all[t] = h
        spikes[t] = s
        v = h * (1.0 - s) if reset == "hard" else h - firing.threshold * s
    return spikes, h_all


def _backward_loop(
    grad_s: torch.Tensor,
    h_all: torch.Tensor,
    tau: float,
    reset: Reset,
    firing: Firing,
    detach_reset: bool,
) -> torch.Tensor:
    grad_x = torch.empty_like(h_all)
    grad_v = torch.zeros_like(h_all[0])
    for t in range(h_all.shape[0] - 1, -1, -1):
        h = h_all[t]
        sg = firing.grad(h)
        if reset == "hard":
            s = firing.fire(h)
            dv_dh = (1.0 - s) if detach_reset else (1.0 - s) - h * sg
        else:
            dv_dh = 1.0 if detach_reset else 1.0 - firing.threshold * sg
        grad_h = grad_s[t] * sg + grad_v * dv_dh
        grad_x[t] = grad_h
        grad_v = grad_h * tau
    return grad_x


@functools.cache
def _compiled_loops() -> tuple[Callable[..., tuple[torch.Tensor, torch.Tensor]],
                               Callable[..., torch.Tensor]]:
    return torch.compile(_forward_loop, dynamic=False), torch.compile(_backward_loop, dynamic=False)


def _loops(backend: Backend):
    if backend == "compiled":
        return _compiled_loops()
    return _forward_loop, _backward_loop


class _LIFSequence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, tau, reset, firing, detach_reset, backend):  # type: ignore[override]
        fwd, _ = _loops(backend)
        spikes, h_all = fwd(x, tau, reset, firing)
        ctx.save_for_backward(h_all)
        ctx.config = (tau, reset, firing, detach_reset, backend)
        return spikes

    @staticmethod
    def backward(ctx, grad_s):  # type: ignore[override]
        (h_all,) = ctx.saved_tensors
        tau, reset, firing, detach_reset, backend = ctx.config
        _, bwd = _loops(backend)
        grad_x = bwd(grad_s.contiguous(), h_all, tau, reset, firing, detach_reset)
        return grad_x, None, None, None, None, None


def lif_sequence(
    x: torch.Tensor,
    firing: Firing,
    tau: float = 0.5,
    reset: Reset = "hard",
    detach_reset: bool = False,
    backend: Backend = "eager",
) -> torch.Tensor:
    """LIF dynamics over ``x [T, B, ...]`` from a zero state; returns spikes ``[T, B, ...]``."""
    return _LIFSequence.apply(x.contiguous(), float(tau), reset, firing, detach_reset, backend)


def lif_step(
    x_t: torch.Tensor,
    v: torch.Tensor,
    firing: Firing,
    tau: float = 0.5,
    reset: Reset = "hard",
    detach_reset: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One step: ``(x_t [B, ...], v [B, ...]) -> (s_t, v_next)``; differentiable."""
    from spikebit.functional.firing import fire

    h = tau * v + x_t
    s = fire(h, firing)
    s_reset = s.detach() if detach_reset else s
    v_next = h * (1.0 - s_reset) if reset == "hard" else h - firing.threshold * s_reset
    return s, v_next
