"""CIFAR-10 / CIFAR-100 from the official "python version" pickle batches.

Layouts: ``cifar-10-batches-py/data_batch_1..5`` + ``test_batch`` (keys ``data``,
``labels``) and ``cifar-100-python/train`` + ``test`` (keys ``data``, ``fine_labels``).
``data`` is uint8 ``[N, 3072]``: 1024 red, then green, then blue values, row-major 32x32.
The pickles are read with ``encoding="bytes"`` by an unpickler that only builds numpy
arrays and plain containers, so a tampered file cannot run code.
"""

from __future__ import annotations

import codecs
import io
import pickle
import pickletools
from pathlib import Path
from typing import Any

import numpy as np

from spikebit.data.archive import extract
from spikebit.data.cache import ENV_VAR
from spikebit.data.catalog import register_dataset
from spikebit.data.dataset import ArrayDataset, from_uint8
from spikebit.errors import DataError

try:  # numpy >= 2
    from numpy._core import multiarray as _multiarray
    from numpy._core import numeric as _numeric
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core import multiarray as _multiarray  # type: ignore[no-redef]
    from numpy.core import numeric as _numeric  # type: ignore[no-redef]

CIFAR10 = {
    "folder": "cifar-10-batches-py",
    "archive": "cifar-10-python.tar.gz",
    "md5": "c58f30108f718f92721af3b95e74349a",
    "train": [f"data_batch_{i}" for i in range(1, 6)],
    "test": ["test_batch"],
    "label_key": "labels",
    "classes": 10,
}
CIFAR100 = {
    "folder": "cifar-100-python",
    "archive": "cifar-100-python.tar.gz",
    "md5": "eb9058c3a382ffc7106e4002c42a8d85",
    "train": ["train"],
    "test": ["test"],
    "label_key": "fine_labels",
    "classes": 100,
}
URL = "https://www.cs.toronto.edu/~kriz/cifar.html"
_SAFE = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,
}
def _bytes(*args: Any) -> bytes:
    """``bytes(...)`` as protocol-2 pickles call it (``bytes()`` for b""), never ``bytes(n)``."""
    if any(isinstance(a, int) for a in args):
        raise pickle.UnpicklingError("bytes(n) (an allocation) is not allowed in a CIFAR batch")
    return bytes(*args)


_SAFE[("__builtin__", "bytes")] = _SAFE[("builtins", "bytes")] = _bytes
for _mod in ("numpy.core", "numpy._core"):
    for _name in ("_reconstruct", "scalar"):
        _SAFE[(f"{_mod}.multiarray", _name)] = getattr(_multiarray, _name)
    _SAFE[(f"{_mod}.numeric", "_frombuffer")] = _numeric._frombuffer


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickler that resolves only numpy array constructors."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _SAFE[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"forbidden global {module}.{name}") from None


_MEMO_OPS = ("PUT", "BINPUT", "LONG_BINPUT", "GET", "BINGET", "LONG_BINGET")


def _check_opcodes(raw: bytes) -> None:
    """Bound the unpickler's work before running it: one linear pass over the opcodes.

    A memo index far beyond the number of opcodes (e.g. ``LONG_BINPUT 175399797``)
    would make the unpickler allocate a memo table of that size; the official
    files number their memo entries 0, 1, 2, ...
    """
    count = 0
    for op, arg, _ in pickletools.genops(raw):
        count += 1
        if op.name in _MEMO_OPS and isinstance(arg, int) and arg > count:
            raise pickle.UnpicklingError(f"memo index {arg} at opcode {count} is out of range")


