"""The converted network as a list of nodes, runnable as ANN or as SNN.

Each node has three faces:

* ``analog(x, record)``: the ANN computation (ReLU activations), used for
  calibration and to check the lowering; ``record(name, activation)`` sees
  every ReLU output.
* ``step(x, clock, method, state) -> (y, state)``: one simulation step; ``x``
  is the signal of the previous layer at this step (weighted spikes or analog
  current, ``[B, ...]``), ``state`` is None at t = 0.
* ``normalized(lambda_in, lambdas) -> (node, lambda_out)``: the node with
  eq. 6 / eq. 15 scaling applied (new modules; self is unchanged).

A :class:`Chain` is the affine map between two spiking layers (conv/linear,
average pools, flatten, remaining BNs), stored as bias-free linear ops plus a
bias tensor, so the bias can be injected with the method's weight ``beta(t)``.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from spikebit.conversion.calibrate import Recorder
from spikebit.conversion.dynamics import Clock, Method


class ChannelScale(nn.Module):
    """``x * weight`` per channel (dim 1): the bias-free part of an eval-mode BN."""

    def __init__(self, weight: Tensor) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight.detach().clone(), requires_grad=False)

    def forward(self, x: Tensor) -> Tensor:
        return x * self.weight.view(1, -1, *([1] * (x.dim() - 2)))


class Chain(nn.Module):
    """Affine map ``scale * ops(x) + bias``; ``bias`` is ``[1, *out_shape]``."""

    def __init__(self, ops: nn.Sequential, bias: Tensor, scale: float = 1.0) -> None:
        super().__init__()
        self.ops = ops
        self.register_buffer("bias", bias.detach().clone())
        self.scale = float(scale)

    def linear(self, x: Tensor) -> Tensor:
        y = self.ops(x)
        return y if self.scale == 1.0 else y * self.scale

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x) + self.bias

    def current(self, x: Tensor, beta: float) -> Tensor:
        """Synaptic current at a step: linear part plus ``beta`` times the bias."""
        return self.linear(x) + (self.bias if beta == 1.0 else self.bias * beta)

    def normalized(self, factor: float, lam_out: float) -> Chain:
        """Eq. 6: weights times ``factor = lambda_in / lambda_out``, bias / ``lambda_out``.

        The factor is folded into the first weighted op; a chain without one
        (pool, flatten, identity shortcut) keeps it as a scalar ``scale``.
        """
        ops = copy.deepcopy(self.ops)
        scale = self.scale * factor
        weighted = [m for m in ops if isinstance(getattr(m, "weight", None), Tensor)]
        if weighted:
            with torch.no_grad():
                weighted[0].weight.mul_(scale)
            scale = 1.0
        return Chain(ops, self.bias / lam_out, scale)


def channel_view(th: Tensor, like: Tensor) -> Tensor:
    """A per-channel ``[C]`` (or scalar) threshold shaped to broadcast over ``like``
    ``[B, C, ...]``."""
    if th.dim() == 0:
        return th
    return th.view(1, -1, *([1] * (like.dim() - 2)))


def fire(method: Method, current: Tensor, clock: Clock, state: Any,
         threshold: Tensor | None) -> tuple[Tensor, Any]:
    """``method.fire(current, clock, state)`` with firing threshold ``threshold`` (``[C]``
    per channel or scalar; None: 1, the normalized threshold); ``current`` ``[B, C, ...]``.

    A neuron with threshold ``theta`` whose spikes carry the value ``theta`` equals a
    threshold-1 neuron fed ``current / theta`` with spikes scaled back by ``theta`` (the
    per-channel thresholds of Kim et al. 2020 and Bu et al. 2024, folded into the spike).
    """
    if threshold is None:
        return method.fire(current, clock, state)
    th = channel_view(threshold, current)
    s, state = method.fire(current / th, clock, state)
    return s * th, state


def _recorded(record: Recorder | None, name: str, a: Tensor) -> Tensor:
    """Report ``a`` to ``record``; a recorder may return a replacement (clipped) activation."""
    if record is None:
        return a
    out = record(name, a)
    return a if out is None else out


class Node(nn.Module):
    """Base class of graph nodes (see the module docstring for the contract)."""

    name: str
    onset: int = 0  # first period in which this node's inputs carry information
    threshold: Tensor | None  # spiking nodes: per-channel [C] or scalar; None = 1

    def set_threshold(self, threshold: Tensor | None) -> None:
        """Use firing threshold ``threshold`` (``[C]`` or scalar, input units) from now on."""
        self._buffers.pop("threshold", None)
        self.__dict__.pop("threshold", None)
        value = None if threshold is None else threshold.detach().clone().float()
        self.register_buffer("threshold", value)

    def analog(self, x: Tensor, record: Recorder | None = None) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} must define analog()")

    def assign_onset(self, onset_in: int, synchronous: bool) -> int:
        """Record the input onset (period) and return the output's onset."""
        self.onset = onset_in
        return onset_in + 1

    def step(self, x: Tensor, clock: Clock, method: Method, state: Any) -> tuple[Tensor, Any]:
        raise NotImplementedError(f"{type(self).__name__} must define step()")

    def normalized(self, lam_in: float, lambdas: dict[str, float]) -> tuple[Node, float]:
        raise NotImplementedError(f"{type(self).__name__} must define normalized()")

    def forward(self, x: Tensor) -> Tensor:
        return self.analog(x)


