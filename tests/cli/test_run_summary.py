"""The end-of-run summary of ``spikebit train`` comes from the trainer, not from the files."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import torch

from spikebit.cli.report import method_reports, print_run_summary
from spikebit.metrics import model_storage
from spikebit.quant import QLinear
from spikebit.quant.quantizers import QUANTIZERS
from spikebit.train import config_from_dict, fit_from_config
from spikebit.train.build import model_from_checkpoint


def _trainer(history, run_dir: Path):
    sign = QUANTIZERS.get("sign")
    model = torch.nn.Sequential(QLinear(4, 2, bias=False, quantizer=sign()),
                                QLinear(2, 2, quantizer=sign()))
    model[1].quantize = False  # kept full precision
    return SimpleNamespace(model=model, state=SimpleNamespace(history=history), run_dir=run_dir)


def test_summary_reads_history_and_model(tmp_path, capsys):
    history = [{"epoch": 1, "test_acc": 0.5}, {"epoch": 2, "test_acc": 0.75},
               {"epoch": 3, "test_acc": 0.75}, {"epoch": 4, "test_acc": 0.625}]
    trainer = _trainer(history, tmp_path)  # an empty run directory: nothing to read back
    print_run_summary(trainer, 12.4)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "test accuracy (last epoch): 62.50%"
    assert out[1] == "test accuracy (best epoch 2): 75.00%"  # the first epoch at the best
    assert out[2] == "weight layers kept full precision (numbered from 1): [2] of 2"
    # layer 0: 8 sign bits + 2 fp32 scales = 72 of 256; layer 1: 6 fp32 values = 192
    assert out[3] == ("storage: 264 bits (0.0 KiB), 0.5893 of fp32 (448 bits); quantized "
                      "layers at 0.2812 of their fp32 bits")
    assert out[4] == "wall time: 12 s"
    assert out[5] == f"run files: {tmp_path} (last.safetensors, best.safetensors, log.csv, " \
                     "metrics.json)"


def test_trainer_and_checkpoint_describe_the_same_model(toy_config, capsys):
    """What the summary now reads (the trainer's model) is what it used to rebuild from
    ``last.safetensors``: same storage, same outputs."""
    trainer = fit_from_config(config_from_dict(dict(toy_config, optim={
        "epochs": 1, "batch_size": 32, "lr": 0.01})))
    rebuilt, _, ckpt = model_from_checkpoint(trainer.run_dir / "last.safetensors")
    assert model_storage(trainer.model).to_dict() == model_storage(rebuilt).to_dict()
    assert ckpt.meta["trainer"]["history"] == trainer.state.history
    x = torch.rand(5, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    trainer.model.eval(), rebuilt.eval()
    with torch.no_grad():
        assert torch.equal(trainer.model(x), rebuilt(x))
    for name in ("last.safetensors", "best.safetensors"):
        (trainer.run_dir / name).unlink()  # the summary does not need them
    print_run_summary(trainer, 1.0)
    acc = trainer.state.history[-1]["test_acc"]
    assert capsys.readouterr().out.startswith(f"test accuracy (last epoch): {100 * acc:.2f}%\n")


def test_method_reports_are_the_structured_metrics():
    metrics = {"test_acc": 0.9, "epoch": 3, "flip_ratio_mean": 0.01,
               "flip_ratio": {"mean": 0.01, "layers": {"a": 0.02}},
               "albsnn": {"selected": [1, 2]}, "new_method": [1, 2, 3]}
    assert method_reports(metrics) == {"flip_ratio": {"mean": 0.01, "layers": {"a": 0.02}},
                                       "albsnn": {"selected": [1, 2]},
                                       "new_method": [1, 2, 3]}
