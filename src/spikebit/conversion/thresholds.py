"""Per-channel firing thresholds from calibration data.

Two rules, both giving one threshold per channel (dim 1 of ``[B, C, ...]``
activations) of every spiking layer:

* ``"ltb"`` -- local threshold balancing (Bu, Li & Yu, "Inference-scale complexity
  in ANN-SNN conversion for high-performance and low-power applications", CVPR 2025,
  arXiv:2409.03368): start at 0 and, for every calibration batch in turn, move the
  threshold up by twice the mean overflow, ``theta <- theta + 2 * mean(relu(a - theta))``
  (mean over batch and positions). During calibration each layer passes
  ``min(a, theta)`` on, so later layers balance against the clipped activations the
  SNN will actually produce. This is the rule of SpikingJelly's
  ``LocalThresholdBalancingRecipe`` (2.0.0). After one batch the threshold is twice
  the channel's mean activation, typically far below its maximum: it trades clipping
  of rare large activations for resolution at few time steps.
* ``"percentile"`` -- channel-wise data-based normalization (Kim et al., "Spiking-YOLO",
  AAAI 2020, Sec. 3.1): the p-th percentile of each channel's positive activations.
"""

from __future__ import annotations

import torch
from torch import Tensor

from spikebit.conversion.calibrate import Forward, check_percentile
from spikebit.conversion.errors import ConversionError
from spikebit.conversion.validate import check_batch, check_int

THRESHOLD_RULES = ("ltb", "percentile")
EPS = 1e-6


def _per_channel(a: Tensor) -> Tensor:
    """``[B, C, ...]`` -> ``[C, B * ...]`` (channels first, everything else flat)."""
    if a.dim() < 2:
        raise ConversionError(f"activations must be [B, C, ...], got shape {tuple(a.shape)}")
    return a.transpose(0, 1).reshape(a.shape[1], -1)


class LocalBalancer:
    """Recorder for :func:`calibrate_thresholds` with the ``ltb`` rule (see module doc)."""

    def __init__(self) -> None:
        self.thresholds: dict[str, Tensor] = {}

    def __call__(self, name: str, a: Tensor) -> Tensor:
        a = a.clamp_min(0.0)
        flat = _per_channel(a).double()
        th = self.thresholds.get(name, torch.zeros(flat.shape[0], dtype=torch.float64,
                                                   device=a.device))
        th = (th + 2.0 * (flat - th[:, None]).clamp_min(0.0).mean(1)).clamp_min(EPS)
        self.thresholds[name] = th
        view = th.to(a.dtype).view(1, -1, *([1] * (a.dim() - 2)))
        return torch.minimum(a, view)


class ChannelPercentile:
    """Recorder keeping, per channel, the p-th percentile of the positive activations.

    Channel-wise data-based normalization (Kim et al., Spiking-YOLO, AAAI 2020, Sec. 3.1).

    Args:
        p: the percentile in %, ``(0, 100]``.

    Raises:
        ConversionError: ``p`` outside ``(0, 100]``.
    """

    def __init__(self, p: float) -> None:
        self.p = check_percentile(p)
        self.values: dict[str, list[Tensor]] = {}

    def __call__(self, name: str, a: Tensor) -> None:
        self.values.setdefault(name, []).append(_per_channel(a).detach().float().cpu())

    @property
    def thresholds(self) -> dict[str, Tensor]:
        """``name -> [C]`` percentile of the positive values per channel (1 if none)."""
        out = {}
        for name, chunks in self.values.items():
            flat = torch.cat(chunks, dim=1)
            masked = torch.where(flat > 0, flat, torch.nan)
            th = torch.nanquantile(masked.double(), self.p / 100.0, dim=1)
            out[name] = torch.nan_to_num(th, nan=1.0).clamp_min(EPS)
        return out


def calibrate_thresholds(forward: Forward, data: Tensor, rule: str, percentile: float,
                         batch_size: int, names: set[str]) -> dict[str, Tensor]:
    """Per-channel thresholds ``name -> [C]`` of the layers ``names`` (float32, CPU).

    ``"ltb"``: local threshold balancing (Bu, Li & Yu, CVPR 2025); ``"percentile"``:
    channel-wise percentile (Kim et al. 2020); see the module docstring.

    Args:
        forward: ``forward(x, record)``, the lowered ANN that reports every spiking layer's
            activation ``[B, C, ...]`` to ``record`` (which may return a clipped one).
        data: calibration images ``[N, C, H, W]``.
        rule: ``"ltb"`` or ``"percentile"``.
        percentile: the percentile in %, ``(0, 100]`` (``"percentile"`` rule only).
        batch_size: images per batch (``ltb`` updates once per batch).
        names: the layers to calibrate (others pass through unchanged).

    Returns:
        ``{layer name: thresholds [C]}``, in the activation's units.

    Raises:
        ConversionError: an unknown rule, a bad percentile, ``data`` without a sample,
            ``batch_size`` not an int >= 1, or an activation that is not ``[B, C, ...]``.
    """
    check_batch(data, "calibration images")
    batch_size = check_int("batch_size", batch_size, meaning="images per batch", example=256)
    if rule not in THRESHOLD_RULES:
        raise ConversionError(f"unknown threshold rule {rule!r}; expected one of "
                              f"{THRESHOLD_RULES}")
    recorder: LocalBalancer | ChannelPercentile = (
        LocalBalancer() if rule == "ltb" else ChannelPercentile(percentile))

    def record(name: str, a: Tensor) -> Tensor | None:
        return recorder(name, a) if name in names else None

    with torch.no_grad():
        for x in data.split(batch_size):
            forward(x, record)
    return {k: v.float().cpu() for k, v in recorder.thresholds.items()}
