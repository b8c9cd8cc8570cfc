"""Repository-wide check: tensor factories in ``src/`` say where their tensor lives.

A ``torch.zeros(...)`` without ``device=`` inside a forward, backward, quantizer,
callback or metric lands on the CPU while the tensors it meets may be on a GPU (or the
``meta`` device): "Tensor on device cpu is not on the expected device". Every call of
the factories below must pass ``device=`` (or use ``x.new_zeros`` / ``torch.zeros_like``,
which inherit it), except:

- construction time: calls inside ``__init__`` / ``reset_parameters`` whose result
  becomes a parameter or buffer (``Module.to`` moves those); a plain attribute
  ``self.x = torch.zeros(...)`` there is still flagged (``Module.to`` does not move it);
- calls passed straight to ``nn.Parameter(...)`` or ``register_buffer(...)``;
- :data:`ALLOWED`: deliberate CPU-side work (data loading, CPU random generators,
  CPU accumulators), each with its reason. An entry that no longer matches fails too.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "spikebit"

FACTORIES = {
    "eye", "arange", "zeros", "ones", "tensor", "full", "empty", "rand", "randn",
    "linspace", "logspace", "randint", "randperm",
}
CONSTRUCTION = {"__init__", "reset_parameters"}
MOVED_BY_MODULE_TO = {"Parameter", "register_buffer"}

# (path under src/spikebit, enclosing function) -> why the CPU is right there.
ALLOWED: dict[tuple[str, str], str] = {
    # data loading and batching: built on the CPU, moved to the device with each batch
    ("data/events/cache.py", "EventFrameDataset.__init__"): "labels of a CPU dataset",
    ("data/events/cache.py", "time_major_batches"): "CPU sample order (seeded CPU RNG)",
    ("data/iterator.py", "BatchIterator.order"): "CPU sample order (seeded CPU RNG)",
    ("train/loader.py", "ShardedBatchSampler.order"): "CPU sample order (seeded CPU RNG)",
    ("data/transforms.py", "Normalize.__init__"): "CPU constants, .to(x) at each call",
    ("data/transforms.py", "RandomCrop.__call__"):
        "offsets from the seeded CPU generator, .to(x.device) before indexing",
    ("data/transforms.py", "RandomHorizontalFlip.__call__"):
        "draws from the seeded CPU generator, .to(x.device) before use",
    ("train/datasets.py", "load_data"): "train/test subsets of CPU datasets",
    ("conversion/experiments.py", "run_conversion_experiments"): "CPU shuffle of CPU data",
    ("conversion/from_checkpoint.py", "conversion_data"): "CPU subset of a CPU dataset",
    ("methods/albsnn/bwo_probe.py", "bwo_bound"): "CPU subset of a CPU dataset",
    # CPU-side bookkeeping next to a device model
    ("conversion/calibrate.py", "ActivationStats.add"):
        "reservoir sampling (seeded CPU RNG) of activations already moved to the CPU",
    ("conversion/snn.py", "SpikingConverted.elapsed"):
        "float64 step weights built on the CPU, moved with .to(device) by the caller",
    ("methods/multithreshold/init.py", "mt_init_"):
        "weights drawn from a seeded CPU generator and copy_()-ed into the parameter",
}


def _qualname(stack: list[ast.AST]) -> str:
    return ".".join(n.name for n in stack if isinstance(n, ast.ClassDef | ast.FunctionDef))


def _is_factory(call: ast.Call) -> bool:
    f = call.func
    return (isinstance(f, ast.Attribute) and f.attr in FACTORIES
            and isinstance(f.value, ast.Name) and f.value.id == "torch"
            and not any(k.arg == "device" for k in call.keywords))


def _callee(call: ast.Call) -> str:
    f = call.func
    return f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")


def _violations(path: Path) -> list[tuple[str, int, str]]:
    """``(function, line, code)`` of every unplaced factory call in one file."""
    tree = ast.parse(path.read_text())
    found: list[tuple[str, int, str]] = []

    def visit(node: ast.AST, stack: list[ast.AST], moved: bool, plain_attr: bool) -> None:
        if isinstance(node, ast.Call) and _is_factory(node):
            funcs = [n.name for n in stack if isinstance(n, ast.FunctionDef)]
            construction = bool(funcs) and funcs[-1] in CONSTRUCTION
            if not moved and (plain_attr or not construction):
                found.append((_qualname(stack), node.lineno, ast.unparse(node)))
        if isinstance(node, ast.Call) and _callee(node) in MOVED_BY_MODULE_TO:
            moved = True
        if isinstance(node, ast.Assign):
            plain_attr = any(isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name)
                             and t.value.id == "self" for t in node.targets)
        inner = stack + [node] if isinstance(node, ast.ClassDef | ast.FunctionDef) else stack
        for child in ast.iter_child_nodes(node):
            visit(child, inner, moved, plain_attr)

    visit(tree, [], False, False)
    return found


def _all_violations() -> dict[tuple[str, str], list[str]]:
    out: dict[tuple[str, str], list[str]] = {}
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        for func, line, code in _violations(path):
            out.setdefault((rel, func), []).append(f"{rel}:{line}: {code}")
    return out


def test_tensor_factories_in_src_pass_device():
    found = _all_violations()
    unexplained = [line for key, lines in found.items() if key not in ALLOWED for line in lines]
    assert not unexplained, (
        "tensor created without device= (pass device=x.device, use x.new_*/torch.*_like, "
        "or add a commented ALLOWED entry for deliberate CPU-side work):\n"
        + "\n".join(unexplained)
    )


def test_allow_list_has_no_stale_entries():
    found = _all_violations()
    stale = [f"{path}::{func}" for path, func in ALLOWED if (path, func) not in found]
    assert not stale, f"ALLOWED entries that no longer match anything (remove them): {stale}"


def test_the_check_catches_the_known_kinds(tmp_path):
    """The rule itself: forward-time calls flagged, construction-time ones not."""
    src = tmp_path / "m.py"
    src.write_text(
        "import torch\n"
        "class Q(torch.nn.Module):\n"
        "    def __init__(self, k):\n"
        "        super().__init__()\n"
        "        t = torch.arange(k)\n"
        "        self.p = torch.nn.Parameter(torch.ones(k) * t)\n"
        "        self.register_buffer('b', torch.zeros(k))\n"
        "        self.bad = torch.eye(k)\n"
        "    def forward(self, w):\n"
        "        ok = torch.eye(3, device=w.device) + w.new_zeros(3, 3)\n"
        "        return ok + torch.eye(3)\n"
    )
    got = [(func, line) for func, line, _ in _violations(src)]
    assert got == [("Q.__init__", 8), ("Q.forward", 11)]
