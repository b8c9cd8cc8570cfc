"""Lower a (BN-folded) ANN to conversion graph nodes (see :mod:`graph`).

Convertible models compose their children in registration order (true for
``nn.Sequential`` and the zoo). Leaves are dispatched on their type through
:data:`LOWERINGS`: affine ops (conv, linear, average pools, flatten, BN,
dropout/identity) accumulate into a :class:`Chain`; ``ReLU`` closes it into a
:class:`Neuron`; ``MaxPool2d`` becomes a :class:`MaxGate`; a zoo
:class:`BasicBlock` becomes a :class:`Residual`; the trailing chain is the
:class:`Readout`. :func:`check_lowering` verifies the graph reproduces the ANN.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import Tensor, nn

from spikebit.conversion.errors import ConversionError
from spikebit.conversion.graph import (
    Chain,
    ChannelScale,
    MaxGate,
    Neuron,
    Node,
    Readout,
    Residual,
    run_analog,
)
from spikebit.conversion.resnet import BasicBlock

Lowering = Callable[["_Builder", nn.Module], None]
LOWERINGS: dict[type[nn.Module], Lowering] = {}
STRIP: dict[type[nn.Module], Callable[[nn.Module], nn.Module]] = {}


def _add_affine(b: _Builder, module: nn.Module) -> None:
    b.pending.append(module)


def lowers(*types: type[nn.Module]) -> Callable[[Lowering], Lowering]:
    """Register a lowering function ``fn(builder, module)`` for module ``types``.

    Args:
        *types: the module classes it lowers (subclasses included, by MRO).

    Returns:
        A decorator that registers ``fn`` and returns it unchanged.
    """

    def add(fn: Lowering) -> Lowering:
        for t in types:
            LOWERINGS[t] = fn
        return fn

    return add


def affine(*types: type[nn.Module]) -> Callable[[Callable], Callable]:
    """Register ``types`` as affine ops; ``fn(module)`` returns its bias-free copy.

    Args:
        *types: the module classes (e.g. ``nn.Conv2d``) merged into the chain between two
            spiking layers.

    Returns:
        A decorator that registers ``fn`` and returns it unchanged.
    """

    def add(fn: Callable[[nn.Module], nn.Module]) -> Callable[[nn.Module], nn.Module]:
        for t in types:
            STRIP[t] = fn
            LOWERINGS[t] = _add_affine
        return fn

    return add


@affine(nn.Conv1d, nn.Conv2d, nn.Linear)
def _strip_weighted(m: nn.Module) -> nn.Module:
    m = copy.deepcopy(m)
    m.bias = None
    return m


@affine(nn.BatchNorm1d, nn.BatchNorm2d)
def _strip_bn(m: nn.Module) -> nn.Module:
    gamma = m.weight if m.affine else torch.ones_like(m.running_var)
    return ChannelScale(gamma / torch.sqrt(m.running_var + m.eps))


@affine(nn.AvgPool1d, nn.AvgPool2d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.Flatten,
        nn.Identity, nn.modules.dropout._DropoutNd)
def _keep(m: nn.Module) -> nn.Module:
    dropout = isinstance(m, nn.modules.dropout._DropoutNd)
    return nn.Identity() if dropout else copy.deepcopy(m)


def lower(model: nn.Module, example: Tensor) -> list[Node]:
    """Graph nodes of ``model``, ending in a ``Readout`` named ``"readout"``.

    Args:
        model: the ANN in eval mode with BN folded (:func:`fold_batchnorm`), applying its
            children in registration order.
        example: an input batch ``[B, C, H, W]``; its first sample fixes the shapes.

    Returns:
        The nodes, input to output.
    """
    builder = _Builder("", example[:1])
    with torch.no_grad():
        builder.visit(model)
        builder.nodes.append(Readout("readout", builder.close()))
    return builder.nodes


def check_lowering(nodes: list[Node], model: nn.Module, x: Tensor, rtol: float = 1e-4) -> None:
    """Raise if the graph's ANN forward differs from ``model(x)``.

    Args:
        nodes: the lowered graph nodes.
        model: the (BN-folded) ANN they were lowered from.
        x: a batch of inputs ``[B, C, H, W]``.
        rtol: tolerance relative to ``1 + max |model(x)|``.

    Raises:
        ConversionError: the outputs differ in shape or by more than the tolerance.
    """
    with torch.no_grad():
        ref, got = model(x), run_analog(nodes, x)
    if ref.shape != got.shape or (ref - got).abs().max() > rtol * (1.0 + ref.abs().max()):
        raise ConversionError(
            "the lowered network does not reproduce the ANN output; convertible models "
            "must apply their children in registration order (like nn.Sequential) and "
            "use ReLU modules, not functional activations"
        )


class _Builder:
    """Walks modules, tracking pending affine ops and an example activation."""

    def __init__(self, prefix: str, example: Tensor) -> None:
        self.prefix = prefix
        self.x = example
        self.pending: list[nn.Module] = []
        self.nodes: list[Node] = []
        self.path = ""

    def name(self) -> str:
        return f"{self.prefix}{len(self.nodes)}"

    def visit(self, module: nn.Module, path: str = "") -> None:
        self.path = path
        for cls in type(module).__mro__:
            if cls in LOWERINGS:
                LOWERINGS[cls](self, module)
                return
        children = list(module.named_children())
        if not children:
            known = sorted(t.__name__ for t in LOWERINGS)
            raise ConversionError(
                f"cannot convert layer {path or '<root>'!r} ({type(module).__name__}); "
                f"supported layers: {', '.join(known)} and containers of them"
            )
        self.visit_children(module, path)

    def visit_children(self, module: nn.Module, path: str) -> None:
        for name, child in module.named_children():
            self.visit(child, f"{path}.{name}" if path else name)

    def close(self) -> Chain:
        """Turn the pending affine ops into a Chain and advance the example."""
        biased = nn.Sequential(*self.pending)
        ops = nn.Sequential(*[STRIP[_affine_type(m)](m) for m in self.pending])
        bias = biased(torch.zeros_like(self.x))
        self.x = biased(self.x)
        self.pending = []
        return Chain(ops, bias)

    def require_spikes(self, what: str) -> None:
        if self.pending:
            raise ConversionError(
                f"layer {self.path or '<root>'!r}: {what} must directly follow a ReLU (it acts "
                "on spikes); found it after "
                f"{[type(m).__name__ for m in self.pending]}"
            )


def _affine_type(m: nn.Module) -> type[nn.Module]:
    return next(cls for cls in type(m).__mro__ if cls in STRIP)


@lowers(nn.Sequential)
def _lower_sequential(b: _Builder, module: nn.Module) -> None:
    b.visit_children(module, b.path)


@lowers(nn.ReLU)
def _lower_relu(b: _Builder, module: nn.Module) -> None:
    name = b.name()
    chain = b.close()
    b.x = torch.relu(b.x)
    b.nodes.append(Neuron(name, chain))


@lowers(nn.MaxPool2d)
def _lower_maxpool(b: _Builder, module: nn.Module) -> None:
    b.require_spikes("MaxPool2d")
    node = MaxGate(b.name(), module)
    b.x = node.analog(b.x)
    b.nodes.append(node)


@lowers(BasicBlock)
def _lower_block(b: _Builder, block: nn.Module) -> None:
    b.require_spikes("a residual block")
    name, path = b.name(), b.path
    body = _Builder(f"{name}.body.", b.x)
    for attr in ("conv1", "bn1", "relu1"):
        body.visit(getattr(block, attr), f"{path}.{attr}")
    body.require_spikes("the end of a residual body")
    for attr in ("conv2", "bn2"):
        body.visit(getattr(block, attr), f"{path}.{attr}")
    tail = body.close()
    short = _Builder(f"{name}.shortcut.", b.x)
    short.visit(block.shortcut, f"{path}.shortcut")
    if short.nodes:
        raise ConversionError(f"layer {path!r}: the residual shortcut must be affine "
                              "(no ReLU/max-pool)")
    shortcut = short.close()
    act = copy.deepcopy(block.relu2)
    b.x = act(body.x + short.x)
    b.nodes.append(Residual(name, body.nodes, tail, shortcut, act=act))
