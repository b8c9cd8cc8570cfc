"""Convert a trained ANN checkpoint of the project trainer and evaluate it on its test set.

The checkpoint's model may be wrapped in the trainer's input normalization
(``data.normalize``); it is unwrapped and the normalization applied to the
data instead, so the converted network starts at the first conv (the BSNN
paper feeds normalized real-valued CIFAR inputs the same way).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from spikebit.conversion.errors import ConversionError
from spikebit.conversion.evaluate import evaluate_conversion
from spikebit.conversion.experiments import Variant, summarize
from spikebit.conversion.qcfs import QCFS, finetune, to_qcfs
from spikebit.conversion.report import (
    format_report,  # noqa: F401  (spikebit convert's table)
    output_name,
)
from spikebit.conversion.settings import (
    DEFAULT_PERCENTILE,
    QCFS_EPOCHS,
    QCFS_LEVELS,
    check_checkpoint_arguments,
    threshold_rule,
    uses,
)
from spikebit.conversion.snn import convert
from spikebit.conversion.validate import check_int
from spikebit.provenance import write_result_json
from spikebit.train.config import RunConfig

DEFAULT_TOLERANCE = 0.1  # conversion loss (points) counted as lossless


@dataclass
class LoadedANN:
    """An ANN rebuilt from a trainer checkpoint, with its run.

    Args:
        ann: the ANN, eval mode, with the trainer's input normalization removed; images
            ``[B, C, H, W]`` to logits ``[B, K]``.
        config: the checkpoint's ``RunConfig``.
        path: the checkpoint file.
        in_shape: the input shape ``(C, H, W)`` of one image.
        mean: the trainer's input normalization mean ``[C, 1, 1]``, or None.
        std: the trainer's input normalization std ``[C, 1, 1]``, or None.
    """

    ann: nn.Module
    config: RunConfig
    path: Path
    in_shape: tuple[int, ...]
    mean: Tensor | None = None
    std: Tensor | None = None

    def preprocess(self, x: Tensor) -> Tensor:
        """Images as the ANN expects them (normalized if it was trained so).

        Args:
            x: images ``[B, C, H, W]`` in the dataset's units.

        Returns:
            ``(x - mean) / std``, or ``x`` without normalization; same shape.
        """
        return x if self.mean is None else (x - self.mean) / self.std


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint file, or a run directory's ``last.safetensors``.

    Args:
        path: a ``.safetensors`` file written by ``spikebit train`` or its run directory.

    Returns:
        The checkpoint file's path.

    Raises:
        ConversionError: no checkpoint file at ``path``.
    """
    p = Path(path)
    if p.is_dir():
        p = p / "last.safetensors"
    if not p.is_file():
        raise ConversionError(
            f"no checkpoint at {p}; pass a .safetensors file written by `spikebit train` "
            "(e.g. runs/NAME/last.safetensors) or its run directory")
    return p


def unwrap_normalization(model: nn.Module) -> tuple[nn.Module, Tensor | None, Tensor | None]:
    """Split the trainer's normalization wrapper (``.model``, ``.mean``, ``.std``) off.

    Args:
        model: a model rebuilt from a trainer checkpoint.

    Returns:
        ``(inner model, mean [C, 1, 1], std [C, 1, 1])``, or ``(model, None, None)`` when
        it is not wrapped.
    """
    from spikebit.train.build import Normalized

    if isinstance(model, Normalized):
        return model.model, model.mean.detach().clone(), model.std.detach().clone()
    return model, None, None


def check_is_ann(model: nn.Module, in_shape: tuple[int, ...], name: str) -> None:
    """Raise unless ``model`` is a ReLU ANN mapping ``[B, *in_shape]`` to logits ``[B, K]``.

    Args:
        model: the checkpoint's model (normalization wrapper removed).
        in_shape: one input's shape ``(C, H, W)``.
        name: the model's zoo name, for the message.

    Raises:
        ConversionError: ``model`` contains spiking neurons, does not run on a batch
            ``[2, *in_shape]``, or does not return ``[B, K]``.
    """
    from spikebit.neurons import is_neuron

    spiking = any(is_neuron(m) for m in model.modules())
    if not spiking:
        try:
            with torch.no_grad():
                out = model.eval()(next(model.parameters()).new_zeros(2, *in_shape))
        except RuntimeError as err:
            raise ConversionError(f"checkpoint model {name!r} does not run on a batch "
                                  f"[2, {', '.join(map(str, in_shape))}]: {err}") from err
        spiking = out.dim() != 2
    if spiking:
        raise ConversionError(
            f"checkpoint model {name!r} is a spiking network, not a ReLU ANN; conversion "
            "needs an ANN returning logits [B, K]: train one of the ann-* zoo models "
            "(spikebit models; e.g. configs/bsnn/fmnist-cnn.yaml) and convert that checkpoint")


