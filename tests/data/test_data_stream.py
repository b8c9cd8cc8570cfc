"""Streaming image folders: lazy decoding, train/test transforms, training through workers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from static_formats import save_image, write_tinyimagenet

from spikebit.data.folders import stream_folder
from spikebit.data.imagefiles import ImageFiles, center_box, random_resized_box
from spikebit.errors import DataError

pytest.importorskip("PIL", reason="Pillow is needed to write and decode image files")


def _gradient(h: int, w: int) -> np.ndarray:
    """RGB image whose red channel is the column index and green the row index."""
    img = np.zeros((h, w, 3), dtype=np.uint8)
    img[..., 0] = np.arange(w, dtype=np.uint8)[None, :]
    img[..., 1] = np.arange(h, dtype=np.uint8)[:, None]
    img[..., 2] = 77
    return img


def _folder(root, sizes=((40, 30), (24, 50), (33, 33))):
    """imagefolder with images of different sizes: 2 classes x len(sizes), 1 val each."""
    for split in ("train", "val"):
        for cls in ("a", "b"):
            for i, (h, w) in enumerate(sizes if split == "train" else sizes[:1]):
                save_image(root / "imagefolder" / split / cls / f"{i}.png", _gradient(h, w))
    return root


def test_center_box_hand_computed():
    # 256 x 320 (w x h), 224 crops: the shorter side is already 256 = 224 / 0.875
    assert center_box(256, 320, 224, 0.875) == ((256, 320), (16, 48, 240, 272))
    # 500 x 375: shorter side 375 -> 256, width 500 * 256 / 375 = 341.33 -> 341
    assert center_box(500, 375, 224, 0.875) == ((341, 256), (58, 16, 282, 240))
    assert center_box(64, 64, 64, 1.0) == ((64, 64), (0, 0, 64, 64))


@settings(max_examples=60, deadline=None)
@given(w=st.integers(1, 600), h=st.integers(1, 600), seed=st.integers(0, 2**32 - 1))
def test_random_resized_box_inside_with_area_in_scale(w, h, seed):
    left, top, right, bottom = random_resized_box(w, h, np.random.default_rng(seed), (0.08, 1.0))
    assert 0 <= left < right <= w and 0 <= top < bottom <= h
    bw, bh = right - left, bottom - top
    if (bw, bh) != (min(w, h),) * 2:  # not the fallback: area and aspect within range
        assert 0.08 * w * h * 0.5 <= bw * bh <= w * h
        assert 3 / 4 - 0.5 <= bw / bh <= 4 / 3 + 0.5 or min(bw, bh) <= 2


def test_test_transform_is_resize_and_center_crop(tmp_path):
    _folder(tmp_path, sizes=((20, 20),))
    ds = stream_folder("imagefolder", False, tmp_path, size=20)  # crop_fraction 1: identity
    assert len(ds) == 2 and ds.shape == (3, 20, 20) and not ds.seeded
    x, y = ds[1]
    assert y == 1 and x.dtype == torch.float32 and x.shape == (3, 20, 20)
    expected = torch.from_numpy(_gradient(20, 20)).permute(2, 0, 1).float() / 255
    assert torch.equal(x, expected)  # same size, no resampling: the pixels themselves


def test_train_samples_are_keyed_by_seed(tmp_path):
    _folder(tmp_path)
    ds = stream_folder("imagefolder", True, tmp_path, size=16)
    assert len(ds) == 6 and ds.seeded and ds.labels.tolist() == [0, 0, 0, 1, 1, 1]
    a, _ = ds[(1, 123)]
    b, _ = ds[(1, 123)]
    assert a.shape == (3, 16, 16) and torch.equal(a, b)
    views = {ds[(1, s)][0].sum().item() for s in range(8)}
    assert len(views) > 1  # different crops/flips for different seeds


def test_flip_mirrors_the_crop(tmp_path):
    """With scale (1, 1) the crop is the whole image: each sample is the image or its mirror."""
    save_image(tmp_path / "g.png", _gradient(8, 8))
    ds = ImageFiles([tmp_path / "g.png"], [0], 1, 8, True, "t", scale=(1.0, 1.0))
    image = torch.from_numpy(_gradient(8, 8)).permute(2, 0, 1).float() / 255
    flipped = [not torch.equal(ds[(0, seed)][0], image) for seed in range(16)]
    for seed, f in enumerate(flipped):
        assert torch.equal(ds[(0, seed)][0], image.flip(-1) if f else image)
    assert 0 < sum(flipped) < 16  # both outcomes occur


def test_corrupt_file_names_the_file(tmp_path):
    _folder(tmp_path)
    bad = tmp_path / "imagefolder" / "train" / "a" / "9.png"
    bad.write_bytes(b"not a png")
    ds = stream_folder("imagefolder", True, tmp_path, size=8)
    with pytest.raises(DataError, match="9.png"):
        ds[(len(ds) - 4, 0)]  # class a's files sort 0, 1, 2, 9.png


def test_stream_errors(tmp_path):
    _folder(tmp_path)
    with pytest.raises(DataError, match="image_size"):
        stream_folder("imagefolder", True, tmp_path)
    with pytest.raises(DataError, match="cannot be streamed"):
        stream_folder("fashion-mnist", True, tmp_path)
    with pytest.raises(DataError, match="labels"):
        ImageFiles(["x.png"], [3], 2, 8, False, "t")


def test_tinyimagenet_streams_at_native_size(tmp_path):
    write_tinyimagenet(tmp_path, ["n01", "n02"])
    train = stream_folder("tinyimagenet", True, tmp_path)
    val = stream_folder("tinyimagenet", False, tmp_path)
    assert train.shape == (3, 64, 64) and len(train) == 5 and len(val) == 2
    x, y = val[1]
    assert y == 1  # flat colour (40, 100, 160) survives the center crop (JPEG: +-3)
    assert torch.allclose(x[:, 32, 32] * 255, torch.tensor([40.0, 100.0, 160.0]), atol=3)
    gray, label = train[(2, 0)]  # the grayscale JPEG comes back as 3 equal channels
    assert label == 0 and torch.equal(gray[0], gray[1])


def test_streaming_training_end_to_end(tmp_path):
    from spikebit.train import config_from_dict, load_checkpoint, train_from_config

    _folder(tmp_path)
    config = {
        "name": "stream", "seed": 0, "out_dir": str(tmp_path / "runs"), "plots": False,
        "model": {"name": "albsnn-mnist", "args": {"spec": "4C3-AP2-GAP", "steps": 1}},
        "data": {"name": "imagefolder", "data_dir": str(tmp_path), "stream": True,
                 "image_size": 12, "workers": 2, "normalize": True},
        "optim": {"epochs": 2, "batch_size": 2, "lr": 0.01},
    }
    metrics, run_dir = train_from_config(config_from_dict(config))
    assert math.isfinite(metrics["train_loss"]) and 0 <= metrics["test_acc"] <= 1
    meta = load_checkpoint(run_dir / "last.safetensors").meta
    assert meta["input"] == {"in_shape": [3, 12, 12], "num_classes": 2}
    again, _ = train_from_config(config_from_dict(
        dict(config, name="again", data={**config["data"], "workers": 0})))
    assert again["train_loss"] == metrics["train_loss"]  # workers do not change the batches


def test_imagenet_streams_by_default_and_stream_false_keeps_memory(tmp_path):
    from spikebit.data import ArrayDataset
    from spikebit.train.config import DataSection
    from spikebit.train.datasets import load_data

    for split in ("train", "val"):
        for cls in ("n01", "n02"):
            save_image(tmp_path / "imagenet" / split / cls / "0.JPEG", _gradient(300, 260))
    train, test = load_data(DataSection(name="imagenet", data_dir=str(tmp_path)))
    assert isinstance(train, ImageFiles) and train.train and not test.train
    assert train.shape == test.shape == (3, 224, 224)
    assert test[0][0].shape == (3, 224, 224) and train[(1, 5)][0].shape == (3, 224, 224)
    small, _ = load_data(DataSection(name="imagenet", data_dir=str(tmp_path), image_size=32))
    assert small.shape == (3, 32, 32)
    memory, _ = load_data(DataSection(name="imagenet", data_dir=str(tmp_path), stream=False))
    assert isinstance(memory, ArrayDataset) and memory.images.shape == (2, 3, 64, 64)


def test_streamed_splits_honour_the_sample_limits(tmp_path):
    from spikebit.train.config import DataSection
    from spikebit.train.datasets import load_data

    for split in ("train", "val"):
        for cls in ("n01", "n02"):
            for i in range(3):
                save_image(tmp_path / "imagenet" / split / cls / f"{i}.JPEG", _gradient(40, 40))
    full, _ = load_data(DataSection(name="imagenet", data_dir=str(tmp_path), image_size=16))
    train, test = load_data(DataSection(name="imagenet", data_dir=str(tmp_path), image_size=16,
                                        train_limit=4, test_limit=2))
    assert isinstance(train, ImageFiles) and (len(train), len(test)) == (4, 2)
    assert train.paths == full.paths[:4] and train.labels.tolist() == full.labels[:4].tolist()
    assert torch.equal(train[(3, 7)][0], full[(3, 7)][0])  # same file, same seeded transform
