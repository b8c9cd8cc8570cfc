"""MFP neuron kernels: ``S = H(M @ X - V)`` along time, forward and backward.

For ``x [T, N]`` (time-major, neurons flattened) and a lower-triangular ``m [T, T]``
(``alpha`` folded in)::

    H[t] = sum_{i <= t} m[t, i] X[i]        S = H(H - V)                     (MFP-QSNN eq. 7)
    g[t] = grad_S[t] * h'(H[t] - V)         (h' the surrogate derivative)
    grad_X[i] = sum_{t >= i} m[t, i] g[t]   grad_m = tril(g X^T)

Entries of ``m`` above the diagonal are ignored (zero gradient) by every backend. All
backends save only ``X`` (and ``m``) for backward and recompute ``H`` there.

* ``backend="eager"`` (reference): ``torch.mm`` for ``H`` (spikes written over it) and
  for both gradients; the surrogate derivative op by op. Where ``X`` (or ``g``) holds a
  NaN or inf, ``H`` (or ``grad_X``) is summed row by row instead, over ``i <= t`` only
  (:mod:`spikebit.functional.timemix`): the zeros above the diagonal would otherwise
  multiply a later NaN/inf into earlier steps.
* ``backend="compiled"``: the same formulas written per step (the ``T x T`` sums
  unrolled, ``i`` ascending) and compiled with ``torch.compile``, so that ``H``, the
  spikes, the surrogate and ``grad_X`` are one pass over the neurons each way with no
  ``[T, N]`` temporaries; ``grad_m`` is one ``mm`` of the fused pass's ``g`` with ``X``.
  The number of neurons ``N`` is a dynamic dimension (one compilation per ``T``, dtype,
  device, threshold and surrogate, whatever the batch size).
* ``backend="native"``: a hand-written C++ CPU kernel (:mod:`spikebit.methods.mfp.native`),
  built on first use: the forward one pass over the neurons (read ``X``, write ``S``), the
  backward another (read ``X`` and ``grad_S``, write ``grad_X``) that also accumulates
  ``grad_m`` in registers, so no ``g`` is written and no separate ``mm`` reads it back.
  CPU float32/float64, ``T <= 32``, rectangle/triangle/atan surrogates; anything else
  (GPU, half precision, other surrogates, no C++ compiler) runs the eager reference
  (:func:`resolve_backend`). The kernel folds the surrogate's constant factor into ``m``;
  where that product leaves the dtype's normal range (extreme widths or entries of ``m``),
  the backward runs the eager formulas instead (:class:`native.FoldRangeError`).

Every backend is causal: ``S[t]`` and ``H[t]`` depend on ``X[:t + 1]`` only, NaN and inf
included (a NaN ``H`` does not spike, ``+inf`` does). Spikes of the backends are equal
wherever ``H`` is not within rounding of ``V`` (``torch.mm`` may sum in another order or
with fused multiply-adds); in half precision the compiled kernel compares the float32
sum, eager the sum rounded to the dtype. Gradients agree too, except where ``H`` is NaN
and the surrogate's derivative of NaN differs: the triangle surrogate's is NaN in
eager/compiled (``clamp``) and 0 in the C++ kernel (a comparison).

``x`` and ``m`` must share dtype and device and ``m`` must be ``[T, T]``
(:class:`~spikebit.errors.TensorTypeError`, :class:`~spikebit.errors.ShapeError`, for
every backend); :class:`MFPNeuron` casts its ``M`` to the input's dtype.
:meth:`MFPNeuron.step` uses the neuron's own backend, so its spikes equal that backend's
``forward`` bit for bit.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Literal

import torch

from spikebit.errors import ConfigError
from spikebit.functional.surrogate import Surrogate
from spikebit.functional.timemix import causal_mix, causal_mix_transposed, matmul_is_causal
from spikebit.methods.mfp import native
from spikebit.methods.mfp.operands import check_operands

Backend = Literal["eager", "compiled", "native"]
BACKENDS: tuple[str, ...] = ("eager", "compiled", "native")


def check_backend(backend: str) -> str:
    """Return ``backend`` if it names a kernel (:data:`BACKENDS`), else raise ``ConfigError``."""
    if backend not in BACKENDS:
        raise ConfigError(
            f"unknown MFP kernel backend {backend!r}: use one of {', '.join(BACKENDS)} "
            "('native': the fused C++ CPU kernel, 'compiled': fused with torch.compile, "
            "'eager': the torch.mm reference)"
        )
    return backend


# --- eager reference -------------------------------------------------------------------


class _EagerMFP(torch.autograd.Function):
    """``S = H(tril(m) @ x - V)`` on ``x [T, N]``; saves ``x`` and ``m`` only."""

    @staticmethod
    def forward(ctx, x, m, threshold, surrogate):  # type: ignore[override]
        m = m.tril()
        ctx.save_for_backward(x, m)
        ctx.threshold, ctx.surrogate = threshold, surrogate
        ctx.fast = matmul_is_causal(x)  # x is saved unchanged: not checked again in backward
        h = causal_mix(m, x, fast=ctx.fast)
        return torch.ge(h, threshold, out=h)  # spikes written over H (no extra buffer)

    @staticmethod
    def backward(ctx, grad_s):  # type: ignore[override]
        x, m = ctx.saved_tensors
        grad_x, grad_m = _eager_backward(x, m, grad_s, ctx.threshold, ctx.surrogate,
                                         *ctx.needs_input_grad[:2], fast=ctx.fast)
        return grad_x, grad_m, None, None


def _eager_backward(
    x: torch.Tensor, m: torch.Tensor, grad_s: torch.Tensor, threshold: float,
    surrogate: Surrogate, need_x: bool, need_m: bool, fast: bool | None = None,
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """``(grad_X or None, grad_m or None)`` by the eager formulas (``m`` lower triangle used;
    ``fast``: :func:`matmul_is_causal` of ``x`` if known)."""
    h_minus_v = causal_mix(m, x, -threshold, fast)  # recomputed H - V
    g = surrogate.derivative(h_minus_v)
    del h_minus_v
    g.mul_(grad_s)
    grad_x = causal_mix_transposed(m, g) if need_x else None
    grad_m = torch.mm(g, x.t()).tril_() if need_m else None
    return grad_x, grad_m


# --- fused (compiled) ------------------------------------------------------------------
# Written functionally, step by step, for torch.compile: inductor turns each function into
# one loop over the neurons with the T x T sums unrolled inside it.


def _mix(x: torch.Tensor, m: torch.Tensor, t: int) -> torch.Tensor:
    """``H[t] = sum_{i <= t} m[t, i] x[i]``, ``i`` ascending."""
    h = x[0] * m[t, 0]
    for i in range(1, t + 1):
        h = h + x[i] * m[t, i]
    return h


def _fused_forward(x: torch.Tensor, m: torch.Tensor, threshold: float) -> torch.Tensor:
    return torch.stack([(_mix(x, m, t) >= threshold).to(x.dtype) for t in range(x.shape[0])])


def _fused_backward(
    x: torch.Tensor, m: torch.Tensor, grad_s: torch.Tensor, threshold: float,
    surrogate: Surrogate, need_m: bool,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(grad_X, g or None)``: ``g = grad_S * h'(H - V)`` is returned for ``grad_m``."""
    steps = x.shape[0]
    g = [grad_s[t] * surrogate.derivative(_mix(x, m, t) - threshold) for t in range(steps)]
    grad_x = []
    for i in range(steps):  # grad_X[i] = sum_{t >= i} m[t, i] g[t], t descending
        acc = g[steps - 1] * m[steps - 1, i]
        for t in range(steps - 2, i - 1, -1):
            acc = acc + g[t] * m[t, i]
        grad_x.append(acc)
    return torch.stack(grad_x), (torch.stack(g) if need_m else None)


