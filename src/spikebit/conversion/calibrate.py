"""Activation statistics for data-based normalization (Rueckauer et al. 2017).

``lambda_l`` is the p-th percentile of the *positive* activations of layer l on
calibration data (p = 100: the maximum), the convention of the SNN toolbox
(zeros are dropped before the percentile). Percentiles use linear
interpolation between order statistics, like ``numpy.percentile``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import torch
from torch import Tensor

from spikebit.conversion.errors import ConversionError
from spikebit.conversion.validate import check_int, check_number

Recorder = Callable[[str, Tensor], None]
Forward = Callable[[Tensor, Recorder], Tensor]

DEFAULT_MAX_VALUES = 2**22  # per layer; above this the positive values are subsampled


def check_percentile(p: float) -> float:
    """Return ``p`` as float if it is a number (not a bool or string) with ``0 < p <= 100``.

    Args:
        p: a percentile in % (100 = max-norm).

    Returns:
        ``float(p)``.

    Raises:
        ConversionError: ``p`` is not a number (e.g. ``"99"`` or ``True``) or is outside
            ``(0, 100]``.
    """
    value = check_number("percentile", p, meaning="in %, 100 = max-norm", example=99.99)
    if not 0.0 < value <= 100.0:
        raise ConversionError(f"percentile must be in (0, 100] (100 = max-norm), got {p}; "
                              "pass e.g. 99.99")
    return value


def percentile(values: Tensor, p: float) -> float:
    """p-th percentile of ``values`` (any shape) with numpy's linear interpolation.

    Args:
        values: any tensor (flattened).
        p: the percentile in %, ``(0, 100]`` (100: the maximum).

    Returns:
        The percentile, as a Python float.

    Raises:
        ConversionError: ``p`` outside ``(0, 100]`` or ``values`` empty.
    """
    p = check_percentile(p)
    v = values.detach().flatten().double()
    n = v.numel()
    if n == 0:
        raise ConversionError("percentile of an empty tensor")
    if p == 100.0:
        return float(v.max())
    pos = p / 100.0 * (n - 1)
    lo = math.floor(pos)
    a = float(torch.kthvalue(v, lo + 1).values)
    if lo + 1 >= n:
        return a
    b = float(torch.kthvalue(v, lo + 2).values)
    return a + (b - a) * (pos - lo)


def nonzero_percentile(values: Tensor, p: float, default: float = 1.0) -> float:
    """Percentile of the positive entries of ``values``; ``default`` if there are none.

    Args:
        values: any tensor.
        p: the percentile in %, ``(0, 100]``.
        default: the value returned when no entry is positive.

    Returns:
        The percentile of the positive entries (Rueckauer et al. 2017 convention), a float.

    Raises:
        ConversionError: ``p`` outside ``(0, 100]``.
    """
    positive = values[values > 0]
    return percentile(positive, p) if positive.numel() else default


class ActivationStats:
    """Collects positive activations per layer name over calibration batches.

    For p = 100 only a running maximum is kept. Otherwise each batch
    contributes at most ``max_values // n_batches`` values per layer (a
    seeded random subset when it has more), so memory stays bounded.

    Args:
        p: the percentile in % of the positive activations, in ``(0, 100]`` (100 = max-norm).
        n_batches: number of calibration batches that will be added (splits the value budget).
        max_values: most positive values kept per layer over all batches.

    Raises:
        ConversionError: ``p`` outside ``(0, 100]``, or ``max_values`` not an int >= 1.
    """

    def __init__(self, p: float, n_batches: int, max_values: int = DEFAULT_MAX_VALUES) -> None:
        self.p = check_percentile(p)
        max_values = check_int("max_calibration_values", max_values,
                               meaning="positive activations kept per layer",
                               example=DEFAULT_MAX_VALUES)
        self.per_batch = max(1, max_values // max(1, n_batches))
        self.values: dict[str, list[Tensor]] = {}
        self.maxima: dict[str, float] = {}
        self.generator = torch.Generator().manual_seed(0)

    def add(self, name: str, activation: Tensor) -> None:
        """Record the positive entries of one layer's activation on one batch.

        Args:
            name: the layer (graph node) name, e.g. ``"n3"``.
            activation: the layer's ReLU output on the batch, any shape (``[B, C, H, W]`` or
                ``[B, F]``); only entries ``> 0`` are kept.
        """
        positive = activation.detach()[activation > 0]
        if self.p == 100.0:
            top = float(positive.max()) if positive.numel() else 0.0
            self.maxima[name] = max(self.maxima.get(name, 0.0), top)
            return
        positive = positive.float().cpu()
        if positive.numel() > self.per_batch:
            keep = torch.randperm(positive.numel(), generator=self.generator)[: self.per_batch]
            positive = positive[keep]
        self.values.setdefault(name, []).append(positive)

    def lambdas(self) -> dict[str, float]:
        """``name -> lambda``; a layer that never fired gets 1.0 (with a warning)."""
        if self.p == 100.0:
            found = dict(self.maxima)
        else:
            found = {k: percentile(torch.cat(v), self.p) if sum(t.numel() for t in v) else 0.0
                     for k, v in self.values.items()}
        for name, lam in found.items():
            if lam <= 0.0:
                warnings.warn(f"layer {name!r} is never active on the calibration data; "
                              "using lambda = 1", stacklevel=2)
                found[name] = 1.0
        return found


def record_lambdas(
    forward: Forward,
    data: Tensor,
    p: float,
    batch_size: int = 256,
    max_values: int = DEFAULT_MAX_VALUES,
) -> dict[str, float]:
    """Per-layer normalization scales ``lambda_l`` (Rueckauer et al. 2017, data-based
    normalization).

    Runs ``forward(x, record)`` over ``data`` in batches without gradients; ``forward``
    calls ``record(name, activation)`` for every ReLU layer, and ``lambda_l`` is the
    ``p``-th percentile of the positive activations of layer ``l``.

    Args:
        forward: ``forward(x, record) -> output``, the ANN forward that reports every ReLU
            activation to ``record``.
        data: calibration images ``[N, C, H, W]`` (any ``[N, ...]`` the forward accepts).
        p: the percentile in %, in ``(0, 100]`` (100 = max-norm).
        batch_size: images per forward pass.
        max_values: most positive values kept per layer (memory bound; subsampled above),
            an int >= 1.

    Returns:
        ``{layer name: lambda}``; a layer that is never active gets 1.0 (with a warning).

    Raises:
        ConversionError: ``data`` is not a non-empty batch ``[N, ...]``, ``p`` is outside
            ``(0, 100]``, or ``batch_size`` or ``max_values`` is not an int >= 1.
    """
    batch_size = check_int("batch_size", batch_size, meaning="images per forward pass",
                           example=256)
    if data.dim() < 2 or data.shape[0] == 0:
        raise ConversionError(
            f"calibration data must be a non-empty batch [N, ...], got shape {tuple(data.shape)}"
        )
    batches = data.split(batch_size)
    stats = ActivationStats(p, len(batches), max_values)
    with torch.no_grad():
        for x in batches:
            forward(x, stats.add)
    return stats.lambdas()
