"""Peak memory of streaming an ImageNet-style folder at 224 px (train transforms, workers).

Generates a folder of N JPEG images (``--images``, default 2000; sizes drawn around
ImageNet's 500x375 so every sample is decoded, cropped and resized like the real thing)
in ``imagenet/train/<class>/``, then streams one epoch through the trainer's DataLoader
path (``spikebit.train.loader.StreamingBatches`` over ``spikebit.data.folders.stream_folder``:
random resized crop 224 + flip, ``--workers`` processes, batch ``--batch``) in a fresh
subprocess per run, and records the peak resident set size (``ru_maxrss``) of the main
process and of the largest worker. The same is measured for N/4 images: a bounded pipeline
has the same peak for both. For comparison, the float32 tensor the in-memory path would
hold for N images at 3x224x224 is reported (computed, not allocated).

    PYTHONPATH=src python benchmarks/stream_memory.py            # -> results/stream_memory.json
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import json, resource, sys, time
import torch
from spikebit.data.folders import stream_folder
from spikebit.train.loader import StreamingBatches

root, limit, workers, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(1)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
ds = stream_folder("imagenet", True, root)
ds.paths, ds.labels = ds.paths[:limit], ds.labels[:limit]
it = StreamingBatches(ds, batch, shuffle=True, seed=0, workers=workers, drop_last=False)
t0 = time.perf_counter()
seen, checksum = 0, 0.0
for images, labels in it:
    assert images.shape[1:] == (3, 224, 224)
    seen += len(labels)
    checksum += float(images.mean())
seconds = time.perf_counter() - t0
del it  # joins the persistent workers, so RUSAGE_CHILDREN covers them
import gc; gc.collect(); time.sleep(0.5)
print(json.dumps({"images": seen, "seconds": seconds, "rss_after_import_kib": base,
                  "peak_rss_main_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "peak_rss_worker_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def make_folder(root: Path, n: int, classes: int, seed: int = 0) -> int:
    """Write ``n`` JPEGs (random sizes 300..500 x 250..400, smooth colour fields); returns bytes."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    total = 0
    for i in range(n):
        w, h = int(rng.integers(300, 501)), int(rng.integers(250, 401))
        small = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        img = Image.fromarray(small).resize((w, h), Image.Resampling.BILINEAR)
        path = root / "imagenet" / "train" / f"n{i % classes:08d}" / f"img_{i:05d}.JPEG"
        path.parent.mkdir(parents=True, exist_ok=True)
        img.save(path, quality=90)
        total += path.stat().st_size
    return total


def run(root: Path, limit: int, workers: int, batch: int) -> dict:
    env = {"PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", CHILD, str(root), str(limit), str(workers),
                          str(batch)], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=2000)
    p.add_argument("--classes", type=int, default=20)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--out", default=str(ROOT / "results" / "stream_memory.json"))
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        disk = make_folder(root, args.images, args.classes)
        gen = time.perf_counter() - t0
        runs = {}
        for limit in (args.images // 4, args.images):
            r = run(root, limit, args.workers, args.batch)
            r["images_per_second"] = r["images"] / r["seconds"]
            runs[str(limit)] = r
            print(f"{limit} images: peak RSS main {r['peak_rss_main_kib'] / 1024:.0f} MiB, "
                  f"worker {r['peak_rss_worker_kib'] / 1024:.0f} MiB, "
                  f"{r['images_per_second']:.0f} images/s")
    full, quarter = runs[str(args.images)], runs[str(args.images // 4)]
    in_memory = args.images * 3 * 224 * 224 * 4
    result = {
        "benchmark": "stream_memory",
        "command": "PYTHONPATH=src python benchmarks/stream_memory.py",
        "images": args.images, "classes": args.classes, "workers": args.workers,
        "batch": args.batch, "transform": "random resized crop 224 + flip (train)",
        "folder_bytes_on_disk": disk, "generate_seconds": gen,
        "in_memory_float32_bytes_would_be": in_memory,
        "runs": runs,
        "peak_rss_total_mib": (full["peak_rss_main_kib"]
                               + args.workers * full["peak_rss_worker_kib"]) / 1024,
        "peak_growth_quarter_to_full_mib": (full["peak_rss_main_kib"]
                                            - quarter["peak_rss_main_kib"]) / 1024,
        "machine": {"python": platform.python_version(), "cpu": platform.processor(),
                    "system": platform.platform()},
        "note": "ru_maxrss; total = main + workers x largest worker (an upper bound)",
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"in-memory float32 would hold {in_memory / 2**20:.0f} MiB; streaming peak total "
          f"{result['peak_rss_total_mib']:.0f} MiB; wrote {args.out}")


if __name__ == "__main__":
    main()
