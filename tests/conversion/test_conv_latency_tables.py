"""``benchmarks/conversion_latency.py --tables`` works from any directory and names a
missing results file instead of a FileNotFoundError traceback."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "conversion_latency.py"


def _tables(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(SCRIPT), "--tables", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_tables_outside_the_repository(tmp_path) -> None:
    done = _tables(tmp_path)  # the default --out is the repository's results file
    assert done.returncode == 0, done.stderr
    assert "| method | library | presim |" in done.stdout
    missing = tmp_path / "none.json"
    done = _tables(tmp_path, "--out", str(missing))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"--tables: no results file {missing}; run the benchmark first" in done.stderr
