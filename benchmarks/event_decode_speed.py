"""Event decoding and simulator speed.

Writes ``--events`` synthetic events (default 5 million) in each official format
(N-MNIST .bin, AEDAT 3.1, AEDAT 2.0/CIFAR10-DVS) to a temp folder, times the
vectorized readers (best of ``--repeats``), and compares each with a per-event
``struct`` loop (the way several public loaders decode) on ``--loop-events``
events. Then times the saccade simulator on ``--sim-images`` images
(Fashion-MNIST test split if it loads, else procedural shapes). Prints
events/second and speed-up ratios and writes ``results/event_decode_speed.json``.

    .venv/bin/python benchmarks/event_decode_speed.py
"""

from __future__ import annotations

import argparse
import json
import platform
import struct
import tempfile
import time
from pathlib import Path

import numpy as np

from spikebit.data.events import (
    make_event_dataset,
    make_events,
    read_aedat3,
    read_cifar10dvs,
    read_nmnist,
    shape_images,
)
from spikebit.data.events.writers import write_aedat3, write_cifar10dvs, write_nmnist


def synthetic(n: int, sensor: tuple[int, int], t_max: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, t_max, n))
    x, y = rng.integers(0, sensor[1], n), rng.integers(0, sensor[0], n)
    return make_events(t, x, y, rng.integers(0, 2, n))


def loop_nmnist(path: Path) -> int:
    """Per-event baseline: one Python iteration per 5-byte record."""
    data, n, over = path.read_bytes(), 0, 0
    for i in range(0, len(data) - 4, 5):
        x, y, b2, b3, b4 = data[i : i + 5]
        if y == 240:
            over += 8192
            continue
        _ = (x, y, b2 >> 7, (((b2 & 0x7F) << 16) | (b3 << 8) | b4) + over)
        n += 1
    return n


def loop_aedat3(path: Path) -> int:
    """Per-event baseline (as in SpikingJelly's ``load_aedat_v3``)."""
    data = path.read_bytes()
    pos, n = data.index(b"#!END-HEADER\r\n") + 14, 0
    while pos < len(data):
        etype, _, size, _, over, cap, _, _ = struct.unpack_from("<hhiiiiii", data, pos)
        pos += 28
        if etype == 1:
            for off in range(pos, pos + cap * size, size):
                addr, ts = struct.unpack_from("<II", data, off)
                _ = ((addr >> 17) & 0x7FFF, (addr >> 2) & 0x7FFF, (addr >> 1) & 1, ts | over << 31)
                n += 1
        pos += cap * size
    return n


def loop_aedat2(path: Path) -> int:
    """Per-event baseline: one ``struct.unpack`` per 8-byte record."""
    data = path.read_bytes()
    pos = 0
    while data[pos : pos + 1] == b"#":
        pos = data.index(b"\n", pos) + 1
    n = 0
    for addr, ts in struct.iter_unpack(">II", data[pos:]):
        _ = (127 - ((addr >> 1) & 0x7F), 127 - ((addr >> 8) & 0x7F), 1 - (addr & 1), ts)
        n += 1
    return n


FORMATS = {
    "nmnist_bin": ((34, 34), 1 << 26, write_nmnist, read_nmnist, loop_nmnist),
    "aedat3_gesture": ((128, 128), 1 << 33, write_aedat3, read_aedat3, loop_aedat3),
    "aedat2_cifar10dvs": ((128, 128), 1 << 31, write_cifar10dvs, read_cifar10dvs, loop_aedat2),
}


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def bench_formats(n: int, n_loop: int, repeats: int, folder: Path) -> dict:
    out = {}
    for name, (sensor, t_max, write, read, loop) in FORMATS.items():
        ev = synthetic(n, sensor, t_max)
        path, small = folder / f"{name}.dat", folder / f"{name}-small.dat"
        write(path, ev)
        write(small, ev[:n_loop])
        if not np.array_equal(read(path), ev):
            raise SystemExit(f"{name}: decoded events differ from those written")
        fast = best_of(lambda r=read, p=path: r(p), repeats)
        slow = best_of(lambda f=loop, p=small: f(p), 1)
        rate, base = n / fast, n_loop / slow
        out[name] = {
            "events": n,
            "file_mb": round(path.stat().st_size / 2**20, 1),
            "seconds": round(fast, 4),
            "events_per_s": round(rate),
            "loop_baseline_events_per_s": round(base),
            "speedup_vs_loop": round(rate / base, 1),
        }
        print(f"{name:18s} {rate / 1e6:8.1f} M events/s  ({fast:.3f} s for {n:,});"
              f" per-event loop {base / 1e6:.2f} M/s -> {rate / base:.0f}x")  # fmt: skip
    return out


def load_images(n: int) -> tuple[np.ndarray, np.ndarray, str]:
    try:
        from spikebit.data import load_dataset

        ds = load_dataset("fashion-mnist", train=False)
        return ds.images.numpy()[:n, 0], ds.labels.numpy()[:n], "fashion-mnist/test"
    except Exception as err:  # noqa: BLE001 - any failure falls back to offline shapes
        print(f"fashion-mnist unavailable ({err}); simulating procedural shapes")
        images, labels = shape_images(n, seed=0)
        return images, labels, "shapes"


def bench_simulator(n: int) -> dict:
    images, labels, source = load_images(n)
    t0 = time.perf_counter()
    ds = make_event_dataset(images, labels, seed=0)
    dt = time.perf_counter() - t0
    per = ds.num_events()
    print(f"simulator: {len(images):,} {source} images in {dt:.1f} s "
          f"({len(images) / dt:.0f} images/s), {per.mean():.0f} events/sample")  # fmt: skip
    return {
        "images": len(images),
        "source": source,
        "seconds": round(dt, 2),
        "images_per_s": round(len(images) / dt, 1),
        "mean_events_per_sample": round(float(per.mean()), 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=5_000_000)
    ap.add_argument("--loop-events", type=int, default=200_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sim-images", type=int, default=10_000)
    ap.add_argument("--out", type=Path, default=Path("results/event_decode_speed.json"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        formats = bench_formats(args.events, args.loop_events, args.repeats, Path(tmp))
    result = {
        "benchmark": "event_decode_speed",
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "decode": formats,
        "simulator": bench_simulator(args.sim_images),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    from spikebit.provenance import with_provenance

    result = with_provenance(result)  # versions, commit, CPU, threads, device
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
