"""Lower a trained spikebit model to a :class:`LoweredGraph` of exact primitives.

One lowering, several writers (NIR, ONNX, packed): :func:`lower` walks the model
once, resolves quantizers to their exact effective weights, reads every neuron's
dynamics through :func:`~spikebit.export.adapters.read_dynamics` and checks each
primitive against the writer's :class:`Target` — the only place where a layer is
refused (:class:`~spikebit.errors.ExportError` naming its path and the reason) or,
when the caller opts in with ``approximate``, replaced by a stated approximation
that is recorded in ``graph.approximations`` and warned about.

:func:`fold_batchnorm` folds every BatchNorm into the preceding conv/linear
(``w' = w * g / sqrt(var + eps)``, ``b' = (b - mean) * g / sqrt(var + eps) + beta``,
computed in float64 and rounded once to float32) for formats without BatchNorm.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn

from spikebit.errors import ExportError
from spikebit.export.adapters import exact_weight, read_dynamics
from spikebit.export.graph import (
    BatchNorm,
    Conv2d,
    Flatten,
    Gate,
    GlobalAvgPool,
    Linear,
    LoweredGraph,
    Neuron,
    NeuronDynamics,
    Pool2d,
    Primitive,
    Residual,
)

APPROXIMATIONS = {
    "soft-reset": "reset by subtraction written as a hard reset to 0",
    "multi-threshold": "graded (multi-threshold) spikes written as binary spikes H(h - V) "
                       "with a hard reset",
    "time-mixing": "MFP's learned T x T time mixing written as a LIF (leak = its init tau, "
                   "hard reset)",
    "agmm": "AGMM gate sigmoid(alpha_t M[t]) dropped (gate = 1)",
}
"""Approximations a caller may allow by name (``approximate=[...]`` or ``"all"``)."""


@dataclass(frozen=True)
class Target:
    """What a format can express exactly; anything else is refused or approximated.

    Fields: ``name`` (for messages), ``resets`` allowed, ``graded`` spikes,
    ``time_mixing``, ``gate`` (AGMM), ``maxpool``, ``per_channel_threshold``,
    ``residual`` (blocks adding a shortcut).
    """

    name: str
    resets: frozenset[str] = frozenset({"hard", "soft", "none"})
    graded: bool = True
    time_mixing: bool = True
    gate: bool = True
    maxpool: bool = True
    per_channel_threshold: bool = True
    residual: bool = True


ONNX_TARGET = Target("onnx")
NIR_TARGET = Target("nir", resets=frozenset({"hard"}), graded=False, time_mixing=False,
                    gate=False, maxpool=False, per_channel_threshold=False, residual=False)
ANY_TARGET = Target("lowered")


def _pair(v: int | tuple[int, ...]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[-1]))


class _Lowering:
    def __init__(self, target: Target, approximate: set[str]) -> None:
        self.target = target
        self.approximate = approximate
        self.nodes: list[Primitive] = []
        self.approximations: list[str] = []
        self.steps = 1

    def refuse_or_approximate(self, path: str, what: str, key: str) -> None:
        """Refuse ``what`` at ``path`` unless approximation ``key`` is allowed."""
        if key not in self.approximate:
            raise ExportError(
                f"layer {path!r}: {what} cannot be written exactly to {self.target.name}. "
                f"Pass approximate=['{key}'] (CLI: --approximate {key}) to write it as an "
                f"approximation ({APPROXIMATIONS[key]}), or export to a format that "
                "supports it (ONNX)."
            )
        self.approximations.append(f"{path}: {APPROXIMATIONS[key]}")

    def walk(self, module: nn.Module, path: str) -> None:
        from spikebit.layers import GlobalAvgPool as SbGlobalAvgPool
        from spikebit.layers import TimeDistributed
        from spikebit.models.blocks import BLOCKS

        if isinstance(module, TimeDistributed):
            self.walk(module.module, f"{path}.module" if path else "module")
            return
        if isinstance(module, nn.Sequential):
            for name, child in module.named_children():
                self.walk(child, f"{path}.{name}" if path else name)
            return
        if isinstance(module, (nn.Identity, nn.Dropout)):
            return
        if type(module).__name__ == "DoubleSkipBlock":
            self.double_skip(module, path)
            return
        dyn = read_dynamics(module)
        if dyn is not None:
            self.neuron(dyn, path)
        elif isinstance(module, nn.Conv2d):
            self.conv(module, path)
        elif isinstance(module, nn.Linear):
            w, q = exact_weight(module)
            self.nodes.append(Linear(path, w, _tensor(module.bias), q))
        elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
            self.batchnorm(module, path)
        elif isinstance(module, (nn.AvgPool2d, nn.MaxPool2d)):
            self.pool(module, path)
        elif isinstance(module, SbGlobalAvgPool):
            self.nodes.append(GlobalAvgPool(path))
        elif isinstance(module, nn.Flatten):
            if module.start_dim != 1 or module.end_dim != -1:
                raise ExportError(f"layer {path!r}: only Flatten(1, -1) is supported, got "
                                  f"start_dim={module.start_dim}, end_dim={module.end_dim}")
            self.nodes.append(Flatten(path))
        elif "agmm" in BLOCKS and isinstance(module, BLOCKS.get("agmm")):
            self.gate(module, path)
        else:
            raise ExportError(
                f"layer {path!r} ({type(module).__name__}) has no export primitive: supported "
                "are conv/linear (quantized or not), BatchNorm, avg/max pooling, global average "
                "pooling, flatten, spiking neurons, the AGMM gate and the AGMM ResNets' "
                "double-skip blocks (ANN activations such as ReLU are not)."
            )

    def chain(self, module: nn.Module, path: str) -> list[Primitive]:
        """Lower ``module`` into a separate list (a residual block's branch)."""
        outer, self.nodes = self.nodes, []
        try:
            self.walk(module, path)
            return self.nodes
        finally:
            self.nodes = outer

    def double_skip(self, block: nn.Module, path: str) -> None:
        """``s1 = N1(unit1(s) + shortcut1(s))``, ``s2 = N2(unit2(s1) + s1)`` (AGMM ResNets)."""
        if not self.target.residual:
            raise ExportError(f"layer {path!r}: residual blocks (shortcut additions) are not "
                              f"written to {self.target.name} yet; export to ONNX")
        self.nodes.append(Residual(f"{path}.unit1", self.chain(block.unit1, f"{path}.unit1"),
                                   self.chain(block.shortcut1, f"{path}.shortcut1")))
        self.walk(block.neuron1, f"{path}.neuron1")
        self.nodes.append(Residual(f"{path}.unit2", self.chain(block.unit2, f"{path}.unit2"),
                                   []))
        self.walk(block.neuron2, f"{path}.neuron2")

    def conv(self, m: nn.Conv2d, path: str) -> None:
        if m.padding_mode != "zeros" or isinstance(m.padding, str):
            raise ExportError(f"layer {path!r}: only explicit zero padding is supported, got "
                              f"padding={m.padding!r}, padding_mode={m.padding_mode!r}")
        w, q = exact_weight(m)
        self.nodes.append(Conv2d(path, w, _tensor(m.bias), _pair(m.stride), _pair(m.padding),
                                 _pair(m.dilation), int(m.groups), q))

    def batchnorm(self, m: nn.modules.batchnorm._BatchNorm, path: str) -> None:
        if m.running_mean is None or m.running_var is None:
            raise ExportError(f"layer {path!r}: BatchNorm without running statistics "
                              "(track_running_stats=False) has no fixed inference form")
        mean, var = _tensor(m.running_mean), _tensor(m.running_var)
        weight = _tensor(m.weight) if m.affine else torch.ones_like(mean)
        bias = _tensor(m.bias) if m.affine else torch.zeros_like(mean)
        self.nodes.append(BatchNorm(path, mean, var, weight, bias, float(m.eps)))

    def pool(self, m: nn.AvgPool2d | nn.MaxPool2d, path: str) -> None:
        kind = "avg" if isinstance(m, nn.AvgPool2d) else "max"
        if kind == "max" and not self.target.maxpool:
            raise ExportError(f"layer {path!r}: max pooling has no {self.target.name} "
                              "primitive (use average pooling, AP<k>, in the model spec)")
        if kind == "avg" and not m.count_include_pad:
            raise ExportError(f"layer {path!r}: AvgPool2d(count_include_pad=False) unsupported")
        if kind == "avg" and m.divisor_override not in (None, 1):
            raise ExportError(f"layer {path!r}: AvgPool2d(divisor_override="
                              f"{m.divisor_override}) unsupported (1, a sum pool, is)")
        if kind == "avg" and m.divisor_override == 1:
            kind = "sum"
        if kind == "max" and _pair(m.dilation) != (1, 1):
            raise ExportError(f"layer {path!r}: dilated max pooling unsupported")
        kernel = _pair(m.kernel_size)
        stride = _pair(m.stride) if m.stride else kernel
        self.nodes.append(Pool2d(path, kind, kernel, stride, _pair(m.padding),
                                 bool(m.ceil_mode)))

    def gate(self, m: nn.Module, path: str) -> None:
        if not self.target.gate:
            self.refuse_or_approximate(path, "the AGMM gate", "agmm")
            return
        mean = getattr(m, "mean", "sample")
        if mean != "sample":
            raise ExportError(f"layer {path!r}: the AGMM gate with mean={mean!r} has no export "
                              "primitive (only the per-sample mean, mean='sample'); export a "
                              "model trained with mean='sample'")
        window = "step" if m.per_step else ("cumulative" if m.causal else "all")
        self.nodes.append(Gate(path, _tensor(m.alpha), window))

    def neuron(self, dyn: NeuronDynamics, path: str) -> None:
        t = self.target
        mixing = None
        if dyn.time_mixing:
            if t.time_mixing:
                mixing = dyn.mixing
                if mixing is None:
                    raise ExportError(f"layer {path!r}: time-mixing neuron without a matrix")
            else:
                self.refuse_or_approximate(path, f"{dyn.kind} time mixing (T x T)", "time-mixing")
                leak = float(dyn.mixing[1, 0] / dyn.mixing[0, 0]) \
                    if dyn.mixing is not None and dyn.mixing.shape[0] > 1 \
                    and float(dyn.mixing[0, 0]) != 0 else 0.0
                dyn = dataclasses.replace(dyn, time_mixing=False, needs_steps=False, steps=None,
                                          mixing=None, reset="hard", leak=min(max(leak, 0.0), 1.0))
        if dyn.max_spikes > 1 and not t.graded:
            self.refuse_or_approximate(path, f"multi-threshold spikes (max_spikes="
                                       f"{dyn.max_spikes})", "multi-threshold")
            dyn = dataclasses.replace(dyn, max_spikes=1, reset="hard")
        if dyn.reset not in t.resets:
            self.refuse_or_approximate(path, f"reset {dyn.reset!r} (by subtraction)"
                                       if dyn.reset == "soft" else f"reset {dyn.reset!r}",
                                       "soft-reset")
            dyn = dataclasses.replace(dyn, reset="hard")
        per_value = isinstance(dyn.threshold, torch.Tensor) or isinstance(dyn.leak, torch.Tensor)
        if per_value and not t.per_channel_threshold:
            raise ExportError(f"layer {path!r}: per-channel or per-step threshold/leak cannot "
                              f"be written to {t.name} (its importers take one value per layer)")
        self.nodes.append(Neuron(path, dyn, mixing))


def _tensor(t: torch.Tensor | None) -> torch.Tensor | None:
    return None if t is None else t.detach().float().cpu().clone()


def _approximations(approximate: bool | str | Iterable[str] | None) -> set[str]:
    if approximate is None or approximate is False:
        return set()
    if approximate is True or approximate == "all":
        return set(APPROXIMATIONS)
    names = {approximate} if isinstance(approximate, str) else set(approximate)
    if "all" in names:
        return set(APPROXIMATIONS)
    unknown = names - set(APPROXIMATIONS)
    if unknown:
        raise ExportError(f"unknown approximation(s) {sorted(unknown)}; known: "
                          f"{', '.join(sorted(APPROXIMATIONS))} or 'all'")
    return names


def unwrap(model: nn.Module) -> tuple[nn.Module, tuple[list[float], list[float]] | None]:
    """Strip an input-normalization wrapper: ``(inner model, (mean, std) or None)``."""
    mean, std = getattr(model, "mean", None), getattr(model, "std", None)
    inner = getattr(model, "model", None)
    if isinstance(inner, nn.Module) and isinstance(mean, torch.Tensor) \
            and isinstance(std, torch.Tensor):
        return inner, (mean.flatten().tolist(), std.flatten().tolist())
    return model, None


def lower(
    model: nn.Module,
    target: Target = ANY_TARGET,
    approximate: bool | str | Iterable[str] | None = None,
) -> LoweredGraph:
    """Lower a trained :class:`~spikebit.models.SpikingNet` (or zoo model) for ``target``.

    The model is read, not changed (eval-mode statistics are used). Returns a
    :class:`LoweredGraph` whose shapes have been checked. Raises :class:`ExportError`
    naming the layer path for a layer ``target`` cannot express and ``approximate``
    does not allow, for an unsupported layer, or for a model without ``config``.
    """
    inner, normalization = unwrap(model)
    config = getattr(inner, "config", None)
    body = getattr(inner, "body", None)
    if config is None or not isinstance(body, nn.Module):
        raise ExportError(
            f"{type(inner).__name__} is not a spikebit SpikingNet (no config/body): export "
            "a model built by spikebit.models (zoo or spec), or a checkpoint of one"
        )
    state = _Lowering(target, _approximations(approximate))
    state.walk(body, "body")
    if state.approximations:
        warnings.warn(f"{target.name} export is approximate: " + "; ".join(state.approximations),
                      stacklevel=2)
    graph = LoweredGraph(
        in_shape=tuple(int(s) for s in config.in_shape), steps=int(config.steps),
        nodes=state.nodes, encoder=str(getattr(config, "encoder", "direct")),
        normalization=normalization, approximations=state.approximations,
        metadata={"source": type(inner).__name__},
    )
    graph.shapes()
    return graph


def fold_batchnorm(graph: LoweredGraph) -> LoweredGraph:
    """A copy of ``graph`` with every BatchNorm folded into the conv/linear before it
    (also inside residual branches).

    Raises:
        ExportError: a BatchNorm that does not follow a conv or linear layer.
    """
    return dataclasses.replace(graph, nodes=_fold(graph.nodes))


def _fold(chain: list[Primitive]) -> list[Primitive]:
    nodes: list[Primitive] = []
    for i, node in enumerate(chain):
        if isinstance(node, Residual):
            nodes.append(dataclasses.replace(node, body=_fold(node.body),
                                             shortcut=_fold(node.shortcut)))
            continue
        if not isinstance(node, BatchNorm):
            nodes.append(node)
            continue
        prev = nodes[-1] if nodes else None
        if not isinstance(prev, (Conv2d, Linear)):
            raise ExportError(f"BatchNorm {node.path or f'#{i}'!r} does not follow a conv or "
                              "linear layer, so it cannot be folded into weights")
        scale = node.weight.double() / torch.sqrt(node.var.double() + node.eps)
        w = prev.weight.double() * scale.view(-1, *([1] * (prev.weight.ndim - 1)))
        b = prev.bias.double() if prev.bias is not None else torch.zeros_like(scale)
        bias = (b - node.mean.double()) * scale + node.bias.double()
        nodes[-1] = dataclasses.replace(prev, weight=w.float(), bias=bias.float(), quant=None,
                                        path=f"{prev.path}+{node.path}")
    return nodes
