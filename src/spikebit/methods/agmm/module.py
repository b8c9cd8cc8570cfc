"""The AGMM block: adaptive gradient modulation next to a binary conv's BN (AGMM eq. 11).

Reconstruction (the paper's eq. 11 is lost in our text; see ``docs/methods/agmm.md``)::

    m[t]  = mean of X[t] over the features that ``mean`` names
    E[t]  = alpha_t * M[t]
    X'[t] = sigmoid(E[t]) * X[t]

with one learnable ``alpha_t`` per step (initialised to 1) and ``M[t]``, the
"time-scaled average", one of

* ``causal=True``: the cumulative mean ``M[t] = mean_{s <= t} m[s]`` (streaming-safe:
  step t never looks ahead);
* ``causal=False``: the mean over all steps ``M[t] = mean_s m[s]``;
* ``per_step=True``: the current step only, ``M[t] = m[t]`` (the ``E(X[t])`` notation).

What ``m[t]`` averages over (``mean``, :data:`MEANS`):

* ``"sample"``: every feature of one sample (``C, H, W`` or ``N``): one gate per
  sample and step, ``[T, B, 1, 1, 1]``;
* ``"channel"``: the positions of one channel of one sample (``H, W``): one gate per
  sample, channel and step, ``[T, B, C, 1, 1]`` (on ``[T, B, N]`` every feature is
  its own channel, so the gate is element-wise);
* ``"batch"``: the whole batch (``B, C, H, W``): one gate per step, ``[T, 1, 1, 1, 1]``;
  a sample's output then depends on the other samples of its batch;
* ``"neuron"``: nothing but time: one gate per neuron and step, the shape of ``X``.

Where the block sits (``position``, read by the network builders through
:func:`spikebit.models.blocks.ordered_unit`): ``"after-bn"`` (``conv -> BN -> AGMM``,
"the spatial feature map [...] calculated by the Bconv-BN module") or ``"before-bn"``
(``conv -> AGMM -> BN``).

The backward of ``sigmoid(E[t]) * X[t]`` scales the gradient reaching ``X[t]`` (and
through BN the binary weight) by ``sigmoid(E[t]) < 1`` (eq. 15-16), plus a term
through the mean that the paper neglects; ``detach_mean=True`` drops that term (eq.
15 exactly).

:data:`DEFAULT_READING` holds the reading used when an option is not given: change it
there (one constant) to change the default of the block, the zoo models and the
experiments.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from spikebit.errors import ConfigError, ShapeError
from spikebit.models.blocks import BLOCK_POSITIONS, BLOCKS
from spikebit.neurons.base import check_sequence
from spikebit.neurons.params import check_count

MEANS = ("sample", "channel", "batch", "neuron")
"""What AGMM's mean ``m[t]`` averages over (see the module docstring)."""

WINDOWS = ("cumulative", "all", "step")
"""Which steps ``M[t]`` averages: ``s <= t`` (``causal=True``), all ``T`` (``causal=False``),
step ``t`` alone (``per_step=True``)."""


@dataclass(frozen=True)
class AGMMReading:
    """One reading of AGMM eq. 11 (Liang et al., AAAI 2025), whose text leaves it open.

    Args:
        mean: what ``m[t]`` averages over, one of :data:`MEANS`.
        position: ``"after-bn"`` (``conv -> BN -> AGMM``) or ``"before-bn"``
            (``conv -> AGMM -> BN``).
        window: which steps ``M[t]`` averages, one of :data:`WINDOWS`.

    Raises:
        ConfigError: a value outside its list.
    """

    mean: str
    position: str
    window: str

    def __post_init__(self) -> None:
        for name, value, allowed in (("mean", self.mean, MEANS),
                                     ("position", self.position, BLOCK_POSITIONS),
                                     ("window", self.window, WINDOWS)):
            if value not in allowed:
                raise ConfigError(f"AGMM reading: {name}={value!r} is not one of "
                                  f"{', '.join(allowed)}")

    def block_kwargs(self) -> dict[str, Any]:
        """The :class:`AGMM` keyword arguments of this reading.

        Returns:
            ``{"mean", "position", "causal", "per_step"}``.
        """
        return {"mean": self.mean, "position": self.position,
                "causal": self.window != "all", "per_step": self.window == "step"}

    def slug(self) -> str:
        """A file-name-safe id, e.g. ``"sample-after-bn-cumulative"`` (run names)."""
        return f"{self.mean}-{self.position}-{self.window}"

    def describe(self) -> str:
        """One line for result tables, e.g. ``"mean=sample, after-bn, cumulative"``."""
        return f"mean={self.mean}, {self.position}, {self.window}"

    def to_dict(self) -> dict[str, str]:
        """``{"mean", "position", "window"}`` (JSON-able)."""
        return asdict(self)


