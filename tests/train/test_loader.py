"""The DataLoader path (train/loader.py) equals the in-memory path and resumes exactly."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from spikebit.data import ArrayDataset, BatchIterator, Compose, RandomCrop, RandomHorizontalFlip
from spikebit.errors import DataError
from spikebit.train import Callback, config_from_dict, load_checkpoint, train_from_config
from spikebit.train.loader import (
    ShardedBatchSampler,
    StreamingBatches,
    make_batches,
    sample_seed,
    sample_shape,
)
from spikebit.train.run import prepare
from spikebit.train.trainer import Trainer


def _data(n=37, shape=(1, 6, 6), classes=3):
    g = torch.Generator().manual_seed(n)
    return ArrayDataset(torch.rand(n, *shape, generator=g),
                        torch.randint(0, classes, (n,), generator=g), classes, "rand")


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 40), batch=st.integers(1, 9), ws=st.integers(1, 3),
       drop_last=st.booleans(), epoch=st.integers(0, 3))
def test_sampler_shards_like_batch_iterator(n, batch, ws, drop_last, epoch):
    data = _data(n)
    for rank in range(ws):
        it = BatchIterator(data, batch, shuffle=True, seed=5, rank=rank, world_size=ws,
                           drop_last=drop_last)
        sampler = ShardedBatchSampler(n, batch, True, 5, rank, ws, drop_last)
        it.set_epoch(epoch)
        sampler.set_epoch(epoch)
        rows = list(sampler)
        assert len(rows) == len(it) == len(sampler)
        for idx, (images, labels) in zip(rows, it):
            assert torch.equal(data.images[idx], images)
            assert torch.equal(data.labels[idx], labels)


def test_sampler_keys_carry_per_sample_seeds():
    sampler = ShardedBatchSampler(10, 4, True, 7, seeded=True)
    sampler.set_epoch(2)
    keys = [k for batch in sampler for k in batch]
    assert sorted(i for i, _ in keys) == list(range(10))  # batches of 4, 4 and 2
    assert all(s == sample_seed(7, 2, i) for i, s in keys)
    assert sample_seed(7, 2, 1) != sample_seed(7, 3, 1) != sample_seed(8, 2, 1)


@pytest.mark.parametrize("workers", [0, 2])
def test_loader_path_equals_in_memory_path(workers):
    data = _data(45, (1, 8, 8))
    aug = Compose([RandomCrop(8, padding=2), RandomHorizontalFlip(0.5)])
    fast = BatchIterator(data, 8, shuffle=True, seed=3, transform=aug, drop_last=True)
    slow = StreamingBatches(data, 8, shuffle=True, seed=3, transform=aug, drop_last=True,
                            workers=workers)
    rng = torch.get_rng_state()
    for epoch in (0, 1):
        fast.set_epoch(epoch)
        slow.set_epoch(epoch)
        pairs = list(zip(fast, slow, strict=True))
        assert len(pairs) == 5
        for (a, y), (b, z) in pairs:
            assert torch.equal(a, b) and torch.equal(y, z)
    assert torch.equal(rng, torch.get_rng_state())  # the loader never draws global RNG


def test_make_batches_picks_the_path():
    data = _data()
    assert isinstance(make_batches(data, 4, True, 0), BatchIterator)
    assert isinstance(make_batches(data, 4, True, 0, workers=1), StreamingBatches)
    with pytest.raises(DataError, match="workers"):
        make_batches(data, 4, True, 0, workers=-1)
    assert sample_shape(data) == (1, 6, 6)


class _MapStyle(torch.utils.data.Dataset):
    """A plain map-style dataset (not an ArrayDataset) over the toy set."""

    def __init__(self, data: ArrayDataset) -> None:
        self.data, self.num_classes = data, data.num_classes

    def __len__(self):
        return len(self.data)

    def __getitem__(self, i):
        return self.data.images[i], int(self.data.labels[i])


def _final(config):
    metrics, run_dir = train_from_config(config_from_dict(config))
    return metrics, load_checkpoint(run_dir / "last.safetensors").section("model")


def test_trainer_through_dataloader_workers_equals_in_memory(toy_config):
    fast, w_fast = _final(dict(toy_config, name="fast"))
    slow, w_slow = _final(dict(toy_config, name="slow", data={"name": "toy", "workers": 2}))
    for key in ("train_loss", "test_acc", "test_loss"):
        assert slow[key] == fast[key], key
    for k, v in w_fast.items():
        assert torch.equal(v, w_slow[k]), k


class _KillAt(Callback):
    def __init__(self, at):
        self.at = at

    def on_step_start(self, trainer, step):
        if step == self.at:
            raise KeyboardInterrupt


def test_trainer_accepts_any_map_style_dataset_and_resumes_exactly(toy_config):
    def trainer(name, callbacks=()):
        config = config_from_dict(dict(toy_config, name=name))
        model, train, test, transform = prepare(config)
        return Trainer(config, model, _MapStyle(train), _MapStyle(test), list(callbacks),
                       transform)

    in_memory, _ = _final(dict(toy_config, name="mem"))
    whole = trainer("whole").fit()
    assert whole["train_loss"] == in_memory["train_loss"]  # same batches, same arithmetic
    assert whole["test_acc"] == in_memory["test_acc"]
    with pytest.raises(KeyboardInterrupt):  # in epoch 2 (8 steps per epoch)
        trainer("cut", [_KillAt(12)]).fit()
    resumed = trainer("cut").fit(resume=True)
    for key in ("train_loss", "test_acc", "test_loss"):
        assert resumed[key] == whole[key], key
