"""A readout without a single top class is no prediction: all-zero ("no output") and tied
rows count as wrong, even when the label is class 0 (the class argmax would return), and
their shares are reported beside the accuracy. Hand-computed values throughout."""

import pytest
import torch
from torch import nn

from spikebit.data import ArrayDataset
from spikebit.errors import ShapeError
from spikebit.metrics.readout import count_decisions, decide, decision_fractions
from spikebit.train import config_from_dict
from spikebit.train.losses import LOSSES, readout
from spikebit.train.trainer import Trainer, evaluate

# spike counts of 3 output neurons per sample, and labels:
#   all zero, label 0  -> no output (argmax 0 would be "right")
#   0 and 1 tied, label 0 -> tied (argmax 0 would be "right")
#   class 1, label 1   -> correct
#   class 0, label 0   -> correct
#   class 2, label 1   -> wrong
COUNTS = torch.tensor([[0.0, 0.0, 0.0], [2.0, 2.0, 1.0], [0.0, 3.0, 1.0], [4.0, 0.0, 1.0],
                       [0.0, 1.0, 2.0]])
LABELS = torch.tensor([0, 0, 1, 0, 1])


def test_decide_flags_no_output_and_ties() -> None:
    d = decide(COUNTS)
    assert d.no_output.tolist() == [True, False, False, False, False]
    assert d.tied.tolist() == [False, True, False, False, False]
    assert d.decided.tolist() == [False, False, True, True, True]
    assert d.correct(LABELS).tolist() == [False, False, True, True, False]
    assert (d.prediction[:2] == 0).all()  # what a plain argmax would have credited


def test_constant_nonzero_rows_are_no_output_and_partial_ties_are_tied() -> None:
    d = decide(torch.tensor([[0.5, 0.5, 0.5, 0.5], [1.0, 0.0, 1.0, 1.0], [0.0, 0.0, 0.0, 1.0]]))
    assert d.no_output.tolist() == [True, False, False]
    assert d.tied.tolist() == [False, True, False]


def test_counts_and_fractions() -> None:
    counts = count_decisions(COUNTS, LABELS)
    assert counts.dtype == torch.int64 and counts.tolist() == [2, 1, 1]
    assert decision_fractions(counts, 5) == {"acc": 0.4, "no_output": 0.2, "tied": 0.2}
    assert decision_fractions([0, 0, 0], 0) == {"acc": 0.0, "no_output": 0.0, "tied": 0.0}


def test_per_step_readouts_broadcast_the_labels() -> None:
    steps = torch.stack([torch.zeros(5, 3), COUNTS])  # [T=2, B=5, K=3]: silent first step
    d = decide(steps)
    assert d.no_output.sum(1).tolist() == [5, 1] and d.tied.sum(1).tolist() == [0, 1]
    assert d.correct(LABELS).sum(1).tolist() == [0, 2]


def test_float_logits_decide_as_argmax() -> None:
    logits = torch.randn(1000, 10, generator=torch.Generator().manual_seed(0))
    d = decide(logits)
    assert d.decided.all() and torch.equal(d.prediction, logits.argmax(-1))
    half = decide(torch.tensor([[0.1, 0.3, 0.2]], dtype=torch.bfloat16))
    assert half.decided.tolist() == [True] and half.prediction.tolist() == [1]


def test_a_readout_with_nan_has_no_decision() -> None:
    """A diverged network's NaN scores are "no output" (argmax would pick the NaN's class)."""
    nan = float("nan")
    scores = torch.tensor([[nan, 1.0, 0.0], [nan, nan, nan], [0.0, 2.0, nan], [1.0, 0.0, 0.0]])
    labels = torch.tensor([0, 0, 1, 0])
    d = decide(scores)
    assert d.no_output.tolist() == [True, True, True, False]
    assert d.tied.tolist() == [False, False, False, False]
    assert d.correct(labels).tolist() == [False, False, False, True]
    assert count_decisions(scores, labels).tolist() == [1, 3, 0]
    per_step = decide(torch.stack([scores, torch.eye(4, 3)]))  # [T=2, B=4, K=3]
    assert per_step.no_output.sum(1).tolist() == [3, 1]  # the last eye row is all zero


