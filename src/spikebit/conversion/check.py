"""Static check that an ANN can be lowered exactly, run before any conversion work.

:func:`check_convertible` walks the module tree the way the lowering does
(registration order, dispatch on :data:`spikebit.conversion.lower.LOWERINGS`)
and collects every module it cannot lower exactly, each with its path
(``named_modules`` spelling, ``<root>`` for the model itself) and the reason:

* layers with a known reason (:data:`REJECTED`): recurrent and attention layers,
  per-sample normalizations, non-ReLU activations, unsupported pooling;
* BatchNorm without running statistics, MaxPool2d returning indices;
* leaves with no lowering at all;
* containers whose ``forward`` does more than apply their children in
  registration order: functional calls, in-place tensor ops, reuse or reordering
  of children. These are found by symbolic tracing (``torch.fx``) with every
  lowerable module as a leaf.

All problems are reported together in one :class:`ConversionError`.
"""

from __future__ import annotations

from torch import fx, nn
from torch.nn.modules.batchnorm import _BatchNorm

from spikebit.conversion.errors import ConversionError

_RELU_ONLY = ("only ReLU maps onto the firing rate of an integrate-and-fire neuron; "
              "retrain the ANN with nn.ReLU")
_POOL = ("this pooling has no exact spiking form; supported: MaxPool2d on spikes, "
         "AvgPool1d/2d, AdaptiveAvgPool1d/2d")

# (types, reason) in lookup order; the first match wins.
REJECTED: list[tuple[tuple[type[nn.Module], ...], str]] = [
    ((nn.RNNBase, nn.RNNCellBase),
     "recurrent layers carry a hidden state across the input sequence; conversion maps a "
     "feed-forward ReLU network (convert a recurrent model with a dedicated method)"),
    ((nn.MultiheadAttention, nn.Transformer, nn.TransformerEncoder, nn.TransformerDecoder,
      nn.TransformerEncoderLayer, nn.TransformerDecoderLayer),
     "attention multiplies two activations (softmax(Q K^T) V), which rate-coded IF neurons "
     "cannot compute exactly"),
    ((nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm, nn.modules.instancenorm._InstanceNorm),
     "normalizes with statistics of each sample, not a fixed affine map; use BatchNorm "
     "(folded into the preceding conv/linear)"),
    ((nn.Softmax, nn.LogSoftmax, nn.Softmin),
     "a softmax on the output is not an IF neuron; remove it (the readout gives logits, "
     "argmax is unchanged)"),
    ((nn.Sigmoid, nn.Tanh, nn.GELU, nn.SiLU, nn.ELU, nn.SELU, nn.CELU, nn.LeakyReLU,
      nn.PReLU, nn.RReLU, nn.Hardtanh, nn.Hardsigmoid, nn.Hardswish, nn.Softplus, nn.Mish,
      nn.Softsign, nn.Tanhshrink, nn.Softshrink, nn.Hardshrink, nn.Threshold,
      nn.LogSigmoid, nn.GLU),
     _RELU_ONLY),
    ((nn.MaxPool1d, nn.MaxPool3d, nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d,
      nn.AdaptiveMaxPool3d, nn.LPPool1d, nn.LPPool2d, nn.FractionalMaxPool2d,
      nn.FractionalMaxPool3d, nn.MaxUnpool1d, nn.MaxUnpool2d, nn.MaxUnpool3d), _POOL),
    ((nn.ModuleList, nn.ModuleDict),
     "a ModuleList/ModuleDict has no forward order; wrap the layers in nn.Sequential"),
]


def rejection(module: nn.Module) -> str | None:
    """Why ``module`` (as a whole) cannot be lowered exactly, or None.

    Args:
        module: one module of the ANN.

    Returns:
        The reason with its fix, or None when the module is accepted.
    """
    for types, reason in REJECTED:
        if isinstance(module, types):
            return reason
    if isinstance(module, _BatchNorm) and (not module.track_running_stats
                                           or module.running_mean is None):
        return ("BatchNorm without running statistics normalizes each batch with its own "
                "statistics, which a converted network cannot reproduce; build it with "
                "track_running_stats=True and train it")
    if isinstance(module, nn.MaxPool2d) and module.return_indices:
        return "MaxPool2d(return_indices=True) returns a tuple; use return_indices=False"
    return None


def _lowering_type(module: nn.Module) -> type[nn.Module] | None:
    from spikebit.conversion.lower import LOWERINGS

    return next((cls for cls in type(module).__mro__ if cls in LOWERINGS), None)


