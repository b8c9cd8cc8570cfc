"""Progress lines, the per-epoch CSV log, optional TensorBoard and PNG curves."""

from __future__ import annotations

import csv
import io
import time
import warnings
from pathlib import Path
from typing import Any

from spikebit.progress import ProgressBar
from spikebit.provenance import write_result_json
from spikebit.train.checkpoint import atomic_write_bytes


class Progress:
    """Training progress: batches done, loss, accuracy, samples/s and ETA.

    A tqdm bar on a terminal; elsewhere one line every ``every`` batches and at the end
    (see :mod:`spikebit.progress`); nothing with ``--quiet``.

    Args:
        total: number of batches in the epoch.
        label: text before the bar, e.g. ``"epoch 1/10"``.
        enabled: show anything at all (the trainer passes ``False`` on ranks other
            than 0); ``--quiet`` silences the bar regardless.
        every: batches between plain lines when stdout is not a terminal (at least 1).
    """

    def __init__(self, total: int, label: str, enabled: bool = True, every: int = 50) -> None:
        self.samples, self.start = 0, time.perf_counter()
        self.bar = ProgressBar(total, label, unit="batch", enabled=enabled, every=max(1, every))

    def update(self, n: int, loss: float, acc: float) -> None:
        """One batch of ``n`` samples done, with its running loss and accuracy.

        Args:
            n: samples in the batch (for the samples/s rate).
            loss: running mean loss of the epoch so far.
            acc: running top-1 accuracy of the epoch so far, in ``[0, 1]``.
        """
        self.samples += n
        rate = self.samples / max(1e-9, time.perf_counter() - self.start)
        self.bar.update(1, loss=float(loss), acc=float(acc), samples_s=f"{rate:.0f}")

    def close(self) -> None:
        """Finish the bar."""
        self.bar.close()


class EpochLog:
    """Writes ``log.csv``, ``metrics.json`` and (optionally) TensorBoard scalars.

    Args:
        run_dir: the run directory the files go to.
        enabled: write anything at all (``False`` on non-main ranks).
        tensorboard: also write TensorBoard scalars to ``run_dir/tensorboard``; without
            the ``tensorboard`` package this warns once and is skipped.
    """

    def __init__(self, run_dir: Path, enabled: bool = True, tensorboard: bool = False) -> None:
        self.run_dir, self.enabled = run_dir, enabled
        self.writer = None
        if enabled and tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(str(run_dir / "tensorboard"))
            except ImportError:
                warnings.warn("tensorboard is not installed: pip install tensorboard",
                              stacklevel=2)

    def write(self, metrics: dict[str, Any], history: list[dict[str, Any]]) -> None:
        """Rewrite ``log.csv`` and ``metrics.json`` (atomically) after an epoch.

        ``log.csv`` holds one row per epoch with the numeric fields of the first
        record; ``metrics.json`` holds ``{"final": metrics, "history": history}`` plus
        ``provenance``.

        Args:
            metrics: the latest epoch's record (also sent to TensorBoard, by ``epoch``).
            history: every epoch's record so far, oldest first (non-empty).

        Raises:
            CheckpointError: a file cannot be written.
        """
        if not self.enabled:
            return
        scalar_keys = [k for k, v in history[0].items() if isinstance(v, int | float)]
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=scalar_keys, extrasaction="ignore")
        w.writeheader()
        w.writerows(history)
        atomic_write_bytes(self.run_dir / "log.csv", buf.getvalue().encode())
        write_result_json(self.run_dir / "metrics.json", {"final": metrics, "history": history})
        if self.writer is not None:
            for k in scalar_keys:
                if k in metrics:
                    self.writer.add_scalar(k, metrics[k], metrics["epoch"])
            self.writer.flush()

    def plot(self, history: list[dict[str, Any]]) -> Path | None:
        """Loss and accuracy curves as ``curves.png`` (skipped without matplotlib).

        Args:
            history: every epoch's record (``epoch``, ``train_loss``, ``test_loss``,
                ``train_acc``, ``test_acc``).

        Returns:
            The PNG's path, or ``None`` when disabled, ``history`` is empty or
            matplotlib is missing (one warning).

        Raises:
            CheckpointError: the PNG cannot be written.
        """
        if not self.enabled or not history:
            return None
        from spikebit.plotting import new_figure  # figures only when asked for

        fig = new_figure("curves.png", figsize=(9, 3.5))
        if fig is None:
            return None
        epochs = [h["epoch"] for h in history]
        ax1, ax2 = fig.subplots(1, 2)
        for key in ("train_loss", "test_loss"):
            ax1.plot(epochs, [h[key] for h in history], marker="o", label=key)
        for key in ("train_acc", "test_acc"):
            ax2.plot(epochs, [h[key] for h in history], marker="o", label=key)
        ax1.set_xlabel("epoch"), ax1.set_ylabel("loss"), ax1.legend()
        ax2.set_xlabel("epoch"), ax2.set_ylabel("accuracy"), ax2.legend()
        fig.tight_layout()
        path = self.run_dir / "curves.png"
        png = io.BytesIO()
        fig.savefig(png, format="png", dpi=100)
        atomic_write_bytes(path, png.getvalue())  # a write error is a CheckpointError
        return path
