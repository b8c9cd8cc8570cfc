"""Operand checks shared by the MFP kernels (:mod:`.kernel`, :mod:`.native`).

Metadata only (shape, dtype, device): no pass over the data. Every backend refuses what
the C++ kernel could not read safely, so that they all agree.
"""

from __future__ import annotations

import torch

from spikebit.errors import ShapeError, TensorTypeError


def check_operands(x: torch.Tensor, m: torch.Tensor, who: str,
                   grad_s: torch.Tensor | None = None) -> None:
    """Refuse operands no backend can run: ``m`` not ``[T, T]`` for ``x [T, ...]``, or
    ``m`` (or ``grad_s``) in another dtype or on another device than ``x``.

    Args:
        x: the input currents ``[T, ...]``.
        m: the mixing matrix, expected ``[T, T]``.
        who: the caller, named in the message.
        grad_s: ``dL/dS``, expected shaped like ``x`` (``None``: not checked).

    Raises:
        ShapeError: ``x`` has no time dimension or no steps, ``m`` is not ``[T, T]`` or ``grad_s``
            is not shaped like ``x``.
        TensorTypeError: ``m`` or ``grad_s`` differs from ``x`` in dtype or device.
    """
    if x.ndim < 1:
        raise ShapeError(f"{who}: x must be time-major [T, ...], got a 0-dim tensor")
    steps = x.shape[0]
    if steps < 1:
        raise ShapeError(f"{who}: x has no time steps (shape {list(x.shape)}); feed at "
                         "least one step [T >= 1, ...]")
    if tuple(m.shape) != (steps, steps):
        raise ShapeError(
            f"{who}: m must be [T, T] = [{steps}, {steps}] for x with T={steps} steps (dim "
            f"0), got {list(m.shape)}; build M for T={steps} (e.g. "
            f"MFPNeuron(steps={steps}).effective_matrix(x.dtype)) or feed that many steps")
    named = [("m", m)] + ([("grad_s", grad_s)] if grad_s is not None else [])
    if grad_s is not None and grad_s.shape != x.shape:
        raise ShapeError(f"{who}: grad_s must have x's shape {list(x.shape)}, got "
                         f"{list(grad_s.shape)}")
    for name, t in named:
        if t.dtype != x.dtype or t.device != x.device:
            raise TensorTypeError(
                f"{who}: {name} is {t.dtype} on {t.device} but x is {x.dtype} on {x.device}; "
                f"cast it first ({name}.to(x)): no backend mixes dtypes or devices")
