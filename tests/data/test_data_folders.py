"""Image-folder, TinyImageNet and ImageNet layouts (PNG/JPEG via Pillow)."""

from __future__ import annotations

import sys
import zipfile

import numpy as np
import pytest
import torch
from static_formats import make_images, save_image, write_tinyimagenet

from spikebit.data import fetch, load_dataset
from spikebit.errors import DataError

pytest.importorskip("PIL", reason="Pillow is needed to write PNG/JPEG test files")


def _imagefolder(root, classes=("cat", "ant", "bee"), per_class=2, val="val", rgb=True):
    out = {}
    for split, n in (("train", per_class), (val, 1)):
        for k, cls in enumerate(classes):
            for i in range(n):
                shape = (5, 7, 3) if rgb else (5, 7)
                img = make_images(1, shape, seed=100 * k + i + (50 if split != "train" else 0))[0]
                save_image(root / split / cls / f"{i:03d}.png", img)
                out[(split, cls, i)] = img
    return out


def test_imagefolder_png_round_trip(tmp_path):
    images = _imagefolder(tmp_path / "imagefolder")
    (tmp_path / "imagefolder" / "train" / "ant" / "notes.txt").write_text("ignored")
    ds = load_dataset("imagefolder", train=True, data_dir=tmp_path)
    assert ds.images.shape == (6, 3, 5, 7) and ds.num_classes == 3
    assert ds.labels.tolist() == [0, 0, 1, 1, 2, 2]  # sorted: ant, bee, cat
    expected = torch.from_numpy(images[("train", "bee", 1)]).permute(2, 0, 1).float() / 255
    assert torch.equal(ds.images[3], expected)
    val = load_dataset("imagefolder", train=False, data_dir=tmp_path / "imagefolder")
    assert val.labels.tolist() == [0, 1, 2] and val.name == "imagefolder/val"


def test_grayscale_folder_has_one_channel_and_test_dir_works(tmp_path):
    images = _imagefolder(tmp_path, val="test", rgb=False)
    ds = load_dataset("imagefolder", train=False, data_dir=tmp_path)
    assert ds.images.shape == (3, 1, 5, 7)
    assert torch.equal(ds.images[2, 0], torch.from_numpy(images[("test", "cat", 0)]) / 255)


def test_mixed_sizes_name_the_file(tmp_path):
    _imagefolder(tmp_path)
    odd = tmp_path / "train" / "bee" / "big.png"
    save_image(odd, np.zeros((9, 9, 3), np.uint8))
    with pytest.raises(DataError, match="share one size") as err:
        load_dataset("imagefolder", train=True, data_dir=tmp_path)
    assert str(odd) in str(err.value)


def test_broken_image_names_the_file(tmp_path):
    _imagefolder(tmp_path)
    bad = tmp_path / "train" / "cat" / "001.png"
    bad.write_bytes(bad.read_bytes()[:40])
    with pytest.raises(DataError, match="cannot (read|decode) image") as err:
        load_dataset("imagefolder", train=True, data_dir=tmp_path)
    assert str(bad) in str(err.value)


def test_unknown_val_class(tmp_path):
    _imagefolder(tmp_path)
    save_image(tmp_path / "val" / "dog" / "0.png", np.zeros((5, 7, 3), np.uint8))
    with pytest.raises(DataError, match="dog"):
        load_dataset("imagefolder", train=False, data_dir=tmp_path)


def test_missing_pillow_gives_install_hint(tmp_path, monkeypatch):
    _imagefolder(tmp_path)
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(DataError, match="pip install pillow"):
        load_dataset("imagefolder", train=True, data_dir=tmp_path)


WNIDS = ["n03444034", "n01443537", "n02099712"]  # unsorted, like the official wnids.txt


def test_tinyimagenet_official_layout(tmp_path):
    write_tinyimagenet(tmp_path, WNIDS)
    train = load_dataset("tinyimagenet", train=True, data_dir=tmp_path)
    val = load_dataset("tinyimagenet", train=False, data_dir=tmp_path)
    assert train.images.shape == (7, 3, 64, 64) and train.num_classes == 3
    order = sorted(WNIDS)
    assert train.labels.tolist() == [0, 0, 1, 1, 2, 2, 2]  # WNIDS[0] has an extra gray image
    assert val.images.shape == (3, 3, 64, 64)
    assert val.labels.tolist() == [order.index(w) for w in WNIDS]
    colour = torch.tensor([0, 100, 200]) / 255  # WNIDS[0] is class k=0 in the writer
    assert torch.allclose(val.images[0, :, 10, 10], colour, atol=3 / 255)
    gray = train.images[6]  # n03444034_gray.JPEG sorts last in the last class
    assert torch.allclose(gray, gray[0:1].expand_as(gray)), "grayscale copied to RGB"


def test_tinyimagenet_bad_annotation_names_the_line(tmp_path):
    folder = write_tinyimagenet(tmp_path, WNIDS)
    ann = folder / "val" / "val_annotations.txt"
    ann.write_text(ann.read_text() + "val_9.JPEG\tn99999999\t0\t0\t1\t1\n")
    with pytest.raises(DataError, match="line 4") as err:
        load_dataset("tinyimagenet", train=False, data_dir=tmp_path)
    assert str(ann) in str(err.value)


def test_tinyimagenet_zip_is_extracted(tmp_path):
    src = write_tinyimagenet(tmp_path / "src", WNIDS)
    root = tmp_path / "root"
    root.mkdir()
    with zipfile.ZipFile(root / "tiny-imagenet-200.zip", "w") as zf:
        for p in src.rglob("*"):
            zf.write(p, p.relative_to(src.parent))
    assert fetch("tinyimagenet", root) == root / "tiny-imagenet-200"
    assert len(load_dataset("tinyimagenet", train=False, data_dir=root)) == 3


def test_imagenet_is_resized_and_center_cropped(tmp_path):
    for k, wnid in enumerate(["n02", "n01"]):
        for split in ("train", "val"):
            img = np.zeros((80, 160, 3), np.uint8)
            img[:, 40:120] = 200 + k  # the centre square survives the crop
            save_image(tmp_path / "imagenet" / split / wnid / f"{wnid}_0.png", img)
    ds = load_dataset("imagenet", train=False, data_dir=tmp_path)
    assert ds.images.shape == (2, 3, 64, 64) and ds.labels.tolist() == [0, 1]
    inner = ds.images[1][:, :, 2:-2]  # bilinear filtering blends the outermost columns
    assert torch.allclose(inner, torch.full_like(inner, 200 / 255), atol=2 / 255)


def test_missing_folder_says_where(tmp_path):
    for name in ("imagefolder", "imagenet", "tinyimagenet"):
        with pytest.raises(DataError, match=str(tmp_path)):
            fetch(name, tmp_path)
