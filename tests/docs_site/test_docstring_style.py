"""Every docstring of the package parses as Google style, as the API pages render it.

``mkdocs build --strict`` checks only the modules the API pages include; this test
parses all of them (griffe, the parser mkdocstrings uses) and fails on

* a parser warning (an ``Args:`` entry that names no parameter of the signature, a
  missing type, a malformed ``name: description`` pair), and
* a ``Returns:`` section that renders as several items (continuation lines of the
  description must be indented) or whose first word was read as a name, swallowing a
  cross-reference role (``A :class:`X``` renders as "A" + "class:`X`").

Objects that still have such a docstring are listed in ``KNOWN``; the list may only
shrink.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

griffe = pytest.importorskip("griffe")

SRC = Path(__file__).resolve().parents[2] / "src"
ROLES = ("class:", "func:", "meth:", "mod:", "attr:", "data:", "exc:", "obj:")

KNOWN = {
    "spikebit.conversion.recipes.ConversionBudget",
    "spikebit.export.adapters.exact_weight",
    "spikebit.export.adapters.read_dynamics",
    "spikebit.neurons.lif.LIF",
    "spikebit.quant.layers.QLinear",
    "spikebit.quant.quantizers.WeightQuantizer.forward",
    "spikebit.quant.quantizers.WeightQuantizer.levels",
}


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _objects(obj):
    yield obj
    for member in obj.members.values():
        if not member.is_alias:
            yield from _objects(member)


def _problems() -> dict[str, list[str]]:
    package = griffe.load("spikebit", search_paths=[str(SRC)], resolve_aliases=False,
                          allow_inspection=False)
    handler = _Collect()
    logger = logging.getLogger("griffe")
    logger.addHandler(handler)
    out: dict[str, list[str]] = {}
    try:
        for obj in _objects(package):
            if obj.docstring is None:
                continue
            handler.messages.clear()
            sections = obj.docstring.parse("google", warn_unknown_params=True)
            found = list(handler.messages)
            for section in sections:
                if section.kind.value != "returns":
                    continue
                items = section.value
                if len(items) > 1:
                    found.append(f"Returns renders as {len(items)} items (indent continuation "
                                 "lines)")
                for item in items:
                    if item.name and item.description.startswith(ROLES):
                        found.append(f"Returns: {item.name!r} read as a name before a role")
            if found:
                out[obj.path] = found
    finally:
        logger.removeHandler(handler)
    return out


def test_docstrings_parse_as_google_style():
    problems = _problems()
    new = {path: msgs for path, msgs in problems.items() if path not in KNOWN}
    fixed = sorted(KNOWN - set(problems))
    assert not new, "fix these docstrings (Google style):\n" + "\n".join(
        f"{path}: {'; '.join(msgs)}" for path, msgs in sorted(new.items()))
    assert not fixed, "these parse cleanly now: remove them from KNOWN:\n" + "\n".join(fixed)