def _walk(module: nn.Module, path: str, problems: list[str]) -> None:
    label = f"layer {path or '<root>'!r} ({type(module).__name__})"
    reason = rejection(module)
    if reason is not None:
        problems.append(f"{label}: {reason}")
        return
    lowering = _lowering_type(module)
    children = list(module.named_children())
    if lowering is None and not children:
        from spikebit.conversion.lower import LOWERINGS

        known = ", ".join(sorted(t.__name__ for t in LOWERINGS))
        problems.append(f"{label}: no lowering for this layer; supported layers: {known} "
                        "and containers of them")
        return
    if lowering is not None and lowering is not nn.Sequential and not _is_structural(lowering):
        return  # a registered leaf
    for name, child in children:
        _walk(child, f"{path}.{name}" if path else name, problems)


def _is_structural(lowering: type[nn.Module]) -> bool:
    """Registered containers whose children are lowered one by one (residual blocks)."""
    from spikebit.conversion.resnet import BasicBlock

    return issubclass(lowering, BasicBlock)


class _LeafTracer(fx.Tracer):
    """Traces through containers only; every lowerable or rejected module is a leaf."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        lowering = _lowering_type(m)
        if lowering is nn.Sequential:
            return False
        return lowering is not None or not list(m.children())


def _trace_problems(model: nn.Module) -> list[str]:
    """Functional ops, in-place ops and out-of-order children in containers' forwards."""
    try:
        tracer = _LeafTracer()
        tracer.record_stack_traces = True
        graph = tracer.trace(model)
    except Exception:  # noqa: BLE001 - untraceable forward: the post-lowering check decides
        return []
    problems = []
    previous: fx.Node | None = None
    used: list[str] = []
    for node in graph.nodes:
        if node.op in ("placeholder", "output", "get_attr"):
            if node.op == "placeholder":
                previous = node
            continue
        if node.op in ("call_function", "call_method"):
            op = getattr(node.target, "__name__", str(node.target))
            stack = node.meta.get("nn_module_stack") or {}
            where = next(reversed(stack), "") if stack else ""
            source = _source_line(node.stack_trace)
            problems.append(
                f"forward of {where or '<root>'!r} calls {op!r} outside a layer (a functional "
                f"or in-place op the conversion walk cannot follow; source: {source}"
                "); express it as a layer (nn.ReLU, nn.Flatten, ...) in an nn.Sequential")
        elif node.op == "call_module":
            target = str(node.target)
            if previous is not None and (len(node.args) != 1 or node.args[0] is not previous):
                problems.append(
                    f"layer {target!r} does not take the output of the layer before it; "
                    "convertible models apply their children in registration order")
            used.append(target)
        previous = node
    order = _leaves(model, "")
    if not problems and used != order:
        problems.append(
            f"forward applies layers {used} but the registration order is {order}; "
            "convertible models apply every child once, in registration order")
    return problems


def _source_line(stack_trace: str | None) -> str:
    """``file:line: code`` of the first frame of a traced op (the model's forward)."""
    lines = (stack_trace or "").splitlines()
    if len(lines) < 2:
        return "unknown"
    frame = lines[0].strip().replace('File "', "").replace('", line ', ":").split(",")[0]
    return f"{frame}: {lines[1].strip()}"


def _leaves(module: nn.Module, path: str) -> list[str]:
    """Paths of the tracer's leaf modules in registration order (the walk's order)."""
    if path and _LeafTracer().is_leaf_module(module, path):
        return [path]
    out: list[str] = []
    for name, child in module.named_children():
        out += _leaves(child, f"{path}.{name}" if path else name)
    return out


def check_convertible(model: nn.Module) -> None:
    """Check that every layer of ``model`` can be lowered exactly; returns None if so.

    Runs on the module tree and a symbolic trace only (no data, no calibration).

    Args:
        model: the ANN to convert.

    Raises:
        ConversionError: ``model`` is not an ``nn.Module``, or lists every layer that
            cannot be lowered (path, layer type, reason and fix).
    """
    if not isinstance(model, nn.Module):
        raise ConversionError(f"ann must be an nn.Module, got {type(model).__name__}")
    problems: list[str] = []
    _walk(model, "", problems)
    lowering = _lowering_type(model)
    if not problems and (lowering is None or lowering is nn.Sequential):
        problems = _trace_problems(model)
    if problems:
        raise ConversionError(
            "cannot convert this network exactly:\n  - " + "\n  - ".join(problems))
