"""Weight quantizers: ``forward(w) -> w_eff`` with a straight-through backward.

Every quantizer also reports ``bits(w)``: the exact storage of the quantized
weight tensor (bits per weight times count, plus its scale parameters).
Weights are ``[c_out, ...]`` (conv ``[c_out, c_in, k, k]`` or linear ``[c_out, c_in]``).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from spikebit.registry import Registry

QUANTIZERS: Registry[type[WeightQuantizer]] = Registry("quantizer")

FP32_BITS = 32


class WeightQuantizer(nn.Module):
    """Base class: identity quantizer (full precision, 32 bits per weight)."""

    weight_bits: int = FP32_BITS

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return w

    def bits(self, w: torch.Tensor) -> int:
        """Exact storage in bits of the quantized form of ``w``."""
        return FP32_BITS * w.numel()


QUANTIZERS.register("fp")(WeightQuantizer)


class _SignSTE(torch.autograd.Function):
    """``sign(x)`` with ``sign(0) = +1``; backward passes the gradient where ``|x| <= clip``."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, clip: float) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.clip = clip
        return torch.where(x >= 0, 1.0, -1.0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        if math.isinf(ctx.clip):
            return grad, None
        return grad * (x.abs() <= ctx.clip).to(grad.dtype), None


def sign_ste(x: torch.Tensor, clip: float = 1.0) -> torch.Tensor:
    """Binary ``±1`` with a clipped straight-through gradient."""
    return _SignSTE.apply(x, clip)


def _channel_dims(w: torch.Tensor) -> tuple[int, ...]:
    return tuple(range(1, w.ndim))


@QUANTIZERS.register("sign")
class SignQuantizer(WeightQuantizer):
    """XNOR/AGMM binarization: ``gamma_c * sign(W)``, ``gamma_c = mean|W_c|`` (detached).

    Backward: STE, gradient passed where ``|W| <= 1``. Storage: 1 bit per weight
    plus one fp32 scale per output channel.
    """

    weight_bits = 1

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        gamma = w.detach().abs().mean(dim=_channel_dims(w), keepdim=True)
        return gamma * sign_ste(w)

    def bits(self, w: torch.Tensor) -> int:
        return w.numel() + FP32_BITS * w.shape[0]


@QUANTIZERS.register("abc")
class ABCQuantizer(WeightQuantizer):
    """ABC-Net k-base approximation (ALBSNN eq. 11-13).

    ``B_i = sign(W - mean(W) + u_i * std(W))``, ``u_i = -1 + 2(i-1)/(k-1)``;
    ``alpha = argmin ||vec(W) - B alpha||^2`` (closed-form least squares, no
    intercept, recomputed each call); ``W_eff = sum_i alpha_i B_i`` so a layer runs
    ONE convolution. Backward: straight-through to ``W``. Storage: ``k`` bits per
    weight plus ``k`` fp32 alphas.
    """

    def __init__(self, bases: int = 3) -> None:
        super().__init__()
        if bases < 1:
            raise ValueError(f"ABC-Net needs at least one base, got bases={bases}")
        self.num_bases = bases
        self.weight_bits = bases

    def shifts(self) -> list[float]:
        k = self.num_bases
        return [0.0] if k == 1 else [-1.0 + 2.0 * i / (k - 1) for i in range(k)]

    @torch.no_grad()
    def decompose(self, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(B [k, *w.shape] of ±1, alpha [k])`` for weight ``w``."""
        mean, std = w.mean(), w.std(unbiased=False)
        bases = torch.stack(
            [torch.where(w - mean + u * std >= 0, 1.0, -1.0) for u in self.shifts()]
        ).to(w.dtype)
        a = bases.reshape(self.num_bases, -1)
        gram = a @ a.T
        rhs = a @ w.reshape(-1)
        ridge = 1e-6 * gram.diagonal().mean() * torch.eye(self.num_bases, dtype=w.dtype)
        alpha = torch.linalg.solve(gram + ridge, rhs)
        return bases, alpha

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        bases, alpha = self.decompose(w)
        w_eff = torch.einsum("k,k...->...", alpha, bases)
        return w + (w_eff - w).detach()

    def bits(self, w: torch.Tensor) -> int:
        return self.num_bases * w.numel() + FP32_BITS * self.num_bases


class _QSNNBinarize(torch.autograd.Function):
    @staticmethod
    def forward(ctx, w_hat: torch.Tensor, t: float) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(w_hat)
        ctx.t = t
        return torch.where(w_hat >= 0, 1.0, -1.0).to(w_hat.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        (w_hat,) = ctx.saved_tensors
        t = ctx.t
        k = max(1.0 / t, 1.0)
        return grad * k * t * (1.0 - torch.tanh(t * w_hat) ** 2), None


@QUANTIZERS.register("qsnn")
class QSNNQuantizer(WeightQuantizer):
    """Q-SNN binarizer (MFP-QSNN): per channel ``w_hat = (w - mean_c) / std_c``,
    ``w_b = s_c * sign(w_hat)`` with ``s_c = 2^round(log2 mean_c|w_hat|)`` (detached).

    Backward ``k t (1 - tanh^2(t w_hat))``, ``t`` rising log-linearly 0.1 -> 10
    with training progress (:meth:`set_progress`), ``k = max(1/t, 1)``.
    Storage: 1 bit per weight plus an 8-bit power-of-two exponent per channel.
    """

    weight_bits = 1

    def __init__(self, t_start: float = 0.1, t_end: float = 10.0) -> None:
        super().__init__()
        self.t_start, self.t_end = t_start, t_end
        self.register_buffer("progress", torch.zeros(()))

    def set_progress(self, fraction: float) -> None:
        """Training progress in [0, 1] (set by the trainer each step)."""
        self.progress.fill_(min(max(fraction, 0.0), 1.0))

    @property
    def t(self) -> float:
        p = float(self.progress)
        return self.t_start * (self.t_end / self.t_start) ** p

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        dims = _channel_dims(w)
        mean = w.mean(dim=dims, keepdim=True)
        std = w.std(dim=dims, keepdim=True, unbiased=False).clamp_min(1e-8)
        w_hat = (w - mean) / std
        scale = torch.exp2(torch.round(torch.log2(w_hat.detach().abs().mean(dims, keepdim=True))))
        if torch.compiler.is_exporting():  # same values; ``self.t`` reads a tensor (a guard)
            return scale * torch.where(w_hat >= 0, 1.0, -1.0).to(w_hat.dtype)
        return scale * _QSNNBinarize.apply(w_hat, self.t)

    def bits(self, w: torch.Tensor) -> int:
        return w.numel() + 8 * w.shape[0]


@QUANTIZERS.register("uniform")
class UniformQuantizer(WeightQuantizer):
    """Symmetric b-bit (MFP eq. 4): ``alpha * {0, ±1/(2^(b-1)-1), ..., ±1}``.

    ``alpha = max|W|`` per layer (detached); straight-through backward.
    Storage: ``b`` bits per weight plus one fp32 ``alpha``.
    """

    def __init__(self, bits: int = 4) -> None:
        super().__init__()
        if bits < 2:
            raise ValueError(f"uniform quantization needs bits >= 2 (use 'sign' for 1), got {bits}")
        self.weight_bits = bits

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        alpha = w.detach().abs().max().clamp_min(1e-12)
        levels = 2 ** (self.weight_bits - 1) - 1
        q = torch.round(w / alpha * levels).clamp(-levels, levels) * (alpha / levels)
        return w + (q - w).detach()

    def bits(self, w: torch.Tensor) -> int:
        return self.weight_bits * w.numel() + FP32_BITS


def get_quantizer(name: str, **kwargs: object) -> WeightQuantizer:
    """Build a quantizer module by registered name."""
    return QUANTIZERS.get(name)(**kwargs)
