"""Issue 20 items 2, 3, 5, 7, 8: kills, run directories, divergence, filesystem errors."""

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from tests_toy import toy_config_dict

from spikebit.errors import CheckpointError, ConfigError, TrainingError
from spikebit.train import Callback, config_from_dict, load_checkpoint, prepare
from spikebit.train.run import train_from_config
from spikebit.train.trainer import Trainer

TESTS = Path(__file__).resolve().parents[1]
SRC = TESTS.parent / "src"

_KILL_SCRIPT = textwrap.dedent("""
    import os, signal, sys, json
    sys.path.insert(0, {tests!r}); sys.path.insert(0, {here!r})
    import conftest  # registers the toy dataset
    from tests_toy import toy_config_dict
    from spikebit.train import checkpoint as ck, config_from_dict
    from spikebit.train.run import train_from_config
    real, calls = ck.save_file, []

    def killing_save(tensors, path, metadata=None):
        if ".{which}.safetensors." in path:
            calls.append(path)
            if len(calls) == 2:  # the second improved epoch: killed mid-write
                with open(path, "wb") as f:
                    f.write(b"partial")
                os.kill(os.getpid(), signal.SIGKILL)
        return real(tensors, path, metadata=metadata)

    ck.save_file = killing_save
    train_from_config(config_from_dict(toy_config_dict({out!r}, epochs=4)))
""")


def _model_tensors(path):
    return load_checkpoint(path).section("model")


@pytest.mark.parametrize("which", ["best", "last"])
def test_kill_during_best_write_loses_nothing(tmp_path, which):
    out = tmp_path / "runs"
    script = _KILL_SCRIPT.format(tests=str(TESTS), here=str(Path(__file__).parent), out=str(out),
                                 which=which)
    env = dict(os.environ, PYTHONPATH=str(SRC), OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    run_dir = out / "toy"
    stale = list(run_dir.glob(f".{which}.safetensors.*.tmp"))
    assert len(stale) == 1  # the killed write
    best_epoch = load_checkpoint(run_dir / "best.safetensors").meta["trainer"]["epoch"]
    last_epoch = load_checkpoint(run_dir / "last.safetensors").meta["trainer"]["epoch"]
    # best is written first: a kill in its write leaves the epoch in neither file, a kill
    # in the last write leaves it only in best; either way resume repeats it
    assert best_epoch <= last_epoch + (which == "last")
    # resuming repeats the killed epoch and restores its best weights
    config = config_from_dict(toy_config_dict(out, epochs=4))
    train_from_config(config, resume=True)
    assert not list(run_dir.glob(".*.tmp"))  # stale temp removed
    full_cfg = config_from_dict(dict(toy_config_dict(out, epochs=4), name="full"))
    _, full_dir = train_from_config(full_cfg)
    full_best = load_checkpoint(full_dir / "best.safetensors")
    got_best = load_checkpoint(run_dir / "best.safetensors")
    assert got_best.meta["trainer"]["epoch"] == full_best.meta["trainer"]["epoch"]
    for key, value in full_best.section("model").items():
        assert torch.equal(got_best.section("model")[key], value), key


def test_starting_over_never_overwrites(tmp_path):
    out = tmp_path / "runs"
    cfg = toy_config_dict(out, epochs=1)
    _, run_dir = train_from_config(config_from_dict(cfg))
    best = (run_dir / "best.safetensors").read_bytes()
    (run_dir / "last.safetensors").unlink()  # last deleted, best kept
    train_from_config(config_from_dict(cfg))
    kept = sorted(out.glob("toy.replaced-*"))
    assert len(kept) == 1 and (kept[0] / "best.safetensors").read_bytes() == best
    # a directory with only the user's own files
    mine = out / "mine"
    mine.mkdir()
    (mine / "metrics.json").write_text("my notes")
    (mine / "log.csv").write_text("my log")
    train_from_config(config_from_dict(dict(cfg, name="mine")))
    (moved,) = out.glob("mine.replaced-*")
    assert (moved / "metrics.json").read_text() == "my notes"
    assert (moved / "log.csv").read_text() == "my log"


@pytest.mark.parametrize("name", ["", " ", ".", "..", "a/b"])
def test_run_name_must_be_a_folder_name(tmp_path, name):
    with pytest.raises(ConfigError, match="name must be a plain"):
        config_from_dict(toy_config_dict(tmp_path, name=name))


def test_unwritable_out_dir_fails_before_training(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    config = config_from_dict(toy_config_dict(blocker / "runs"))
    with pytest.raises(CheckpointError, match="not writable"):
        train_from_config(config)
    if os.geteuid() != 0:  # root ignores permissions
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        with pytest.raises(CheckpointError, match="not writable"):
            train_from_config(config_from_dict(toy_config_dict(ro)))


def test_write_errors_are_checkpoint_errors(tmp_path, monkeypatch):
    from safetensors import SafetensorError

    from spikebit.train import checkpoint as ck

    def full_disk(*args, **kwargs):
        raise SafetensorError("Error while serializing: IoError(No space left on device)")

    monkeypatch.setattr(ck, "save_file", full_disk)
    with pytest.raises(CheckpointError, match="No space left.*writable directory with free"):
        ck.save_checkpoint(tmp_path / "x.safetensors", ck.Checkpoint({"a": torch.ones(1)}))
    assert not list(tmp_path.iterdir())

    def no_space(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ck.os, "replace", no_space)
    with pytest.raises(CheckpointError, match="No space left"):
        ck.atomic_write_json(tmp_path / "m.json", {})
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("optimizer,lr", [("sgd", 1e3), ("sgd", 1e20), ("adam", 1e6)])
def test_divergence_stops_with_step_and_cause(tmp_path, optimizer, lr):
    cfg = toy_config_dict(tmp_path)
    cfg["optim"].update(optimizer=optimizer, lr=lr)
    with pytest.raises(TrainingError, match=r"diverged: .* at epoch 1, step \d+.*No checkpoint "
                                            "was written"):
        train_from_config(config_from_dict(cfg))
    assert not (tmp_path / "toy" / "last.safetensors").exists()


class _Poison(Callback):
    """Makes one tensor non-finite: a BN buffer every step, or the optimizer state at epoch end."""

    def __init__(self, where: str) -> None:
        self.where = where

    def on_step_end(self, trainer, step, loss):
        if self.where == "buffer" and trainer.state.epoch == 1:
            bn = next(m for m in trainer.model.modules() if isinstance(m, torch.nn.BatchNorm2d))
            bn.running_var.fill_(float("inf"))

    def on_epoch_end(self, trainer, epoch, metrics):
        if self.where == "optimizer" and epoch == 1:
            state = next(iter(trainer.optimizer.state.values()))
            state["exp_avg_sq"].fill_(float("inf"))


@pytest.mark.parametrize("where,pattern", [("buffer", "update made .*running_var"),
                                           ("optimizer", "checkpoint tensors .*exp_avg_sq")])
def test_nonfinite_state_is_never_checkpointed_and_message_is_truthful(tmp_path, where,
                                                                       pattern):
    config = config_from_dict(toy_config_dict(tmp_path, epochs=1))
    model, train, test, transform = prepare(config)
    trainer = Trainer(config, model, train, test, [_Poison(where)], transform)
    trainer.fit()
    good = (trainer.run_dir / "last.safetensors").read_bytes()
    trainer.config.optim.epochs = 2
    with pytest.raises(TrainingError, match=pattern + r".* NaN/inf.*at epoch 2.*last good "
                                            r"checkpoint.*epoch 1, all tensors finite"):
        trainer.fit()
    assert (trainer.run_dir / "last.safetensors").read_bytes() == good
