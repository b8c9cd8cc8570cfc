"""QCFS activation for conversion-aware ANN training (Bu et al., ICLR 2022).

Bu, Fang, Ding, Dai, Yu & Huang, "Optimal ANN-SNN conversion for high-accuracy and
ultra-low-latency spiking neural networks", ICLR 2022, eq. 16:

``h(x) = lambda * clip(floor(x * L / lambda + phi) / L, 0, 1)``, ``phi = 1/2``,

with ``L`` quantization steps and a trainable clip ``lambda`` per layer (the
gradient of ``floor`` is the straight-through identity). An ANN trained with it
converts to IF neurons with threshold ``lambda`` and initial potential
``lambda / 2`` (method ``"qcfs"``) whose expected conversion error is zero for
every T (their Theorem 2). :func:`to_qcfs` turns a trained ReLU ANN into a QCFS
ANN (every ``nn.ReLU`` replaced, ``lambda`` initialized from calibration data) for
a short fine-tuning; :func:`finetune` runs one.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from spikebit.conversion.calibrate import nonzero_percentile
from spikebit.conversion.errors import ConversionError
from spikebit.conversion.graph import Neuron, Residual
from spikebit.conversion.lower import _Builder, lowers
from spikebit.conversion.validate import check_batch, check_int, check_number, module_dtype


def floor_ste(x: Tensor) -> Tensor:
    """``floor(x)`` forward, identity gradient (straight-through estimator).

    Args:
        x: any tensor.

    Returns:
        ``floor(x)``, same shape; its gradient w.r.t. ``x`` is 1.
    """
    return x + (torch.floor(x) - x).detach()


class QCFS(nn.Module):
    """Quantization-clip-floor-shift activation (Bu et al., ICLR 2022, eq. 16).

    ``h(x) = lambda * clip(floor(x * L / lambda + phi) / L, 0, 1)``; input/output
    ``[B, C, ...]``, same shape.

    Args:
        levels: ``L``, the quantization steps (a positive int; the SNN's time steps per
            exact output level).
        threshold: the initial clip ``lambda`` (> 0, trainable, scalar per layer), in units
            of the activation; it becomes the converted neuron's threshold.
        shift: ``phi`` (1/2 in the paper), in units of one quantization step.

    Raises:
        ConversionError: ``levels`` is not a positive int or ``threshold`` not a number
            ``> 0`` (bools and strings are refused).
    """

    def __init__(self, levels: int = 4, threshold: float = 8.0, shift: float = 0.5) -> None:
        super().__init__()
        levels = check_int("levels", levels, meaning="QCFS quantization steps L", example=4)
        if check_number("threshold", threshold, meaning="the QCFS clip lambda") <= 0:
            raise ConversionError(f"QCFS threshold must be > 0, got {threshold}; pass e.g. 8.0")
        self.levels, self.shift = levels, float(shift)
        self.threshold = nn.Parameter(torch.tensor(float(threshold)))

    def forward(self, x: Tensor) -> Tensor:
        """``h(x)``, straight-through floor (Bu et al. 2022, eq. 16).

        Args:
            x: pre-activation ``[B, C, H, W]`` or ``[B, F]``.

        Returns:
            The quantized activation in ``[0, lambda]``, same shape as ``x``.
        """
        lam = self.threshold
        q = floor_ste(x * self.levels / lam + self.shift) / self.levels
        return torch.clamp(q, 0.0, 1.0) * lam

    def extra_repr(self) -> str:
        return f"levels={self.levels}, shift={self.shift}"


@lowers(QCFS)
def _lower_qcfs(b: _Builder, module: nn.Module) -> None:
    """A QCFS layer lowers like a ReLU; its ``lambda`` is kept as the neuron's threshold
    for the ``"qcfs"`` method (``thresholds="module"``)."""
    name = b.name()
    chain = b.close()
    act = copy.deepcopy(module)
    b.x = act(b.x)
    node = Neuron(name, chain, act)
    b.nodes.append(node)


def module_thresholds(nodes: list[nn.Module]) -> dict[str, Tensor]:
    """``name -> lambda`` of every QCFS neuron among ``nodes`` (and their submodules).

    Args:
        nodes: lowered graph nodes.

    Returns:
        ``{node name: |lambda|}`` (scalar tensors, detached) of the nodes whose activation
        is a :class:`QCFS`.
    """
    out = {}
    for node in nodes:
        for m in node.modules():
            if isinstance(m, (Neuron, Residual)) and isinstance(m.act, QCFS):
                out[m.name] = m.act.threshold.detach().abs().clone()
    return out


def to_qcfs(ann: nn.Module, calibration: Tensor, levels: int = 4,
            percentile: float = 99.9) -> nn.Module:
    """A copy of ``ann`` with every ``nn.ReLU`` replaced by :class:`QCFS`.

    Each ``lambda`` is set to the ``percentile``-th positive activation of its ReLU on
    ``calibration`` (at least 1e-3). Residual blocks' ReLUs are replaced too; ``ann`` is
    not modified.

    Args:
        ann: a trained ReLU ANN, images ``[B, C, H, W]`` to logits ``[B, K]``.
        calibration: calibration images ``[N, C, H, W]``.
        levels: ``L``, quantization steps of every QCFS activation.
        percentile: the percentile in %, ``(0, 100]``, of the positive activations.

    Returns:
        The QCFS ANN (eval mode), to be fine-tuned with :func:`finetune`.

    Raises:
        ConversionError: ``ann`` has no ``nn.ReLU`` modules, a bad ``levels`` or
            ``percentile``, or ``calibration`` is empty or not in the ANN's dtype.
    """
    check_batch(calibration, "calibration images", module_dtype(ann))
    net = copy.deepcopy(ann).eval()
    relus = [(parent, name, child) for parent in net.modules()
             for name, child in parent.named_children() if type(child) is nn.ReLU]
    if not relus:
        raise ConversionError("to_qcfs found no nn.ReLU modules to replace")
    seen: dict[nn.Module, float] = {}
    hooks = [child.register_forward_hook(
        lambda m, i, o: seen.__setitem__(m, nonzero_percentile(o, percentile)))
        for _, _, child in relus]
    with torch.no_grad():
        net(calibration)
    for h in hooks:
        h.remove()
    for parent, name, child in relus:
        setattr(parent, name, QCFS(levels, max(seen.get(child, 1.0), 1e-3)))
    return net


SCHEDULES = ("constant", "cosine")


def finetune(net: nn.Module, x: Tensor, y: Tensor, epochs: int = 3, lr: float = 1e-3,
             batch_size: int = 128, seed: int = 0, schedule: str = "constant") -> nn.Module:
    """Fine-tune ``net`` (e.g. from :func:`to_qcfs`) with Adam and cross-entropy.

    BatchNorm statistics are frozen (eval mode) so that they stay the ones folded at
    conversion.

    Args:
        net: the network, images ``[B, C, H, W]`` to logits ``[B, K]`` (trained in place).
        x: training images ``[N, C, H, W]``.
        y: integer labels ``[N]``.
        epochs: passes over ``x``.
        lr: Adam learning rate (the initial one with ``schedule="cosine"``).
        batch_size: images per step.
        seed: seed of the shuffling.
        schedule: ``"constant"`` learning rate or ``"cosine"`` decay to 0 over all steps
            (Loshchilov & Hutter, ICLR 2017; the schedule Bu et al. 2022 train QCFS with).

    Returns:
        ``net`` in eval mode.

    Raises:
        ConversionError: ``epochs`` is not an int >= 0, ``batch_size`` not an int >= 1
            (bools are refused), ``lr`` not a number >= 0, or ``schedule`` unknown.
    """
    epochs = check_int("epochs", epochs, 0, meaning="fine-tuning epochs", example=2)
    check_number("lr", lr, 0.0, meaning="Adam learning rate", example=1e-3)
    batch_size = check_int("batch_size", batch_size, meaning="images per step", example=128)
    if schedule not in SCHEDULES:
        raise ConversionError(f"unknown schedule {schedule!r}; expected one of {SCHEDULES}")
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    steps = max(1, epochs * -(-x.shape[0] // batch_size))
    sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps) if schedule == "cosine"
             else None)
    net.eval()
    for _ in range(epochs):
        for idx in torch.randperm(x.shape[0], generator=g, device=g.device).split(batch_size):
            loss = F.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
    return net.eval()
