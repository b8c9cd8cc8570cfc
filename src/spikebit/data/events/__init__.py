"""Event-camera data: readers for N-MNIST, DVS128 Gesture and CIFAR10-DVS, frames,
a frame cache, augmentations and a DVS simulator for offline event datasets.

Events are numpy structured arrays of :data:`EVENT_DTYPE` (``t`` int64 us,
``x``/``y`` int16 pixels with y = 0 at the top, ``p`` int8 1 = ON / 0 = OFF).
Frames are float32 counts ``[T, 2, H, W]``; batches are time-major
``[T, B, 2, H, W]``. See ``docs/events.md``.
"""

from spikebit.data.events.aedat2 import (
    CIFAR10DVS_CLASSES,
    CIFAR10DVS_SENSOR,
    cifar10dvs_files,
    decode_cifar10dvs,
    read_cifar10dvs,
)
from spikebit.data.events.aedat3 import (
    GESTURE_SENSOR,
    decode_aedat3,
    gesture_files,
    read_aedat3,
    read_gesture_labels,
    read_gesture_samples,
    split_by_labels,
)
from spikebit.data.events.augment import (
    drop_events,
    flip_horizontal,
    random_flip,
    random_shift,
    shift,
)
from spikebit.data.events.cache import (
    EventFrameDataset,
    time_major_batches,
    to_time_major,
)
from spikebit.data.events.core import EVENT_DTYPE, as_events, make_events
from spikebit.data.events.fetch import (
    EVENT_DATASETS,
    event_dataset_names,
    fetch_event_dataset,
    register_event_dataset,
)
from spikebit.data.events.frames import events_to_frames, sensor_geometry
from spikebit.data.events.nmnist import NMNIST_SENSOR, decode_nmnist, nmnist_files, read_nmnist
from spikebit.data.events.shapes import shape_images
from spikebit.data.events.simulator import (
    SaccadeConfig,
    make_event_dataset,
    simulate_batch,
    simulate_saccade_events,
)
from spikebit.data.events.sources import (
    EventSample,
    array_samples,
    cifar10dvs_samples,
    gesture_samples,
    nmnist_samples,
)
from spikebit.data.events.store import EventDataset, load_event_dataset, save_event_dataset
from spikebit.data.events.tonic_interop import TonicFrames, from_tonic, tonic_frames

__all__ = [
    "CIFAR10DVS_CLASSES",
    "CIFAR10DVS_SENSOR",
    "EVENT_DATASETS",
    "EVENT_DTYPE",
    "GESTURE_SENSOR",
    "NMNIST_SENSOR",
    "EventDataset",
    "EventFrameDataset",
    "EventSample",
    "SaccadeConfig",
    "array_samples",
    "as_events",
    "cifar10dvs_files",
    "cifar10dvs_samples",
    "decode_aedat3",
    "decode_cifar10dvs",
    "decode_nmnist",
    "drop_events",
    "event_dataset_names",
    "events_to_frames",
    "from_tonic",
    "sensor_geometry",
    "tonic_frames",
    "TonicFrames",
    "fetch_event_dataset",
    "flip_horizontal",
    "gesture_files",
    "gesture_samples",
    "load_event_dataset",
    "make_event_dataset",
    "make_events",
    "nmnist_files",
    "nmnist_samples",
    "random_flip",
    "random_shift",
    "read_aedat3",
    "read_cifar10dvs",
    "read_gesture_labels",
    "read_gesture_samples",
    "read_nmnist",
    "register_event_dataset",
    "save_event_dataset",
    "shape_images",
    "shift",
    "simulate_batch",
    "simulate_saccade_events",
    "split_by_labels",
    "time_major_batches",
    "to_time_major",
]
