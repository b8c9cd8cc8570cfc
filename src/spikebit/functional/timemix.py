"""Causal lower-triangular time mixing, exact on non-finite inputs.

A lower-triangular ``m [T, T]`` mixes ``x [T, N]`` along time (MFP-QSNN eq. 7)::

    H[t] = sum_{i <= t} m[t, i] x[i]          (causal_mix)
    G[i] = sum_{t >= i} m[t, i] g[t]          (causal_mix_transposed, its backward)

``torch.mm(tril(m), x)`` also multiplies the zeros above the diagonal by later steps.
That adds exact zeros while ``x`` is finite, but ``0 * inf`` and ``0 * nan`` are NaN, so
one NaN or inf at step ``i`` would turn every earlier row into NaN: a future step would
change past outputs. These functions run that single ``mm`` when every value is finite
(:func:`all_finite`: one sum over the input; on the CPU, 2-5% of an eager MFP forward and
backward at ``T = 4..16``) and otherwise sum each row over its own terms only (one small
matmul per step, the terms of the C++ kernel's rows). On an accelerator the check would
stall the host at every call, so there the single ``mm`` runs unchecked
(:func:`matmul_is_causal`). While tracing
(``torch.compile``, ``torch.export``, ONNX export, fake tensors), where a branch on the
data cannot be recorded, they always sum row by row.
"""

from __future__ import annotations

import torch


def traced(x: torch.Tensor) -> bool:
    """Whether ``x`` has no data to branch on: tracing, a tensor subclass or ``meta``.

    Args:
        x: any tensor.

    Returns:
        ``True`` under ``torch.compile``/``torch.export`` tracing or ``torch.jit.trace``,
        for tensor subclasses (fake or functional tensors) and on the ``meta`` device.
    """
    return (type(x) is not torch.Tensor or x.device.type == "meta"
            or torch.compiler.is_compiling() or torch.jit.is_tracing())


def all_finite(x: torch.Tensor) -> bool:
    """Whether every entry of ``x`` is finite, from one sum (no boolean ``x``-sized temporary).

    A NaN or inf entry makes the sum NaN or inf; so can an overflow of finite entries
    (beyond float32's range, the sum runs in at least float32), which reads as "not
    finite": callers then take their exact slow path, never a wrong one.

    Args:
        x: a floating-point tensor, any shape.

    Returns:
        ``True`` when the sum of ``x`` is finite (``True`` for an empty tensor).
    """
    return bool(torch.isfinite(x.sum(dtype=torch.promote_types(x.dtype, torch.float32))))


def matmul_is_causal(x: torch.Tensor) -> bool:
    """Whether :func:`causal_mix` runs one ``mm`` over ``x [T, N]``: not traced, and either
    every entry is finite (checked on the CPU) or ``x`` is on an accelerator.

    On an accelerator the check would make the host wait for the device at every call
    (twice per MFP layer and training step), so one ``mm`` runs unchecked there: a NaN/inf
    at a later step then also turns earlier rows NaN (a diverged network; the trainer
    stops on a non-finite loss). On the CPU the check is one sum (2-5% of an eager MFP
    forward and backward).

    Args:
        x: the mixed operand, time-major ``[T, N]``.

    Returns:
        ``True`` when :func:`causal_mix` would run a single ``mm`` (one pass over ``x``).
    """
    if x.shape[0] == 0:
        return True
    if traced(x):
        return False
    return x.device.type != "cpu" or all_finite(x)


def causal_mix(m: torch.Tensor, x: torch.Tensor, shift: float = 0.0,
               fast: bool | None = None) -> torch.Tensor:
    """``H[t] = sum_{i <= t} m[t, i] x[i] + shift`` for every step (module doc).

    Args:
        m: the mixing matrix ``[T, T]``, ``x``'s dtype and device (entries above the
            diagonal are ignored).
        x: the inputs, time-major ``[T, N]``.
        shift: a constant added to every entry (e.g. ``-V`` for ``H - V``).
        fast: :func:`matmul_is_causal` of ``x`` if the caller knows it (e.g. from the
            forward pass, for the same saved ``x``); ``None``: checked here.

    Returns:
        ``H`` ``[T, N]`` (``H[t]`` depends on ``x[:t + 1]`` only, also for NaN/inf inputs
        on the CPU and while tracing; see :func:`matmul_is_causal` for accelerators).
    """
    if matmul_is_causal(x) if fast is None else fast:
        if shift:
            return torch.addmm(x.new_full((1,), shift), m.tril(), x)
        return torch.mm(m.tril(), x)
    h = torch.cat([m[t:t + 1, :t + 1] @ x[:t + 1] for t in range(x.shape[0])])
    return h + shift if shift else h


def causal_mix_transposed(m: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """``G[i] = sum_{t >= i} m[t, i] g[t]``: ``tril(m)^T @ g``, the backward of
    :func:`causal_mix` (module doc).

    Args:
        m: the mixing matrix ``[T, T]``, ``g``'s dtype and device (entries above the
            diagonal are ignored).
        g: the gradient with respect to ``H``, ``[T, N]``.

    Returns:
        ``G`` ``[T, N]`` (``G[i]`` depends on ``g[i:]`` only, also for NaN/inf entries on
        the CPU and while tracing; see :func:`matmul_is_causal` for accelerators).
    """
    if matmul_is_causal(g):
        return torch.mm(m.tril().t(), g)
    return torch.cat([m[i:, i:i + 1].t() @ g[i:] for i in range(g.shape[0])])
