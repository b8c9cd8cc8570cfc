"""Fuzz generators for images, model specs, run configs and checkpoints."""

from __future__ import annotations

import copy
import json
import math
import random
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch
from harness import Case, mutate

from spikebit.data import ArrayDataset
from spikebit.data.decode import read_images
from spikebit.models.network import ModelConfig, build_network
from spikebit.train.build import model_from_checkpoint, model_from_config
from spikebit.train.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from spikebit.train.config import config_from_dict, load_config
from spikebit.train.resume import restore_trainer
from spikebit.train.trainer import Trainer

POOL: list[Any] = ["abc", "", -1, 0, 1, 3, 2**70, -(2**70), 0.5, -0.5, math.nan, math.inf,
                   True, None, [], [1], {}, {"a": 1}, 1e300, "1e-3", "4C3-GAP"]


# -- images --------------------------------------------------------------------------------
def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose IHDR claims ``width x height`` (a decompression bomb header)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    idat = zlib.compress(b"\0" * 8)
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk
            + struct.pack(">I", zlib.crc32(chunk)) + struct.pack(">I", len(idat)) + b"IDAT"
            + idat + struct.pack(">I", zlib.crc32(b"IDAT" + idat))
            + b"\0\0\0\0IEND" + struct.pack(">I", zlib.crc32(b"IEND")))


def _expected_gray(mode: str, arr: np.ndarray) -> np.ndarray:
    if mode == "I;16":
        return np.rint(arr.astype(np.float64) * 255 / 65535).astype(np.uint8)
    if mode == "F":
        return np.rint(arr.astype(np.float64) * 255).astype(np.uint8)
    return arr


def image_case(rng: random.Random, work: Path) -> Case:
    from PIL import Image

    h, w = rng.randint(1, 6), rng.randint(1, 6)
    mode, ext = rng.choice([("L", ".png"), ("RGB", ".png"), ("I;16", ".png"), ("F", ".tif"),
                            ("RGBA", ".png"), ("L", ".bmp"), ("RGB", ".jpg"), ("L", ".gif")])
    nrng = np.random.default_rng(rng.randrange(2**32))
    if mode == "I;16":
        arr = nrng.integers(0, 65536, (h, w), dtype=np.uint16)
    elif mode == "F":
        arr = nrng.random((h, w), dtype=np.float32)
    else:
        arr = nrng.integers(0, 256, (h, w, len(mode)) if len(mode) > 1 else (h, w),
                            dtype=np.uint8)
    path = work / f"img{ext}"
    Image.fromarray(arr).save(path)
    raw = path.read_bytes()
    kind = rng.randrange(4)
    if kind == 1:
        raw = mutate(raw, rng)
    elif kind == 2:
        raw = _png_claiming(rng.choice([30000, 2**31 - 1, 9000, 0, 1]),
                            rng.choice([30000, 1, 2**31 - 1, 9000]))
        path = work / "img.png"
    path.write_bytes(raw)
    exact = kind in (0, 3) and ext in (".png", ".tif", ".bmp")

    def check(out: np.ndarray) -> None:
        assert out.dtype == np.uint8 and out.ndim == 4 and out.shape[0] == 1
        if exact:
            if mode in ("L", "I;16", "F"):
                assert np.array_equal(out[0, 0], _expected_gray(mode, arr))
            else:
                assert np.array_equal(out[0], arr[..., :3].transpose(2, 0, 1))

    return (lambda: read_images([path], "fuzz")), check


def folder_case(rng: random.Random, work: Path) -> Case:
    """A whole image-folder dataset: classes, splits, sizes and junk files."""
    import shutil

    from PIL import Image

    from spikebit.data.folders import load_imagefolder

    root = work / "folder"
    shutil.rmtree(root, ignore_errors=True)
    sizes = [(4, 4), (4, 4), (rng.randint(3, 5), 4)]
    for split in ("train", rng.choice(["val", "test", "other"])):
        for c in range(rng.randint(0, 2)):
            d = root / split / f"class{c}"
            d.mkdir(parents=True)
            for i in range(rng.randint(0, 2)):
                size = rng.choice(sizes)
                Image.new(rng.choice(["L", "RGB"]), size, rng.randrange(256)).save(d / f"{i}.png")
            if rng.random() < 0.2:
                (d / "junk.png").write_bytes(rng.randbytes(rng.randrange(64)))
    root.mkdir(exist_ok=True)
    train = rng.random() < 0.5

    def check(ds: ArrayDataset) -> None:
        assert ds.images.ndim == 4 and len(ds.images) == len(ds.labels) > 0
        assert float(ds.images.min()) >= 0 and float(ds.images.max()) <= 1

    return (lambda: load_imagefolder(root, train)), check


