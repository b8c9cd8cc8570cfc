"""The training loop: BPTT with surrogate gradients over multi-step SNNs (or plain ANNs).

Every epoch: train, evaluate, call the callbacks, write ``best.safetensors`` (when
test accuracy improves) and then ``last.safetensors`` atomically, and log a CSV row
(:meth:`Trainer.save_epoch`). Divergence (NaN/inf loss, gradients or weights, or a loss
blow-up) stops training with the step and the cause (:mod:`spikebit.train.divergence`).
``resume=True`` continues from ``last.safetensors`` under the resume policy of
:mod:`spikebit.train.resume` and, on CPU with the same seed, reproduces the
uninterrupted run exactly.

The trainer gets a built model and datasets; building them from a config is
:mod:`spikebit.train.build` and :mod:`spikebit.train.datasets`, and
:func:`spikebit.train.run.fit_from_config` connects the steps.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from spikebit.data import ArrayDataset
from spikebit.data.transforms import Transform
from spikebit.errors import TrainingError
from spikebit.metrics.readout import count_decisions, decision_fractions
from spikebit.progress import ProgressBar
from spikebit.train.callbacks import Callback, QuantizerSchedule, callback_state
from spikebit.train.checkpoint import (
    Checkpoint,
    model_tensors,
    quantize_flags,
    save_checkpoint,
)
from spikebit.train.device import (
    autocast,
    check_precision,
    fp32_quantizers,
    make_scaler,
    model_device,
    preflight,
    requested_device,
    resolve_device,
    rng_state,
    to_device,
)
from spikebit.train.distributed import DistInfo, all_reduce_sum
from spikebit.train.divergence import DivergenceMonitor
from spikebit.train.loader import (
    eval_batches,
    make_batches,
    model_input,
    num_classes,
    sample_shape,
)
from spikebit.train.logging import EpochLog, Progress
from spikebit.train.losses import make_loss, readout
from spikebit.train.optim import make_optimizer, make_scheduler
from spikebit.train.optim_state import optimizer_tensors
from spikebit.train.resume import restore_trainer
from spikebit.train.rundir import prepare_run_dir
from spikebit.train.schema import RunConfig
from spikebit.train.state import TrainState
from spikebit.train.validate import check_against_data


class Trainer:
    """Fit ``model`` on ``train`` and evaluate on ``test`` as ``config`` says.

    BPTT with surrogate gradients through all time steps; models take ``[T, B, ...]``
    inputs (event frames are made time-major by
    :func:`~spikebit.train.loader.model_input`) and output logits ``[T, B, K]`` or
    ``[B, K]`` (read out by the configured loss). Construction checks device, precision
    and data against the config and writes nothing; :meth:`fit` prepares the run
    directory (an earlier run there is moved aside unless resuming). After :meth:`fit`,
    ``model``, ``state`` (history, best accuracy) and ``run_dir`` hold the run's
    outcome (what ``spikebit train`` summarizes).

    Args:
        config: the run configuration (validated by
            :func:`spikebit.train.config.load_config`).
        model: the network to train; moved to ``device``.
        train: the training set (images ``[N, C, H, W]`` or frames ``[N, T, C, H, W]``).
        test: the evaluation set, same layout as ``train``.
        callbacks: extra callbacks, run after the built-in ``QuantizerSchedule``.
        transform: per-batch augmentation applied to training batches only.
        run_dir: where checkpoints and logs go (default: ``config.out_dir / config.name``).
        dist: the process group for multi-process (DDP) training (default: one process).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"`` (default:
            ``config.device``).

    Raises:
        ConfigError: an unknown or unavailable device, a precision the device lacks (or
            an op without a kernel for it), or a config that contradicts the data.
        TrainingError: ``optim.batch_size`` (the global batch) is not divisible by the
            number of processes.
    """

    def __init__(
        self,
        config: RunConfig,
        model: nn.Module,
        train: ArrayDataset,
        test: ArrayDataset,
        callbacks: list[Callback] | None = None,
        transform: Transform | None = None,
        run_dir: str | Path | None = None,
        dist: DistInfo | None = None,
        device: str | torch.device | None = None,
    ) -> None:
        self.config = config
        self.dist = dist or DistInfo()
        # device/precision: train/device.py (ConfigError before anything runs or is written)
        self.device = resolve_device(device or requested_device(config.device))
        self.precision = config.precision
        check_precision(self.precision, self.device)
        self.model = model.to(self.device)
        self.loss_fn = make_loss(config.loss)
        preflight(self.model, train, self.loss_fn, self.device, self.precision)
        self.scaler = make_scaler(self.device, self.precision)
        if self.precision != "fp32":
            fp32_quantizers(self.model)  # quantizer statistics stay float32 under autocast
        self.train_model = self.dist.wrap(self.model, self.device)
        self.train_set, self.test_set = train, test
        self.callbacks = [QuantizerSchedule(), *(callbacks or [])]
        self.run_dir = Path(run_dir or Path(config.out_dir) / config.name)
        if config.optim.batch_size % self.dist.world_size:
            raise TrainingError(
                f"optim.batch_size={config.optim.batch_size} (the global batch) must be divisible "
                f"by the number of processes ({self.dist.world_size})"
            )
        check_against_data(config, train, self.dist.world_size)
        self.batches = make_batches(
            train, config.optim.batch_size // self.dist.world_size, shuffle=True,
            seed=config.seed, transform=transform, rank=self.dist.rank,
            world_size=self.dist.world_size, drop_last=True, workers=config.data.workers,
            device=self.device,
        )
        self.total_steps = len(self.batches) * config.optim.epochs
        self.optimizer = make_optimizer(model, config)
        self.scheduler = make_scheduler(self.optimizer, config, self.total_steps)
        self.state = TrainState()
        self.monitor = DivergenceMonitor(model, self.run_dir)
        self.log: EpochLog | None = None  # opened by fit(), after the run directory is ready

    # -- checkpoints and the run directory -----------------------------------------
    def checkpoint(self, metrics: dict[str, Any]) -> Checkpoint:
        """Everything needed to resume exactly, as one checkpoint.

        Tensors: model and optimizer state, RNG states and callback state; metadata: the
        config, quantizer flags, input shape, scheduler, trainer state and precision.

        Args:
            metrics: the latest epoch's metrics, stored under ``meta["metrics"]``.

        Returns:
            The run's state as a :class:`~spikebit.train.checkpoint.Checkpoint` (not yet
            written to disk).
        """
        tensors = model_tensors(self.model)
        opt_t, opt_meta = optimizer_tensors(self.optimizer)
        tensors.update(opt_t)
        tensors["rng.torch"] = torch.get_rng_state()
        tensors.update(rng_state(self.device))
        cb_tensors, cb_meta = callback_state(self.callbacks)
        tensors.update(cb_tensors)
        meta = {
            "format": "spikebit-checkpoint-1",
            "config": self.config.to_dict(),
            "metrics": metrics,
            "quantize": quantize_flags(self.model),
            "input": {"in_shape": list(sample_shape(self.train_set)),
                      "num_classes": num_classes(self.train_set)},
            "optimizer": opt_meta,
            "scheduler": self.scheduler.state_dict(),
            "trainer": {"epoch": self.state.epoch, "step": self.state.step,
                        "best_acc": self.state.best_acc, "history": self.state.history},
            "callbacks": cb_meta,
            "device": {"trained_on": str(self.device), "precision": self.precision,
                       "scaler": self.scaler.state_dict()},
        }
        return Checkpoint(tensors, meta)

    def save_epoch(self, metrics: dict[str, Any], improved: bool) -> None:
        """Write this epoch's checkpoints and logs: ``best.safetensors`` first (when
        ``improved``), then ``last.safetensors``, ``log.csv`` and ``metrics.json``.

        Every tensor is checked for NaN/inf first (a diverged state is never written).
        Writing ``best`` before ``last`` means a kill during either write leaves ``last``
        at the previous epoch: ``--resume`` then repeats the epoch (bit-identically on
        CPU) and writes its best weights again, so the best weights of a run are never
        lost.

        Args:
            metrics: the epoch's record, saved in the checkpoint and the logs
                (``state.epoch`` already counts this epoch).
            improved: the test accuracy beat the best so far: write ``best.safetensors``.

        Raises:
            TrainingError: a tensor holds NaN/inf (nothing is written).
            CheckpointError: a file cannot be written.
        """
        ckpt = self.checkpoint(metrics)
        self.monitor.check_checkpoint(ckpt.tensors, self.state.epoch - 1, self.state.step)
        if improved:
            save_checkpoint(self.run_dir / "best.safetensors", ckpt)
        save_checkpoint(self.run_dir / "last.safetensors", ckpt)
        self._open_log().write(metrics, self.state.history)

    def _open_log(self) -> EpochLog:
        """The run's CSV/JSON/TensorBoard log (its writer creates ``tensorboard/``)."""
        if self.log is None:
            self.log = EpochLog(self.run_dir, enabled=self.dist.is_main,
                                tensorboard=self.config.tensorboard)
        return self.log

    def resume(self, path: str | Path | None = None) -> None:
        """Restore everything from ``path`` (default: this run's ``last.safetensors``).

        What may differ from the saved config is decided by :mod:`spikebit.train.resume`.

        Args:
            path: a checkpoint file (default: ``run_dir / "last.safetensors"``).

        Raises:
            CheckpointError: the file is missing, unreadable or not a spikebit checkpoint.
            ConfigError: the saved config differs from this one where the resume policy
                forbids it.
        """
        restore_trainer(self, path)

    # -- loop ------------------------------------------------------------------
    def evaluate(self, dataset: ArrayDataset | None = None) -> dict[str, float]:
        """Top-1 accuracy and mean loss on ``dataset`` (default: the test set).

        Args:
            dataset: the set to evaluate (default: the trainer's test set).

        Returns:
            ``{"acc": accuracy in [0, 1], "loss": mean loss per sample, "no_output",
            "tied": fractions of samples without a single top class}`` (see
            :func:`evaluate`).
        """
        return evaluate(self.model, dataset or self.test_set, self.loss_fn,
                        self.config.optim.eval_batch_size, self.device, self.precision,
                        self.config.data.workers)

    def _train_epoch(self, epoch: int) -> dict[str, float]:
        self.train_model.train()
        self.batches.set_epoch(epoch)
        progress = Progress(len(self.batches), f"epoch {epoch + 1}/{self.config.optim.epochs}",
                            enabled=self.dist.is_main, every=self.config.log_every)
        total_loss, seen = (torch.zeros((), device=self.device) for _ in range(2))
        decisions = torch.zeros(3, dtype=torch.long, device=self.device)  # count_decisions
        for images, labels in self.batches:
            images, labels = to_device(images, self.device), to_device(labels, self.device)
            for cb in self.callbacks:
                cb.on_step_start(self, self.state.step)
            with autocast(self.device, self.precision):
                output = self.train_model(model_input(images))
                loss = self.loss_fn(output, labels)
            self.monitor.check_loss(loss, epoch, self.state.step)
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()  # fp16 only; otherwise plain backward/step
            if self.scaler.is_enabled():  # fp16: true gradients for clipping and the step
                self.scaler.unscale_(self.optimizer)
            norm = None
            if self.config.optim.grad_clip:
                norm = float(nn.utils.clip_grad_norm_(self.model.parameters(),
                                                      self.config.optim.grad_clip))
            if not self.scaler.is_enabled():  # fp16: the scaler skips overflowing steps
                self.monitor.check_grads(epoch, self.state.step, norm)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.monitor.check_update(epoch, self.state.step)
            self.scheduler.step()
            n = labels.numel()
            total_loss += loss.detach().float() * n
            decisions += count_decisions(readout(output.detach()), labels)
            seen += n
            for cb in self.callbacks:
                cb.on_step_end(self, self.state.step, loss.item())
            self.state.step += 1
            progress.update(n, float(total_loss / seen), float(decisions[0] / seen))  # running
        sums = all_reduce_sum(torch.cat([torch.stack([total_loss, seen.float()]),
                                         decisions.float()]), self.dist)
        progress.close()
        fractions = decision_fractions(sums[2:], float(sums[1]))
        return {"train_loss": float(sums[0] / sums[1]),
                **{f"train_{k}": v for k, v in fractions.items()}}

    def _epoch(self, epoch: int) -> dict[str, Any]:
        """Train and evaluate epoch ``epoch`` (0-based), run the callbacks, record and save
        it; returns its metrics."""
        t0 = time.perf_counter()
        lr = self.scheduler.get_last_lr()[0]  # the rate of the epoch's first step
        metrics: dict[str, Any] = self._train_epoch(epoch)
        metrics.update({f"test_{k}": v for k, v in self.evaluate().items()})
        metrics.update({"epoch": epoch + 1, "lr": lr, "epoch_seconds": time.perf_counter() - t0})
        for cb in self.callbacks:
            cb.on_epoch_end(self, epoch, metrics)
        self.state.epoch = epoch + 1
        self.state.history.append(metrics)
        improved = metrics["test_acc"] > self.state.best_acc
        self.state.best_acc = max(self.state.best_acc, metrics["test_acc"])
        metrics["best_test_acc"] = self.state.best_acc
        if self.dist.is_main:
            self.save_epoch(metrics, improved)
        return metrics

    def fit(self, resume: bool = False) -> dict[str, Any]:
        """Train until ``config.optim.epochs`` epochs are done.

        Each epoch trains, evaluates, runs the callbacks and (on the main process) saves
        ``best.safetensors`` when test accuracy improves, then ``last.safetensors`` and a
        CSV row.

        Args:
            resume: continue from this run's ``last.safetensors`` instead of starting
                fresh (a fresh start clears the run directory's previous outputs).

        Returns:
            The last epoch's metrics (``train_loss``, ``train_acc``, ``test_acc``,
            ``test_loss``, ``train_no_output``, ``train_tied``, ``test_no_output``,
            ``test_tied`` (fractions of samples without a single top class, counted as
            wrong in the accuracies), ``epoch``, ``lr`` (the rate of the epoch's first
            step), ``epoch_seconds``, ``best_test_acc``).

        Raises:
            TrainingError: divergence (NaN/inf loss, gradients or weights, or a loss
                blow-up), with the epoch, step and cause.
            CheckpointError: ``resume=True`` and the checkpoint cannot be read.
            ConfigError: ``resume=True`` and the config differs from the saved one where
                the resume policy forbids it, or nothing is left to train.
        """
        if self.dist.is_main and self.log is None:  # first fit() of this trainer
            prepare_run_dir(self.run_dir, fresh=not resume and self.state.epoch == 0)
        self._open_log()
        if resume:
            self.resume()
        for cb in self.callbacks:
            cb.on_train_start(self)
        metrics: dict[str, Any] = self.state.history[-1] if self.state.history else {}
        for epoch in range(self.state.epoch, self.config.optim.epochs):
            metrics = self._epoch(epoch)
        for cb in self.callbacks:
            cb.on_train_end(self)
        if self.dist.is_main and self.config.plots:
            self._open_log().plot(self.state.history)
        return metrics


