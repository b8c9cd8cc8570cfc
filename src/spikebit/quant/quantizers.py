"""Weight quantizers: ``forward(w) -> w_eff`` with a straight-through backward.

Every quantizer also reports ``bits(w)``: the exact storage of the quantized
weight tensor (bits per weight times count, plus its scale parameters), and
``levels(w)``: the exact decomposition (:class:`~spikebit.quant.levels.QuantLevels`:
binary bases or integer codes, per-channel scales, bits) whose ``weight()`` is
bit-identical to ``forward(w)``. Forwards emit exactly their level set: at most
``2^k`` distinct values per output channel for ``k`` binary bases, ``2^b - 1`` for
``b``-bit uniform.
Weights are ``[c_out, ...]`` (conv ``[c_out, c_in, k, k]`` or linear ``[c_out, c_in]``).
Scales and ABC-Net alphas are computed in float32 (float64 for float64 weights)
whatever the weight dtype; the output has the weight's dtype and device.

Zero channels: a per-channel scale that is the channel's own statistic (XNOR-Net's
``mean|W_c|``, Q-SNN's ``mean|w_hat_c|``) is zero for an all-zero latent channel, and
since the straight-through gradient reaching ``W`` is multiplied by that scale, such a
channel would never change again. XNOR-Net (Rastegari et al. 2016, training of
Binary-Weight-Networks) does not have this trap: differentiating through its scale adds
a ``1/n`` term to the gradient that does not vanish with the scale; the papers
reproduced here (AGMM eq. 5, MFP-QSNN) detach the scale. Quantization libraries floor
their scales (Brevitas' minimum scale value) and map ``sign(0)`` to ``+1`` (Larq's
``ste_sign``). We keep the detached scale and floor the scale used by the gradient at
``SCALE_FLOOR`` (1 %) of the layer-wide statistic: channels above that are untouched, a
dead channel gets a gradient and recovers. ``sign`` keeps its forward exact (a zero
channel emits 0); ``qsnn`` floors its power-of-two scale in the forward too (a zero
channel emits ``+2^-7``), because its scale is stored as a finite 8-bit exponent.
Per-layer scales (``abc``, ``uniform``) pass the identity gradient and need no floor.
"""

from __future__ import annotations

import torch
from torch import nn

from spikebit.errors import ConfigError
from spikebit.quant.levels import QuantLevels, combine, straight_through
from spikebit.quant.ste import _QSNNBinarize, sign_ste
from spikebit.registry import Registry

QUANTIZERS: Registry[type[WeightQuantizer]] = Registry("quantizer")

FP32_BITS = 32
SCALE_FLOOR = 1e-2  # per-channel scales >= SCALE_FLOOR * the layer's (module docstring)
ABS_SCALE_FLOOR = 1e-8  # when the whole layer is zero (no layer statistic to scale from)
QSNN_MAG_FLOOR = 2.0**-7  # floor on Q-SNN's mean|w_hat| (a power of two near SCALE_FLOOR)


def stat_dtype(dtype: torch.dtype) -> torch.dtype:
    """dtype of scales and alphas: float64 for float64 weights, else float32."""
    return torch.float64 if dtype == torch.float64 else torch.float32