@functools.cache
def _compiled() -> tuple[Callable[..., torch.Tensor], Callable[..., tuple]]:
    # Stacking the T per-step results must not become a "pointwise cat" (which recomputes
    # every step's sum for every output step): as a concat, inductor writes each step's
    # result straight into its slice from the single fused loop (as in functional/lif.py).
    options = {"max_pointwise_cat_inputs": 1}
    return (torch.compile(_fused_forward, dynamic=None, options=options),
            torch.compile(_fused_backward, dynamic=None, options=options))


def _neurons_dynamic(*tensors: torch.Tensor) -> None:
    # one compiled kernel for every N (batch size, layer size)
    for t in tensors:
        torch._dynamo.maybe_mark_dynamic(t, 1)


class _FusedMFP(torch.autograd.Function):
    """Same contract as :class:`_EagerMFP`, compiled forward and backward."""

    @staticmethod
    def forward(ctx, x, m, threshold, surrogate):  # type: ignore[override]
        ctx.save_for_backward(x, m)
        ctx.threshold, ctx.surrogate = threshold, surrogate
        _neurons_dynamic(x)
        return _compiled()[0](x, m, threshold)

    @staticmethod
    def backward(ctx, grad_s):  # type: ignore[override]
        x, m = ctx.saved_tensors
        grad_x, grad_m = _fused_backward_call(x, m, grad_s, ctx.threshold, ctx.surrogate,
                                              bool(ctx.needs_input_grad[1]))
        return (grad_x if ctx.needs_input_grad[0] else None), grad_m, None, None


def _fused_backward_call(x, m, grad_s, threshold, surrogate, need_m):
    grad_s = grad_s.contiguous()
    _neurons_dynamic(x, grad_s)
    grad_x, g = _compiled()[1](x, m, grad_s, threshold, surrogate, need_m)
    # grad_m outside the compiled graph: inductor's extern mm on the stacked g ran slower
    # than the same mm called here
    return grad_x, (torch.mm(g, x.t()).tril_() if need_m else None)


# --- native (C++ CPU kernel) ------------------------------------------------------------


