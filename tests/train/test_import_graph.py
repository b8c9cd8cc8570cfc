"""Imports inside ``spikebit.train`` go one way: the module graph has no cycle.

Every import counts: at module level, inside functions (a lazy import hides a cycle
from the interpreter, not from a reader) and under ``if TYPE_CHECKING:``. The graph is
read from the source with :mod:`ast`, so nothing is imported to build it.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = "spikebit.train"


def import_graph(folder: Path, package: str) -> dict[str, set[str]]:
    """``{module: modules of the package it imports}``; ``__init__`` is the package itself.

    Args:
        folder: the package's directory (one level; its ``*.py`` files).
        package: its dotted name, e.g. ``"spikebit.train"``.
    """
    modules = {p.stem: p for p in folder.glob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from . import x / from .x import y
                    base = ".".join([package] + ([base] if base else []))
                # `from pkg import sub` imports the submodule; any other name comes from
                # `base` itself (the package's __init__ when base is the package)
                targets = [f"{base}.{a.name}" if base == package and a.name in modules
                           else base for a in node.names]
            for target in targets:
                if target == package:
                    edges.add("__init__")
                elif target.startswith(package + "."):
                    head = target[len(package) + 1:].split(".")[0]
                    if head in modules:
                        edges.add(head)
        edges.discard(name)
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path ``[a, b, ..., a]``, or ``None`` when acyclic."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_the_checker_sees_every_kind_of_import(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from typing import TYPE_CHECKING\n"
                              "if TYPE_CHECKING:\n    from pkg.b import B\n")
    (pkg / "b.py").write_text("def f():\n    from pkg import c\n")
    (pkg / "c.py").write_text("from . import a\nimport os\n")
    graph = import_graph(pkg, "pkg")
    assert graph == {"__init__": set(), "a": {"b"}, "b": {"c"}, "c": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    (pkg / "c.py").write_text("import os\n")
    assert find_cycle(import_graph(pkg, "pkg")) is None


def test_train_package_has_no_import_cycle():
    graph = import_graph(SRC / "spikebit" / "train", PACKAGE)
    assert {"trainer", "callbacks", "run", "config", "build", "datasets", "rundir"} <= set(graph)
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])
    # no submodule reaches back through the package's __init__ (which re-exports them)
    assert not [m for m, edges in graph.items() if "__init__" in edges]


def test_one_job_per_module_callbacks_and_rundir_do_not_know_the_trainer():
    graph = import_graph(SRC / "spikebit" / "train", PACKAGE)
    for module in ("callbacks", "resume", "rundir", "state", "schema", "datasets", "loader"):
        assert "trainer" not in graph[module] and "run" not in graph[module], module


PROBE = """
import importlib, json, sys
importlib.import_module(sys.argv[1])
print(json.dumps(sorted(m for m in sys.modules if m.startswith("spikebit"))))
"""


def test_importing_callbacks_does_not_load_the_training_stack():
    """``from spikebit.train.callbacks import Callback`` (every method does it) loads the
    callback base and the registry, not the trainer, the data or the run directory code."""
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    out = subprocess.run([sys.executable, "-c", PROBE, "spikebit.train.callbacks"], env=env,
                         capture_output=True, text=True, timeout=300, check=True)
    loaded = set(json.loads(out.stdout.strip().splitlines()[-1]))
    assert {"spikebit.train.callbacks", "spikebit.train.state"} <= loaded
    heavy = {"spikebit.train.trainer", "spikebit.train.run", "spikebit.train.rundir",
             "spikebit.data", "spikebit.plotting"}
    assert not loaded & heavy, sorted(loaded & heavy)
