"""Named experiment sets (``spikebit reproduce NAME``): the papers' tables at a budget.

Each method registers its tables with :func:`register_experiment`; a runner
trains/evaluates, and returns rows that put the paper's number beside ours.
The result JSON and a markdown table are written to ``out_dir``.

The harness every runner shares: :class:`Budget` / :func:`pick_budget` /
:func:`run_spec` (:mod:`.budget`: sizes and run configs), :func:`train_run` /
:class:`TrainedRun` (:mod:`.runs`: train or reuse one run), :func:`plot_sweep`
(:mod:`.plots`). Experiment modules import these; the method packages a user imports
to build and train models never import this package.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spikebit.provenance import write_result_json
from spikebit.registry import Registry
from spikebit.reproduce.budget import BUDGET_NAMES, Budget, pick_budget, run_spec
from spikebit.reproduce.runs import TrainedRun, train_run
from spikebit.train.checkpoint import atomic_write_bytes

__all__ = [
    "BUDGET_NAMES",
    "EXPERIMENTS",
    "Budget",
    "Experiment",
    "TrainedRun",
    "list_experiments",
    "markdown_table",
    "pick_budget",
    "register_experiment",
    "results_dir",
    "run_experiment",
    "run_spec",
    "train_run",
    "write_markdown",
]

Runner = Callable[[str, Path], dict[str, Any]]


@dataclass(frozen=True)
class Experiment:
    """A registered experiment: a paper table reproduced at a budget.

    Args:
        summary: one line shown by ``spikebit reproduce --list`` and in the results files.
        runner: ``runner(budget, work_dir) -> {"rows": [...], "columns": [...], ...}``;
            ``budget`` is one of ``"smoke"``, ``"cpu"``, ``"full"`` and ``work_dir`` holds
            the runs it trains (reused when finished).
    """

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
    """Decorator registering a runner as experiment ``name`` (``spikebit reproduce NAME``).

    Args:
        name: the experiment's registry name, e.g. ``"albsnn-table5"``.
        summary: one line describing what the experiment reproduces.

    Returns:
        A decorator that registers its runner and returns it unchanged.

    Raises:
        RegistryError: (when the decorator is applied) ``name`` is already registered.
    """
    def add(fn: Runner) -> Runner:
        EXPERIMENTS.register(name)(Experiment(summary, fn))
        return fn

    return add


def markdown_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A Markdown table of ``rows`` (dicts) in ``columns`` order.

    Floats print with 2 decimals (4 below 1); a column with a ``<column>_std`` entry
    (seed repeats) prints as ``mean ± std``; a ``|`` inside a cell is escaped.
    """

    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.2f}" if abs(v) >= 1 else f"{v:.4f}"
        return "" if v is None else str(v).replace("|", "\\|")  # a "|" would end the cell

    def cell(row: dict[str, Any], col: str) -> str:
        if f"{col}_std" in row:  # mean and deviation with the same number of decimals
            mean = row.get(col)
            digits = 2 if isinstance(mean, (int, float)) and abs(mean) >= 1 else 4
            return f"{mean:.{digits}f} ± {row[f'{col}_std']:.{digits}f}"
        return fmt(row.get(col))

    head = "| " + " | ".join(columns) + " |"
    sep = "|" + "|".join("---" for _ in columns) + "|"
    body = ["| " + " | ".join(cell(r, c) for c in columns) + " |" for r in rows]
    return "\n".join([head, sep, *body])


def work_dir(name: str, budget: str) -> Path:
    """Where experiment ``name`` trains its runs at ``budget``.

    ``runs/reproduce/<name>`` at the ``cpu`` budget (the published runs) and
    ``runs/reproduce/<budget>/<name>`` otherwise, so a smoke check never moves a finished
    CPU-budget run of the same name aside.

    Args:
        name: the experiment.
        budget: ``"smoke"``, ``"cpu"`` or ``"full"``.

    Returns:
        The directory (relative to the working directory).
    """
    root = Path("runs") / "reproduce"
    return root / name if budget == "cpu" else root / budget / name


def run_experiment(
    name: str, budget: str = "cpu", out_dir: str | Path = "results", seeds: int = 1
) -> Path:
    """Run experiment ``name`` and write ``<out_dir>/<name>.json`` and ``.md``.

    Args:
        name: a registered experiment (:func:`list_experiments`).
        budget: ``"smoke"`` (seconds), ``"cpu"`` (the published CPU runs) or ``"full"``
            (the paper's scale).
        out_dir: where the JSON, the Markdown table and side files (figures) go.
        seeds: number of training-seed repeats (at least 1).

    Returns:
        The path of the results JSON, ``<out_dir>/<name>.json``.

    With ``seeds > 1`` the runner runs once per seed repeat ``k = 0..seeds-1`` (every
    training it starts gets seed ``seed + k`` and, for ``k >= 1``, the run name
    ``NAME-seed{k}``; finished runs are reused, so an interrupted multi-seed run resumes),
    and the rows hold the mean, the standard deviation (``_std``) and the per-seed values
    (``_seeds``) of every column that varies (:func:`spikebit.reproduce.seeds.aggregate_rows`).

    Raises:
        RegistryError: unknown experiment name.
        ConfigError: ``seeds < 1``.
    """
    from spikebit.errors import ConfigError
    from spikebit.progress import ProgressBar
    from spikebit.reproduce.seeds import aggregate_fields, aggregate_rows
    from spikebit.train.seeds import seed_repeat

    if not isinstance(seeds, int) or seeds < 1:
        raise ConfigError(f"seeds must be a positive integer, got {seeds!r}.")
    exp = EXPERIMENTS.get(name)
    out = Path(out_dir)
    token = _RESULTS_DIR.set(out)
    results = []
    try:
        with ProgressBar(seeds, f"reproduce {name} ({budget})", unit="seed",
                         enabled=seeds > 1) as bar:
            for k in range(seeds):
                with seed_repeat(k):
                    results.append(exp.runner(budget, work_dir(name, budget)))
                bar.update(1)
    finally:
        _RESULTS_DIR.reset(token)
    result = results[0]
    if seeds > 1:
        result = aggregate_fields(results)
        result["rows"] = aggregate_rows([r["rows"] for r in results])
        result["seeds"] = seeds
        result["note"] = (f"{result.get('note', '')} Mean ± sample standard deviation over "
                          f"{seeds} training seeds.").strip()
    result.update({"experiment": name, "budget": budget, "summary": exp.summary})
    write_result_json(out / f"{name}.json", result)
    write_markdown(result, out / f"{name}.md")
    return out / f"{name}.json"


def write_markdown(result: dict[str, Any], path: Path) -> None:
    """The ``.md`` twin of a results JSON written by :func:`run_experiment`.

    A title, the summary, the budget and note, then :func:`markdown_table` of the rows.

    Args:
        result: the results mapping (``experiment``, ``summary``, ``budget``, ``rows``,
            ``columns``, optional ``note``).
        path: the Markdown file, written atomically.
    """
    md = (f"# {result['experiment']}\n\n{result['summary']}\n\n"
          f"`--budget {result['budget']}`. {result.get('note', '')}\n\n")
    md += markdown_table(result["rows"], result["columns"]) + "\n"
    atomic_write_bytes(path, md.encode())


def list_experiments() -> list[tuple[str, str]]:
    """(name, summary) of every registered experiment."""
    return [(n, EXPERIMENTS.get(n).summary) for n in EXPERIMENTS.names()]
