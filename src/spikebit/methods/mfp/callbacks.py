"""Training callback that records MFP inference memory in the epoch metrics."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from spikebit.methods.mfp.memory import inference_memory
from spikebit.train.callbacks import CALLBACKS, Callback

if TYPE_CHECKING:
    from spikebit.train.trainer import Trainer


@CALLBACKS.register("mfp-memory")
class MFPMemory(Callback):
    """Adds ``metrics["mfp_memory"]``: per-layer weight/state bytes and totals (Table II)."""

    def on_epoch_end(self, trainer: Trainer, epoch: int, metrics: dict[str, Any]) -> None:
        """Add ``metrics["mfp_memory"]``: :meth:`MemoryReport.to_dict` of the model.

        Args:
            trainer: the running trainer (its ``model`` and ``train_set`` input shape).
            epoch: the finished epoch (unused).
            metrics: the epoch's metrics, updated in place.

        Raises:
            SerialInferenceError: the model holds no :class:`SpikingNet`.
        """
        from spikebit.train.loader import sample_shape

        metrics["mfp_memory"] = inference_memory(
            trainer.model, sample_shape(trainer.train_set)).to_dict()
