"""Fuzz every input format with more cases than the test suite and record the outcomes.

Writes ``results/fuzz.json``: per format, cases tried, clear errors
(``SpikebitError`` subclasses), accepted inputs (decoded and checked against a
reference) and failures (raw tracebacks, wrong results or runs over the time
limit; 0 is the goal), plus the slowest case. Rerun with
``PYTHONPATH=src python benchmarks/fuzz_counts.py [--cases N] [--seed S]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "fuzz"))

from formats import FORMATS  # noqa: E402
from harness import TIME_LIMIT, run_cases  # noqa: E402

from spikebit.provenance import with_provenance  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--cases", type=int, default=1000, help="cases per format")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", type=Path, default=ROOT / "results" / "fuzz.json")
    args = p.parse_args()
    formats, failures = {}, []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as work:
        for name in sorted(FORMATS):
            generate, _ = FORMATS[name]
            t0 = time.perf_counter()
            counts = run_cases(name, generate, args.cases, args.seed, Path(work) / name)
            formats[name] = {**counts.to_dict(), "seconds": round(time.perf_counter() - t0, 2)}
            failures += counts.failures
            print(name, formats[name], flush=True)
    result = with_provenance({
        "command": f"python benchmarks/fuzz_counts.py --cases {args.cases} --seed {args.seed}",
        "seed": args.seed, "cases_per_format": args.cases, "time_limit_s": TIME_LIMIT,
        "formats": formats,
        "totals": {k: sum(f[k] for f in formats.values())
                   for k in ("tried", "clear_error", "accepted", "failures")},
        "seconds": round(time.perf_counter() - start, 1),
        "failure_examples": failures[:10],
    })
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
