"""Seed aggregation, the comparison with SpikingJelly and the docs tables of
``results/conversion_latency.json`` (used by ``benchmarks/conversion_latency.py``; not a
benchmark itself).
"""

from __future__ import annotations

from typing import Any

TOLERANCES = (0.5, 0.1)  # points below the ANN counted as "within"


def first_within(acc: list[float | None], ann: float, tol: float) -> int | None:
    return next((t + 1 for t, a in enumerate(acc) if a is not None and ann - a <= tol), None)


def previous_seeds(previous: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """A network's stored per-seed entries (a file from before ``--seeds``: seed 0)."""
    if previous is None:
        return {}
    return previous.get("per_seed") or {"0": previous}


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _std(values: list[float]) -> float:
    m = _mean(values)
    return (sum((v - m) ** 2 for v in values) / max(len(values) - 1, 1)) ** 0.5


def mean_curve(curves: list[list[float | None]]) -> list[float | None]:
    """Per-step mean over seeds; a step where some seed has no output at all is null."""
    return [None if any(a is None for a in col) else _mean(col)  # type: ignore[arg-type]
            for col in zip(*curves)]


def versus_peer(results: dict[str, Any], decisions: int) -> dict[str, Any] | None:
    """spikebit's recipes against SpikingJelly's best recipe at each T (mean curves).

    ``sj_best[t-1]``: the highest SpikingJelly accuracy after t steps over its recipes;
    per spikebit recipe: the steps where it is below that (by how many points, and how
    many of the ``decisions`` = test images x seeds that is), and ``match_every_T``
    lists the recipes below it at no step
    (srp/cos compared at equal simulated steps, their pre-simulation not counted).
    """
    sj = [r["accuracy"] for r in results.values() if r["library"] == "spikingjelly"]
    if not sj:
        return None
    sj_best = [max((a or 0.0) for a in col) for col in zip(*sj)]
    per: dict[str, Any] = {}
    for name, r in results.items():
        if r["library"] != "spikebit":
            continue
        short = [{"T": t + 1, "points": round(b - (a or 0.0), 3),
                  "test_decisions": round((b - (a or 0.0)) * decisions / 100, 2)}
                 for t, (a, b) in enumerate(zip(r["accuracy"], sj_best))
                 if (a or 0.0) < b - 1e-9]
        per[name] = {"steps_below": len(short), "below": short}
    ours = [[(a or 0.0) for a in r["accuracy"]] for r in results.values()
            if r["library"] == "spikebit"]
    best = [max(col) for col in zip(*ours)]
    return {"sj_best": sj_best, "spikebit_best": best,
            "spikebit_best_at_least_sj_best_every_T": all(
                a >= b - 1e-9 for a, b in zip(best, sj_best)),
            "match_every_T": [n for n, v in per.items() if v["steps_below"] == 0],
            "recipes": per}


def aggregate(per_seed: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A network's entry: per-seed runs under ``per_seed``, rows = means over the seeds.

    Only variants measured for every seed are aggregated. ``accuracy_std`` is the
    sample standard deviation over seeds (0 for one seed); ``T_within`` is read off
    the mean curve against the mean ANN accuracy.
    """
    runs = [per_seed[k] for k in sorted(per_seed, key=int)]
    first = runs[0]
    names = [n for n in first["results"] if all(n in r["results"] for r in runs)]
    ann = _mean([r["ann_accuracy"] for r in runs])
    results = {}
    for n in names:
        rows = [r["results"][n] for r in runs]
        acc = mean_curve([row["accuracy"] for row in rows])
        std = [None if a is None else _std([row["accuracy"][t] for row in rows])
               for t, a in enumerate(acc)]
        presim = rows[0]["presim"]
        within = {str(tol): first_within(acc, ann, tol) for tol in TOLERANCES}
        results[n] = {
            "library": rows[0]["library"], "accuracy": acc, "accuracy_std": std,
            "no_output": [_mean(col) for col in zip(*(row["no_output"] for row in rows))],
            "tied": [_mean(col) for col in zip(*(row.get("tied", [0.0] * len(acc))
                                                 for row in rows))],
            "T_within": within, "presim": presim,
            "latency_within": {k: None if v is None else v + presim for k, v in within.items()},
            "T_within_per_seed": {str(tol): [row["T_within"][str(tol)] for row in rows]
                                  for tol in TOLERANCES},
            "seconds": _mean([row["seconds"] for row in rows])}
    qcfs = {k: {**v, "ann_accuracy": _mean([r["qcfs"][k]["ann_accuracy"] for r in runs
                                             if k in r["qcfs"]])}
            for k, v in first.get("qcfs", {}).items()}
    return {"dataset": first["dataset"], "train_images": first["train_images"],
            "test_images": first["test_images"], "epochs": first["epochs"],
            "seeds": [int(k) for k in sorted(per_seed, key=int)],
            "train_seconds": _mean([r["train_seconds"] for r in runs]),
            "ann_accuracy": ann,
            "ann_accuracy_std": _std([r["ann_accuracy"] for r in runs]),
            "qcfs": qcfs, "calibration_images": first["calibration_images"],
            "results": results,
            "vs_spikingjelly": versus_peer(results, first["test_images"] * len(runs)),
            "per_seed": per_seed}


def _cell(a: float | None) -> str:
    return "no output" if a is None else f"{a:.2f}"


def tables(report: dict[str, Any], steps: tuple[int, ...] = (1, 2, 3, 4, 8, 16, 32)) -> str:
    """The Markdown tables of ``docs/methods/bsnn.md`` from a report."""
    out = []
    for name, net in report["networks"].items():
        q = "; ".join(f"QCFS ANN L={v['levels']} ({v['epochs']} fine-tuning epochs) "
                      f"{v['ann_accuracy']:.2f}%" for v in net.get("qcfs", {}).values())
        seeds = net.get("seeds", [0])
        over = (f"; means over {len(seeds)} seeds (one ANN each), ANN std "
                f"{net['ann_accuracy_std']:.2f}" if len(seeds) > 1 else "")
        out.append(f"**{name}** ({net['dataset']}, {net['train_images']} train images x "
                   f"{net['epochs']} epochs, {net['test_images']} test images{over}): ANN "
                   f"{net['ann_accuracy']:.2f}%" + (f"; {q}" if q else "") + "\n")
        shown = [t for t in steps if t <= report["T_max"]]
        out.append("| method | library | presim | " + " | ".join(f"T={t}" for t in shown)
                   + " | first T within 0.5 | within 0.1 |")
        out.append("|" + "---|" * (len(shown) + 5))
        for vname, r in net["results"].items():
            within = [r["T_within"][k] for k in ("0.5", "0.1")]
            out.append(f"| {vname} | {r['library']} | {r.get('presim', 0)} | "
                       + " | ".join(_cell(r["accuracy"][t - 1]) for t in shown) + " | "
                       + " | ".join(f"> {report['T_max']}" if w is None else str(w)
                                    for w in within) + " |")
        out.append("")
    return "\n".join(out)
