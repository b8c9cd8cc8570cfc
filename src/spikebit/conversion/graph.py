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
    """``x * weight`` per channel (dim 1): the bias-free part of an eval-mode BN.

    Args:
        weight: the per-channel factor ``[C]`` (copied, frozen).
    """

    def __init__(self, weight: Tensor) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight.detach().clone(), requires_grad=False)

    def forward(self, x: Tensor) -> Tensor:
        """Scale each channel of ``x``.

        Args:
            x: activation ``[B, C, ...]``.

        Returns:
            ``x * weight`` broadcast over dim 1, ``x``'s shape.
        """
        return x * self.weight.view(1, -1, *([1] * (x.dim() - 2)))


class Chain(nn.Module):
    """Affine map ``scale * ops(x) + bias`` between two spiking layers.

    Args:
        ops: the bias-free linear ops (conv/linear, average pools, flatten, BN scales).
        bias: the accumulated bias ``[1, *out_shape]`` (copied into a buffer).
        scale: a scalar factor on ``ops(x)`` (normalization of a chain without weights).
    """

    def __init__(self, ops: nn.Sequential, bias: Tensor, scale: float = 1.0) -> None:
        super().__init__()
        self.ops = ops
        self.register_buffer("bias", bias.detach().clone())
        self.scale = float(scale)

    def linear(self, x: Tensor) -> Tensor:
        """The linear part ``scale * ops(x)``, without bias.

        Args:
            x: input ``[B, C, H, W]`` or ``[B, F]``.

        Returns:
            The output ``[B, *out_shape]``.
        """
        y = self.ops(x)
        return y if self.scale == 1.0 else y * self.scale

    def forward(self, x: Tensor) -> Tensor:
        """The affine map ``scale * ops(x) + bias`` (ANN forward).

        Args:
            x: input ``[B, C, H, W]`` or ``[B, F]``.

        Returns:
            The output ``[B, *out_shape]``.
        """
        return self.linear(x) + self.bias

    def current(self, x: Tensor, beta: float) -> Tensor:
        """Synaptic current at a step: linear part plus ``beta`` times the bias.

        Args:
            x: the input spikes or current at this step, ``[B, C, H, W]`` or ``[B, F]``.
            beta: the method's weight of constant currents at this step (``Method.beta``).

        Returns:
            The current ``[B, *out_shape]``.
        """
        return self.linear(x) + (self.bias if beta == 1.0 else self.bias * beta)

    def normalized(self, factor: float, lam_out: float) -> Chain:
        """BSNN eq. 6: weights times ``factor = lambda_in / lambda_out``, bias / ``lambda_out``.

        The factor is folded into the first weighted op; a chain without one
        (pool, flatten, identity shortcut) keeps it as a scalar ``scale``.

        Args:
            factor: ``lambda_in / lambda_out``, the weight factor.
            lam_out: ``lambda_out``, the bias divisor.

        Returns:
            A new ``Chain`` (``self`` is unchanged).
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
    """A per-channel (or scalar) threshold shaped to broadcast over ``like``.

    Args:
        th: thresholds ``[C]`` or a scalar tensor.
        like: an activation ``[B, C, ...]``.

    Returns:
        ``th`` viewed as ``[1, C, 1, ...]`` (a scalar unchanged).
    """
    if th.dim() == 0:
        return th
    return th.view(1, -1, *([1] * (like.dim() - 2)))


def fire(method: Method, current: Tensor, clock: Clock, state: Any,
         threshold: Tensor | None) -> tuple[Tensor, Any]:
    """``method.fire(current, clock, state)`` with firing threshold ``threshold``.

    A neuron with threshold ``theta`` whose spikes carry the value ``theta`` equals a
    threshold-1 neuron fed ``current / theta`` with spikes scaled back by ``theta`` (the
    per-channel thresholds of Kim et al. 2020 and Bu et al. 2024, folded into the spike).

    Args:
        method: the conversion method.
        current: the input current ``[B, C, ...]``.
        clock: the step's :class:`~spikebit.conversion.dynamics.Clock`.
        state: the neuron state from the previous step, None at ``t = 0``.
        threshold: ``[C]`` per channel or scalar, in units of ``current``; None: 1, the
            normalized threshold.

    Returns:
        ``(spike values, new state)``; the spikes have ``current``'s shape.
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
        """Use firing threshold ``threshold`` from now on (stored as a float32 buffer).

        Args:
            threshold: ``[C]`` per channel or scalar, in input units; None: 1, the normalized
                threshold.
        """
        self._buffers.pop("threshold", None)
        self.__dict__.pop("threshold", None)
        value = None if threshold is None else threshold.detach().clone().float()
        self.register_buffer("threshold", value)

    def analog(self, x: Tensor, record: Recorder | None = None) -> Tensor:
        """The ANN computation of the node (defined by each subclass).

        Args:
            x: the input activation ``[B, C, H, W]`` or ``[B, F]`` (ANN units).
            record: called as ``record(name, activation)`` with every ReLU output (calibration);
                it may return a replacement (clipped) activation. None: nothing recorded.

        Returns:
            The node's output activation.

        Raises:
            NotImplementedError: on the base class.
        """
        raise NotImplementedError(f"{type(self).__name__} must define analog()")

    def assign_onset(self, onset_in: int, synchronous: bool) -> int:
        """Record the input onset (period) and return the output's onset.

        Args:
            onset_in: the first period in which the node's input carries information.
            synchronous: SN on residual shortcuts (BSNN Sec. 3.3).

        Returns:
            The onset period of the node's output (one period later: it spikes).
        """
        self.onset = onset_in
        return onset_in + 1

    def step(self, x: Tensor, clock: Clock, method: Method, state: Any) -> tuple[Tensor, Any]:
        """One simulation step of the node (defined by each subclass).

        Args:
            x: the previous layer's signal at this step (weighted spikes or analog current),
                ``[B, C, H, W]`` or ``[B, F]``.
            clock: the step's :class:`~spikebit.conversion.dynamics.Clock`.
            method: the conversion method whose neurons fire.
            state: the node's state from the previous step, ``None`` at ``t = 0``.

        Returns:
            ``(output at this step, new state)``.

        Raises:
            NotImplementedError: on the base class.
        """
        raise NotImplementedError(f"{type(self).__name__} must define step()")

    def restart(self, state: Any, method: Method) -> Any:
        """The node's state at the start of the measured run after a pre-simulation.

        Nodes without neurons (readout, max gate) start afresh; neurons keep what
        ``method.restart`` keeps (SRP, COS: :mod:`spikebit.conversion.presim`).

        Args:
            state: the node's state after the pre-simulation steps.
            method: the conversion method (its ``restart`` maps a neuron's state).

        Returns:
            The state the measured run starts from (None: as at ``t = 0``).
        """
        return None

    def normalized(self, lam_in: float, lambdas: dict[str, float]) -> tuple[Node, float]:
        """The node with data-based normalization applied (BSNN eq. 6, 15), a new module.

        Args:
            lam_in: ``lambda`` of the node's input (the previous layer's scale).
            lambdas: the per-layer scales ``{node name: lambda}`` from calibration.

        Returns:
            ``(normalized node, lambda_out)``.

        Raises:
            NotImplementedError: on the base class.
        """
        raise NotImplementedError(f"{type(self).__name__} must define normalized()")

    def forward(self, x: Tensor) -> Tensor:
        """The ANN forward, ``analog(x)``.

        Args:
            x: the input activation ``[B, C, H, W]`` or ``[B, F]``.

        Returns:
            The node's output activation.
        """
        return self.analog(x)