def read_batch(path: Path, label_key: str) -> tuple[np.ndarray, np.ndarray]:
    """Read one batch file into images uint8 ``[N, 3, 32, 32]`` and labels ``[N]``.

    Format: the official CIFAR "python version" pickle (a dict with ``data`` uint8
    ``[N, 3072]``, channel planes R, G, B of 32x32 row-major, and integer labels under
    ``label_key``), read by a restricted unpickler that builds only numpy arrays and
    plain containers.

    Args:
        path: one batch file, e.g. ``cifar-10-batches-py/data_batch_1``.
        label_key: ``"labels"`` for CIFAR-10, ``"fine_labels"`` for CIFAR-100.

    Returns:
        ``(images, labels)``: uint8 ``[N, 3, 32, 32]`` and int64 ``[N]``.

    Raises:
        DataError: the file is missing or unreadable, is not a (safe) pickle, is not a
            dict, lacks ``data`` or ``label_key``, or holds arrays of the wrong
            dtype or shape.
    """
    fix = f"Replace it with a fresh copy from the official archive ({URL})."
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise DataError(f"CIFAR batch file {path} does not exist. {fix}") from None
    except OSError as err:
        raise DataError(f"CIFAR batch file {path} cannot be read ({err}). {fix}") from None
    try:  # from memory: a length field in the pickle can never ask for more than the file
        _check_opcodes(raw)
        batch = _ArrayUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except Exception as err:  # unpickling raises many types on corrupt input
        raise DataError(
            f"CIFAR batch file {path} is not a readable pickle ({err}). {fix}"
        ) from None
    if not isinstance(batch, dict):
        raise DataError(
            f"CIFAR batch file {path} holds a {type(batch).__name__}, not a dict. {fix}"
        )
    batch = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in batch.items()}
    missing = [k for k in ("data", label_key) if k not in batch]
    if missing:
        raise DataError(
            f"CIFAR batch file {path} lacks the keys {missing} (has "
            f"{sorted(map(repr, batch))}). Is this the right dataset (CIFAR-10 uses 'labels', "
            f"CIFAR-100 'fine_labels')? {fix}"
        )
    return _arrays(batch["data"], batch[label_key], label_key, f"CIFAR batch file {path}", fix)


def _arrays(data: Any, labels: Any, label_key: str, what: str,
            fix: str) -> tuple[np.ndarray, np.ndarray]:
    """Check types and sizes before any conversion (bounded work on hostile input)."""
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
            or data.shape[1] != 3072:
        desc = (f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray)
                else type(data).__name__)
        raise DataError(
            f"{what}: 'data' is {desc}, expected uint8 [N, 3072] (a numpy array). {fix}"
        )
    n = len(data)
    if isinstance(labels, np.ndarray):
        ok = labels.ndim == 1 and labels.dtype.kind in "iu" and len(labels) == n
    else:  # the official files hold a list of Python ints: check before converting
        ok = isinstance(labels, list) and len(labels) == n and all(
            type(v) is int and -(2**62) < v < 2**62 for v in labels)
    if not ok:
        desc = (f"{labels.dtype} {labels.shape}" if isinstance(labels, np.ndarray)
                else f"a {type(labels).__name__} of length {_length(labels)}")
        raise DataError(
            f"{what}: {n} images but {label_key!r} is {desc}; expected {n} integer labels. {fix}"
        )
    return data.reshape(-1, 3, 32, 32), np.asarray(labels, dtype=np.int64).reshape(n)


def _length(value: Any) -> str:
    try:
        return str(len(value))
    except TypeError:
        return "-"


def _locate(root: Path, spec: dict[str, Any]) -> Path:
    """Find the batch folder, extracting the official archive from ``root`` if needed."""
    names = spec["train"] + spec["test"]
    for folder in (root / spec["folder"], root):
        if all((folder / n).is_file() for n in names):
            return folder
    archive = root / spec["archive"]
    if archive.is_file():
        return extract(archive, root, spec["folder"], f"md5:{spec['md5']}")
    raise DataError(
        f"{spec['folder']} not found under {root}. Download {spec['archive']} from {URL} "
        f"and either place it in {root} (it will be extracted) or extract it there, giving "
        f"{root / spec['folder'] / names[0]}; or point data_dir / ${ENV_VAR} at the folder "
        "holding it."
    )


