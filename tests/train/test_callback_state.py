"""Callback state in checkpoints is keyed by name: reordering keeps each its own state."""

import pytest
import torch

from spikebit.errors import CheckpointError
from spikebit.train.callbacks import (
    Callback,
    QuantizerSchedule,
    callback_keys,
    callback_state,
    load_callback_state,
)


class Counter(Callback):
    def __init__(self, value: float = 0.0) -> None:
        self.value = torch.tensor([value])
        self.note = f"n{value}"

    def state_dict(self):
        return {"value": self.value}, {"note": self.note}

    def load_state_dict(self, tensors, meta):
        self.value, self.note = tensors["value"], meta["note"]


def named(cb: Callback, name: str) -> Callback:
    cb.config_name = name
    return cb


def test_reordered_callbacks_get_their_own_state():
    tensors, meta = callback_state([QuantizerSchedule(), named(Counter(1.0), "a"),
                                    named(Counter(2.0), "b"), named(Counter(3.0), "b")])
    assert sorted(meta) == ["a", "b", "b#2", "quantizer-schedule"]
    a, b, b2 = named(Counter(), "a"), named(Counter(), "b"), named(Counter(), "b")
    load_callback_state([b, QuantizerSchedule(), a, b2], tensors, meta)
    assert (a.value.item(), b.value.item(), b2.value.item()) == (1.0, 2.0, 3.0)
    assert (a.note, b.note, b2.note) == ("n1.0", "n2.0", "n3.0")


def test_mismatched_callbacks_are_a_clear_error():
    tensors, meta = callback_state([named(Counter(1.0), "a"), named(Counter(2.0), "b")])
    with pytest.raises(CheckpointError, match=r"state of \['b'\] would be dropped"):
        load_callback_state([named(Counter(), "a")], tensors, meta, "ckpt.safetensors")
    with pytest.raises(CheckpointError, match=r"\['c'\] would start from scratch"):
        load_callback_state([named(Counter(), "a"), named(Counter(), "b"),
                             named(Counter(), "c")], tensors, meta)
    # a callback without state (a printer, a schedule) need not match
    load_callback_state([named(Counter(), "a"), named(Counter(), "b"), QuantizerSchedule()],
                        tensors, meta)


def test_positional_checkpoints_still_load_by_position():
    tensors = {"callback0.value": torch.tensor([5.0]), "callback1.value": torch.tensor([6.0])}
    meta = {"0": {"note": "x"}, "1": {"note": "y"}}
    a, b = Counter(), Counter()
    load_callback_state([a, b], tensors, meta)
    assert (a.value.item(), b.value.item(), a.note, b.note) == (5.0, 6.0, "x", "y")
    with pytest.raises(CheckpointError, match="by position"):
        load_callback_state([a], tensors, meta)


def test_keys_default_to_the_registered_name():
    from spikebit.metrics.flips import FlipRatio

    assert callback_keys([QuantizerSchedule(), FlipRatio(), Counter()]) == [
        "quantizer-schedule", "flip-ratio", "Counter"]
