"""The AGMM block: adaptive gradient modulation after a binary conv + BN (AGMM eq. 11).

Reconstruction (the paper's equations were lost; see ``docs/methods/agmm.md``)::

    m[t]  = mean of X[t] over every feature of one sample   (C, H, W  or  N)
    E[t]  = alpha_t * M[t]
    X'[t] = sigmoid(E[t]) * X[t]

with one learnable ``alpha_t`` per step (initialised to 1) and ``M[t]``, the
"time-scaled average", one of

* ``causal=True`` (default): the cumulative mean ``M[t] = mean_{s <= t} m[s]``
  (streaming-safe: step t never looks ahead);
* ``causal=False``: the mean over all steps ``M[t] = mean_s m[s]``;
* ``per_step=True``: the current step only, ``M[t] = m[t]`` (the ``E(X[t])`` notation).

So the gate ``sigmoid(E[t])`` is one scalar per sample and step. Its backward
scales the gradient reaching ``X[t]`` (and through BN the binary weight) by
``sigmoid(E[t]) < 1`` (eq. 15-16), plus a small term through the mean that the
paper neglects; ``detach_mean=True`` drops that term (eq. 15 exactly).
"""

from __future__ import annotations

import torch
from torch import nn

from spikebit.errors import ConfigError, ShapeError
from spikebit.models.blocks import BLOCKS
from spikebit.neurons.base import check_sequence


def _steps(m: torch.Tensor) -> torch.Tensor:
    """``[1, 2, ..., T]`` shaped to broadcast against ``m [T, B]``."""
    return torch.arange(1, m.shape[0] + 1, dtype=m.dtype, device=m.device).view(-1, 1)


def temporal_mean(m: torch.Tensor, causal: bool, per_step: bool) -> torch.Tensor:
    """``M[t]`` from per-step means ``m [T, B]``: cumulative, all-T or step t alone.

    The "time-scaled average" of AGMM eq. 11 (reconstruction, see the module docstring).

    Args:
        m: per-step means over each sample's features, ``[T, B]``.
        causal: cumulative mean over steps ``<= t`` (else the mean over all ``T``).
        per_step: step ``t`` alone (takes precedence over ``causal``).

    Returns:
        ``M`` of shape ``[T, B]``.
    """
    if per_step:
        return m
    if causal:
        return m.cumsum(0) / _steps(m)
    return m.mean(0, keepdim=True).expand_as(m)


@BLOCKS.register("agmm")
class AGMM(nn.Module):
    """Adaptive gradient modulation over ``[T, B, C, H, W]`` or ``[T, B, N]`` (shape kept).

    ``X'[t] = sigmoid(alpha_t * M[t]) * X[t]`` (AGMM eq. 11, reconstruction; backward
    eq. 15-16). Registered as block ``"agmm"``.

    Args:
        steps: ``T``, the number of learnable ``alpha_t`` (one per time step).
        causal: cumulative mean over steps ``<= t`` (default) vs the mean over all T.
        per_step: use step t alone (implies causal).
        detach_mean: no gradient through the mean (the paper's simplified eq. 15).
        alpha_init: initial ``alpha_t``.

    Raises:
        ConfigError: ``steps < 1``, or ``per_step=True`` with ``causal=False``.
    """

    def __init__(
        self,
        steps: int,
        causal: bool = True,
        per_step: bool = False,
        detach_mean: bool = False,
        alpha_init: float = 1.0,
    ) -> None:
        super().__init__()
        if steps < 1:
            raise ConfigError(f"AGMM needs steps >= 1 (one alpha per time step), got {steps}")
        if per_step and not causal:
            raise ConfigError("AGMM: per_step=True uses step t alone and is causal; "
                             "drop causal=False or per_step=True")
        self.steps = int(steps)
        self.causal = bool(causal)
        self.per_step = bool(per_step)
        self.detach_mean = bool(detach_mean)
        self.alpha = nn.Parameter(torch.full((self.steps,), float(alpha_init)))

    def _check(self, x: torch.Tensor) -> None:
        check_sequence(x, "AGMM")
        if x.ndim < 3:
            raise ShapeError(
                f"AGMM expects [T, B, C, H, W] or [T, B, N], got shape {tuple(x.shape)}"
            )
        if x.shape[0] != self.steps:
            raise ShapeError(
                f"AGMM was built for T={self.steps} steps (one alpha per step) but got a "
                f"sequence of {x.shape[0]} steps; build the model with steps={x.shape[0]}"
            )

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        """``sigmoid(E[t])`` of shape ``[T, B, 1, ...]`` (broadcasts against ``x``).

    Args:
        x: the BN output ``[T, B, C, H, W]`` or ``[T, B, N]``.

    Returns:
        The gate, in ``(0, 1)``, shape ``[T, B, 1, 1, 1]`` or ``[T, B, 1]``.

    Raises:
        ShapeError: fewer than 3 dimensions, or ``T != steps``.
    """
        self._check(x)
        m = x.reshape(*x.shape[:2], -1).mean(-1)
        if self.detach_mean:
            m = m.detach()
        mean = temporal_mean(m, self.causal, self.per_step)
        g = torch.sigmoid(self.alpha.to(x.dtype).view(-1, 1) * mean)
        return g.view(*x.shape[:2], *([1] * (x.ndim - 2)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[T, B, ...] -> [T, B, ...]``: ``sigmoid(E[t]) * X[t]`` (autograd backward).

    Args:
        x: the BN output ``[T, B, C, H, W]`` or ``[T, B, N]``.

    Returns:
        The modulated current, shape of ``x``.

    Raises:
        ShapeError: fewer than 3 dimensions, or ``T != steps``.
    """
        return self.gate(x) * x

    def extra_repr(self) -> str:
        window = "step" if self.per_step else ("cumulative" if self.causal else "all-T")
        return f"steps={self.steps}, mean={window}, detach_mean={self.detach_mean}"
