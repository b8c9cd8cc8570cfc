"""Straight-through binarizers (custom autograd functions) used by the quantizers."""

from __future__ import annotations

import math

import torch

from spikebit.functional.surrogate import sech2


class _SignSTE(torch.autograd.Function):
    """``sign(x)`` with ``sign(0) = +1``; backward passes the gradient where ``|x| <= clip``."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, clip: float) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.clip = clip
        one = torch.ones((), dtype=x.dtype, device=x.device)
        return torch.where(x >= 0, one, -one)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        if math.isinf(ctx.clip):
            return grad, None
        return grad * (x.abs() <= ctx.clip).to(grad.dtype), None


def sign_ste(x: torch.Tensor, clip: float = 1.0) -> torch.Tensor:
    """Binary ``±1`` of ``x`` (any shape; ``sign(0) = +1``) with a straight-through
    gradient passed where ``|x| <= clip`` (``clip = inf``: everywhere)."""
    return _SignSTE.apply(x, clip)


class _QSNNBinarize(torch.autograd.Function):
    """``sign(w_hat)`` (``sign(0) = +1``); backward ``k t (1 - tanh^2(t w_hat))``,
    ``k = max(1/t, 1)``. ``t``: a float or a 0-dim tensor (no host sync on a GPU)."""

    @staticmethod
    def forward(ctx, w_hat: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        t = torch.as_tensor(t, dtype=w_hat.dtype, device=w_hat.device)
        ctx.save_for_backward(w_hat, t)
        one = torch.ones((), dtype=w_hat.dtype, device=w_hat.device)
        return torch.where(w_hat >= 0, one, -one)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        w_hat, t = ctx.saved_tensors
        k = (1.0 / t).clamp_min(1.0)
        return grad * k * t * sech2(t * w_hat), None  # 1 - tanh^2 without cancellation