class Neuron(Node):
    """A ReLU layer: ``act(chain(x))`` in the ANN, spiking neurons in the SNN.

    Args:
        name: the layer name (key of ``lambdas`` and of recorded activations).
        chain: the affine map into the layer.
        act: the ANN activation (default ReLU; e.g. a QCFS activation).
        threshold: firing threshold ``[C]`` per channel or scalar, in input units; None: 1
            (the normalized threshold).
    """

    def __init__(self, name: str, chain: Chain, act: nn.Module | None = None,
                 threshold: Tensor | None = None) -> None:
        super().__init__()
        self.name, self.chain = name, chain
        self.act = act if act is not None else nn.ReLU()
        self.set_threshold(threshold)

    def analog(self, x: Tensor, record: Recorder | None = None) -> Tensor:
        """ANN forward ``act(chain(x))``, reported to ``record``.

        Args:
            x: the input activation ``[B, C, H, W]`` or ``[B, F]`` (ANN units).
            record: called as ``record(name, activation)`` with every ReLU output (calibration);
                it may return a replacement (clipped) activation. None: nothing recorded.

        Returns:
            The activation ``[B, *out_shape]``.
        """
        return _recorded(record, self.name, self.act(self.chain(x)))

    def step(self, x: Tensor, clock: Clock, method: Method, state: Any) -> tuple[Tensor, Any]:
        """Current ``chain(x)`` (bias weighted by ``beta``), then the method's neurons fire.

        Args:
            x: the previous layer's signal at this step (weighted spikes or analog current),
                ``[B, C, H, W]`` or ``[B, F]``.
            clock: the step's :class:`~spikebit.conversion.dynamics.Clock`.
            method: the conversion method whose neurons fire.
            state: the node's state from the previous step, ``None`` at ``t = 0``.

        Returns:
            ``(spike values, new state)``; spikes ``[B, *out_shape]``.
        """
        current = self.chain.current(x, method.bias_weight(clock, self.onset))
        return fire(method, current, clock, state, self.threshold)

    def restart(self, state: Any, method: Method) -> Any:
        """The neurons' state for the measured run: ``method.restart(state)``.

        Args:
            state: the neurons' state after the pre-simulation steps.
            method: the conversion method.

        Returns:
            The state the measured run starts from.
        """
        return None if state is None else method.restart(state)

    def normalized(self, lam_in: float, lambdas: dict[str, float]) -> tuple[Node, float]:
        """BSNN eq. 6: this layer's chain scaled by ``lambda_in / lambda``, bias / ``lambda``.

        Args:
            lam_in: ``lambda`` of the node's input (the previous layer's scale).
            lambdas: the per-layer scales ``{node name: lambda}`` from calibration.

        Returns:
            ``(normalized Neuron, lambda of this layer)``.
        """
        lam = lambdas[self.name]
        return Neuron(self.name, self.chain.normalized(lam_in / lam, lam), self.act), lam