class _NativeMFP(torch.autograd.Function):
    """Same contract as :class:`_EagerMFP`, with :mod:`.native`'s fused C++ kernel.

    Only called where :func:`native.supports` holds (see :func:`mfp_sequence`).
    """

    @staticmethod
    def forward(ctx, x, m, threshold, surrogate):  # type: ignore[override]
        ctx.save_for_backward(x, m)
        ctx.threshold, ctx.surrogate = threshold, surrogate
        return native.forward(x, m, threshold)

    @staticmethod
    def backward(ctx, grad_s):  # type: ignore[override]
        x, m = ctx.saved_tensors
        need_x, need_m = ctx.needs_input_grad[:2]
        grad_x, grad_m = _native_backward(x, m, grad_s.contiguous(), ctx.threshold,
                                          ctx.surrogate, bool(need_m))
        return (grad_x if need_x else None), (grad_m if need_m else None), None, None


def _native_backward(
    x: torch.Tensor, m: torch.Tensor, grad_s: torch.Tensor, threshold: float,
    surrogate: Surrogate, need_m: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`native.backward`, or the eager formulas where the kernel cannot fold the
    surrogate's constant into ``m`` (:class:`native.FoldRangeError`: extreme widths or
    entries of ``m``, where the folded constant would overflow or underflow the dtype)."""
    try:
        return native.backward(x, m, grad_s, threshold, surrogate, need_m)
    except native.FoldRangeError:
        grad_x, grad_m = _eager_backward(x, m, grad_s, threshold, surrogate, True, need_m)
        return grad_x, (grad_m if need_m else torch.zeros_like(m))


_FUNCTIONS = {"eager": _EagerMFP, "compiled": _FusedMFP, "native": _NativeMFP}


def resolve_backend(backend: str, x: torch.Tensor, surrogate: Surrogate) -> str:
    """The backend that actually runs ``x [T, ...]``: ``"native"`` falls back to ``"eager"``
    where :func:`native.supports` does not hold (GPU, half precision, ``T > 32``, other
    surrogates, no C++ compiler); the others run as named.

    Args:
        backend: the requested backend (:data:`BACKENDS`).
        x: the input currents ``[T, ...]``.
        surrogate: the neuron's surrogate.

    Returns:
        ``"eager"``, ``"compiled"`` or ``"native"``.

    Raises:
        ConfigError: ``backend`` is not in :data:`BACKENDS`.
    """
    if check_backend(backend) == "native" and not native.supports(x, surrogate):
        return "eager"
    return backend


def mfp_backward(
    x: torch.Tensor, m: torch.Tensor, grad_s: torch.Tensor, threshold: float,
    surrogate: Surrogate, backend: Backend = "eager",
) -> tuple[torch.Tensor, torch.Tensor]:
    """The backward alone: ``(grad_X [T, N], grad_m [T, T])`` of ``S = H(m @ x - V)``.

    ``x, grad_s [T, N]``, lower-triangular ``m [T, T]``, ``threshold`` ``V``, ``surrogate``
    (its derivative stands for ``dS/dH``), ``backend`` as in :func:`mfp_sequence` (where
    ``"native"`` does not apply, the eager reference runs). Raises ``ConfigError`` for an
    unknown backend, ``ShapeError`` and ``TensorTypeError`` as :func:`check_operands`.
    """
    check_operands(x, m, "mfp_backward", grad_s)
    backend = resolve_backend(backend, x, surrogate)
    if backend == "compiled":
        return _fused_backward_call(x.contiguous(), m, grad_s, float(threshold), surrogate,
                                    True)
    if backend == "native":
        return _native_backward(x.contiguous(), m, grad_s.contiguous(), float(threshold),
                                surrogate, True)
    with torch.enable_grad():
        xr, mr = x.detach().requires_grad_(), m.detach().requires_grad_()
        s = _EagerMFP.apply(xr, mr, float(threshold), surrogate)
        return torch.autograd.grad(s, (xr, mr), grad_s)


def mfp_sequence(
    x: torch.Tensor, m: torch.Tensor, threshold: float, surrogate: Surrogate,
    backend: Backend = "eager",
) -> torch.Tensor:
    """Spikes ``H(m @ x - V)`` for ``x [T, B, ...]``, lower-triangular ``m [T, T]`` and
    ``threshold`` ``V``; ``surrogate`` gives ``dS/dH`` in backward.

    ``alpha`` is folded into ``m``; entries above its diagonal are ignored. Differentiable
    in ``x`` and ``m`` (surrogate gradient); saves only ``x`` and ``m`` for backward.
    ``backend``: ``"eager"`` (``torch.mm`` reference), ``"compiled"`` (fused with
    torch.compile) or ``"native"`` (fused C++ CPU kernel, else eager; see the module
    docstring). Raises ``ConfigError`` for an unknown backend; ``ShapeError`` (``m`` not
    ``[T, T]``) and ``TensorTypeError`` (``m`` in another dtype or on another device than
    ``x``) as :func:`check_operands`, for every backend.
    """
    check_operands(x, m, "mfp_sequence")
    fn = _FUNCTIONS[resolve_backend(backend, x, surrogate)]
    t = x.shape[0]
    s = fn.apply(x.reshape(t, -1).contiguous(), m, float(threshold), surrogate)
    return s.reshape(x.shape)
