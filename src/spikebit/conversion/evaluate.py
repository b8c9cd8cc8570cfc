"""Accuracy and output error of a converted SNN at every time step."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import torch
from torch import Tensor, nn

from spikebit.conversion.errors import ConversionError
from spikebit.conversion.snn import SpikingConverted
from spikebit.conversion.validate import MAX_T, check_batch, check_int, check_steps, module_dtype
from spikebit.metrics.readout import decide
from spikebit.progress import ProgressBar

Batches = Iterable[tuple[Tensor, Tensor]] | tuple[Tensor, Tensor]


def iterate_batches(data: Batches, batch_size: int = 256) -> Iterator[tuple[Tensor, Tensor]]:
    """Yield ``(x, y)`` batches from a tensor pair ``(x, y)`` or an iterable of pairs.

    Args:
        data: a tuple ``(x [N, C, H, W], y [N])`` of tensors, or an iterable (e.g. a
            DataLoader) of ``(x, y, ...)`` batches (extra items are ignored).
        batch_size: images per batch when ``data`` is a tensor pair, an int >= 1.

    Returns:
        An iterator of ``(x [B, C, H, W], y [B])`` batches.

    Raises:
        ConversionError: ``x`` and ``y`` differ in ``N``, an item is not an ``(x, y)``
            pair, or ``batch_size`` is not an int >= 1.
    """
    batch_size = check_int("batch_size", batch_size, meaning="images per batch", example=256)
    if isinstance(data, tuple) and len(data) == 2 and isinstance(data[0], Tensor):
        x, y = data
        if x.shape[0] != y.shape[0]:
            raise ConversionError(f"x and y disagree on N: {x.shape[0]} vs {y.shape[0]}")
        yield from zip(x.split(batch_size), y.split(batch_size))
        return
    for item in data:
        if not (isinstance(item, (tuple, list)) and len(item) >= 2):
            raise ConversionError("data must yield (x, y) batches or be a tuple (x, y) of tensors")
        yield item[0], item[1]


def answered(readout: Tensor) -> Tensor:
    """Which readouts have any output ("no output": :func:`spikebit.metrics.readout.decide`).

    False where every class has the same value (e.g. all zeros before a BSNN's first
    output at ``2 K`` steps, or a network that never fired), whose argmax would be an
    arbitrary class 0. A readout with output may still be tied (its top value shared).

    Args:
        readout: readouts ``[..., K]`` (e.g. ``[T, B, K]``).

    Returns:
        A bool tensor ``[...]``.
    """
    return ~decide(readout).no_output


def _device(snn: SpikingConverted) -> torch.device:
    tensors = list(snn.buffers()) + list(snn.parameters())
    return tensors[0].device if tensors else torch.device("cpu")


def _run(what: str, x: Tensor, T: int, forward: Callable[[Tensor], Tensor]) -> Tensor:
    """``forward(x)``; an allocator failure or a batch the network cannot take is a
    :class:`ConversionError` naming the batch and the fix."""
    try:
        return forward(x)
    except RuntimeError as err:  # torch.OutOfMemoryError is a RuntimeError too
        if "alloc" in str(err).lower():
            raise ConversionError(
                f"out of memory running the {what} for T={T} steps on a batch of "
                f"{x.shape[0]} images (the readout alone is [T, B, classes]); pass a smaller "
                f"batch_size or T (T is at most {MAX_T})") from err
        raise ConversionError(
            f"the {what} does not run on a batch of shape [B, "
            f"{', '.join(map(str, x.shape[1:]))}] ({err}); pass images shaped like the "
            "calibration images the network was converted with") from err


def evaluate_conversion(
    snn: SpikingConverted, ann: nn.Module, data: Batches, T: int, batch_size: int = 256
) -> dict:
    """Accuracy of ``snn`` at every step 1..T against ``ann`` on ``data``.

    A sample whose readout holds no decision (:func:`spikebit.metrics.readout.decide`:
    all classes equal, "no output", or the top value shared, "tied") counts as not
    correct, never as the first class; a step at which no sample has output has accuracy
    ``None`` ("no output"), which the tables print as such and the plots leave out. The
    ANN's accuracy is decided the same way.

    Args:
        snn: the converted network (from :func:`~spikebit.conversion.snn.convert`).
        ann: the source ANN, images ``[B, C, H, W]`` to logits ``[B, K]`` (evaluated in
            eval mode; its mode is restored).
        data: a tensor pair ``(x [N, C, H, W], y [N])`` or an iterable of such batches.
        T: time steps to simulate, an int in ``1 .. MAX_T`` (``2**16``; see
            :mod:`spikebit.conversion.validate`). Memory: each batch's readout
            ``[T, batch_size, classes]`` is held a few times over; lower ``batch_size``
            for a long ``T``.
        batch_size: images per batch for a tensor pair, an int >= 1.

    Returns:
        ``{"T", "num_samples", "ann_accuracy" (percent), "snn_accuracy" (list of T
        percents or None; entry t-1 is the accuracy after t steps), "no_output" (list of
        T percents of samples without output yet), "tied" (list of T percents of samples
        whose top class is shared), "output_error" (list of T: mean
        |ann(x)/output_scale - snn readout|, normalized units)}``.

    Raises:
        ConversionError: ``data`` holds no samples or malformed batches (not in the
            network's dtype, or shaped so that the ANN cannot take them), ``T`` is not an
            int in ``1 .. MAX_T`` (a bool is refused), ``batch_size`` is not an int >= 1, or
            a batch runs out of memory.
    """
    T = check_steps(T)
    batch_size = check_int("batch_size", batch_size, meaning="images per batch", example=256)
    device, dtype = _device(snn), module_dtype(snn)
    # per-T tallies stay on the CPU: each batch's sums are moved there (``.cpu()``)
    correct = torch.zeros(T, dtype=torch.float64, device="cpu")
    silent = torch.zeros(T, dtype=torch.float64, device="cpu")
    tied = torch.zeros(T, dtype=torch.float64, device="cpu")
    error = torch.zeros(T, dtype=torch.float64, device="cpu")
    ann_correct, n = 0, 0
    was_training = ann.training
    ann.eval()
    try:
        with torch.no_grad(), ProgressBar(None, f"simulate T={T}", unit="sample") as bar:
            for x, y in iterate_batches(data, batch_size):
                x, y = check_batch(x, "test images", dtype).to(device), y.to(device)
                ref = _run("ANN", x, T, ann) / snn.output_scale
                out = _run("converted SNN", x, T, lambda b: snn.simulate(b, T))
                d = decide(out)
                correct += d.correct(y).sum(1).double().cpu()
                silent += d.no_output.sum(1).double().cpu()
                tied += d.tied.sum(1).double().cpu()
                error += (out - ref).abs().mean(-1).sum(1).double().cpu()
                ann_correct += int(decide(ref).correct(y).sum())
                n += x.shape[0]
                bar.update(x.shape[0])
    finally:
        ann.train(was_training)
    if n == 0:
        raise ConversionError("evaluate_conversion got no samples")
    return {
        "T": T,
        "num_samples": n,
        "ann_accuracy": 100.0 * ann_correct / n,
        "snn_accuracy": [None if s == n else 100.0 * c / n
                         for c, s in zip(correct.tolist(), silent.tolist())],
        "no_output": (100.0 * silent / n).tolist(),
        "tied": (100.0 * tied / n).tolist(),
        "output_error": (error / n).tolist(),
    }


def output_differences(snn: SpikingConverted, ann: nn.Module, x: Tensor, T: int) -> Tensor:
    """``snn readout at T - ann(x) / output_scale`` for every sample and class, flat ``[B*K]``.

    Both sides are in normalized units (ANN logits divided by ``lambda_L``), the
    quantity of the BSNN paper's Fig. 5.

    Args:
        snn: the converted network.
        ann: the source ANN (evaluated in eval mode; its mode is restored).
        x: images ``[B, C, H, W]``.
        T: time steps simulated.

    Returns:
        The differences, float ``[B*K]`` on the CPU.

    Raises:
        ConversionError: ``x`` is not a non-empty batch in the network's dtype, or ``T``
            is not an int in ``1 .. MAX_T``.
    """
    T = check_steps(T)
    check_batch(x, "images", module_dtype(snn))
    was_training = ann.training
    ann.eval()
    try:
        with torch.no_grad():
            x = x.to(_device(snn))
            diff = snn.simulate(x, T)[-1] - ann(x) / snn.output_scale
    finally:
        ann.train(was_training)
    return diff.flatten().cpu()
