"""The fuzz harness: run a generated case, classify its outcome, fail on anything else.

Every case is ``(run, check)``: ``run()`` feeds one input to spikebit and
``check(result)`` asserts that an accepted input was decoded correctly (against
an independent reference decoder where the format allows). The outcome is one
of: ``accepted`` (returned and correct), ``clear_error`` (a ``SpikebitError``
subclass), or a failure: any other exception, a wrong result, or a run longer
than ``TIME_LIMIT`` seconds (a SIGALRM watchdog turns hangs into failures).
"""

from __future__ import annotations

import random
import signal
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spikebit.errors import SpikebitError

TIME_LIMIT = 5.0
Case = tuple[Callable[[], Any], Callable[[Any], None]]
Generator = Callable[[random.Random, Path], Case]


@dataclass
class Counts:
    tried: int = 0
    clear_error: int = 0
    accepted: int = 0
    failures: list[str] = field(default_factory=list)
    slowest_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"tried": self.tried, "clear_error": self.clear_error, "accepted": self.accepted,
                "failures": len(self.failures), "slowest_case_s": round(self.slowest_s, 4)}


class _Timeout(BaseException):
    pass


def _alarm(signum, frame):  # noqa: ARG001
    raise _Timeout


def run_cases(name: str, generate: Generator, cases: int, seed: int, work: Path) -> Counts:
    """Run ``cases`` inputs from ``generate`` (seeded: a failure names its case seed)."""
    counts = Counts()
    work.mkdir(parents=True, exist_ok=True)
    old = signal.signal(signal.SIGALRM, _alarm)
    try:
        for i in range(cases):
            case_seed = seed * 1_000_003 + i
            rng = random.Random(case_seed)
            run, check = generate(rng, work)
            counts.tried += 1
            start = time.perf_counter()
            signal.setitimer(signal.ITIMER_REAL, TIME_LIMIT)
            try:
                result = run()
                signal.setitimer(signal.ITIMER_REAL, 0)
                check(result)
                counts.accepted += 1
            except SpikebitError:
                counts.clear_error += 1
            except _Timeout:
                counts.failures.append(f"{name} case seed {case_seed}: over {TIME_LIMIT} s")
            except Exception:  # a raw traceback or a wrong result
                counts.failures.append(
                    f"{name} case seed {case_seed}:\n{traceback.format_exc(limit=6)}")
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
                counts.slowest_s = max(counts.slowest_s, time.perf_counter() - start)
    finally:
        signal.signal(signal.SIGALRM, old)
    return counts


INTERESTING = [0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 2**30, 2**31 - 1, 2**31,
               2**32 - 1]


def mutate(raw: bytes, rng: random.Random, protect: int = 0) -> bytes:
    """One random mutation of ``raw`` (bytes before ``protect`` are kept), or none."""
    data = bytearray(raw)
    kind = rng.randrange(7)
    lo = min(protect, len(data))
    if kind == 0 or len(data) <= lo:
        return bytes(data)  # unchanged: a valid input must be accepted correctly
    if kind == 1:  # bit flips
        for _ in range(rng.randint(1, 8)):
            pos = rng.randrange(lo, len(data))
            data[pos] ^= 1 << rng.randrange(8)
    elif kind == 2:  # truncation
        del data[rng.randrange(lo, len(data)):]
    elif kind == 3:  # inserted random bytes
        pos = rng.randrange(lo, len(data) + 1)
        data[pos:pos] = rng.randbytes(rng.randint(1, 16))
    elif kind == 4:  # an interesting 32-bit word, either byte order
        pos = rng.randrange(lo, max(lo + 1, len(data) - 3))
        order = rng.choice(["big", "little"])
        data[pos:pos + 4] = rng.choice(INTERESTING).to_bytes(4, order)
    elif kind == 5:  # duplicated chunk
        a = rng.randrange(lo, len(data))
        b = min(len(data), a + rng.randint(1, 64))
        data[b:b] = data[a:b]
    else:  # random tail
        data += rng.randbytes(rng.randint(1, 32))
    return bytes(data)
