"""Importing a method package (or ``spikebit.conversion``) loads the library only: no
plotting, no experiment harness.

The check runs in a fresh interpreter (``sys.modules`` of the test process already holds
everything): it imports the method packages one after another and records the modules
loaded after each; a harness module first seen after package ``X`` was pulled in by ``X``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
METHODS = sorted(p.name for p in (SRC / "spikebit" / "methods").iterdir()
                 if (p / "__init__.py").is_file())
# modules that run experiments (registered with spikebit.reproduce), never library code
RUNNER_MODULES = ("experiments", "recipes", "runs", "events", "bwo_probe", "bwo_readings",
                  "reproduce", "plots")
LIBRARIES = ("spikebit.methods.", "spikebit.conversion.")

PROBE = """
import importlib, json, sys
seen = {}
for module in sys.argv[1:]:
    importlib.import_module(module)
    seen[module] = sorted(sys.modules)
print(json.dumps(seen))
"""


@pytest.fixture(scope="module")
def imported() -> dict[str, list[str]]:
    """``{module: sys.modules after importing it}``, in one fresh interpreter: every method
    package, then one experiment module (which must pull in the harness)."""
    modules = ([f"spikebit.methods.{m}" for m in METHODS] + ["spikebit.conversion"]
               + ["spikebit.methods.albsnn.experiments"])
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    out = subprocess.run([sys.executable, "-c", PROBE, *modules], env=env,
                         capture_output=True, text=True, timeout=300, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def harness_modules(modules: list[str]) -> list[str]:
    """Plotting, the reproduce harness and experiment modules among ``modules``."""
    return [m for m in modules
            if m.split(".")[0] == "matplotlib" or m == "spikebit.plotting"
            or m == "spikebit.reproduce" or m.startswith("spikebit.reproduce.")
            or (m.startswith(LIBRARIES) and m.split(".")[-1] in RUNNER_MODULES)]


def test_every_method_package_is_checked():
    assert {"agmm", "albsnn", "mfp", "multithreshold"} <= set(METHODS)


def test_the_filter_sees_harness_modules():
    modules = ["torch", "matplotlib.figure", "spikebit.reproduce.budget",
               "spikebit.methods.albsnn.experiments", "spikebit.plotting",
               "spikebit.conversion.experiments", "spikebit.methods.albsnn.ale",
               "spikebit.conversion.zoo_models"]
    assert harness_modules(modules) == modules[1:6]


@pytest.mark.parametrize("name", METHODS)
def test_method_package_imports_no_harness(imported, name):
    modules = imported[f"spikebit.methods.{name}"]
    assert f"spikebit.methods.{name}" in modules
    assert harness_modules(modules) == []


def test_conversion_imports_no_harness(imported):
    """``import spikebit.conversion`` registers the ``ann-*`` zoo entries without a
    discovering lookup (which would import every method's experiments)."""
    modules = imported["spikebit.conversion"]
    assert "spikebit.conversion.zoo_models" in modules
    assert harness_modules(modules) == []


def test_experiment_module_does_import_the_harness(imported):
    """The probe would notice: an experiment module pulls in ``spikebit.reproduce``."""
    modules = imported["spikebit.methods.albsnn.experiments"]
    assert "spikebit.reproduce.budget" in harness_modules(modules)