def load_ann(path: str | Path) -> LoadedANN:
    """Rebuild the ANN of a trainer checkpoint (see :class:`LoadedANN`).

    Args:
        path: a ``.safetensors`` checkpoint or its run directory.

    Returns:
        The ``LoadedANN`` (eval mode, normalization split off).

    Raises:
        ConversionError: no checkpoint at ``path``, a model trained on event frames, or a
            model that is not a ReLU ANN.
        CheckpointError: the checkpoint cannot be read or rebuilt.
    """
    from spikebit.train.build import model_from_checkpoint

    p = resolve_checkpoint(path)
    model, config, ckpt = model_from_checkpoint(p)
    if config.data.frames:
        raise ConversionError(
            f"{p} was trained on event frames ({config.data.name}); conversion takes static "
            "images [B, C, H, W]")
    in_shape = tuple(ckpt.meta.get("input", {}).get("in_shape", (1, 28, 28)))
    ann, mean, std = unwrap_normalization(model)
    check_is_ann(ann, in_shape, config.model.name)
    return LoadedANN(ann.eval(), config, p, in_shape, mean, std)


def conversion_data(loaded: LoadedANN, calibration: int, seed: int | None = None
                    ) -> tuple[Tensor, Tensor, Tensor]:
    """``(calibration images, test images, test labels)`` of the run's dataset, preprocessed.

    The calibration images are ``calibration`` training images drawn with ``seed``
    (default: the run's seed); the test split honours ``data.test_limit``. All three are on
    the ANN's device.

    Args:
        loaded: the :class:`LoadedANN` whose run config names the dataset.
        calibration: number of training images for calibration, an int ``>= 1``.
        seed: seed of the calibration draw (default: the run's seed).

    Returns:
        ``(calibration [N, C, H, W], test images [M, C, H, W], test labels [M])``.

    Raises:
        ConversionError: ``calibration`` is not an int ``>= 1`` (a bool is refused).
    """
    from spikebit.train.datasets import load_data
    from spikebit.train.device import model_device

    calibration = check_int("calibration", calibration, meaning="training images",
                            example=2000)

    train, test = load_data(loaded.config.data)
    g = torch.Generator().manual_seed(loaded.config.seed if seed is None else seed)
    pick = torch.randperm(len(train), generator=g)[:calibration]
    dev = model_device(loaded.ann)  # convert --device: the data goes where the ANN is
    return (loaded.preprocess(train.images[pick].to(dev)), loaded.preprocess(test.images.to(dev)),
            test.labels.to(dev))


def qcfs_finetuned(loaded: LoadedANN, calibration: Tensor, levels: int,
                   epochs: int) -> nn.Module:
    """The ANN of ``loaded`` with QCFS activations, fine-tuned on the run's training split.

    QCFS (Bu et al. 2022): :func:`~spikebit.conversion.qcfs.to_qcfs` then
    :func:`~spikebit.conversion.qcfs.finetune`.

    Args:
        loaded: the checkpoint's ANN and run.
        calibration: calibration images ``[N, C, H, W]`` (preprocessed) that set ``lambda``.
        levels: ``L``, quantization steps of the QCFS activations.
        epochs: fine-tuning epochs.

    Returns:
        The fine-tuned QCFS ANN (eval mode).

    Raises:
        ConversionError: the ANN has no ``nn.ReLU`` or ``levels`` is not a positive int.
    """
    from spikebit.train.datasets import load_data

    train, _ = load_data(loaded.config.data)
    net = to_qcfs(loaded.ann, calibration, levels)
    return finetune(net, loaded.preprocess(train.images), train.labels.long(), epochs,
                    seed=loaded.config.seed)


def selected_steps(T: int, best_T: int | None = None) -> list[int]:
    """Steps shown in a compact table: powers of two below ``T``, ``T`` and ``best_T``.

    Args:
        T: the simulated time steps.
        best_T: the step of the best accuracy (None: not added).

    Returns:
        The steps, sorted.
    """
    steps = {2**i for i in range(T.bit_length()) if 2**i <= T} | {T}
    if best_T is not None:
        steps.add(best_T)
    return sorted(steps)


