"""Conversion experiment runner: every method on one trained ANN, accuracy vs T.

Variants (see :func:`default_variants`): rate coding with max-norm and p-norm
(Rueckauer 2017), phase coding / weighted spikes (Kim 2018), BSNN for each K,
and for ResNets the Table 2 ablation (phase IF with SN, BIF without SN).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import torch
from torch import Tensor, nn

from spikebit.conversion.calibrate import check_percentile
from spikebit.conversion.evaluate import evaluate_conversion, output_differences
from spikebit.conversion.resnet import BasicBlock
from spikebit.conversion.snn import convert
from spikebit.conversion.validate import check_int, check_number, check_steps


@dataclass(frozen=True)
class Variant:
    """One conversion setting of an experiment.

    Args:
        name: the variant's label in reports (e.g. ``"bsnn-K8"``).
        method: the conversion method name (``METHODS``: ``"rate"``, ``"phase"``,
            ``"bsnn"``, ...).
        percentile: the normalization percentile in %, ``(0, 100]`` (100 = max-norm); None
            for a method that reads none (see :mod:`spikebit.conversion.settings`).
        K: phases per period (time steps per period, bits of the phase code) of the phase
            codings (phase, bsnn); None for a method without phases (default).
        synchronous: SN on residual shortcuts; ``None`` means the method's default.
    """

    name: str
    method: str
    percentile: float | None = 100.0
    K: int | None = None
    synchronous: bool | None = None


@dataclass
class VariantResult:
    """Curves (entry t-1 = after t steps) and summary numbers of one variant, in percent.

    Args:
        variant: the :class:`Variant` (with ``synchronous`` resolved).
        accuracy: SNN accuracy in % after each step; ``None`` where no sample has output
            yet ("no output").
        output_error: mean ``|ann(x)/output_scale - readout|`` after each step
            (normalized units).
        best_accuracy: the best accuracy in % (earliest T on ties) over the steps with
            output; None when no step has output.
        best_T: the step (time steps) of ``best_accuracy``; None when no step has output.
        conversion_loss: ``ann_accuracy - best_accuracy``, in percentage points; None when
            no step has output.
        lossless_T: the smallest T with ``ann_accuracy - accuracy <= tolerance`` (steps
            with output only), or None.
        differences: the Fig. 5 data at ``T_max`` (readout minus normalized ANN output per
            sample and class).
    """

    variant: Variant
    accuracy: list[float | None]  # None: no sample has output yet ("no output")
    output_error: list[float]
    best_accuracy: float | None  # None: no step has output
    best_T: int | None
    conversion_loss: float | None  # ann_accuracy - best_accuracy, in points
    lossless_T: int | None  # smallest T with ann_accuracy - accuracy <= tolerance
    differences: list[float] = field(default_factory=list)  # Fig. 5 data at T_max


@dataclass
class ConversionReport:
    """All variants of one conversion experiment on one ANN.

    Args:
        ann_accuracy: the ANN's accuracy in % on the test images.
        T_max: time steps simulated.
        tolerance: conversion loss in percentage points counted as lossless.
        results: ``{variant name: VariantResult}``.
    """
    ann_accuracy: float
    T_max: int
    tolerance: float
    results: dict[str, VariantResult]

    def to_dict(self) -> dict:
        """JSON-ready dictionary."""
        return asdict(self)

    def summary(self) -> str:
        """One line per variant: best accuracy, best T, loss, lossless T.

        A variant without output at any step reads "no output" instead of a best accuracy
        and loss.
        """
        lines = [f"ANN accuracy {self.ann_accuracy:.2f}%"]
        for name, r in self.results.items():
            lossless = "-" if r.lossless_T is None else str(r.lossless_T)
            best = ("no output up to T=" + str(self.T_max) if r.best_accuracy is None else
                    f"{r.best_accuracy:.2f}% at T={r.best_T}, loss {r.conversion_loss:+.2f}")
            lines.append(f"{name:>14}: best {best}, T(loss<={self.tolerance:g})={lossless}")
        return "\n".join(lines)


def default_variants(
    K_values: Sequence[int] = (4, 6, 8), percentile: float = 99.99, residual: bool = False
) -> list[Variant]:
    """Rate max/p-norm, phase (K=8), BSNN per K; plus the SN ablation when ``residual``.

    The SN ablation (BSNN paper, Table 2) adds phase IF with SN and BSNN without SN.

    Args:
        K_values: phases per period of the BSNN variants (one variant each).
        percentile: the p-norm percentile in % of the second rate variant (Rueckauer 2017).
        residual: add the Table 2 ablation (for ResNets).

    Returns:
        The variants, in report order.

    Raises:
        ConversionError: ``percentile`` is not a number in ``(0, 100]`` (e.g. ``"99"``).
    """
    percentile = check_percentile(percentile)
    variants = [
        Variant("rate-max", "rate", 100.0),
        Variant(f"rate-p{percentile:g}", "rate", percentile),
        Variant("phase", "phase", 100.0, 8),
    ]
    variants += [Variant(f"bsnn-K{K}", "bsnn", 100.0, K) for K in K_values]
    if residual:
        k = 8 if 8 in K_values else K_values[-1]
        variants += [
            Variant("phase-sn", "phase", 100.0, k, synchronous=True),  # Table 2 "IF w/ SN"
            Variant(f"bsnn-K{k}-nosn", "bsnn", 100.0, k, synchronous=False),
        ]
    return variants


def summarize(variant: Variant, ann_accuracy: float, accuracy: list[float | None],
              output_error: list[float], tolerance: float,
              differences: list[float] | None = None) -> VariantResult:
    """Best accuracy (earliest T on ties), conversion loss and lossless T of one curve.

    Steps without output (None) are skipped; a curve without output at any step has no
    best accuracy, best T, loss or lossless T (all None, "no output"), not 0% at the
    last step.

    Args:
        variant: the :class:`Variant` the curve belongs to.
        ann_accuracy: the ANN's accuracy in %.
        accuracy: the SNN accuracy curve in % (entry t-1 after t steps; None: no output).
        output_error: the output error curve (normalized units), one entry per step.
        tolerance: the loss in percentage points still counted as lossless.
        differences: the Fig. 5 output differences at ``T_max`` (default: none).

    Returns:
        The ``VariantResult`` of the curve.
    """
    given = [(t + 1, a) for t, a in enumerate(accuracy) if a is not None]
    if not given:
        return VariantResult(variant, accuracy, output_error, None, None, None, None,
                             differences or [])
    best_T, best = max(given, key=lambda p: (p[1], -p[0]))
    lossless = next((t for t, a in given if ann_accuracy - a <= tolerance), None)
    return VariantResult(variant, accuracy, output_error, best, best_T, ann_accuracy - best,
                         lossless, differences or [])


def run_conversion_experiments(
    ann: nn.Module,
    train_x: Tensor,
    test_x: Tensor,
    test_y: Tensor,
    T_max: int,
    *,
    variants: Sequence[Variant] | None = None,
    K_values: Sequence[int] = (4, 6, 8),
    percentile: float = 99.99,
    calibration_size: int = 1000,
    batch_size: int = 256,
    histogram_samples: int = 100,
    tolerance: float = 0.1,
    seed: int = 0,
) -> ConversionReport:
    """Convert ``ann`` with every variant and evaluate on ``(test_x, test_y)`` for T = 1..T_max.

    Calibration uses ``calibration_size`` training images drawn with ``seed``;
    the Fig. 5 differences use the first ``histogram_samples`` test images.

    Args:
        ann: a convertible ReLU ANN, images ``[B, C, H, W]`` to logits ``[B, K]``.
        train_x: training images ``[N, C, H, W]`` (calibration pool).
        test_x: test images ``[M, C, H, W]``.
        test_y: test labels ``[M]``.
        T_max: time steps simulated per variant, ``1 .. MAX_T``
            (:mod:`spikebit.conversion.validate`).
        variants: the settings to run (default: :func:`default_variants`, with the SN
            ablation when ``ann`` has residual blocks).
        K_values: phases per period of the default BSNN variants.
        percentile: p-norm percentile in % of the default variants.
        calibration_size: training images used for calibration, an int >= 1.
        batch_size: images per forward pass, an int >= 1.
        histogram_samples: test images for the Fig. 5 output differences, an int >= 1.
        tolerance: conversion loss in percentage points counted as lossless, >= 0.
        seed: seed of the calibration draw.

    Returns:
        A ``ConversionReport`` (ANN accuracy, ``T_max``, ``tolerance``, one
        :class:`VariantResult` per variant name).

    Raises:
        ConversionError: the ANN is not convertible, a count is not an int >= 1 (a bool
            is refused), ``T_max`` is out of range, ``tolerance`` is not a number >= 0, or
            a variant's setting is invalid (from :func:`~spikebit.conversion.snn.convert`).
    """
    check_steps(T_max, "T_max")
    calibration_size = check_int("calibration_size", calibration_size,
                                 meaning="calibration images", example=1000)
    histogram_samples = check_int("histogram_samples", histogram_samples,
                                  meaning="test images of the Fig. 5 histograms", example=100)
    tolerance = check_number("tolerance", tolerance, 0.0,
                             meaning="loss in points counted as lossless", example=0.1)
    if variants is None:
        residual = any(isinstance(m, BasicBlock) for m in ann.modules())
        variants = default_variants(K_values, percentile, residual)
    generator = torch.Generator().manual_seed(seed)
    pick = torch.randperm(train_x.shape[0], generator=generator)[:calibration_size]
    calibration = train_x[pick.to(train_x.device)]
    results: dict[str, VariantResult] = {}
    ann_accuracy = 0.0
    for v in variants:
        snn = convert(ann, calibration, v.method, v.percentile, v.K,
                      synchronous=v.synchronous, batch_size=batch_size)
        ev = evaluate_conversion(snn, ann, (test_x, test_y), T_max, batch_size)
        ann_accuracy = ev["ann_accuracy"]
        diffs = output_differences(snn, ann, test_x[:histogram_samples], T_max).tolist()
        resolved = Variant(v.name, v.method, v.percentile, v.K, snn.synchronous)
        results[v.name] = summarize(resolved, ann_accuracy, ev["snn_accuracy"],
                                    ev["output_error"], tolerance, diffs)
    return ConversionReport(ann_accuracy, T_max, tolerance, results)
