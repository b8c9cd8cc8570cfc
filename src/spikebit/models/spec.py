"""Parser for the papers' layer notation, e.g. ``16C3-16C3-AP2-64C3-AP2-1024C3-GAP``.

Tokens (separated by ``-``):
  ``<n>C<k>``  convolution with ``n`` output channels and a ``k x k`` kernel
  ``AP<k>``    average pooling, window and stride ``k``
  ``P<k>`` / ``MP<k>``  max pooling
  ``<n>``      fully connected layer with ``n`` units
  ``GAP``      output block: convolution to the class count + global average pooling
               (must be last)
The output layer: ``GAP`` if present; else a final ``<n>`` equal to the class
count is the output layer; else an output FC layer is appended.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from spikebit.errors import SpecError

LayerKind = Literal["conv", "avgpool", "maxpool", "fc", "gap"]

_PATTERNS: list[tuple[re.Pattern[str], LayerKind]] = [
    (re.compile(r"^(\d+)C(\d+)$"), "conv"),
    (re.compile(r"^AP(\d+)$"), "avgpool"),
    (re.compile(r"^M?P(\d+)$"), "maxpool"),
    (re.compile(r"^(\d+)$"), "fc"),
    (re.compile(r"^GAP$"), "gap"),
]


@dataclass(frozen=True)
class LayerSpec:
    """One parsed token: ``kind`` with ``channels`` (conv/fc) and ``size`` (kernel/window).

    Args:
        kind: ``"conv"``, ``"avgpool"``, ``"maxpool"``, ``"fc"`` or ``"gap"``.
        channels: output channels (conv) or units (fc); 0 otherwise.
        size: kernel size (conv) or pooling window and stride; 0 otherwise.
        token: the token as written in the spec.
    """

    kind: LayerKind
    channels: int = 0
    size: int = 0
    token: str = ""


def _error(spec: str, tokens: list[str], index: int, why: str) -> SpecError:
    offset = sum(len(t) + 1 for t in tokens[:index])
    caret = " " * offset + "^" * max(1, len(tokens[index]))
    return SpecError(
        f"invalid model spec token {tokens[index]!r} (token {index + 1}): {why}\n"
        f"  {spec}\n  {caret}\n"
        "Expected tokens: <n>C<k> (conv), AP<k> (avg pool), P<k>/MP<k> (max pool), "
        "<n> (fully connected), GAP (last only), separated by '-'; "
        "e.g. '16C3-16C3-AP2-64C3-GAP'."
    )


def _match(token: str) -> tuple[LayerKind, list[int]] | None:
    for pattern, kind in _PATTERNS:
        m = pattern.match(token.upper())
        if m:
            return kind, [int(g) for g in m.groups()]
    return None


def parse_spec(spec: str) -> list[LayerSpec]:
    """Parse a spec string into layer specs; raises :class:`SpecError` at the bad token."""
    if not isinstance(spec, str) or not spec.strip():
        raise SpecError("empty model spec: give layers like '16C3-AP2-64C3-GAP'")
    spec = spec.strip()
    tokens = [t.strip() for t in spec.split("-")]
    layers: list[LayerSpec] = []
    seen_fc = False
    for i, tok in enumerate(tokens):
        if not tok:
            raise _error(spec, tokens, i, "empty token (doubled or trailing '-')")
        matched = _match(tok)
        if matched is None:
            raise _error(spec, tokens, i, "unrecognized layer")
        kind, nums = matched
        if any(n == 0 for n in nums):
            raise _error(spec, tokens, i, "sizes and channel counts must be positive")
        if kind == "gap" and i != len(tokens) - 1:
            raise _error(spec, tokens, i, "GAP is the output block and must be the last token")
        if kind in ("conv", "avgpool", "maxpool", "gap") and seen_fc:
            raise _error(spec, tokens, i, "spatial layers cannot follow a fully connected layer")
        if kind == "conv":
            layers.append(LayerSpec("conv", channels=nums[0], size=nums[1], token=tok))
        elif kind == "fc":
            seen_fc = True
            layers.append(LayerSpec("fc", channels=nums[0], token=tok))
        elif kind == "gap":
            layers.append(LayerSpec("gap", token=tok))
        else:
            layers.append(LayerSpec(kind, size=nums[0], token=tok))
    return layers


def format_spec(layers: list[LayerSpec]) -> str:
    """Inverse of :func:`parse_spec` (canonical spelling).

    Args:
        layers: parsed layers, e.g. ``parse_spec("16C3-AP2-10")``.

    Returns:
        The spec string, tokens joined by ``-`` (``16C3``, ``AP2``, ``P2``, ``GAP``, ``10``).
    """
    out = []
    for layer in layers:
        if layer.kind == "conv":
            out.append(f"{layer.channels}C{layer.size}")
        elif layer.kind == "fc":
            out.append(str(layer.channels))
        elif layer.kind == "avgpool":
            out.append(f"AP{layer.size}")
        elif layer.kind == "maxpool":
            out.append(f"P{layer.size}")
        else:
            out.append("GAP")
    return "-".join(out)
