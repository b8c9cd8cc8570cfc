"""Print the Markdown tables of ``docs/methods/mfp.md`` (training speed) from
``results/mfp_speed.json`` (written by ``benchmarks/mfp_speed.py``; not a benchmark).

Run: ``python benchmarks/mfp_tables.py [results/mfp_speed.json]``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ENGINES = ("mfp-eager", "mfp-native", "mfp-compiled", "lif-eager", "lif-compiled",
           "lif-loop", "psn")
HEADERS = ("MFP eager", "MFP native (fused)", "MFP compiled", "LIF eager", "LIF compiled",
           "LIF loop", "PSN (SpikingJelly)")
RATIOS = (("mfp-eager", "lif-eager"), ("mfp-eager", "lif-compiled"),
          ("mfp-native", "lif-eager"), ("mfp-native", "lif-compiled"))


def _layer(size: str, shape: list[int]) -> str:
    kind = "FC" if size.startswith("fc") else "conv"
    return f"{kind} `[{', '.join(map(str, shape))}]`"


def _rows(result: dict[str, Any]):
    for size, sec in result["neuron_layer"].items():
        for t, r in sec.items():
            if t.isdigit():
                yield size, int(t), r


def times_table(result: dict[str, Any]) -> str:
    """Neuron layer forward + backward, median milliseconds per engine, and the fused
    kernel against the compiled LIF (ratio of the medians / paired ratio).

    Args:
        result: the parsed ``results/mfp_speed.json``.

    Returns:
        The Markdown table.
    """
    out = ["| layer input per step | T | " + " | ".join(HEADERS)
           + " | native vs compiled LIF (medians / paired) |",
           "|" + "---|" * (len(HEADERS) + 3)]
    for size, t, r in _rows(result):
        cells = [f"{r['engines'][e]['median_ms']:.2f}" if e in r["engines"] else "-"
                 for e in ENGINES]
        out.append(f"| {_layer(size, r['input'][1:])} | {t} | " + " | ".join(cells)
                   + f" | {r['mfp-native_vs_lif-compiled']:.2f}x / "
                   f"{r['mfp-native_vs_lif-compiled_paired']:.2f}x |")
    return "\n".join(out)


def paper_table(result: dict[str, Any]) -> str:
    """``time(serial LIF) / time(MFP)`` at the paper's T (4, 8, 10) against both serial
    baselines.

    Args:
        result: the parsed ``results/mfp_speed.json``.

    Returns:
        The Markdown table.
    """
    paper = result["paper_speedup_vs_serial"]
    names = {"mfp-eager": "MFP eager", "mfp-native": "MFP native",
             "lif-eager": "LIF eager", "lif-compiled": "LIF compiled"}
    out = ["| layer input per step | T | paper | " + " | ".join(
        f"{names[a]} vs {names[b]}" for a, b in RATIOS) + " |",
        "|" + "---|" * (len(RATIOS) + 3)]
    for size, t, r in _rows(result):
        if str(t) not in paper:
            continue
        out.append(f"| {_layer(size, r['input'][1:])} | {t} | {paper[str(t)]}x | "
                   + " | ".join(f"{r[f'{a}_vs_{b}']:.2f}x" for a, b in RATIOS) + " |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else Path(__file__).resolve().parents[1] / "results" / \
        "mfp_speed.json"
    result = json.loads(path.read_text())
    print(times_table(result) + "\n\n" + paper_table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