class Readout(Node):
    """Output layer without ReLU; in the SNN its current is accumulated, not spiked.

    Args:
        name: the layer name (key of ``lambdas``).
        chain: the affine map into the logits.
    """

    def __init__(self, name: str, chain: Chain) -> None:
        super().__init__()
        self.name, self.chain = name, chain

    def analog(self, x: Tensor, record: Recorder | None = None) -> Tensor:
        """ANN forward ``chain(x)`` (the logits), reported to ``record``.

        Args:
            x: the input activation ``[B, C, H, W]`` or ``[B, F]`` (ANN units).
            record: called as ``record(name, activation)`` with every ReLU output (calibration);
                it may return a replacement (clipped) activation. None: nothing recorded.

        Returns:
            The logits ``[B, K]``.
        """
        y = self.chain(x)
        if record is not None:
            record(self.name, y)
        return y

    def step(self, x: Tensor, clock: Clock, method: Method, state: Any) -> tuple[Tensor, Any]:
        """The output current at this step (bias weighted by ``beta``); no spikes.

        Args:
            x: the previous layer's signal at this step (weighted spikes or analog current),
                ``[B, C, H, W]`` or ``[B, F]``.
            clock: the step's :class:`~spikebit.conversion.dynamics.Clock`.
            method: the conversion method whose neurons fire.
            state: the node's state from the previous step, ``None`` at ``t = 0``.

        Returns:
            ``(current [B, K], None)``.
        """
        return self.chain.current(x, method.bias_weight(clock, self.onset)), None

    def assign_onset(self, onset_in: int, synchronous: bool) -> int:
        """Record the input onset; the readout adds no delay.

        Args:
            onset_in: the first period in which the node's input carries information.
            synchronous: SN on residual shortcuts (BSNN Sec. 3.3).

        Returns:
            ``onset_in``.
        """
        self.onset = onset_in
        return onset_in

    def normalized(self, lam_in: float, lambdas: dict[str, float]) -> tuple[Node, float]:
        """The readout's chain scaled by ``lambda_in / lambda_L``, bias / ``lambda_L``.

        Args:
            lam_in: ``lambda`` of the node's input (the previous layer's scale).
            lambdas: the per-layer scales ``{node name: lambda}`` from calibration.

        Returns:
            ``(normalized Readout, lambda_L)``.
        """
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

    Args:
        name: the layer name.
        pool: the ANN's ``nn.MaxPool2d`` (copied; ``return_indices`` is turned off).
    """

    def __init__(self, name: str, pool: nn.MaxPool2d) -> None:
        super().__init__()
        self.name, self.pool = name, copy.deepcopy(pool)
        self.pool.return_indices = False

    def analog(self, x: Tensor, record: Recorder | None = None) -> Tensor:
        """ANN forward: ``max_pool2d(x)``.

        Args:
            x: the input activation ``[B, C, H, W]`` or ``[B, F]`` (ANN units).
            record: called as ``record(name, activation)`` with every ReLU output (calibration);
                it may return a replacement (clipped) activation. None: nothing recorded.

        Returns:
            The pooled activation ``[B, C, H', W']``.
        """
        return self.pool(x)

    def step(self, x: Tensor, clock: Clock, method: Method, state: Any) -> tuple[Tensor, Any]:
        """Increment of the pooled running spike count at this step.

        Args:
            x: the previous layer's signal at this step (weighted spikes or analog current),
                ``[B, C, H, W]`` or ``[B, F]``.
            clock: the step's :class:`~spikebit.conversion.dynamics.Clock`.
            method: the conversion method whose neurons fire.
            state: the node's state from the previous step, ``None`` at ``t = 0``.

        Returns:
            ``(output [B, C, H', W'], (counts, pooled count))``.
        """
        count = x if state is None else state[0] + x
        pooled = self.pool(count)
        out = pooled if state is None else pooled - state[1]
        return out, (count, pooled)

    def normalized(self, lam_in: float, lambdas: dict[str, float]) -> tuple[Node, float]:
        """Max-pooling commutes with positive scaling: a copy, ``lambda`` unchanged.

        Args:
            lam_in: ``lambda`` of the node's input (the previous layer's scale).
            lambdas: the per-layer scales ``{node name: lambda}`` from calibration.

        Returns:
            ``(copy, lam_in)``.
        """
        return MaxGate(self.name, self.pool), lam_in

    def assign_onset(self, onset_in: int, synchronous: bool) -> int:
        """Record the input onset; pooling adds no delay.

        Args:
            onset_in: the first period in which the node's input carries information.
            synchronous: SN on residual shortcuts (BSNN Sec. 3.3).

        Returns:
            ``onset_in``.
        """
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
    The shortcut is scaled by ``lambda_in / lambda_out`` (BSNN eq. 15).

    Args:
        name: the block's name (key of ``lambdas`` for its output neurons).
        body: the nodes of the residual branch before its last affine map.
        tail: the last affine map of the branch (conv + folded BN).
        shortcut: the shortcut's affine map (identity or 1x1 conv + BN).
        synchronous: put SN on the shortcut.
        act: the output activation (default ReLU; e.g. a QCFS activation).
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
        """ANN forward ``act(tail(body(x)) + shortcut(relu(x)))``, reported to ``record``.

        Args:
            x: the input activation ``[B, C, H, W]`` or ``[B, F]`` (ANN units).
            record: called as ``record(name, activation)`` with every ReLU output (calibration);
                it may return a replacement (clipped) activation. None: nothing recorded.

        Returns:
            The block output ``[B, C', H', W']``.
        """
        h = run_analog(self.body, x, record)
        out = self.act(self.tail(h) + self.shortcut(F.relu(x)))
        return _recorded(record, self.name, out)

    def step(self, x: Tensor, clock: Clock, method: Method, state: Any) -> tuple[Tensor, Any]:
        """One step of the block: body, SN on the shortcut (if synchronous), output neurons.

        Args:
            x: the previous layer's signal at this step (weighted spikes or analog current),
                ``[B, C, H, W]`` or ``[B, F]``.
            clock: the step's :class:`~spikebit.conversion.dynamics.Clock`.
            method: the conversion method whose neurons fire.
            state: the node's state from the previous step, ``None`` at ``t = 0``.

        Returns:
            ``(spike values [B, C', H', W'], (body states, SN state, output state))``.
        """
        body_states, sn_state, out_state = state or ([None] * len(self.body), None, None)
        h, body_states = run_step(self.body, x, clock, method, body_states)
        if self.synchronous:
            x, sn_state = method.fire(x, clock, sn_state)
        beta = method.bias_weight(clock, self.onset)
        current = self.tail.current(h, beta) + self.shortcut.current(x, beta)
        s, out_state = fire(method, current, clock, out_state, self.threshold)
        return s, (body_states, sn_state, out_state)

    def restart(self, state: Any, method: Method) -> Any:
        """Restart the body's nodes, the SN and the output neurons (``method.restart``).

        Args:
            state: ``(body states, SN state, output state)`` after the pre-simulation.
            method: the conversion method.

        Returns:
            The block's state the measured run starts from.
        """
        if state is None:
            return None
        body_states, sn_state, out_state = state
        return (restart_states(self.body, body_states, method),
                None if sn_state is None else method.restart(sn_state),
                None if out_state is None else method.restart(out_state))

    def normalized(self, lam_in: float, lambdas: dict[str, float]) -> tuple[Node, float]:
        """Normalize the body, then scale tail and shortcut to the block's ``lambda`` (BSNN eq. 15).

        Args:
            lam_in: ``lambda`` of the node's input (the previous layer's scale).
            lambdas: the per-layer scales ``{node name: lambda}`` from calibration.

        Returns:
            ``(normalized Residual, lambda of the block output)``.
        """
        body, lam_h = normalize_nodes(self.body, lam_in, lambdas)
        lam_out = lambdas[self.name]
        tail = self.tail.normalized(lam_h / lam_out, lam_out)
        shortcut = self.shortcut.normalized(lam_in / lam_out, lam_out)  # eq. 15
        return Residual(self.name, body, tail, shortcut, self.synchronous, self.act), lam_out

    def assign_onset(self, onset_in: int, synchronous: bool) -> int:
        """Output neurons start when both paths carry information (SN: one period later).

        Args:
            onset_in: the first period in which the node's input carries information.
            synchronous: SN on residual shortcuts (BSNN Sec. 3.3).

        Returns:
            The onset period of the block's output.
        """
        self.synchronous = synchronous
        body_onset = assign_onsets(self.body, onset_in, synchronous)
        self.onset = max(body_onset, onset_in + 1 if synchronous else onset_in)
        return self.onset + 1


def run_analog(nodes: Sequence[Node], x: Tensor, record: Recorder | None = None) -> Tensor:
    """ANN forward through ``nodes``.

    Args:
        nodes: the graph nodes, input to output.
        x: the input ``[B, C, H, W]``.
        record: receives ``record(name, activation)`` for every ReLU output (None: off).

    Returns:
        The last node's output (logits ``[B, K]`` for a whole graph).
    """
    for node in nodes:
        x = node.analog(x, record)
    return x


def run_step(nodes: Sequence[Node], x: Tensor, clock: Clock, method: Method,
             states: list[Any]) -> tuple[Tensor, list[Any]]:
    """One simulation step through ``nodes``.

    Args:
        nodes: the graph nodes, input to output.
        x: the encoded input signal at this step ``[B, C, H, W]``.
        clock: the step's :class:`~spikebit.conversion.dynamics.Clock`.
        method: the conversion method whose neurons fire.
        states: one state per node from the previous step (``None`` entries at ``t = 0``).

    Returns:
        ``(output of the last node, new states)``.
    """
    new_states = []
    for node, state in zip(nodes, states):
        x, state = node.step(x, clock, method, state)
        new_states.append(state)
    return x, new_states


def restart_states(nodes: Sequence[Node], states: list[Any], method: Method) -> list[Any]:
    """Every node's state for the measured run after a pre-simulation (``Node.restart``).

    Args:
        nodes: the graph nodes, input to output.
        states: one state per node after the pre-simulation steps.
        method: the conversion method.

    Returns:
        One state per node.
    """
    return [node.restart(state, method) for node, state in zip(nodes, states)]


def assign_onsets(nodes: Sequence[Node], onset_in: int, synchronous: bool) -> int:
    """Set every node's onset (and the SN switch of residual nodes).

    Args:
        nodes: the graph nodes, input to output.
        onset_in: the period in which the input carries information (0).
        synchronous: SN on residual shortcuts.

    Returns:
        The onset period of the last node's output (the readout's onset).
    """
    for node in nodes:
        onset_in = node.assign_onset(onset_in, synchronous)
    return onset_in


def normalize_nodes(nodes: Sequence[Node], lam_in: float,
                    lambdas: dict[str, float]) -> tuple[list[Node], float]:
    """Apply data-based normalization (Rueckauer et al. 2017; BSNN eq. 6, 15) to every node.

    Args:
        nodes: the graph nodes, input to output.
        lam_in: ``lambda_0``, the input's scale.
        lambdas: the per-layer scales ``{node name: lambda}`` from calibration.

    Returns:
        ``(normalized nodes, lambda of the last node)``.
    """
    out = []
    for node in nodes:
        node, lam_in = node.normalized(lam_in, lambdas)
        out.append(node)
    return out, lam_in
