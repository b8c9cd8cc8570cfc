"""Process settings that keep CPU timings of one thread repeatable (benchmarks, not tests).

Two effects larger than the kernels being timed were seen on the 2-core benchmark VM:

* **Returning freed memory to the OS.** glibc gives large freed blocks back (``munmap``, or
  trimming the heap top) and the next allocation of the same size faults every page in
  again. Whether a process does this each iteration depends on its sequence of frees: in
  development, of two identical runs of the native MFP kernel on a ``[16, 32768]`` layer,
  one took 0.12 ms per forward and the other 0.8 ms, for the whole run (not recorded).
  ``keep`` (``mallopt``: no trimming, blocks up to 32 MiB from the heap) keeps freed memory
  in the process for reuse, as GPU frameworks' caching allocators do and as jemalloc or
  tcmalloc (often preloaded for CPU training) mostly do; ``default`` leaves glibc as it is.
* **Moving between cores.** With one thread, the process is pinned to one core (the first
  it may run on), so that its caches stay warm. Not where another thread pool keeps
  spinning after its work (numba's OpenMP workers in ``deploy_speed.py``): pinned, it
  would share the timed thread's core.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from typing import Any

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc <malloc.h>
MMAP_THRESHOLD_MAX = 32 << 20  # glibc's largest accepted M_MMAP_THRESHOLD on 64-bit


def pin(threads: int) -> list[int]:
    """Pin the process to one core when ``threads == 1``, else let it run on every CPU it
    was started with (so a run can switch between one- and two-thread sections).

    Args:
        threads: the threads of the section about to run.

    Returns:
        The CPUs the process may run on now (empty where the OS has no affinity call).
    """
    if not hasattr(os, "sched_setaffinity"):
        return []
    allowed = _STARTED_ON or sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {allowed[0]} if threads == 1 else set(allowed))
    return sorted(os.sched_getaffinity(0))


_STARTED_ON: list[int] = (sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                          else [])


def steady_process(threads: int, malloc: str = "keep") -> dict[str, Any]:
    """Apply the settings above and say which took effect.

    Args:
        threads: torch threads of the run (pinning only with 1).
        malloc: ``"keep"`` (freed memory stays in the process) or ``"default"``.

    Returns:
        ``{"malloc": ..., "cpu_affinity": [...]}`` for the results file: the allocator
        setting actually applied (``"default"`` where glibc's ``mallopt`` is absent or
        refuses it) and the CPUs the process may run on.
    """
    applied = "default"
    if malloc == "keep":
        name = ctypes.util.find_library("c")
        libc = ctypes.CDLL(name) if name else None
        if libc is not None and hasattr(libc, "mallopt"):
            ok = (libc.mallopt(M_TRIM_THRESHOLD, 2**31 - 1) == 1
                  and libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX) == 1)
            if ok:
                applied = (f"keep (glibc mallopt: M_TRIM_THRESHOLD=2^31-1, "
                           f"M_MMAP_THRESHOLD={MMAP_THRESHOLD_MAX})")
    return {"malloc": applied, "cpu_affinity": pin(threads)}