# -- model specs ---------------------------------------------------------------------------
def spec_case(rng: random.Random, work: Path) -> Case:
    def num() -> str:
        return str(rng.choice([rng.randint(1, 8), rng.randint(1, 8), 0, 65537, 9999999,
                               10**40, rng.randint(9, 64)]))

    def token() -> str:
        if rng.random() < 0.75:  # mostly well-formed layers
            return rng.choice([f"{rng.randint(1, 8)}C{rng.choice([1, 3])}", "AP2", "P2",
                               str(rng.randint(1, 16)), "GAP"])
        return rng.choice([f"{num()}C{rng.choice(['1', '3', '5', num()])}", f"AP{num()}",
                           f"P{num()}", f"MP{num()}", num(), "GAP", "gap", "", "X3", "C3",
                           "3c3", "\u0663C3", "-"])

    spec = "-".join(token() for _ in range(rng.randint(0, 5)))
    in_shape = (rng.randint(1, 3), rng.randint(1, 12), rng.randint(1, 12))  # often non-square
    classes = rng.randint(1, 5)

    def run():
        net = build_network(ModelConfig(spec=spec, in_shape=in_shape, num_classes=classes))
        return net(torch.zeros(2, *in_shape))

    def check(out: torch.Tensor) -> None:
        assert out.shape[-1] == classes and out.shape[-2] == 2 and torch.isfinite(out).all()

    return run, check


# -- configs -------------------------------------------------------------------------------
BASE = {"name": "fuzz", "seed": 1, "plots": False,
        "model": {"name": "albsnn-mnist", "args": {"spec": "4C3-GAP", "steps": 1}},
        "data": {"name": "toy"}, "optim": {"epochs": 1, "batch_size": 8, "lr": 0.01}}
PATHS = ["name", "seed", "loss", "out_dir", "log_every", "tensorboard", "plots", "model",
         "model.name", "model.args", "model.args.spec", "model.args.steps",
         "model.args.num_classes", "model.args.full_precision", "model.args.bogus",
         "model.args.in_shape", "data", "data.name", "data.train_limit", "data.test_limit",
         "data.crop_padding", "data.hflip", "data.frames", "optim.optimizer", "optim.lr",
         "optim.weight_decay", "optim.momentum", "optim.schedule", "optim.epochs",
         "optim.batch_size", "optim.eval_batch_size", "optim.grad_clip", "callbacks",
         "callbacks.0", "unknown", "optim.unknown"]


def _set(d: dict, path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    for p in parents:
        if p == "0" and isinstance(d, list):
            d = d[0] if d else d
            continue
        node = d.get(p) if isinstance(d, dict) else None
        if not isinstance(node, dict | list):
            node = {} if p != "callbacks" else [{"name": "quantizer-schedule"}]
            d[p] = node
        d = node
    if isinstance(d, list):
        d.append(value)
    else:
        d[leaf] = value


def _independent_check(config) -> None:
    o = config.optim
    assert math.isfinite(o.lr) and o.lr > 0 and o.epochs >= 1 and o.batch_size >= 1
    assert o.eval_batch_size >= 1 and o.weight_decay >= 0 and 0 <= o.momentum < 1
    assert o.grad_clip is None or (math.isfinite(o.grad_clip) and o.grad_clip > 0)
    assert 0 <= config.seed < 2**63 and config.log_every >= 1 and config.name.strip()
    assert "/" not in config.name and config.name not in (".", "..")


def config_case(rng: random.Random, work: Path) -> Case:
    data = copy.deepcopy(BASE)
    for _ in range(rng.randint(0, 3)):
        try:
            _set(data, rng.choice(PATHS), copy.deepcopy(rng.choice(POOL)))
        except (TypeError, AttributeError, IndexError):  # the path runs through a leaf
            pass
    as_yaml = rng.random() < 0.3
    path = work / "config.yaml"
    if as_yaml:
        import yaml

        text = yaml.safe_dump(json.loads(json.dumps(data, default=str)))
        if rng.random() < 0.5:  # a duplicated line (a duplicate key at that level)
            lines = text.splitlines()
            i = rng.randrange(len(lines))
            lines.insert(i, lines[i])
            text = "\n".join(lines)
        path.write_text(text)
    overrides = [f"{rng.choice(PATHS)}={rng.choice(['abc', '-1', '[1]', '{a: 1}', '0.1'])}"] \
        if rng.random() < 0.2 else []

    def run():
        config = load_config(path, overrides) if as_yaml else config_from_dict(data)
        return config, model_from_config(config, (1, 8, 8), 2)

    def check(result) -> None:
        config, model = result
        _independent_check(config)
        assert config_from_dict(config.to_dict()) == config  # round trip
        assert model(torch.zeros(1, 1, 8, 8)).shape[-1] == 2

    return run, check


# -- checkpoints ---------------------------------------------------------------------------
_BASE_CKPT: dict[Path, tuple[bytes, Checkpoint]] = {}


def _toy_sets() -> tuple[ArrayDataset, ArrayDataset]:
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 2, (32,), generator=g)
    return (ArrayDataset(torch.rand(32, 1, 8, 8, generator=g), labels, 2, "fuzz"),
            ArrayDataset(torch.rand(16, 1, 8, 8, generator=g), labels[:16], 2, "fuzz"))


