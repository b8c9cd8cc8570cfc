"""The CLI reports samples without a single top class beside every accuracy it prints:
``spikebit run --data`` (packed engine), the ``train`` summary and ``spikebit info``."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch

from spikebit.cli.report import _info_lines, print_run_summary, undecided_note
from spikebit.cli.run import _evaluate


class _Engine:
    """A stand-in packed model whose outputs ``[T=2, B, 3]`` are the inputs' counts / 2."""

    def run(self, x: np.ndarray) -> SimpleNamespace:
        return SimpleNamespace(outputs=np.stack([x, np.zeros_like(x)]))

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.run(x).outputs.mean(0).argmax(-1)


def test_run_counts_no_output_and_ties_as_wrong() -> None:
    # silent (label 0), tie of 0 and 1 (label 0), class 1 (label 1), class 0 (label 0),
    # class 2 (label 1): argmax alone would score 4 of 5
    images = np.array([[0, 0, 0], [2, 2, 1], [0, 3, 1], [4, 0, 1], [0, 1, 2]], dtype=np.float64)
    labels = np.array([0, 0, 1, 0, 1])
    result = _evaluate(_Engine(), images, labels, batch=2)
    assert (result["accuracy"], result["no_output"], result["tied"]) == (0.4, 0.2, 0.2)
    assert result["samples"] == 5
    images[1] = [np.nan, 1, 0]  # a diverged output: no decision, not class 0
    result = _evaluate(_Engine(), images, labels, batch=2)
    assert (result["accuracy"], result["no_output"], result["tied"]) == (0.4, 0.4, 0.0)


def test_undecided_note() -> None:
    assert undecided_note({"test_no_output": 0.015, "test_tied": 0.0025}) == \
        " (1.50% no output, 0.25% tied)"
    assert undecided_note({"test_no_output": 0.0, "test_tied": 0.125}) == " (12.50% tied)"
    assert undecided_note({"test_no_output": 0.0, "test_tied": 0.0}) == ""
    assert undecided_note({"test_acc": 0.9}) == ""  # older checkpoints: not recorded
    assert undecided_note({"train_no_output": 0.5}, "train") == " (50.00% no output)"


def test_train_summary_and_info_show_the_shares(tmp_path, capsys) -> None:
    history = [{"epoch": 1, "test_acc": 0.5, "test_no_output": 0.25, "test_tied": 0.0},
               {"epoch": 2, "test_acc": 0.75, "test_no_output": 0.0, "test_tied": 0.0}]
    trainer = SimpleNamespace(model=torch.nn.Sequential(torch.nn.Linear(2, 2)),
                              state=SimpleNamespace(history=history), run_dir=tmp_path)
    print_run_summary(trainer, 1.0)
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == ["test accuracy (last epoch): 75.00%",
                       "test accuracy (best epoch 2): 75.00%"]
    history[1]["test_tied"] = 0.125
    print_run_summary(trainer, 1.0)
    assert capsys.readouterr().out.splitlines()[0] == \
        "test accuracy (last epoch): 75.00% (12.50% tied)"
    info = {"checkpoint": "c", "model": "m", "model_args": {}, "dataset": "d",
            "provenance": None, "metrics": history[0],
            "storage": {"layers": [], "total_bits": 0, "ratio_to_fp32": 0.0,
                        "total_fp32_bits": 0, "other_bits": 0}}
    lines = _info_lines(info, "arch", [])
    assert "epoch 1: test acc 0.5000 (25.00% no output)" in lines