def _load(folder: Path, train: bool, spec: dict[str, Any], name: str) -> ArrayDataset:
    parts = [read_batch(folder / n, spec["label_key"]) for n in spec["train" if train else "test"]]
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    if len(labels) and (labels.min() < 0 or labels.max() >= spec["classes"]):
        raise DataError(
            f"{name}: labels in {folder} span [{labels.min()}, {labels.max()}], expected "
            f"[0, {spec['classes']}). Check that the folder holds {name}."
        )
    return from_uint8(images, labels, spec["classes"], f"{name}/{'train' if train else 'test'}")


def fetch_cifar10(root: Path) -> Path:
    """Locate (or extract from ``cifar-10-python.tar.gz``) the CIFAR-10 batches.

    CIFAR-10 is user-supplied: nothing is downloaded.

    Args:
        root: cache root searched for ``cifar-10-batches-py/`` (or the batch files
            directly), else for the official archive to extract (md5-checked).

    Returns:
        The folder holding ``data_batch_1..5`` and ``test_batch``.

    Raises:
        DataError: neither the batches nor the archive are under ``root`` (the
            message says where to put them), or the archive fails its md5 check or
            cannot be extracted.
    """
    return _locate(root, CIFAR10)


def fetch_cifar100(root: Path) -> Path:
    """Locate (or extract from ``cifar-100-python.tar.gz``) the CIFAR-100 batches.

    CIFAR-100 is user-supplied: nothing is downloaded.

    Args:
        root: cache root searched for ``cifar-100-python/`` (or the ``train`` and
            ``test`` files directly), else for the official archive to extract
            (md5-checked).

    Returns:
        The folder holding ``train`` and ``test``.

    Raises:
        DataError: neither the batches nor the archive are under ``root``, or the
            archive fails its md5 check or cannot be extracted.
    """
    return _locate(root, CIFAR100)


@register_dataset(
    "cifar10", fetch=fetch_cifar10, summary="CIFAR-10, 3x32x32, 50000 train / 10000 test"
)
def load_cifar10(folder: Path, train: bool) -> ArrayDataset:
    """One CIFAR-10 split as ``[N, 3, 32, 32]``, read from the official pickle batches.

    Args:
        folder: the folder returned by :func:`fetch_cifar10`.
        train: ``True`` for ``data_batch_1..5`` (50000 images), ``False`` for
            ``test_batch`` (10000).

    Returns:
        The split as an :class:`~spikebit.data.dataset.ArrayDataset`: float32 images
        ``[N, 3, 32, 32]`` in ``[0, 1]`` (bytes / 255) and int64 labels
        ``[N]`` in ``[0, 10)``, named ``cifar10/train`` or ``cifar10/test``.

    Raises:
        DataError: a batch file is missing or corrupt (see :func:`read_batch`), or a
            label lies outside ``[0, 10)``.
    """
    return _load(folder, train, CIFAR10, "cifar10")


@register_dataset(
    "cifar100",
    fetch=fetch_cifar100,
    summary="CIFAR-100 (fine labels), 3x32x32, 50000 train / 10000 test",
)
def load_cifar100(folder: Path, train: bool) -> ArrayDataset:
    """One CIFAR-100 split (100 fine labels) as ``[N, 3, 32, 32]``, from the pickles.

    Args:
        folder: the folder returned by :func:`fetch_cifar100`.
        train: ``True`` for ``train`` (50000 images), ``False`` for ``test`` (10000).

    Returns:
        The split as an :class:`~spikebit.data.dataset.ArrayDataset`: float32 images
        ``[N, 3, 32, 32]`` in ``[0, 1]`` (bytes / 255) and int64 fine
        labels ``[N]`` in ``[0, 100)``, named ``cifar100/train`` or ``cifar100/test``.

    Raises:
        DataError: a batch file is missing or corrupt (see :func:`read_batch`), or a
            label lies outside ``[0, 100)``.
    """
    return _load(folder, train, CIFAR100, "cifar100")