DEFAULT_READING = AGMMReading(mean="sample", position="after-bn", window="cumulative")
"""The reading of eq. 11 used wherever an option is not given (block, zoo, experiments).

Per-sample mean, after BN, cumulative (causal) window: after BN is what the text says
("performed on the spatial feature map, which is calculated by the Bconv-BN module");
the per-sample mean is the one that keeps eq. 14's neglected term small at every layer
and keeps samples independent; the window is not recoverable and the causal one is
streaming-safe. The arguments are in ``docs/methods/agmm.md``; ``spikebit reproduce
agmm-readings`` measures every one-factor change from this reading."""


def _steps(m: torch.Tensor) -> torch.Tensor:
    """``[1, 2, ..., T]`` shaped to broadcast against ``m [T, ...]``."""
    count = torch.arange(1, m.shape[0] + 1, dtype=m.dtype, device=m.device)
    return count.view(-1, *([1] * (m.ndim - 1)))


def temporal_mean(m: torch.Tensor, causal: bool, per_step: bool) -> torch.Tensor:
    """``M[t]`` from per-step means ``m [T, ...]``: cumulative, all-T or step t alone.

    The "time-scaled average" of AGMM eq. 11 (reconstruction, see the module docstring).

    Args:
        m: per-step means, ``[T, ...]`` (e.g. ``[T, B]``, or ``[T, B, 1, 1, 1]`` kept dims).
        causal: cumulative mean over steps ``<= t`` (else the mean over all ``T``).
        per_step: step ``t`` alone (takes precedence over ``causal``).

    Returns:
        ``M``, the shape of ``m``.
    """
    if per_step:
        return m
    if causal:
        return m.cumsum(0) / _steps(m)
    return m.mean(0, keepdim=True).expand_as(m)


def feature_mean(x: torch.Tensor, mean: str) -> torch.Tensor:
    """``m[t]``: the mean of ``x [T, B, ...]`` over the dimensions ``mean`` names (kept as 1).

    Args:
        x: ``[T, B, C, H, W]`` or ``[T, B, N]``.
        mean: ``"sample"`` (all features), ``"channel"`` (``H, W``), ``"batch"``
            (``B`` and all features) or ``"neuron"`` (none: ``x`` itself).

    Returns:
        ``[T, B, 1, 1, 1]``, ``[T, B, C, 1, 1]``, ``[T, 1, 1, 1, 1]`` or ``x``'s shape.

    Raises:
        ConfigError: ``mean`` is not one of :data:`MEANS`.
    """
    first = {"sample": 2, "channel": 3, "batch": 1, "neuron": x.ndim}.get(mean)
    if first is None:
        raise ConfigError(f"AGMM: mean={mean!r} is not one of {', '.join(MEANS)}")
    dims = tuple(range(first, x.ndim))
    return x.mean(dim=dims, keepdim=True) if dims else x


