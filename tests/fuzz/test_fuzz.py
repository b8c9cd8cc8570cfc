"""Issue 20's fuzz suite: every input is accepted-and-correct or a SpikebitError, in time.

Seeded loops (one seed per format and case, reproducible from the failure
message) over IDX, CIFAR pickles, images and image folders, N-MNIST, AEDAT 2.0
and 3.1, DVS Gesture label CSVs, model specs, run configs and checkpoints. The
whole suite stays within about a minute on one core; ``benchmarks/fuzz_counts.py``
runs more cases per format and writes the counts to ``results/fuzz.json``.
"""

import pytest
from formats import FORMATS
from harness import run_cases


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_fuzz_format(name, tmp_path):
    generate, cases = FORMATS[name]
    counts = run_cases(name, generate, cases, seed=0, work=tmp_path)
    assert not counts.failures, "\n\n".join(counts.failures[:5])
    assert counts.tried == cases and counts.accepted + counts.clear_error == cases
    assert counts.accepted > 0 and counts.clear_error > 0  # both outcomes are exercised