def convert_checkpoint(
    path: str | Path, method: str = "bsnn", percentile: float | None = None,
    K: int | None = None, T: int = 64, calibration: int = 2000, *, batch_size: int = 256,
    tolerance: float = DEFAULT_TOLERANCE, write: bool = True, max_spikes: int | None = None,
    thresholds: str | None = None, qcfs_levels: int | None = None,
    qcfs_epochs: int | None = None, presim: int | None = None,
) -> dict[str, Any]:
    """Convert the ANN at ``path``, simulate T steps on its test set, return (and write) a report.

    The report holds the accuracy curve (percent; entry t-1 after t steps), the
    ANN accuracy, best SNN accuracy, its T, the conversion loss (ANN - best
    SNN, points), the first T with loss <= ``tolerance`` and the compact
    ``rows`` of :func:`selected_steps`; where no step has output, the best accuracy, its T
    and the conversion loss are None ("no output"). With ``write`` it is saved atomically
    next to the checkpoint (key ``json``) as
    :func:`~spikebit.conversion.report.output_name` names it: ``convert-<method>`` plus a
    part per setting the method read that differs from its default (e.g.
    ``convert-burst-spikes1.json``), ``convert-<method>-K<K>.json`` (phase codings
    ``phase``, ``bsnn``) or ``convert-<method>.json`` with the defaults. Settings the
    method does not read are None in the report (and refused when given:
    :mod:`spikebit.conversion.settings`). Every argument is checked before the checkpoint
    is loaded (:func:`~spikebit.conversion.settings.check_checkpoint_arguments`).

    ``method="qcfs"`` on a ReLU checkpoint first replaces every ReLU by a QCFS
    activation with ``qcfs_levels`` steps and fine-tunes it for ``qcfs_epochs`` epochs
    on the run's training split (QCFS, Bu et al. 2022; :mod:`spikebit.conversion.qcfs`);
    the report's ANN accuracy is then the QCFS ANN's (``"ann": "qcfs-finetuned"``; else
    ``"checkpoint"``), and so are the losses.

    Args:
        path: a ``.safetensors`` checkpoint of ``spikebit train`` or its run directory.
        method: the conversion method (``METHODS``: ``"rate"``, ``"phase"``, ``"bsnn"``,
            ``"ltb"``, ``"signed"``, ``"burst"``, ``"signed-burst"``, ``"qcfs"``, ``"srp"``,
            ``"cos"``).
        percentile: the normalization percentile in %, ``(0, 100]`` (100 = max-norm;
            default 99.99), for layer-wise normalization and percentile thresholds.
        K: phases per period (time steps per period; default 8), for the phase codings.
        T: time steps to simulate, an int in ``1 .. MAX_T`` (``2**16``: beyond it the
            float32 readout cannot resolve more and its memory grows past a few GB; see
            :mod:`spikebit.conversion.validate`).
        calibration: training images used for calibration, an int >= 1.
        batch_size: images per forward pass, an int >= 1.
        tolerance: conversion loss in percentage points counted as lossless (>= 0).
        write: write the report as JSON next to the checkpoint (a bool).
        max_spikes: spikes per step of the burst methods (default: the method's).
        thresholds: per-channel threshold rule (``"ltb"``, ``"percentile"``, ``"module"``;
            default: the method's).
        qcfs_levels: quantization steps ``L`` of the QCFS activations (method ``qcfs``;
            default 4).
        qcfs_epochs: fine-tuning epochs of the QCFS ANN (method ``qcfs``; default 2; 0:
            QCFS activations with calibrated clips, not fine-tuned).
        presim: pre-simulation steps of ``srp`` and ``cos`` (default: the method's); the
            report's accuracy after T steps then has a latency of ``presim + T`` steps.

    Returns:
        The report dictionary (JSON-ready; ``"json"`` holds the file written).

    Raises:
        ConversionError: ``T`` is not an int in ``1 .. MAX_T``, the checkpoint is missing
            or not a convertible ANN, a conversion argument is invalid or wrongly typed
            (:func:`~spikebit.conversion.settings.check_checkpoint_arguments`), or a
            setting is given that ``method`` does not read (also ``qcfs_levels``/
            ``qcfs_epochs`` for a checkpoint that already has QCFS activations: it is not
            fine-tuned).
        RegistryError: an unknown ``method``.
    """
    given = {"percentile": percentile, "K": K, "max_spikes": max_spikes, "presim": presim,
             "qcfs_levels": qcfs_levels, "qcfs_epochs": qcfs_epochs}
    args = check_checkpoint_arguments(method, T, calibration, batch_size, tolerance, write,
                                      given, thresholds)  # as plain int/float from here on
    T, calibration, batch_size, tolerance = (args[k] for k in ("T", "calibration",
                                                               "batch_size", "tolerance"))
    percentile, K, max_spikes, presim, qcfs_levels, qcfs_epochs = (args[k] for k in given)
    start = time.perf_counter()
    loaded = load_ann(path)
    finetune_qcfs = method == "qcfs" and not any(isinstance(m, QCFS)
                                                 for m in loaded.ann.modules())
    if method == "qcfs" and not finetune_qcfs and (qcfs_levels, qcfs_epochs) != (None, None):
        raise ConversionError(
            f"{loaded.path} already has QCFS activations, so it is converted as it is: "
            "qcfs_levels and qcfs_epochs (the fine-tuning of a ReLU ANN) are not used; "
            "drop them")
    calib, test_x, test_y = conversion_data(loaded, calibration)
    if finetune_qcfs:
        qcfs_levels = QCFS_LEVELS if qcfs_levels is None else qcfs_levels
        qcfs_epochs = QCFS_EPOCHS if qcfs_epochs is None else qcfs_epochs
        loaded.ann = qcfs_finetuned(loaded, calib, qcfs_levels, qcfs_epochs)
    snn = convert(loaded.ann, calib, method, percentile, K, batch_size=batch_size,
                  max_spikes=max_spikes, thresholds=thresholds, presim=presim)
    # the settings the conversion read, as used (defaults resolved); None: not read
    K = snn.K if uses("K", method, thresholds=thresholds) else None
    percentile = (None if not uses("percentile", method, thresholds=thresholds)
                  else DEFAULT_PERCENTILE if percentile is None else percentile)
    ev = evaluate_conversion(snn, loaded.ann, (test_x, test_y), T, batch_size)
    r = summarize(Variant(method, method, percentile, K, snn.synchronous), ev["ann_accuracy"],
                  ev["snn_accuracy"], ev["output_error"], tolerance)
    rows = [{"T": t, "snn_accuracy": r.accuracy[t - 1],
             "loss": None if r.accuracy[t - 1] is None else ev["ann_accuracy"] - r.accuracy[t - 1],
             "no_output": ev["no_output"][t - 1], "tied": ev["tied"][t - 1],
             "output_error": r.output_error[t - 1]} for t in selected_steps(T, r.best_T)]
    report: dict[str, Any] = {
        "checkpoint": str(loaded.path), "model": loaded.config.model.name,
        "model_args": loaded.config.model.args, "dataset": loaded.config.data.name,
        "normalized_input": loaded.mean is not None, "method": method, "K": K,
        "presim": snn.presim if uses("presim", method) else None, "percentile": percentile,
        "thresholds": threshold_rule(method, thresholds),
        "max_spikes": getattr(snn.method, "max_spikes", None)
        if uses("max_spikes", method) else None,
        "ann": "qcfs-finetuned" if finetune_qcfs else "checkpoint",
        "qcfs_levels": qcfs_levels if finetune_qcfs else None,
        "qcfs_epochs": qcfs_epochs if finetune_qcfs else None,
        "calibration": int(calib.shape[0]), "T": T,
        "num_samples": ev["num_samples"], "ann_accuracy": ev["ann_accuracy"],
        "best_accuracy": r.best_accuracy, "best_T": r.best_T,
        "conversion_loss": r.conversion_loss, "tolerance": tolerance,
        "lossless_T": r.lossless_T, "synchronous": snn.synchronous,
        "readout_onset_period": snn.readout_onset, "input_scale": snn.input_scale,
        "output_scale": snn.output_scale, "lambdas": snn.lambdas, "rows": rows,
        "snn_accuracy": r.accuracy, "output_error": r.output_error,
        "seconds": time.perf_counter() - start,
    }
    if write:
        out = loaded.path.parent / output_name(report)
        write_result_json(out, report)
        report["json"] = str(out)
    return report