@BLOCKS.register("agmm")
class AGMM(nn.Module):
    """Adaptive gradient modulation over ``[T, B, C, H, W]`` or ``[T, B, N]`` (shape kept).

    ``X'[t] = sigmoid(alpha_t * M[t]) * X[t]`` (AGMM eq. 11, reconstruction; backward
    eq. 15-16). Registered as block ``"agmm"``. Options left as ``None`` take
    :data:`DEFAULT_READING`.

    Args:
        steps: ``T``, the number of learnable ``alpha_t`` (one per time step).
        causal: cumulative mean over steps ``<= t`` vs the mean over all T.
        per_step: use step t alone (implies causal).
        detach_mean: no gradient through the mean (the paper's simplified eq. 15).
        alpha_init: initial ``alpha_t``.
        mean: what the mean averages over, one of :data:`MEANS`.
        position: where the network builders place the block: ``"after-bn"`` or
            ``"before-bn"`` (the block computes the same function either way).

    Raises:
        ConfigError: ``steps`` not an integer >= 1, ``per_step=True`` with ``causal=False``, a
            ``mean``/``position`` outside its list, or ``causal``/``per_step``/
            ``detach_mean`` not a bool.
    """

    def __init__(
        self,
        steps: int,
        causal: bool | None = None,
        per_step: bool | None = None,
        detach_mean: bool = False,
        alpha_init: float = 1.0,
        mean: str | None = None,
        position: str | None = None,
    ) -> None:
        super().__init__()
        steps = check_count(steps, "AGMM steps (T, one alpha per time step)")
        for name, flag in (("causal", causal), ("per_step", per_step),
                           ("detach_mean", detach_mean)):
            if flag is not None and not isinstance(flag, bool):
                raise ConfigError(f"AGMM: {name} must be true or false, got {flag!r}")
        default = DEFAULT_READING.block_kwargs()
        per_step = default["per_step"] if per_step is None else per_step
        if causal is None:
            causal = True if per_step else default["causal"]
        if per_step and not causal:
            raise ConfigError("AGMM: per_step=True uses step t alone and is causal; "
                              "drop causal=False or per_step=True")
        reading = AGMMReading(mean=default["mean"] if mean is None else mean,
                              position=default["position"] if position is None else position,
                              window="step" if per_step else
                              ("cumulative" if causal else "all"))
        self.steps = steps
        self.causal = causal
        self.per_step = per_step
        self.mean = reading.mean
        self.position = reading.position
        self.detach_mean = bool(detach_mean)
        self.alpha = nn.Parameter(torch.full((self.steps,), float(alpha_init)))

    @property
    def reading(self) -> AGMMReading:
        """This block's :class:`AGMMReading` (mean, position, window)."""
        window = "step" if self.per_step else ("cumulative" if self.causal else "all")
        return AGMMReading(self.mean, self.position, window)

    def _check(self, x: torch.Tensor) -> None:
        check_sequence(x, "AGMM")
        if x.ndim < 3:
            raise ShapeError(
                f"AGMM expects [T, B, C, H, W] or [T, B, N], got shape {tuple(x.shape)}"
            )
        if x.shape[0] != self.steps:
            raise ShapeError(
                f"AGMM was built for T={self.steps} steps (one alpha per step) but got a "
                f"sequence of {x.shape[0]} steps; build the model with steps={x.shape[0]}"
            )

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        """``sigmoid(E[t])``, broadcastable against ``x``.

        Args:
            x: the block's input (the BN output, or the conv output when placed
                ``"before-bn"``), ``[T, B, C, H, W]`` or ``[T, B, N]``.

        Returns:
            The gate, in ``(0, 1)``: ``[T, B, 1, 1, 1]`` (``mean="sample"``),
            ``[T, B, C, 1, 1]`` (``"channel"``), ``[T, 1, 1, 1, 1]`` (``"batch"``) or
            ``x``'s shape (``"neuron"``); likewise for ``[T, B, N]``.

        Raises:
            ShapeError: fewer than 3 dimensions, or ``T != steps``.
        """
        self._check(x)
        m = feature_mean(x, self.mean)
        if self.detach_mean:
            m = m.detach()
        mean = temporal_mean(m, self.causal, self.per_step)
        alpha = self.alpha.to(x.dtype).view(-1, *([1] * (x.ndim - 1)))
        return torch.sigmoid(alpha * mean)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[T, B, ...] -> [T, B, ...]``: ``sigmoid(E[t]) * X[t]`` (autograd backward).

        Args:
            x: the block's input, ``[T, B, C, H, W]`` or ``[T, B, N]``.

        Returns:
            The modulated current, shape of ``x``.

        Raises:
            ShapeError: fewer than 3 dimensions, or ``T != steps``.
        """
        return self.gate(x) * x

    def extra_repr(self) -> str:
        r = self.reading
        return (f"steps={self.steps}, mean={r.mean}, window={r.window}, position={r.position}, "
                f"detach_mean={self.detach_mean}")