class WeightQuantizer(nn.Module):
    """Base class: identity quantizer (full precision, 32 bits per weight).

    Subclasses implement ``forward`` (exactly ``levels(w).weight()`` in value, a
    straight-through gradient), ``levels`` and ``bits``; ``weight_bits`` is the number of
    bits per stored weight element.
    """

    weight_bits: int = FP32_BITS

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        """Effective weight.

        Args:
            w: latent weight ``[C_out, C_in, kH, kW]`` (conv) or ``[C_out, C_in]``
                (linear), any float dtype, any device.

        Returns:
            ``w_eff`` of ``w``'s shape, dtype and device; its value is exactly
            ``self.levels(w).weight()``, its gradient the quantizer's straight-through one.
        """
        return w

    def describe(self) -> str:
        """Short label for reprs: registered name and bits per weight, e.g. ``abc(3 bits)``."""
        names = [n for n in QUANTIZERS.names() if QUANTIZERS.get(n) is type(self)]
        name = names[0] if names else type(self).__name__
        unit = "bit" if self.weight_bits == 1 else "bits"
        return f"{name}({self.weight_bits} {unit})"

    def bits(self, w: torch.Tensor) -> int:
        """Exact storage in bits of the quantized form of latent weight ``w`` (weights plus
        scale parameters); here fp32, 32 bits per weight."""
        return FP32_BITS * w.numel()

    @torch.no_grad()
    def levels(self, w: torch.Tensor) -> QuantLevels:
        """Exact decomposition of ``forward(w)`` for exporters.

        Args:
            w: latent weight ``[C_out, ...]`` (as for :meth:`forward`).

        Returns:
            :class:`~spikebit.quant.levels.QuantLevels` on ``w``'s device: binary bases
            (``bool [k, *w.shape]``) or integer codes (``int8 [1, *w.shape]``), scales
            ``[k, C_out]`` (float32, float64 for float64 weights) and bits per weight;
            ``levels(w).weight()`` equals ``forward(w)`` bit for bit. The identity
            quantizer returns ``kind="float"``: the weight itself with unit scales.
        """
        ones = torch.ones(1, w.shape[0], dtype=stat_dtype(w.dtype), device=w.device)
        return QuantLevels("float", w.detach().unsqueeze(0), ones, FP32_BITS, w.dtype)


QUANTIZERS.register("fp")(WeightQuantizer)


def _channel_dims(w: torch.Tensor) -> tuple[int, ...]:
    return tuple(range(1, w.ndim))


def _channel_view(w: torch.Tensor) -> tuple[int, ...]:
    return (w.shape[0],) + (1,) * (w.ndim - 1)


