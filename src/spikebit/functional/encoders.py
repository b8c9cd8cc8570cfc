"""Input encoders: static input ``[B, ...]`` -> time-major sequence ``[T, B, ...]``."""

from __future__ import annotations

from collections.abc import Callable

import torch

from spikebit.registry import Registry

Encoder = Callable[[torch.Tensor, int], torch.Tensor]
ENCODERS: Registry[Encoder] = Registry("encoder")


@ENCODERS.register("direct")
def direct(x: torch.Tensor, steps: int) -> torch.Tensor:
    """Repeat the real-valued input each step (the first layer is the encoder).

    Args:
        x: static input ``[B, ...]`` (e.g. ``[B, C, H, W]``), any real values.
        steps: number of time steps ``T``.

    Returns:
        ``[T, B, ...]``: a broadcast view of ``x`` repeated ``T`` times (no copy; do not
            write into it in place).
    """
    return x.unsqueeze(0).expand(steps, *x.shape)


@ENCODERS.register("poisson")
def poisson(x: torch.Tensor, steps: int) -> torch.Tensor:
    """Bernoulli spikes with rate ``x.clamp(0, 1)`` per step (uses torch's global RNG).

    Args:
        x: static input ``[B, ...]``; each value, clamped to ``[0, 1]``, is the spike
            probability per time step.
        steps: number of time steps ``T``.

    Returns:
        Binary spikes ``[T, B, ...]`` (0/1, dtype of ``x``), independent per step.
    """
    p = x.clamp(0.0, 1.0).unsqueeze(0).expand(steps, *x.shape)
    return torch.bernoulli(p)


def phase_weights(
    steps: int, period: int, dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Phase-coding spike weights ``S_t = 2^-(1 + t mod K)``, shape ``[T]``, on ``device``.

    Kim et al. 2018 (weighted spikes, phase coding).

    Args:
        steps: number of time steps ``T``.
        period: phase period ``K`` in steps (bits of the binary expansion per period).
        dtype: floating dtype of the weights.
        device: device of the returned tensor (default: torch's default device).

    Returns:
        ``[T]`` weights ``1/2, 1/4, ..., 2^-K`` repeating every ``K`` steps.
    """
    t = torch.arange(steps, device=device)
    return torch.pow(2.0, -(1.0 + (t % period).to(dtype)))


def phase(x: torch.Tensor, steps: int, period: int = 8) -> torch.Tensor:
    """Weighted-spike phase coding (Kim et al. 2018) of ``x`` in [0, 1].

    Step ``t`` carries bit ``t mod K`` of the K-bit binary expansion of ``x``
    (most significant first), weighted by ``S_t``; the sum over one period of K
    steps equals ``x`` truncated to K bits.

    Args:
        x: static input ``[B, ...]``; values are clamped to ``[0, 1 - 2^-K]``.
        steps: number of time steps ``T`` (a multiple of ``period`` repeats the code).
        period: phase period ``K`` in steps (bits of precision).

    Returns:
        Weighted spikes ``[T, B, ...]`` (each value 0 or ``S_t``, dtype of ``x``).
    """
    q = torch.floor(x.clamp(0.0, 1.0 - 2.0**-period) * 2**period).to(torch.int64)
    out = []
    w = phase_weights(steps, period, x.dtype, x.device)
    for t in range(steps):
        bit = (q >> (period - 1 - t % period)) & 1
        out.append(bit.to(x.dtype) * w[t])
    return torch.stack(out)


ENCODERS.register("phase")(phase)