@torch.no_grad()
def evaluate(model: nn.Module, dataset: ArrayDataset, loss_fn, batch_size: int = 500,
             device: torch.device | None = None, precision: str = "fp32",
             workers: int = 0) -> dict:
    """Accuracy and loss of ``model`` over ``dataset`` in eval mode, without gradients.

    The model's training mode is restored afterwards.

    Args:
        model: the network; takes ``[T, B, ...]`` (or ``[B, C, H, W]`` images).
        dataset: the set to evaluate (images ``[N, C, H, W]`` or frames ``[N, T, C, H, W]``).
        loss_fn (Callable): the loss, called as ``loss_fn(output, labels)``.
        batch_size: samples per evaluation batch.
        device: where batches go (default: where the model's parameters are).
        precision: ``"fp32"``, ``"bf16"`` or ``"fp16"`` (autocast off for ``fp32``).
        workers: DataLoader worker processes (0: load in this process).

    Returns:
        ``{"acc": top-1 accuracy in [0, 1], "loss": mean loss per sample, "no_output",
        "tied": fractions in [0, 1]}`` (0 for an empty dataset). A sample whose readout
        has no single largest class (all classes equal or some NaN: "no output"; the top
        shared: "tied") counts as wrong, never as the first class
        (:func:`spikebit.metrics.readout.decide`). A ``[T, B, K]`` output in half
        precision (``precision="bf16"``/``"fp16"``) is averaged over time in float32
        (:func:`spikebit.train.losses.readout`).
    """
    was_training = model.training
    model.eval()
    if device is None:
        device = model_device(model)
    decisions = torch.zeros(3, dtype=torch.long, device=device)  # count_decisions, summed
    total, loss_sum = 0, 0.0
    with ProgressBar(len(dataset), "evaluate", unit="sample") as bar:
        for images, labels in eval_batches(dataset, batch_size, workers, device):
            images, labels = to_device(images, device), to_device(labels, device)
            with autocast(device, precision):
                output = model(model_input(images))
                loss = loss_fn(output, labels)
            loss_sum += float(loss) * labels.numel()
            decisions += count_decisions(readout(output), labels)
            total += labels.numel()
            bar.update(labels.numel())
    model.train(was_training)
    fractions = decision_fractions(decisions, total)
    return {"acc": fractions["acc"], "loss": loss_sum / max(1, total),
            "no_output": fractions["no_output"], "tied": fractions["tied"]}
