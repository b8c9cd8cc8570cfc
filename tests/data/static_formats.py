"""Writers for small files in the official dataset formats (test helpers)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from spikebit.data.idx import write_idx


def make_images(n: int, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Random uint8 images of ``shape`` per sample."""
    return np.random.default_rng(seed).integers(0, 256, size=(n, *shape), dtype=np.uint8)


def write_mnist(folder: Path, n_train: int = 12, n_test: int = 5, gz: bool = True) -> dict:
    """MNIST-layout IDX files; returns the arrays written."""
    folder.mkdir(parents=True, exist_ok=True)
    ext = ".gz" if gz else ""
    out = {}
    for split, n, prefix in (("train", n_train, "train"), ("test", n_test, "t10k")):
        x = make_images(n, (28, 28), seed=n)
        y = (np.arange(n) % 10).astype(np.uint8)
        write_idx(folder / f"{prefix}-images-idx3-ubyte{ext}", x)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{ext}", y)
        out[split] = (x, y)
    return out


def _cifar_batch(n: int, labels_key: bytes, classes: int, seed: int) -> dict:
    """A batch dict like the official Python-2 pickles (bytes keys, list labels)."""
    data = make_images(n, (3072,), seed)
    batch = {
        b"batch_label": b"training batch 1 of 5",
        b"data": data,
        labels_key: [int(v) for v in np.arange(n) * 7 % classes],
        b"filenames": [f"img_{i}.png".encode() for i in range(n)],
    }
    if labels_key == b"fine_labels":
        batch[b"coarse_labels"] = [int(v) % 20 for v in batch[labels_key]]
    return batch


def write_pickle(path: Path, obj: object) -> None:
    path.write_bytes(pickle.dumps(obj, protocol=2))


def write_cifar10(root: Path, n: int = 4) -> Path:
    """``cifar-10-batches-py`` with five train batches and a test batch of ``n`` each."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        write_pickle(folder / name, _cifar_batch(n, b"labels", 10, seed=i))
    write_pickle(folder / "batches.meta", {b"label_names": [b"airplane"] * 10})
    return folder


def write_cifar100(root: Path, n: int = 6) -> Path:
    """``cifar-100-python`` with ``train`` and ``test`` of ``n`` samples each."""
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    write_pickle(folder / "train", _cifar_batch(n, b"fine_labels", 100, seed=10))
    write_pickle(folder / "test", _cifar_batch(n, b"fine_labels", 100, seed=11))
    write_pickle(folder / "meta", {b"fine_label_names": [b"apple"] * 100})
    return folder


def cifar_expected(batch_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images ``[N, 3, 32, 32]`` and labels read back with plain pickle."""
    batch = pickle.loads(batch_path.read_bytes(), encoding="bytes")
    key = b"labels" if b"labels" in batch else b"fine_labels"
    return batch[b"data"].reshape(-1, 3, 32, 32), np.asarray(batch[key])


def save_image(path: Path, array: np.ndarray) -> None:
    """Save ``[H, W]`` or ``[H, W, 3]`` uint8 with Pillow (format from the suffix)."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = "JPEG" if path.suffix.lower() in (".jpeg", ".jpg") else None
    Image.fromarray(array).save(path, format=fmt, quality=95)


def write_tinyimagenet(root: Path, wnids: list[str], per_class: int = 2) -> Path:
    """The official ``tiny-imagenet-200`` layout with flat-colour 64x64 JPEGs.

    Class ``k`` images have colour ``(40 * k, 100, 200 - 40 * k)``; one train image
    of the first class is grayscale (the real set has some).
    """
    folder = root / "tiny-imagenet-200"
    (folder / "val" / "images").mkdir(parents=True)
    (folder / "wnids.txt").write_text("\n".join(wnids) + "\n")
    (folder / "words.txt").write_text("".join(f"{w}\tthing {w}\n" for w in wnids))
    lines = []
    for k, w in enumerate(wnids):
        colour = np.array([40 * k, 100, 200 - 40 * k], dtype=np.uint8)
        img = np.broadcast_to(colour, (64, 64, 3)).copy()
        for i in range(per_class):
            save_image(folder / "train" / w / "images" / f"{w}_{i}.JPEG", img)
        (folder / "train" / w / f"{w}_boxes.txt").write_text(f"{w}_0.JPEG\t0\t0\t63\t63\n")
        name = f"val_{k}.JPEG"
        save_image(folder / "val" / "images" / name, img)
        lines.append(f"{name}\t{w}\t0\t0\t63\t63")
    save_image(
        folder / "train" / wnids[0] / "images" / f"{wnids[0]}_gray.JPEG",
        np.full((64, 64), 90, dtype=np.uint8),
    )
    (folder / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    save_image(folder / "test" / "images" / "test_0.JPEG", np.zeros((64, 64, 3), np.uint8))
    return folder
