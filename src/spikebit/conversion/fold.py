"""BatchNorm folding (BSNN eq. 7).

``BN(x) = gamma * (x - mu) / theta + beta`` with ``theta = sqrt(var + eps)`` (the
paper writes "variance"; the standard deviation incl. eps is what makes the
identity exact). A conv/linear with weight ``w`` and bias ``b`` followed by BN
becomes ``w' = (gamma / theta) * w`` and ``b' = (gamma / theta) * (b - mu) + beta``.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

_AFFINE = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """Return a copy of ``model`` in eval mode with every BN folded into its conv/linear.

    BSNN eq. 7: ``w' = (gamma / theta) * w``, ``b' = (gamma / theta) * (b - mu) + beta``
    with ``theta = sqrt(var + eps)``. A BN is folded when it is the next sibling (in
    registration order) of a conv/linear with as many output channels; it is then
    replaced by ``nn.Identity``. Other BNs are left in place (the lowering treats them
    as per-channel affine maps). The input model is not modified.

    Args:
        model: the ANN (any ``nn.Module``).

    Returns:
        The folded copy, in eval mode.
    """
    folded = copy.deepcopy(model).eval()
    with torch.no_grad():
        _fold_children(folded)
    return folded


def fold_pair(layer: nn.Module, bn: nn.Module) -> None:
    """Fold ``bn`` (eval statistics) into ``layer`` in place (BSNN eq. 7).

    Args:
        layer: a ``Conv1d/2d/3d`` or ``Linear`` with ``C`` output channels (its weight is
            scaled and its bias replaced).
        bn: the ``BatchNorm1d/2d/3d`` over those ``C`` channels, with running statistics.
    """
    gamma = bn.weight if bn.affine else torch.ones_like(bn.running_var)
    beta = bn.bias if bn.affine else torch.zeros_like(bn.running_var)
    scale = gamma / torch.sqrt(bn.running_var + bn.eps)
    shape = (-1,) + (1,) * (layer.weight.dim() - 1)
    layer.weight.mul_(scale.view(shape))
    bias = layer.bias if layer.bias is not None else torch.zeros_like(bn.running_mean)
    new_bias = scale * (bias - bn.running_mean) + beta
    layer.bias = nn.Parameter(new_bias.detach().clone())


def _fold_children(module: nn.Module) -> None:
    names = [name for name, _ in module.named_children()]
    for first, second in zip(names, names[1:]):
        layer, bn = getattr(module, first), getattr(module, second)
        if _foldable(layer, bn):
            fold_pair(layer, bn)
            setattr(module, second, nn.Identity())
    for child in module.children():
        _fold_children(child)


def _foldable(layer: nn.Module, bn: nn.Module) -> bool:
    if not (isinstance(layer, _AFFINE) and isinstance(bn, _NORMS)):
        return False
    if not bn.track_running_stats or bn.running_mean is None:
        return False
    out = layer.out_channels if isinstance(layer, nn.modules.conv._ConvNd) else layer.out_features
    return out == bn.num_features
