"""Every fuzzed format by name, with the cases per format run by the test suite."""

from __future__ import annotations

import formats_binary as b
import formats_other as o
from harness import Generator

FORMATS: dict[str, tuple[Generator, int]] = {
    "idx": (b.idx_case, 150),
    "cifar": (b.cifar_case, 150),
    "image": (o.image_case, 150),
    "imagefolder": (o.folder_case, 40),
    "nmnist": (b.nmnist_case, 300),
    "aedat2": (b.aedat2_case, 300),
    "aedat3": (b.aedat3_case, 300),
    "labels_csv": (b.labels_case, 200),
    "spec": (o.spec_case, 200),
    "config": (o.config_case, 150),
    "checkpoint": (o.checkpoint_case, 100),
}
"""name -> (generator, cases in the test suite; benchmarks/fuzz_counts.py runs more)."""
