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

``tau`` and ``V`` are floats (the default, fixed), or tensors (learnable leak and
threshold, per layer or per channel): then the backward also returns their gradients,
summed over time, batch and neurons, from the same saved ``h``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Literal

import torch

from spikebit.functional.firing import BinaryFiring, Firing

Reset = Literal["hard", "soft"]
Backend = Literal["eager", "compiled"]
Leak = float | torch.Tensor  # a tensor broadcastable to one step [B, ...] when learnable


# Two implementations of the same recurrences. ``_forward_loop``/``_backward_loop`` are
# written functionally (per-step tensors, stacked at the end): that is what
# ``torch.compile`` turns into one pass over the neurons with the time loop unrolled inside
# it (backend="compiled"; see ``_compiled_loops``). The ``*_eager`` versions
# (backend="eager") run the same arithmetic op by op, writing into preallocated outputs
# with as few full-size passes and temporaries as possible.


def _charge(x_t: torch.Tensor, v: torch.Tensor, tau: Leak) -> torch.Tensor:
    """``tau * v + x_t``: the float path as before, a tensor leak broadcast."""
    if isinstance(tau, torch.Tensor):
        return torch.addcmul(x_t, v, tau)
    return torch.add(x_t, v, alpha=tau)


def _after_reset(h: torch.Tensor, s: torch.Tensor, reset: Reset, firing: Firing) -> torch.Tensor:
    return h * (1.0 - s) if reset == "hard" else h - firing.threshold * s


def _forward_loop(
    x: torch.Tensor, tau: Leak, reset: Reset, firing: Firing
) -> tuple[torch.Tensor, torch.Tensor]:
    spikes, hs = [], []
    v = None
    for t in range(x.shape[0]):
        h = x[t] if v is None else _charge(x[t], v, tau)
        s = firing.fire(h)
        hs.append(h)
        spikes.append(s)
        v = _after_reset(h, s, reset, firing)
    return torch.stack(spikes), torch.stack(hs)