def test_bf16_time_means_are_decided_in_float32() -> None:
    """Steps ``[1, 1, 0]`` and ``[1, 1 + 2^-7, 0]`` (both exact in bfloat16): the mean of
    class 1, ``1 + 2^-8``, rounds to 1 in bfloat16 and would tie with class 0."""
    out = torch.tensor([[[1.0, 1.0, 0.0]], [[1.0, 1.0078125, 0.0]]], dtype=torch.bfloat16)
    assert decide(out.mean(0)).tied.tolist() == [True]
    scores = readout(out)
    assert scores.dtype == torch.float32 and scores.tolist() == [[1.0, 1.00390625, 0.0]]
    assert decide(scores).decided.tolist() == [True] and scores.argmax(-1).tolist() == [1]
    assert readout(out.float()).dtype == torch.float32  # fp32/fp64 outputs keep their dtype
    assert readout(out.double()).dtype == torch.float64
    assert readout(out[0]).dtype == torch.bfloat16  # [B, K] is returned as it is


class _Bf16Steps(nn.Module):
    """``[B, 1, 2, 3]`` images -> their two rows as steps ``[T=2, B, 3]`` in bfloat16."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1).view(-1, 2, 3).transpose(0, 1).bfloat16()


def test_evaluate_and_loss_of_a_bf16_output_use_the_float32_mean() -> None:
    steps = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0078125, 0.0]])
    data = ArrayDataset(steps.view(1, 1, 2, 3), torch.tensor([1]), 3, "bf16-steps")
    result = evaluate(_Bf16Steps(), data, LOSSES.get("ce"), device=torch.device("cpu"))
    assert (result["acc"], result["no_output"], result["tied"]) == (1.0, 0.0, 0.0)


def test_bad_shapes() -> None:
    with pytest.raises(ShapeError, match="K >= 1"):
        decide(torch.zeros(3, 0))
    with pytest.raises(ShapeError, match=r"scores \[B, K\] and labels \[B\]"):
        count_decisions(COUNTS, LABELS[:4])


class _Counts(nn.Module):
    """``[T=2, B, 3]``: the image's three pixels as spike counts at step 0, none at step 1.

    ``shift`` moves every class equally, so training never changes a decision."""

    def __init__(self) -> None:
        super().__init__()
        self.shift = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first = x.flatten(1) + self.shift
        return torch.stack([first, torch.zeros_like(first) + self.shift])


def _dataset() -> ArrayDataset:
    return ArrayDataset(COUNTS.view(5, 1, 1, 3), LABELS, 3, "counts")


def test_evaluate_counts_undecided_samples_as_wrong() -> None:
    result = evaluate(_Counts(), _dataset(), LOSSES.get("ce"), batch_size=2)
    assert (result["acc"], result["no_output"], result["tied"]) == (0.4, 0.2, 0.2)


def test_trainer_records_the_shares_beside_train_and_test_accuracy(tmp_path) -> None:
    config = config_from_dict({
        "name": "counts", "seed": 0, "out_dir": str(tmp_path), "plots": False,
        "model": {"name": "albsnn-mnist"}, "data": {"name": "toy"},
        "optim": {"epochs": 1, "batch_size": 5, "eval_batch_size": 2, "lr": 0.01}})
    metrics = Trainer(config, _Counts(), _dataset(), _dataset()).fit()
    for split in ("train", "test"):
        assert metrics[f"{split}_acc"] == pytest.approx(0.4)
        assert metrics[f"{split}_no_output"] == pytest.approx(0.2)
        assert metrics[f"{split}_tied"] == pytest.approx(0.2)


def test_boolean_spikes_are_decided_like_counts():
    from spikebit.metrics.readout import decide

    d = decide(torch.tensor([[True, False], [False, False], [True, True], [False, True]]))
    assert d.prediction[[0, 3]].tolist() == [0, 1]
    assert d.no_output.tolist() == [False, True, True, False]  # all equal: silent or all on
    assert not d.tied.any()
