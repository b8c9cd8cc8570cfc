"""Named experiment sets (``spikebit reproduce NAME``): the papers' tables at a budget.

Each method registers its tables with :func:`register_experiment`; a runner
trains/evaluates, and returns rows that put the paper's number beside ours.
The result JSON and a markdown table are written to ``out_dir``.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spikebit.provenance import write_result_json
from spikebit.registry import Registry
from spikebit.train.checkpoint import atomic_write_bytes

Runner = Callable[[str, Path], dict[str, Any]]


@dataclass(frozen=True)
class Experiment:
    """``runner(budget, work_dir) -> {"rows": [...], "columns": [...], ...}``."""

    summary: str
    runner: Runner


EXPERIMENTS: Registry[Experiment] = Registry(
    "experiment", discover=("spikebit.methods", "spikebit.conversion")
)


_RESULTS_DIR: ContextVar[Path] = ContextVar("results_dir", default=Path("results"))


def results_dir() -> Path:
    """Where the running experiment writes figures and side files: ``run_experiment``'s
    ``out_dir`` (``results/`` outside of it)."""
    return _RESULTS_DIR.get()


def register_experiment(name: str, summary: str) -> Callable[[Runner], Runner]:
    def add(fn: Runner) -> Runner:
        EXPERIMENTS.register(name)(Experiment(summary, fn))
        return fn

    return add


def markdown_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.2f}" if abs(v) >= 1 else f"{v:.4f}"
        return "" if v is None else str(v).replace("|", "\\|")  # a "|" would end the cell

    head = "| " + " | ".join(columns) + " |"
    sep = "|" + "|".join("---" for _ in columns) + "|"
    body = ["| " + " | ".join(fmt(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join([head, sep, *body])


def run_experiment(name: str, budget: str = "cpu", out_dir: str | Path = "results") -> Path:
    """Run experiment ``name`` and write ``<out_dir>/<name>.json`` and ``.md``."""
    exp = EXPERIMENTS.get(name)
    out = Path(out_dir)
    token = _RESULTS_DIR.set(out)
    try:
        result = exp.runner(budget, Path("runs") / "reproduce" / name)
    finally:
        _RESULTS_DIR.reset(token)
    result.update({"experiment": name, "budget": budget, "summary": exp.summary})
    write_result_json(out / f"{name}.json", result)
    write_markdown(result, out / f"{name}.md")
    return out / f"{name}.json"


def write_markdown(result: dict[str, Any], path: Path) -> None:
    """The ``.md`` twin of a results JSON written by :func:`run_experiment`."""
    md = (f"# {result['experiment']}\n\n{result['summary']}\n\n"
          f"Budget: {result['budget']}. {result.get('note', '')}\n\n")
    md += markdown_table(result["rows"], result["columns"]) + "\n"
    atomic_write_bytes(path, md.encode())


def list_experiments() -> list[tuple[str, str]]:
    """(name, summary) of every registered experiment."""
    return [(n, EXPERIMENTS.get(n).summary) for n in EXPERIMENTS.names()]