def _backward_loop(
    grad_s: torch.Tensor,
    h_all: torch.Tensor,
    tau: Leak,
    reset: Reset,
    firing: Firing,
    detach_reset: bool,
    param_grads: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    # With ``param_grads`` also the gradients of the leak and the threshold, summed over
    # time (one step's size; the caller reduces over batch and neurons):
    #   dL/dtau = sum_t dL/dh[t] * v[t-1]   (v recomputed from h[t-1])
    #   dL/dV   = sum_t grad_s[t] * ds/dV + dL/dv[t] * dv/dV,  dL/dv[t] = tau * dL/dh[t+1]
    #     hard: dv/dV = -h * ds/dV;  soft: dv/dV = -s - V * ds/dV  (detach_reset: 0 / -s)
    grads = []
    grad_v = None
    g_tau = g_thr = None
    last = h_all.shape[0] - 1
    for t in range(last, -1, -1):
        h = h_all[t]
        sg = firing.grad(h)
        grad_h = grad_s[t] * sg
        if param_grads:
            dsdv = firing.grad_threshold(h)
            gt = grad_s[t] * dsdv
        if grad_v is not None:  # the last step has no future term
            if reset == "hard":
                s = firing.fire(h)
                dv_dh = (1.0 - s) if detach_reset else (1.0 - s) - h * sg
            else:
                dv_dh = 1.0 if detach_reset else 1.0 - firing.threshold * sg
            grad_h = grad_h + grad_v * dv_dh
            if param_grads:
                if reset == "hard":
                    if not detach_reset:
                        gt = gt - grad_v * h * dsdv
                else:
                    s = firing.fire(h)
                    dv_dv = -s if detach_reset else -s - firing.threshold * dsdv
                    gt = gt + grad_v * dv_dv
        grads.append(grad_h)
        grad_v = grad_h * tau
        if param_grads:
            g_thr = gt if g_thr is None else g_thr + gt
            if t > 0:
                h_prev = h_all[t - 1]
                gl = grad_h * _after_reset(h_prev, firing.fire(h_prev), reset, firing)
                g_tau = gl if g_tau is None else g_tau + gl
    if param_grads and g_tau is None:  # T = 1: the leak never acts
        g_tau = torch.zeros_like(h_all[0])
    return torch.stack(grads[::-1]), g_tau, g_thr


def _forward_loop_eager(
    x: torch.Tensor, tau: float, reset: Reset, firing: Firing
) -> tuple[torch.Tensor, torch.Tensor]:
    # Each step's h goes straight into the saved buffer and the step's temporaries into two
    # reused work buffers: fresh full-size allocations (page faults) cost as much as the
    # arithmetic here. Binary spikes are s = [h >= V], so the hard reset h * (1 - s) is
    # h * [h < V] (also where h is NaN: NaN either way) and the soft one h - V * [h >= V].
    # Same operations on the same values as the formulas, so h and s are bit-for-bit those.
    if not isinstance(firing, BinaryFiring):
        return _forward_loop_generic(x, tau, reset, firing)
    threshold = firing.threshold
    h_all = torch.empty_like(x)
    h_all[0] = x[0]
    spikes = torch.empty_like(x)
    mask = torch.empty_like(x[0])
    v = torch.empty_like(x[0])
    for t in range(1, x.shape[0]):
        h = h_all[t - 1]
        if reset == "hard":
            torch.lt(h, threshold, out=mask)
            torch.mul(h, mask, out=v)
        else:
            torch.ge(h, threshold, out=spikes[t - 1])
            torch.sub(h, spikes[t - 1], alpha=threshold, out=v)
        torch.add(x[t], v, alpha=tau, out=h_all[t])
    if reset == "hard":
        torch.ge(h_all, threshold, out=spikes)
    else:
        torch.ge(h_all[-1], threshold, out=spikes[-1])
    return spikes, h_all


def _forward_loop_generic(
    x: torch.Tensor, tau: float, reset: Reset, firing: Firing
) -> tuple[torch.Tensor, torch.Tensor]:
    h_all = torch.empty_like(x)
    h_all[0] = x[0]
    for t in range(1, x.shape[0]):
        h = h_all[t - 1]
        s = firing.fire(h)
        v = h * (1.0 - s) if reset == "hard" else h - firing.threshold * s
        torch.add(x[t], v, alpha=tau, out=h_all[t])
    return firing.fire(h_all), h_all


def _backward_loop_eager(
    grad_s: torch.Tensor,
    h_all: torch.Tensor,
    tau: float,
    reset: Reset,
    firing: Firing,
    detach_reset: bool,
) -> torch.Tensor:
    # BPTT of the forward with g = ds/dh (surrogate) and G = dL/dh[t+1]:
    #   dL/dh[t] = grad_s[t] * g + tau * G * dv/dh,
    #   hard: dv/dh = (1 - s) - h * g   ->  g * (grad_s - tau * G * h) + tau * G * (1 - s)
    #   soft: dv/dh = 1 - V * g         ->  g * (grad_s - tau * V * G) + tau * G
    # (the ``- h * g`` / ``- V * g`` terms vanish with ``detach_reset``), evaluated into
    # reused work buffers. Like ``_backward_loop``, the last step skips its zero future
    # term (earlier versions added ``0 * dv/dh`` there, a NaN where h was not finite).
    grad_x = torch.empty_like(h_all)
    binary = isinstance(firing, BinaryFiring)
    threshold = firing.threshold
    direct = torch.empty_like(h_all[0])
    keep = torch.empty_like(h_all[0]) if reset == "hard" else None
    last = h_all.shape[0] - 1
    for t in range(last, -1, -1):
        h = h_all[t]
        sg = firing.grad(h)
        if t == last:
            torch.mul(grad_s[t], sg, out=grad_x[t])
            continue
        g_next = grad_x[t + 1]
        if detach_reset:
            torch.mul(grad_s[t], sg, out=direct)
        elif reset == "hard":
            torch.addcmul(grad_s[t], g_next, h, value=-tau, out=direct).mul_(sg)
        else:
            torch.add(grad_s[t], g_next, alpha=-tau * threshold, out=direct).mul_(sg)
        if keep is None:  # soft reset
            torch.add(direct, g_next, alpha=tau, out=grad_x[t])
            continue
        if not binary:
            keep = 1.0 - firing.fire(h)
        elif detach_reset:  # 1 - [h >= V] (1 where h is NaN)
            torch.ge(h, threshold, out=keep).neg_().add_(1.0)
        else:  # where h is NaN the gradient is NaN whatever keep is
            torch.lt(h, threshold, out=keep)
        torch.addcmul(direct, g_next, keep, value=tau, out=grad_x[t])
    return grad_x


# The compiled loops are specialised per input shape, dtype and parameter kind
# (``dynamic=False``: T and the neuron count are static in the unrolled loop). A network
# has more neuron shapes (layers, train and eval batch sizes, a last partial batch) than
# dynamo's default recompile limit of 8, past which dynamo would run every further shape
# with the Python loop, eagerly and slowly. While one of these loops runs, the limit is at
# least this; the user's own setting applies everywhere else.
RECOMPILE_LIMIT = 256


def _with_recompile_limit(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` run with dynamo's ``recompile_limit`` raised to at least :data:`RECOMPILE_LIMIT`."""
    config = torch._dynamo.config

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        old = config.recompile_limit
        if old >= RECOMPILE_LIMIT:
            return fn(*args, **kwargs)
        config.recompile_limit = RECOMPILE_LIMIT
        try:
            return fn(*args, **kwargs)
        finally:
            config.recompile_limit = old

    return run


@functools.cache
def _compiled_loops() -> tuple[Callable[..., tuple[torch.Tensor, torch.Tensor]],
                               Callable[..., torch.Tensor]]:
    # Stacking the T per-step results must not become a "pointwise cat" (which recomputes
    # the whole recurrence for every output step); as a concat, inductor writes each step's
    # result straight into its slice from a single fused loop over the neurons.
    options = {"max_pointwise_cat_inputs": 1}
    return (_with_recompile_limit(torch.compile(_forward_loop, dynamic=False, options=options)),
            _with_recompile_limit(torch.compile(_backward_loop, dynamic=False,
                                                options=options)))


def _loops(backend: Backend):
    if backend == "compiled":
        return _compiled_loops()
    return _forward_loop_eager, _backward_loop_eager


def _reduce(g: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Sum a one-step gradient ``[B, ...]`` to the shape of a parameter broadcast to it."""
    return g.sum_to_size(like.shape) if like.ndim else g.sum().reshape(())


class _LIFSequence(torch.autograd.Function):
    """Spikes of ``x [T, B, ...]``; saves ``h`` (plus the tiny leak/threshold tensors)."""

    @staticmethod
    def forward(ctx, x, tau, threshold, reset, firing, detach_reset, backend):  # type: ignore[override]
        tensor_params = isinstance(tau, torch.Tensor) or threshold is not None
        base_firing = firing  # ctx keeps no tensor outside save_for_backward
        if threshold is not None:
            firing = replace(firing, threshold=threshold)
        if tensor_params:  # functional loops: they broadcast tensor parameters
            fwd = _compiled_loops()[0] if backend == "compiled" else _forward_loop
        else:
            fwd, _ = _loops(backend)
        spikes, h_all = fwd(x, tau, reset, firing)
        tensors = [t if isinstance(t, torch.Tensor) else None for t in (tau, threshold)]
        ctx.save_for_backward(h_all, *tensors)
        ctx.config = (None if tensors[0] is not None else tau, reset, base_firing,
                      detach_reset, backend, tensor_params)
        return spikes

    @staticmethod
    def backward(ctx, grad_s):  # type: ignore[override]
        h_all, tau_t, thr_t = ctx.saved_tensors
        tau, reset, firing, detach_reset, backend, tensor_params = ctx.config
        grad_s = grad_s.contiguous()
        if not tensor_params:
            _, bwd = _loops(backend)
            grad_x = bwd(grad_s, h_all, tau, reset, firing, detach_reset)
            if backend == "compiled":  # the functional loop also returns (None, None)
                grad_x = grad_x[0]
            return grad_x, None, None, None, None, None, None
        if tau_t is not None:
            tau = tau_t
        if thr_t is not None:
            firing = replace(firing, threshold=thr_t)
        need = ctx.needs_input_grad
        bwd = _compiled_loops()[1] if backend == "compiled" else _backward_loop
        grad_x, g_tau, g_thr = bwd(grad_s, h_all, tau, reset, firing, detach_reset,
                                   bool(need[1] or need[2]))
        grad_tau = _reduce(g_tau, tau_t) if need[1] else None
        grad_thr = _reduce(g_thr, thr_t) if need[2] else None
        return grad_x, grad_tau, grad_thr, None, None, None, None


def lif_sequence(
    x: torch.Tensor,
    firing: Firing,
    tau: Leak = 0.5,
    reset: Reset = "hard",
    detach_reset: bool = False,
    backend: Backend = "eager",
    threshold: torch.Tensor | None = None,
) -> torch.Tensor:
    """LIF dynamics over ``x [T, B, ...]`` from a zero state; returns spikes ``[T, B, ...]``.

    ``tau`` (leak per step) is a float, or a tensor broadcastable to one step ``[B, ...]``
    (e.g. ``[]`` or ``[C, 1, 1]``); ``threshold``, if given, a tensor likewise that
    replaces ``firing.threshold``. Tensor parameters get gradients summed over batch,
    time and neurons; only ``h`` is saved for backward in every case. ``reset`` is
    ``"hard"`` or ``"soft"``, ``detach_reset`` cuts the reset's gradient through ``s``,
    ``backend`` picks the ``"eager"`` or ``"compiled"`` loops. The iterative LIF of
    ALBSNN eq. 3-4 (hard reset); with :class:`StaircaseFiring` and soft reset the
    multi-threshold LIF of its paper's eq. 4-5.

    Half-precision input (bfloat16/float16, e.g. under autocast) runs in float32: the
    membrane state accumulates in float32 and the spikes (exact small integers) come back
    in the input's dtype.

    Args:
        x: input current, time-major ``[T, B, ...]``.
        firing: spike function of ``h`` (:class:`BinaryFiring` or
            :class:`StaircaseFiring`) with its threshold and surrogate.
        tau: leak factor per step in ``[0, 1]`` (``h[t] = tau * v[t-1] + x[t]``; not a
            time constant), a float or a tensor broadcastable to ``[B, ...]``.
        reset: ``"hard"`` (``v = h * (1 - s)``) or ``"soft"`` (``v = h - V * s``).
        detach_reset: cut the reset's gradient path through ``s``.
        backend: ``"eager"`` or ``"compiled"`` (``torch.compile``) loops.
        threshold: tensor ``V`` broadcastable to ``[B, ...]`` that replaces
            ``firing.threshold`` and receives a gradient; ``None`` keeps the float one.

    Returns:
        Spikes (or counts) ``[T, B, ...]``, dtype of ``x``.
    """
    if not isinstance(tau, torch.Tensor):
        tau = float(tau)
    dtype = x.dtype
    if dtype in (torch.float16, torch.bfloat16):
        x = x.float()
    s = _LIFSequence.apply(x.contiguous(), tau, threshold, reset, firing, detach_reset, backend)
    return s if s.dtype == dtype else s.to(dtype)


def lif_step(
    x_t: torch.Tensor,
    v: torch.Tensor,
    firing: Firing,
    tau: Leak = 0.5,
    reset: Reset = "hard",
    detach_reset: bool = False,
    threshold: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One step: ``(x_t [B, ...], v [B, ...]) -> (s_t, v_next)``; differentiable.

    ``firing``, ``tau``, ``reset``, ``detach_reset`` and ``threshold`` as in
    :func:`lif_sequence` (autograd reaches tensor ``tau`` and ``threshold``).

    Args:
        x_t: input current of one step ``[B, ...]``.
        v: membrane potential after the previous step's reset ``[B, ...]`` (zeros at
            ``t = 0``).
        firing: spike function of ``h``.
        tau: leak factor per step in ``[0, 1]`` (float or broadcastable tensor).
        reset: ``"hard"`` or ``"soft"``.
        detach_reset: cut the reset's gradient path through ``s``.
        threshold: tensor ``V`` replacing ``firing.threshold``, or ``None``.

    Returns:
        ``(s_t, v_next)``, both ``[B, ...]``.
    """
    from spikebit.functional.firing import fire, fire_at

    h = tau * v + x_t
    if threshold is None:
        s = fire(h, firing)
        v_th: float | torch.Tensor = firing.threshold
    else:
        s = fire_at(h, firing, threshold)
        v_th = threshold
    s_reset = s.detach() if detach_reset else s
    v_next = h * (1.0 - s_reset) if reset == "hard" else h - v_th * s_reset
    return s, v_next