def _trainer(work: Path, epochs: int = 1) -> Trainer:
    data = copy.deepcopy(BASE)
    data["out_dir"] = str(work / "runs")
    data["optim"]["epochs"] = epochs
    config = config_from_dict(data)
    train, test = _toy_sets()
    torch.manual_seed(0)
    return Trainer(config, model_from_config(config, (1, 8, 8), 2), train, test)


def _base(work: Path) -> tuple[bytes, Checkpoint]:
    if work not in _BASE_CKPT:
        trainer = _trainer(work)
        trainer.fit()
        path = trainer.run_dir / "last.safetensors"
        _BASE_CKPT[work] = (path.read_bytes(), load_checkpoint(path))
    return _BASE_CKPT[work]


def _mutate_checkpoint(ckpt: Checkpoint, rng: random.Random) -> Checkpoint:
    tensors, meta = dict(ckpt.tensors), copy.deepcopy(ckpt.meta)
    kind = rng.randrange(6)
    if kind == 0:  # a metadata field replaced
        section = rng.choice(list(meta))
        keys = list(meta[section]) if isinstance(meta[section], dict) else []
        if keys and rng.random() < 0.7:
            meta[section][rng.choice(keys)] = rng.choice(POOL)
        else:
            meta[section] = rng.choice(POOL)
    elif kind == 1:  # a section dropped
        meta.pop(rng.choice(list(meta)))
    elif kind == 2:  # a tensor's dtype changed
        k = rng.choice(list(tensors))
        tensors[k] = tensors[k].to(rng.choice([torch.int32, torch.float64, torch.float16,
                                               torch.uint8]))
    elif kind == 3:  # a tensor's shape changed or a NaN written
        k = rng.choice(list(tensors))
        t = tensors[k].clone()
        if t.is_floating_point() and t.numel() and rng.random() < 0.5:
            t.view(-1)[0] = math.nan
            tensors[k] = t
        else:
            tensors[k] = torch.zeros(t.numel() + 1, dtype=t.dtype)
    elif kind == 4:  # a tensor dropped or renamed
        k = rng.choice(list(tensors))
        value = tensors.pop(k)
        if rng.random() < 0.5:
            tensors[k + "x"] = value
    return Checkpoint(tensors, meta)


def checkpoint_case(rng: random.Random, work: Path) -> Case:
    raw, base = _base(work)
    path = work / "fuzz.safetensors"
    structured = rng.random() < 0.6
    if structured:
        mutated = _mutate_checkpoint(base, rng)
        if rng.random() < 0.8:
            save_checkpoint(path, mutated)  # consistent hashes: the structure checks decide
        else:
            from safetensors.torch import save_file

            meta = {k: json.dumps(v) for k, v in mutated.meta.items()}
            save_file({k: v.contiguous() for k, v in mutated.tensors.items()}, str(path), meta)
    else:
        path.write_bytes(mutate(raw, rng))

    def run():
        model, _, ckpt = model_from_checkpoint(path)
        trainer = _trainer(work / "resume", epochs=2)
        restore_trainer(trainer, path)
        return model, ckpt, trainer

    def check(result) -> None:
        model, ckpt, trainer = result
        for k, v in model.state_dict().items():
            assert torch.equal(v, base.tensors["model." + k]), k
        assert trainer.state.epoch == base.meta["trainer"]["epoch"]

    return run, check
