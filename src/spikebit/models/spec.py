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

Size limits (a clear :class:`SpecError` instead of an out-of-memory crash):
at most ``MAX_CHANNELS`` (65536) channels or units per layer, kernels and pooling
windows up to ``MAX_KERNEL`` (255), ``MAX_LAYERS`` (1024) tokens, and at most
``MAX_WEIGHTS`` (2**28, 1 GiB of fp32) weights in the whole network.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from spikebit.errors import SpecError

LayerKind = Literal["conv", "avgpool", "maxpool", "fc", "gap"]
MAX_CHANNELS = 65536
MAX_KERNEL = 255
MAX_LAYERS = 1024
MAX_WEIGHTS = 2**28

_PATTERNS: list[tuple[re.Pattern[str], LayerKind]] = [
    (re.compile(r"^(\d+)C(\d+)$", re.ASCII), "conv"),
    (re.compile(r"^AP(\d+)$", re.ASCII), "avgpool"),
    (re.compile(r"^M?P(\d+)$", re.ASCII), "maxpool"),
    (re.compile(r"^(\d+)$", re.ASCII), "fc"),
    (re.compile(r"^GAP$", re.ASCII), "gap"),
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
            # more than 9 digits is beyond every limit (and int() refuses > 4300 digits)
            return kind, [int(g) if len(g) <= 9 else 10**9 for g in m.groups()]
    return None


def parse_spec(spec: str) -> list[LayerSpec]:
    """Parse a spec string into layer specs; raises :class:`SpecError` at the bad token.

    Args:
        spec: layer notation such as ``"16C3-16C3-AP2-64C3-GAP"`` (tokens in the module
            docstring; case-insensitive).

    Returns:
        One parsed layer (:class:`LayerSpec`) per token, in order.

    Raises:
        SpecError: an empty spec, an unknown or empty token, a zero size, a size past the
            limits (``MAX_CHANNELS``, ``MAX_KERNEL``, ``MAX_LAYERS``), ``GAP`` not last,
            or a spatial layer after a fully connected one.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise SpecError("empty model spec: give layers like '16C3-AP2-64C3-GAP'")
    spec = spec.strip()
    tokens = [t.strip() for t in spec.split("-")]
    if len(tokens) > MAX_LAYERS:
        raise SpecError(f"model spec has {len(tokens)} tokens; at most {MAX_LAYERS} are supported")
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
        if kind in ("conv", "fc") and nums[0] > MAX_CHANNELS:
            raise _error(spec, tokens, i, f"at most {MAX_CHANNELS} channels/units per layer")
        if kind != "fc" and any(n > MAX_KERNEL for n in nums[-1:]):
            raise _error(spec, tokens, i, f"kernels and windows are at most {MAX_KERNEL}")
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


class WeightBudget:
    """Counts a network's weights as it is built; :class:`SpecError` past ``limit``.

    Args:
        spec: the spec string (for the message).
        limit: the most weights allowed in the whole network (default ``MAX_WEIGHTS``,
            2**28: 1 GiB of fp32).
    """

    def __init__(self, spec: str, limit: int = MAX_WEIGHTS) -> None:
        self.spec, self.limit, self.total = spec, limit, 0

    def add(self, count: int, token: str) -> None:
        """Add ``count`` weights of layer ``token``; raises :class:`SpecError` past the limit.

        Args:
            count: weights of the layer (e.g. ``c_in * c_out * k * k``).
            token: the layer's spec token (for the message).

        Raises:
            SpecError: the running total exceeds ``limit``.
        """
        self.total += count
        if self.total > self.limit:
            raise SpecError(
                f"model spec {self.spec!r} needs more than {self.limit:,} weights by layer "
                f"{token!r} ({self.total:,}); use fewer channels or a smaller input"
            )
