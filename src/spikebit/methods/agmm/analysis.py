"""Why AGMM does (or does not) lower the flip ratio: gate, BN scale and gradient sizes.

AGMM scales a binary unit's current by ``g = sigmoid(alpha_t * M[t])`` after
``conv + BN``; the gradient reaching the binary weight is scaled by ``g`` too, but
also by the BN's ``|gamma| / sigma``. If BN learns a larger ``gamma`` to give the
neuron the same current, the product ``g * |gamma|`` (the "effective gain") and the
latent-weight gradient come back to the vanilla BSNN's, and so does the flip ratio.
:func:`modulation_report` measures these quantities on one batch.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from spikebit.layers import TimeDistributed
from spikebit.methods.agmm.module import AGMM
from spikebit.quant import QuantizedMixin
from spikebit.train.losses import readout


def _inner(m: nn.Module) -> nn.Module:
    return m.module if isinstance(m, TimeDistributed) else m


@dataclass(frozen=True)
class BinaryUnit:
    """A quantizing conv, the BN after it and its AGMM block (after the BN, or between the
    conv and the BN when placed ``"before-bn"``; ``None`` if there is none).

    Args:
        name: ``"<Sequential name>.<index of the conv>"``.
        conv: the quantizing conv layer (unwrapped from :class:`TimeDistributed`).
        bn: the ``BatchNorm2d`` after it.
        agmm: the unit's :class:`AGMM` block, or ``None``.
    """

    name: str
    conv: QuantizedMixin
    bn: nn.BatchNorm2d
    agmm: AGMM | None


def binary_units(model: nn.Module) -> list[BinaryUnit]:
    """Every ``conv -> BN [-> AGMM]`` (or ``conv -> AGMM -> BN``) run inside a
    ``Sequential`` whose conv quantizes:
    the binary units of a BSNN (ResNet units and flat VGGSNN bodies alike); their
    full-precision twins in an FP-SNN. The stem and shortcut convs, kept full
    precision, are left out.

    Args:
        model: a spiking network (``SpikingResNet``, ``SpikingNet``, ...).

    Returns:
        One record, :class:`BinaryUnit`, per unit, in module order.
    """
    units = []
    for name, seq in model.named_modules():
        if not isinstance(seq, nn.Sequential):
            continue
        children = [_inner(c) for c in seq] + [None, None]
        for i, conv in enumerate(children[:-3]):
            if not (isinstance(conv, QuantizedMixin) and conv.quantize):
                continue
            first, second = children[i + 1], children[i + 2]
            if isinstance(first, AGMM) and isinstance(second, nn.BatchNorm2d):  # before BN
                bn, agmm = second, first
            elif isinstance(first, nn.BatchNorm2d):
                bn, agmm = first, second if isinstance(second, AGMM) else None
            else:
                continue
            units.append(BinaryUnit(f"{name}.{i}" if name else str(i), conv, bn, agmm))
    return units


def _mean(xs: list[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def modulation_report(model: nn.Module, images: torch.Tensor, labels: torch.Tensor
                      ) -> dict[str, Any]:
    """Per binary unit, on one batch (train mode, like a training step, no update):
    mean AGMM gate, mean ``|BN gamma|``, effective gain ``gate * |gamma|`` (``|gamma|``
    without AGMM), mean ``|grad|`` and mean ``|W|`` of the latent weights and their
    ratio ``grad_to_weight`` (what an SGD step moves relative to the weight: the
    quantity a sign flip depends on). The quantities of AGMM eq. 15-16.

    The model's state (BN running statistics) and train/eval mode are restored; its
    gradients are cleared.

    Args:
        model: the network (binary units found by :func:`binary_units`).
        images: one input batch (e.g. ``[B, C, H, W]`` or ``[T, B, C, H, W]``).
        labels: class indices ``[B]`` (cross-entropy of the time-averaged output).

    Returns:
        ``{"mean": {quantity: mean over units or None}, "layers": [per-unit dicts]}``;
            ``gate`` is ``None`` for units without AGMM.
    """
    units = binary_units(model)
    gates: dict[str, float] = {}
    hooks = []
    for unit in units:
        if unit.agmm is not None:
            def hook(mod: nn.Module, inp: tuple, _out: torch.Tensor, key: str = unit.name
                     ) -> None:
                gates[key] = float(mod.gate(inp[0]).detach().mean())
            hooks.append(unit.agmm.register_forward_hook(hook))
    was_training = model.training
    saved = copy.deepcopy(model.state_dict())  # BN running statistics move in train mode
    model.train()
    model.zero_grad(set_to_none=True)
    try:
        out = model(images)
        torch.nn.functional.cross_entropy(readout(out), labels).backward()
    finally:
        for h in hooks:
            h.remove()
        model.load_state_dict(saved)
    layers = []
    for unit in units:
        name, conv, bn = unit.name, unit.conv, unit.bn
        gamma = float(bn.weight.detach().abs().mean())
        gate = gates.get(name)
        grad = conv.weight.grad
        layers.append({
            "unit": name, "gate": gate, "bn_gamma_abs": gamma,
            "effective_gain": gamma * (gate if gate is not None else 1.0),
            "latent_grad_abs": float(grad.abs().mean()) if grad is not None else None,
            "latent_weight_abs": float(conv.weight.detach().abs().mean()),
        })
    model.zero_grad(set_to_none=True)
    model.train(was_training)
    for x in layers:
        grad, weight = x["latent_grad_abs"], x["latent_weight_abs"]
        x["grad_to_weight"] = grad / weight if grad is not None and weight > 0 else None
    summary = {k: _mean([x[k] for x in layers if x[k] is not None])
               for k in ("gate", "bn_gamma_abs", "effective_gain", "latent_grad_abs",
                         "latent_weight_abs", "grad_to_weight")}
    return {"mean": summary, "layers": layers}
