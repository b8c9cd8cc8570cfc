"""Training: config, trainer, callbacks, losses, checkpoints, distributed."""

from spikebit.train.callbacks import CALLBACKS, Callback
from spikebit.train.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from spikebit.train.config import RunConfig, config_from_dict, load_config
from spikebit.train.losses import LOSSES, readout
from spikebit.train.run import model_from_checkpoint, prepare, train_from_config, train_or_reuse
from spikebit.train.trainer import Trainer, evaluate

__all__ = [
    "CALLBACKS",
    "LOSSES",
    "Callback",
    "Checkpoint",
    "RunConfig",
    "Trainer",
    "config_from_dict",
    "evaluate",
    "load_checkpoint",
    "load_config",
    "model_from_checkpoint",
    "prepare",
    "readout",
    "save_checkpoint",
    "train_from_config",
    "train_or_reuse",
]