@QUANTIZERS.register("sign")
class SignQuantizer(WeightQuantizer):
    """XNOR/AGMM binarization (AGMM eq. 5, XNOR-Net): ``gamma_c * sign(W)``,
    ``sign(0) = +1``, ``gamma_c = mean|W_c|`` (detached, float32; float64 for float64
    weights).

    Backward: STE, ``g_c * dL/dW_eff`` passed where ``|W| <= 1``, with the gradient scale
    ``g_c = max(gamma_c, SCALE_FLOOR * mean|W|)`` (``ABS_SCALE_FLOOR`` when the whole
    layer is zero). ``g_c = gamma_c`` for every channel above 1 % of the layer's mean
    magnitude, so only dead channels are affected: an all-zero channel still emits
    exactly 0 (the least-squares optimum, and ALBSNN's ALE relies on exact zero
    channels) but receives a nonzero gradient and recovers (module docstring).
    Storage: 1 bit per weight plus one fp32 scale per output channel. :meth:`levels`:
    one binary base, ``scales [1, C_out] = gamma``.
    """

    weight_bits = 1

    def __init__(self, scale_floor: float = SCALE_FLOOR) -> None:
        """``scale_floor``: the gradient scale's floor, a fraction of the layer's
        ``mean|W|`` (default :data:`SCALE_FLOOR` = 0.01; 0 turns the floor off)."""
        super().__init__()
        self.scale_floor = scale_floor

    def extra_repr(self) -> str:
        return f"scale_floor={self.scale_floor}"

    @torch.no_grad()
    def scale(self, w: torch.Tensor) -> torch.Tensor:
        """``gamma [C_out] = mean|w_c|`` of latent weight ``w`` ``[C_out, ...]``, in float32
        (float64 for float64 weights), detached."""
        mag = w.detach().to(stat_dtype(w.dtype)).abs()
        return mag.mean(dim=_channel_dims(w)) if w.ndim > 1 else mag

    @torch.no_grad()
    def gradient_scale(self, w: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
        """Gradient scale ``g [C_out] = max(gamma, scale_floor * mean(gamma))``, at least
        ``ABS_SCALE_FLOOR``, for latent weight ``w`` ``[C_out, ...]`` and its channel
        scales ``gamma`` ``[C_out]`` (:meth:`scale`)."""
        floor = (self.scale_floor * gamma.mean()).clamp_min(ABS_SCALE_FLOOR)
        return torch.maximum(gamma, floor)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        """``gamma_c * sign(w)`` of latent weight ``w`` ``[C_out, ...]`` in ``w``'s dtype;
        backward ``g_c * dL/dW_eff`` where ``|w| <= 1`` (class docstring)."""
        gamma = self.scale(w)
        view = _channel_view(w)
        s = sign_ste(w)
        g = self.gradient_scale(w, gamma).reshape(view)
        # value exactly gamma * sign(W); gradient g * STE (g == gamma unless dead)
        return (gamma.reshape(view) * s.detach() + g * (s - s.detach())).to(w.dtype)

    @torch.no_grad()
    def levels(self, w: torch.Tensor) -> QuantLevels:
        """One binary base ``sign(w)`` (``bool [1, *w.shape]``) and ``scales [1, C_out] =
        gamma`` for latent weight ``w`` ``[C_out, ...]``; ``weight()`` equals ``forward(w)``."""
        codes = (w.detach() >= 0).unsqueeze(0)
        return QuantLevels("binary", codes, self.scale(w).unsqueeze(0), 1, w.dtype)

    def bits(self, w: torch.Tensor) -> int:
        """Storage of ``w`` ``[C_out, ...]``: 1 bit per weight + one fp32 scale per channel."""
        return w.numel() + FP32_BITS * w.shape[0]


@QUANTIZERS.register("abc")
class ABCQuantizer(WeightQuantizer):
    """ABC-Net k-base approximation (ALBSNN eq. 11-13).

    ``B_i = sign(W - mean(W) + u_i * std(W))``, ``u_i = -1 + 2(i-1)/(k-1)``;
    ``alpha = argmin ||vec(W) - B alpha||^2`` (closed-form least squares, no
    intercept, recomputed each call, solved in float32 or float64 whatever the weight
    dtype); ``W_eff = sum_i alpha_i B_i`` exactly (at most ``2^k`` distinct values) so
    a layer runs ONE convolution. Backward: identity straight-through to ``W``.
    Storage: ``k`` bits per weight plus ``k`` fp32 alphas. :meth:`levels`: ``k``
    binary bases, ``scales [k, C_out]`` (alpha repeated over channels).
    """

    def __init__(self, bases: int = 3) -> None:
        """``bases``: ``k >= 1`` binary bases (bits per weight). Raises ``ConfigError``
        for ``k < 1``."""
        super().__init__()
        if bases < 1:
            raise ConfigError(f"ABC-Net needs at least one base, got bases={bases}")
        self.num_bases = bases
        self.weight_bits = bases

    def extra_repr(self) -> str:
        return f"bases={self.num_bases}"

    def shifts(self) -> list[float]:
        """The ``k`` shifts ``u_i = -1 + 2(i-1)/(k-1)`` (``[0]`` for one base), ALBSNN eq. 12."""
        k = self.num_bases
        return [0.0] if k == 1 else [-1.0 + 2.0 * i / (k - 1) for i in range(k)]

    @torch.no_grad()
    def decompose(self, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(B [k, *w.shape] of ±1 in w's dtype, alpha [k])`` for weight ``w``;
        ``alpha`` is float32 (float64 for float64 weights)."""
        bases = self._bases(w)
        return bases.to(w.dtype), self._alpha(w, bases)

    def _bases(self, w: torch.Tensor) -> torch.Tensor:
        x = w.detach().to(stat_dtype(w.dtype))
        mean, std = x.mean(), x.std(unbiased=False)
        one = torch.ones((), dtype=x.dtype, device=x.device)
        return torch.stack([torch.where(x - mean + u * std >= 0, one, -one) for u in self.shifts()])

    def _alpha(self, w: torch.Tensor, bases: torch.Tensor) -> torch.Tensor:
        a = bases.reshape(self.num_bases, -1)
        gram = a @ a.T
        rhs = a @ w.detach().reshape(-1).to(a.dtype)
        eye = torch.eye(self.num_bases, dtype=gram.dtype, device=gram.device)
        ridge = 1e-6 * gram.diagonal().mean() * eye
        return torch.linalg.solve(gram + ridge, rhs)

    def _scales(self, w: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        return alpha.unsqueeze(1).expand(self.num_bases, w.shape[0])

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        """``sum_i alpha_i B_i`` of latent weight ``w`` ``[C_out, ...]`` in ``w``'s dtype
        (alphas solved in float32/float64); identity straight-through gradient."""
        bases = self._bases(w)
        alpha = self._alpha(w, bases)
        return straight_through(w, combine(self._scales(w, alpha), bases, w.dtype))

    @torch.no_grad()
    def levels(self, w: torch.Tensor) -> QuantLevels:
        """``k`` binary bases ``B_i`` (``bool [k, *w.shape]``) and ``scales [k, C_out]``
        (``alpha_i`` repeated over channels) for latent weight ``w`` ``[C_out, ...]``;
        ``weight()`` equals ``forward(w)``."""
        bases = self._bases(w)
        scales = self._scales(w, self._alpha(w, bases)).contiguous()
        return QuantLevels("binary", bases > 0, scales, self.num_bases, w.dtype)

    def bits(self, w: torch.Tensor) -> int:
        """Storage of ``w``: ``k`` bits per weight + ``k`` fp32 alphas."""
        return self.num_bases * w.numel() + FP32_BITS * self.num_bases


@QUANTIZERS.register("qsnn")
class QSNNQuantizer(WeightQuantizer):
    """Q-SNN binarizer (MFP-QSNN): per channel ``w_hat = (w - mean_c) / std_c``,
    ``w_b = s_c * sign(w_hat)`` with ``s_c = 2^round(log2 mean_c|w_hat|)`` (detached).

    Backward ``k t (1 - tanh^2(t w_hat))``, ``t`` rising log-linearly 0.1 -> 10
    with training progress (:meth:`set_progress`), ``k = max(1/t, 1)``.
    Storage: 1 bit per weight plus an 8-bit power-of-two exponent per channel.
    Statistics in float32 (float64 for float64 weights); output in the weight dtype.

    Zero and constant channels (``w_hat = 0``): ``std_c`` is floored at
    ``SCALE_FLOOR * std(W)`` of the whole layer (1 when the whole layer is constant)
    and ``mean_c|w_hat|`` at ``QSNN_MAG_FLOOR = 2^-7`` (about ``SCALE_FLOOR``, as a
    power of two), so such a channel emits ``+2^-7`` (``sign(0) = +1``) and receives a
    gradient of the size a normal channel gets instead of exactly zero.
    :meth:`levels`: one binary base, ``scales [1, C_out] = s``, ``exponents`` int8.
    """

    weight_bits = 1

    def __init__(self, t_start: float = 0.1, t_end: float = 10.0) -> None:
        """``t_start``/``t_end``: the surrogate sharpness ``t`` at progress 0 and 1."""
        super().__init__()
        self.t_start, self.t_end = t_start, t_end
        self.register_buffer("progress", torch.zeros(()))

    def extra_repr(self) -> str:
        return f"t_start={self.t_start}, t_end={self.t_end}"

    def set_progress(self, fraction: float) -> None:
        """Set training progress ``fraction`` (clamped to [0, 1]; the trainer sets it each
        step), which moves ``t`` from ``t_start`` to ``t_end``."""
        self.progress.fill_(min(max(fraction, 0.0), 1.0))

    def t_tensor(self) -> torch.Tensor:
        """``t`` as a 0-dim tensor on the buffer's device (read without a host sync)."""
        return self.t_start * (self.t_end / self.t_start) ** self.progress

    @property
    def t(self) -> float:
        """Current ``t = t_start (t_end / t_start)^progress``."""
        return float(self.t_tensor())

    def _standardize(self, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(w_hat, exponent [C_out])`` with ``w_hat`` differentiable in float32/64."""
        x = w.to(stat_dtype(w.dtype))
        dims = _channel_dims(w)
        mean = x.mean(dim=dims, keepdim=True)
        std = x.std(dim=dims, keepdim=True, unbiased=False)
        layer_std = x.detach().std(unbiased=False)
        floor = torch.where(layer_std > 0, SCALE_FLOOR * layer_std, torch.ones_like(layer_std))
        w_hat = (x - mean) / torch.maximum(std, floor)
        mag = w_hat.detach().abs().mean(dim=dims).clamp_min(QSNN_MAG_FLOOR)
        return w_hat, torch.round(torch.log2(mag))

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        """``s_c * sign(w_hat)`` of latent weight ``w`` ``[C_out, ...]`` in ``w``'s dtype;
        backward ``k t (1 - tanh^2(t w_hat))`` through the standardization."""
        w_hat, exponent = self._standardize(w)
        scale = torch.exp2(exponent).reshape(_channel_view(w))
        if torch.compiler.is_exporting():  # same values; plain ops for torch.export
            one = torch.ones((), dtype=w_hat.dtype, device=w_hat.device)
            return (scale * torch.where(w_hat >= 0, one, -one)).to(w.dtype)
        return (scale * _QSNNBinarize.apply(w_hat, self.t_tensor())).to(w.dtype)

    @torch.no_grad()
    def levels(self, w: torch.Tensor) -> QuantLevels:
        """One binary base ``sign(w_hat)`` (``bool [1, *w.shape]``), ``scales [1, C_out] =
        2^e`` and ``exponents`` ``e`` (int8 ``[C_out]``) for latent weight ``w``
        ``[C_out, ...]``; ``weight()`` equals ``forward(w)``."""
        w_hat, exponent = self._standardize(w)
        codes = (w_hat >= 0).unsqueeze(0)
        scales = torch.exp2(exponent).unsqueeze(0)
        return QuantLevels("binary", codes, scales, 1, w.dtype, exponent.to(torch.int8))

    def bits(self, w: torch.Tensor) -> int:
        """Storage of ``w`` ``[C_out, ...]``: 1 bit per weight + an 8-bit exponent per channel."""
        return w.numel() + 8 * w.shape[0]


@QUANTIZERS.register("uniform")
class UniformQuantizer(WeightQuantizer):
    """Symmetric b-bit (MFP eq. 4): ``alpha * {0, ±1/(2^(b-1)-1), ..., ±1}``.

    ``alpha = max|W|`` per layer (detached, float32 or float64); the output is exactly
    ``code * (alpha / L)``, ``L = 2^(b-1) - 1``, ``code`` an integer in ``[-L, L]``;
    identity straight-through backward. Storage: ``b`` bits per weight plus one fp32
    ``alpha``. Per-layer scale, so an all-zero channel still gets the identity gradient.
    :meth:`levels`: ``kind="integer"``, int8 codes (``b <= 8``), ``scales [1, C_out] =
    alpha / L``.
    """

    def __init__(self, bits: int = 4) -> None:
        """``bits``: ``b`` in ``[2, 8]`` bits per weight. Raises ``ConfigError`` outside."""
        super().__init__()
        if not 2 <= bits <= 8:
            raise ConfigError(
                f"uniform quantization needs bits >= 2 (use 'sign' for 1) and bits <= 8 "
                f"(int8 codes), got {bits}"
            )
        self.weight_bits = bits

    def extra_repr(self) -> str:
        return f"bits={self.weight_bits}"

    @torch.no_grad()
    def _codes(self, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(codes [*w.shape] integer-valued float, step [1, C_out] = alpha / L)``."""
        x = w.detach().to(stat_dtype(w.dtype))
        alpha = x.abs().max().clamp_min(1e-12)
        top = 2 ** (self.weight_bits - 1) - 1
        codes = torch.round(x / alpha * top).clamp(-top, top)
        return codes, (alpha / top).expand(1, w.shape[0])

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        """``code * alpha / L`` of latent weight ``w`` ``[C_out, ...]`` in ``w``'s dtype;
        identity straight-through gradient."""
        codes, step = self._codes(w)
        return straight_through(w, combine(step, codes.unsqueeze(0), w.dtype))

    @torch.no_grad()
    def levels(self, w: torch.Tensor) -> QuantLevels:
        """``int8`` codes in ``[-L, L]`` (``[1, *w.shape]``) and ``scales [1, C_out] =
        alpha / L`` for latent weight ``w`` ``[C_out, ...]``; ``weight()`` equals
        ``forward(w)``."""
        codes, step = self._codes(w)
        return QuantLevels(
            "integer", codes.to(torch.int8).unsqueeze(0), step.contiguous(), self.weight_bits,
            w.dtype,
        )

    def bits(self, w: torch.Tensor) -> int:
        """Storage of ``w``: ``b`` bits per weight + one fp32 ``alpha``."""
        return self.weight_bits * w.numel() + FP32_BITS


def get_quantizer(name: str, **kwargs: object) -> WeightQuantizer:
    """Build a quantizer module by registered name."""
    return QUANTIZERS.get(name)(**kwargs)