class Neuron(Node):
    """A ReLU layer: ``act(chain(x))`` in the ANN (``act`` = ReLU unless given, e.g. a
    QCFS activation), spiking neurons in the SNN."""

    def __init__(self, name: str, chain: Chain, act: nn.Module | None = None,
                 threshold: Tensor | None = None) -> None:
        super().__init__()
        self.name, self.chain = name, chain
        self.act = act if act is not None else nn.ReLU()
        self.set_threshold(threshold)

    def analog(self, x: Tensor, record: Recorder | None = None) -> Tensor:
        return _recorded(record, self.name, self.act(self.chain(x)))

    def step(self, x: Tensor, clock: Clock, method: Method, state: Any) -> tuple[Tensor, Any]:
        current = self.chain.current(x, method.bias_weight(clock, self.onset))
        return fire(method, current, clock, state, self.threshold)

    def normalized(self, lam_in: float, lambdas: dict[str, float]) -> tuple[Node, float]:
        lam = lambdas[self.name]
        return Neuron(self.name, self.chain.normalized(lam_in / lam, lam), self.act), lam


class Readout(Node):
    """Output layer without ReLU; in the SNN its current is accumulated, not spiked."""

    def __init__(self, name: str, chain: Chain) -> None:
        super().__init__()
        self.name, self.chain = name, chain

    def analog(self, x: Tensor, record: Recorder | None = None) -> Tensor:
        y = self.chain(x)
        if record is not None:
            record(self.name, y)
        return y

    def step(self, x: Tensor, clock: Clock, method: Method, state: Any) -> tuple[Tensor, Any]:
        return self.chain.current(x, method.bias_weight(clock, self.onset)), None

    def assign_onset(self, onset_in: int, synchronous: bool) -> int:
        self.onset = onset_in
        return onset_in

    def normalized(self, lam_in: float, lambdas: dict[str, float]) -> tuple[Node, float]:
        lam = lambdas[self.name]
        return Readout(self.name, self.chain.normalized(lam_in / lam, lam)), lam


class MaxGate(Node):
    """Spiking max-pool that emits the increment of the running maximum of spike counts.

    Every input unit accumulates its (weighted) spikes, ``C_i(t) = sum_{s<=t} x_i(s)``;
    the output at step t is ``max_{i in window} C_i(t) - max_{i in window} C_i(t-1)``.
    The pooled count therefore equals the largest input count at every step, so the
    pooled rate converges to the max of the input rates (the ANN's ``max_pool2d`` of
    the rates) for every coding. The increment lies in ``[0, max_i x_i(t)]`` for
    non-negative spikes: with rate coding it is a binary spike, with phase/BSNN a
    weighted spike of at most the phase weight ``S_k``.

    This replaces the gate of Rueckauer et al. (2017, Front. Neurosci. 11:682,
    Sec. 2.2.6), which passes the spikes of the unit with the largest count: while two
    units of near-equal rate swap the lead, both units' spikes pass and the pooled rate
    overshoots (0.4961 / 0.6826 / 0.5498 instead of 0.4305 at T = 256 / 1024 / 4096).
    The count-based max follows the accumulated-spike-count pooling discussed by
    Gaurav, Tripp & Narayan (2022, "Spiking approximations of the MaxPooling operation
    in deep SNNs", IJCNN), made exact by emitting the difference of maxima.

    State: ``(counts [B, C, H, W], pooled count [B, C, H', W'])``.
    """

    def __init__(self, name: str, pool: nn.MaxPool2d) -> None:
        super().__init__()
        self.name, self.pool = name, copy.deepcopy(pool)
        self.pool.return_indices = False

    def analog(self, x: Tensor, record: Recorder | None = None) -> Tensor:
        return self.pool(x)

    def step(self, x: Tensor, clock: Clock, method: Method, state: Any) -> tuple[Tensor, Any]:
        count = x if state is None else state[0] + x
        pooled = self.pool(count)
        out = pooled if state is None else pooled - state[1]
        return out, (count, pooled)

    def normalized(self, lam_in: float, lambdas: dict[str, float]) -> tuple[Node, float]:
        return MaxGate(self.name, self.pool), lam_in

    def assign_onset(self, onset_in: int, synchronous: bool) -> int:
        self.onset = onset_in
        return onset_in


