"""Labelled event samples that decode on demand, for the frame cache.

An :class:`EventSample` names its source (the cache key) and knows how to
load its events; builders below list the samples of the official datasets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spikebit.data.events.aedat2 import cifar10dvs_files, read_cifar10dvs
from spikebit.data.events.aedat3 import gesture_files, read_gesture_labels, read_gesture_samples
from spikebit.data.events.core import PathArg
from spikebit.data.events.nmnist import nmnist_files, read_nmnist


@dataclass(frozen=True)
class EventSample:
    """One labelled sample: ``load()`` returns its events ``[N]`` (:data:`EVENT_DTYPE`).

    ``source`` and ``stamp`` identify the content for the frame cache: a file
    path (plus ``#k`` for the k-th slice) and e.g. the file's size and mtime.

    Attributes:
        source: what the events come from (resolved file path, ``#k`` suffix for the
            k-th gesture of a recording, or ``<name>#i`` for in-memory arrays).
        label: class label, ``>= 0``.
        load: ``load() -> events [N]`` of :data:`EVENT_DTYPE` (decodes on demand).
        stamp: a version of the content, e.g. ``"size:mtime_ns"`` of the file.
    """

    source: str
    label: int
    load: Callable[[], np.ndarray]
    stamp: str = ""


def file_stamp(path: PathArg) -> str:
    """``size:mtime_ns`` of a file, so a changed file misses the cache.

    Args:
        path: an existing file.

    Returns:
        ``"<size in bytes>:<mtime in ns>"``.

    Raises:
        OSError: the file cannot be stat'ed (not wrapped).
    """
    st = Path(path).stat()
    return f"{st.st_size}:{st.st_mtime_ns}"


def file_samples(
    files: list[Path], labels: list[int], reader: Callable[[Path], np.ndarray]
) -> list[EventSample]:
    """One sample per file, decoded with ``reader(path)``.

    Args:
        files: event files; each is stat'ed now (for the cache stamp), read later.
        labels: one class label per file.
        reader: ``reader(path) -> events [N]`` of :data:`EVENT_DTYPE`.

    Returns:
        A list of one :class:`EventSample` per file, named by its resolved path.
    """
    return [
        EventSample(str(f.resolve()), int(c), lambda f=f: reader(f), file_stamp(f))
        for f, c in zip(files, labels)
    ]


def nmnist_samples(root: PathArg, train: bool = True) -> list[EventSample]:
    """Samples of an unpacked N-MNIST release (``root/Train/<digit>/*.bin``).

    Args:
        root: the folder holding ``Train/`` and ``Test/``.
        train: ``True`` for ``Train/``, ``False`` for ``Test/``.

    Returns:
        One lazily decoded sample per ``.bin`` file (Orchard et al. 2015 format).

    Raises:
        DataError: the split folder is missing or empty.
    """
    files, labels = nmnist_files(root, train)
    return file_samples(files, labels, read_nmnist)


def cifar10dvs_samples(root: PathArg, transpose: bool = False) -> list[EventSample]:
    """Samples of unzipped CIFAR10-DVS (``root/<class>/*.aedat``); no official split.

    Args:
        root: the folder holding ``airplane/`` ... ``truck/``.
        transpose: decode with ``x`` and ``y`` swapped (SpikingJelly's orientation).

    Returns:
        One lazily decoded sample (AEDAT 2.0) per file, every class.

    Raises:
        DataError: no ``<class>/*.aedat`` file exists.
    """
    files, labels = cifar10dvs_files(root)
    return file_samples(files, labels, lambda f: read_cifar10dvs(f, transpose=transpose))


class _LastRecording:
    """Holds the most recently decoded gesture recording, so each file decodes once."""

    def __init__(self) -> None:
        self.key: str | None = None
        self.value: list[tuple[int, np.ndarray]] = []

    def get(self, aedat: Path) -> list[tuple[int, np.ndarray]]:
        key = str(aedat)
        if key != self.key:
            self.key, self.value = key, read_gesture_samples(aedat)
        return self.value


def gesture_samples(root: PathArg, train: bool = True) -> list[EventSample]:
    """Samples of the unpacked DvsGesture folder, split by ``trials_to_{train,test}.txt``.

    Each recording is cut by its ``_labels.csv`` rows (``start <= t < end``); the
    label files are read now, the AEDAT 3.1 recordings lazily (each decoded once
    while its samples are read in order).

    Args:
        root: the unpacked DvsGesture folder.
        train: ``True`` for ``trials_to_train.txt``, ``False`` for the test list.

    Returns:
        One sample per labelled gesture, labels 0..10.

    Raises:
        DataError: the listing or a label file is missing or malformed.
    """
    memo = _LastRecording()
    out: list[EventSample] = []
    for aedat in gesture_files(root, train):
        table = read_gesture_labels(aedat.with_name(aedat.stem + "_labels.csv"))
        stamp = file_stamp(aedat)
        for k, row in enumerate(table):
            out.append(
                EventSample(
                    f"{aedat.resolve()}#{k}",
                    int(row[0]),
                    lambda a=aedat, k=k: memo.get(a)[k][1],
                    stamp,
                )
            )
    return out


def array_samples(name: str, events: list[np.ndarray], labels: np.ndarray) -> list[EventSample]:
    """Samples over in-memory event arrays; ``name`` must identify their content.

    Args:
        name: identifies the arrays' content (it keys the frame cache: include every
            parameter that produced them).
        events: one event array ``[N_i]`` of :data:`EVENT_DTYPE` per sample.
        labels: one class label per sample.

    Returns:
        A list of one :class:`EventSample` per array, sources ``"<name>#<i>"``.
    """
    return [
        EventSample(f"{name}#{i}", int(c), lambda e=e: e)
        for i, (e, c) in enumerate(zip(events, labels))
    ]
