"""docs/extending.md's Python blocks run, in order, as one script (its worked example)."""

import re
from pathlib import Path

from spikebit import registry

DOC = Path(__file__).parents[2] / "docs" / "extending.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_extending_doc_examples_run(tmp_path, monkeypatch):
    blocks = python_blocks(DOC.read_text())
    assert len(blocks) == 3  # neuron, quantizer, method
    before = {id(r): set(r._items) for r in registry._registries}
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "extending_doc"}
    try:
        for block in blocks:
            exec(compile(block, str(DOC), "exec"), namespace)  # noqa: S102
    finally:
        for r in registry._registries:  # leave the registries as they were
            for name in set(r._items) - before.get(id(r), set()):
                r.remove(name)
        from spikebit.models.zoo import MODEL_INFO, MODELS

        for name in set(MODEL_INFO) - set(MODELS._items):
            del MODEL_INFO[name]
    assert (tmp_path / "runs" / "tiny" / "last.safetensors").is_file()