class Residual(Node):
    """``relu(tail(body(x)) + shortcut(x))``.

    With ``synchronous`` the shortcut input first passes a layer of
    synchronous neurons (SN: spiking neurons with identity weights and
    ``lambda = lambda_in``; a ReLU in the ANN, a no-op on the non-negative
    block input). In BSNN every spiking layer delays information by one
    period and the body has one spiking layer more than the shortcut, so the
    SN makes both paths reach the output neurons in the same period.
    The shortcut is scaled by ``lambda_in / lambda_out`` (eq. 15).
    """

    def __init__(self, name: str, body: Sequence[Node], tail: Chain, shortcut: Chain,
                 synchronous: bool = True, act: nn.Module | None = None) -> None:
        super().__init__()
        self.name = name
        self.act = act if act is not None else nn.ReLU()
        self.set_threshold(None)
        self.body = nn.ModuleList(body)
        self.tail, self.shortcut = tail, shortcut
        self.synchronous = synchronous

    def analog(self, x: Tensor, record: Recorder | None = None) -> Tensor:
        h = run_analog(self.body, x, record)
        out = self.act(self.tail(h) + self.shortcut(F.relu(x)))
        return _recorded(record, self.name, out)

    def step(self, x: Tensor, clock: Clock, method: Method, state: Any) -> tuple[Tensor, Any]:
        body_states, sn_state, out_state = state or ([None] * len(self.body), None, None)
        h, body_states = run_step(self.body, x, clock, method, body_states)
        if self.synchronous:
            x, sn_state = method.fire(x, clock, sn_state)
        beta = method.bias_weight(clock, self.onset)
        current = self.tail.current(h, beta) + self.shortcut.current(x, beta)
        s, out_state = fire(method, current, clock, out_state, self.threshold)
        return s, (body_states, sn_state, out_state)

    def normalized(self, lam_in: float, lambdas: dict[str, float]) -> tuple[Node, float]:
        body, lam_h = normalize_nodes(self.body, lam_in, lambdas)
        lam_out = lambdas[self.name]
        tail = self.tail.normalized(lam_h / lam_out, lam_out)
        shortcut = self.shortcut.normalized(lam_in / lam_out, lam_out)  # eq. 15
        return Residual(self.name, body, tail, shortcut, self.synchronous, self.act), lam_out

    def assign_onset(self, onset_in: int, synchronous: bool) -> int:
        """Output neurons start when both paths carry information (SN: one period later)."""
        self.synchronous = synchronous
        body_onset = assign_onsets(self.body, onset_in, synchronous)
        self.onset = max(body_onset, onset_in + 1 if synchronous else onset_in)
        return self.onset + 1


def run_analog(nodes: Sequence[Node], x: Tensor, record: Recorder | None = None) -> Tensor:
    """ANN forward through ``nodes``."""
    for node in nodes:
        x = node.analog(x, record)
    return x


def run_step(nodes: Sequence[Node], x: Tensor, clock: Clock, method: Method,
             states: list[Any]) -> tuple[Tensor, list[Any]]:
    """One simulation step through ``nodes``; returns the output and new states."""
    new_states = []
    for node, state in zip(nodes, states):
        x, state = node.step(x, clock, method, state)
        new_states.append(state)
    return x, new_states


def assign_onsets(nodes: Sequence[Node], onset_in: int, synchronous: bool) -> int:
    """Set every node's onset (and the SN switch of residual nodes); returns the last."""
    for node in nodes:
        onset_in = node.assign_onset(onset_in, synchronous)
    return onset_in


def normalize_nodes(nodes: Sequence[Node], lam_in: float,
                    lambdas: dict[str, float]) -> tuple[list[Node], float]:
    """Apply data-based normalization to every node; returns nodes and last lambda."""
    out = []
    for node in nodes:
        node, lam_in = node.normalized(lam_in, lambdas)
        out.append(node)
    return out, lam_in
