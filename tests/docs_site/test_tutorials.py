"""Every Python block of every tutorial runs, in page order, in a fresh namespace per page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
TUTORIALS = sorted((DOCS / "tutorials").glob("*.md"))
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def python_blocks(page: Path) -> list[str]:
    """The ```python blocks of a Markdown page, in order."""
    return BLOCK.findall(page.read_text())


def test_there_are_tutorials_with_code():
    assert len(TUTORIALS) >= 3
    assert all(python_blocks(p) for p in TUTORIALS)


@pytest.mark.parametrize("page", TUTORIALS, ids=lambda p: p.stem)
def test_tutorial_runs(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)  # files a tutorial writes land in a temporary folder
    namespace: dict[str, object] = {"__name__": f"tutorial_{page.stem}"}
    for i, block in enumerate(python_blocks(page)):
        code = compile(block, f"{page.name}[block {i + 1}]", "exec")
        exec(code, namespace)  # noqa: S102 - the tutorial's own code
