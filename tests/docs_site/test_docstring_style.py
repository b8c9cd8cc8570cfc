"""Every docstring of the package parses as Google style, as the API pages render it.

``mkdocs build --strict`` checks only the modules the API pages include; this test
parses all of them with griffe (the parser mkdocstrings uses) and the docstring options
of ``mkdocs.yml``, and fails on

* a parser warning (an ``Args:`` entry that names no parameter of the signature, a
  missing type, a malformed ``name: description`` pair), and
* a ``Returns:`` section that renders as several items (continuation lines read as new
  values) or whose first word was read as a name, swallowing a cross-reference role
  (``A :class:`X``` renders as "A" + "class:`X`").

Objects that still have such a docstring are listed in ``KNOWN``; the list may only
shrink.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

griffe = pytest.importorskip("griffe")
yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
ROLES = ("class:", "func:", "meth:", "mod:", "attr:", "data:", "exc:", "obj:")

KNOWN: set[str] = set()


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


def _site_options() -> dict:
    """The ``docstring_options`` the API pages are rendered with (``mkdocs.yml``)."""
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    for plugin in config.get("plugins", []):
        if isinstance(plugin, dict) and "mkdocstrings" in plugin:
            python = plugin["mkdocstrings"]["handlers"]["python"]
            return dict(python.get("options", {}).get("docstring_options", {}))
    return {}


def _problems() -> dict[str, list[str]]:
    options = _site_options()
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
            sections = obj.docstring.parse("google", **{"warn_unknown_params": True, **options})
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
