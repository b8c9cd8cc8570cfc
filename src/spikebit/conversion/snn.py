"""The converted spiking network and :func:`convert`, the public entry point."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from spikebit.conversion import fast as _fast  # noqa: F401  (registers ltb, burst, qcfs)
from spikebit.conversion import presim as _presim  # noqa: F401  (registers srp, cos)
from spikebit.conversion.calibrate import DEFAULT_MAX_VALUES, check_percentile, record_lambdas
from spikebit.conversion.check import check_convertible
from spikebit.conversion.dynamics import (
    INPUT_CODINGS,
    METHODS,
    Clock,
    InputCoding,
    Method,
    build_method,
)
from spikebit.conversion.errors import ConversionError
from spikebit.conversion.fold import fold_batchnorm
from spikebit.conversion.graph import (
    Neuron,
    Node,
    Residual,
    assign_onsets,
    normalize_nodes,
    restart_states,
    run_analog,
    run_step,
)
from spikebit.conversion.lower import check_lowering, lower
from spikebit.conversion.qcfs import module_thresholds
from spikebit.conversion.settings import DEFAULT_K, DEFAULT_PERCENTILE, check_settings
from spikebit.conversion.thresholds import THRESHOLD_RULES, calibrate_thresholds
from spikebit.conversion.validate import (
    check_batch,
    check_flag,
    check_int,
    check_name,
    check_steps,
    module_dtype,
)


class SpikingConverted(nn.Module):
    """A normalized conversion graph plus the spiking method that runs it.

    ``simulate(x, T)`` gives the running readout ``[T, B, K]``: the output
    layer's accumulated current divided by the elapsed periods, which
    converges to the normalized ANN output ``ann(x) / output_scale``.
    Built by :func:`convert`; the arguments are those it computes.

    Args:
        nodes: the lowered (and normalized) graph nodes, input to output.
        method: the spiking dynamics (:class:`~spikebit.conversion.dynamics.Method`).
        encoder: the input coding (``"direct"`` or ``"phase"``).
        input_scale: ``lambda_0``, the input is divided by it before encoding.
        output_scale: ``lambda_L`` of the readout; the readout approximates
            ``ann(x) / output_scale``.
        lambdas: the per-layer scales ``{name: lambda}`` (per-channel methods: the largest
            threshold of each layer), kept for reports.
        synchronous: SN on residual shortcuts (BSNN Sec. 3.3).
    """

    def __init__(self, nodes: list[Node], method: Method, encoder: InputCoding, *,
                 input_scale: float, output_scale: float, lambdas: dict[str, float],
                 synchronous: bool) -> None:
        super().__init__()
        self.nodes = nn.ModuleList(nodes)
        self.method, self.encoder = method, encoder
        self.input_scale, self.output_scale = float(input_scale), float(output_scale)
        self.lambdas = dict(lambdas)
        self.synchronous = synchronous
        self.readout_onset = assign_onsets(list(self.nodes), 0, synchronous)

    @property
    def K(self) -> int:
        """Phases per period of the method (time steps per period)."""
        return self.method.K

    @property
    def presim(self) -> int:
        """Steps every sample is pre-simulated before the measured run (SRP, COS; else 0).

        The latency of a readout after ``T`` steps is ``presim + T`` steps.
        """
        return self.method.presim

    @property
    def has_residual(self) -> bool:
        """Whether the graph holds residual blocks (ResNets)."""
        return any(isinstance(m, Residual) for m in self.modules())

    def analog(self, x: Tensor) -> Tensor:
        """Normalized ANN output ``[B, K]`` (= ``ann(x) / output_scale``).

        Args:
            x: input images ``[B, C, H, W]``.

        Returns:
            The graph's ANN forward on ``x / input_scale``, ``[B, K]``.
        """
        with torch.no_grad():
            return run_analog(list(self.nodes), x / self.input_scale)

    def output_current(self, x: Tensor, T: int) -> Tensor:
        """Current into the output layer at every step, ``[T, B, K]`` (one pass).

        Args:
            x: input images ``[B, C, H, W]`` (any ``[B, ...]`` the first layer takes), in the
                ANN's input units.
            T: time steps to simulate.

        Returns:
            The output layer's input current at each step, ``[T, B, K]`` (K classes).

        Raises:
            ConversionError: ``x`` is not a batch or ``T`` is not an int in
                ``1 .. MAX_T`` (:mod:`spikebit.conversion.validate`).
        """
        if x.dim() < 2:
            raise ConversionError(f"x must be a batch [B, ...], got shape {tuple(x.shape)}")
        T = check_steps(T)
        nodes = list(self.nodes)
        states: list = [None] * len(nodes)
        x = x / self.input_scale
        with torch.no_grad():
            if self.presim:  # SRP, COS: pre-simulate, keep what the method keeps, restart
                _, states = self._run(nodes, x, self.presim, states)
                states = restart_states(nodes, states, self.method)
            out, _ = self._run(nodes, x, T, states)
        return torch.stack(out)

    def _run(self, nodes: list[Node], x: Tensor, T: int,
             states: list) -> tuple[list[Tensor], list]:
        """``T`` steps from ``states`` (clock and encoder from t = 0): output currents, states."""
        enc_state, out = None, []
        for t in range(T):
            clock = Clock(t, self.K)
            signal, enc_state = self.encoder.step(x, clock, self.method, enc_state)
            current, states = run_step(nodes, signal, clock, self.method, states)
            out.append(current)
        return out, states

    def elapsed(self, T: int) -> Tensor:
        """Periods the readout has integrated after each step, ``[T]`` (its divisor).

        The running sum of ``beta``, counted from the readout's onset for bsnn.

        Args:
            T: time steps, ``1 .. MAX_T``.

        Returns:
            float64 ``[T]``.

        Raises:
            ConversionError: ``T`` is not an int in ``1 .. MAX_T``.
        """
        T = check_steps(T)
        betas = [self.method.bias_weight(Clock(t, self.K), self.readout_onset) for t in range(T)]
        return torch.tensor(betas, dtype=torch.float64).cumsum(0)

    def simulate(self, x: Tensor, T: int) -> Tensor:
        """Running readout at every step, ``[T, B, K]``, for input ``x`` ``[B, C, H, W]``.

        Steps before information reaches the output (bsnn: ``2 K`` steps and more) read out
        zeros. Methods with a pre-simulation (``presim > 0``: srp, cos) first run ``presim``
        steps whose output is discarded; entry ``t - 1`` then comes after ``presim + t`` steps.

        Memory: the readout of the batch is ``[T, B, K]`` (in ``x``'s dtype), held a few
        times over while it is summed; ``T`` is at most ``MAX_T = 2**16``
        (:mod:`spikebit.conversion.validate`).

        Args:
            x: input images ``[B, C, H, W]``, in the ANN's input units.
            T: time steps to simulate, ``1 .. MAX_T``.

        Returns:
            The readout after each step, ``[T, B, K]``, in normalized units
            (``ann(x) / output_scale`` in the limit).

        Raises:
            ConversionError: ``x`` is not a batch or ``T`` is not an int in ``1 .. MAX_T``.
        """
        current = self.output_current(x, T)
        norm = self.elapsed(T).to(current.dtype).to(current.device)
        norm = norm.view(T, *([1] * (current.dim() - 1)))
        return torch.where(norm > 0, current.cumsum(0) / norm.clamp_min(1e-30), 0.0)


def convert(
    ann: nn.Module,
    calibration_data: Tensor,
    method: str = "bsnn",
    percentile: float | None = None,
    K: int | None = None,
    *,
    synchronous: bool | None = None,
    input_coding: str | None = None,
    batch_size: int = 256,
    max_calibration_values: int | None = None,
    thresholds: str | None = None,
    max_spikes: int | None = None,
    presim: int | None = None,
) -> SpikingConverted:
    """Convert a ReLU ``ann`` (logits ``[B, K]``) to a spiking network.

    Steps: check that every layer lowers exactly (:func:`check_convertible`,
    before any other work), fold BN (BSNN eq. 7), lower to graph nodes, then either
    record the ``percentile``-th activation of every ReLU layer on
    ``calibration_data`` and normalize (data-based normalization, Rueckauer et al.
    2017; BSNN eq. 6, 15), or -- for methods with per-channel thresholds -- calibrate
    one threshold per channel.

    A setting the method does not read (``K`` without phases, ``percentile`` with
    ``ltb`` or ``module`` thresholds, ``max_calibration_values`` with per-channel
    thresholds, ``max_spikes`` without bursts, ``presim`` without a pre-simulation) is
    refused when given (:mod:`spikebit.conversion.settings`);
    leave it None.

    Args:
        ann: a ReLU ANN, images ``[B, C, H, W]`` to logits ``[B, K]``, whose forward
            applies its children in registration order.
        calibration_data: calibration images ``[N, C, H, W]`` (on the device to convert
            on).
        method: ``"rate"`` (Rueckauer 2017), ``"phase"`` (Kim 2018), ``"bsnn"`` (Li et
            al. 2022; layer-wise normalization) or ``"ltb"``, ``"signed"``, ``"burst"``,
            ``"signed-burst"``, ``"qcfs"`` (per-channel or learned thresholds,
            :mod:`spikebit.conversion.fast`), ``"srp"``, ``"cos"`` (the same with a
            pre-simulation, :mod:`spikebit.conversion.presim`); see ``METHODS``.
        percentile: the normalization percentile in %, ``(0, 100]`` (100 = max-norm; default
            99.99); read by layer-wise normalization (rate, phase, bsnn) and the
            ``"percentile"`` threshold rule only.
        K: phases per period (time steps per period), ``1 .. 24`` (default 8); read by the
            phase codings (phase, bsnn, or ``input_coding="phase"``) only.
        synchronous: SN on residual shortcuts, ``True``/``False`` (default None: on for
            bsnn only; layer-wise methods only).
        input_coding: ``"direct"`` or ``"phase"`` (default per method).
        batch_size: images per calibration forward pass, an int >= 1.
        max_calibration_values: most positive activations kept per layer for the
            percentile, an int >= 1 (memory bound; default 2^22); layer-wise
            normalization only.
        thresholds: the per-channel threshold rule, ``"ltb"``, ``"percentile"``, or
            ``"module"`` for the clip learned by QCFS layers (default per method).
        max_spikes: spikes per step of the burst methods (default 4).
        presim: pre-simulation steps of srp and cos (default 4; :mod:`spikebit.conversion.presim`).

    Returns:
        The converted network, a ``SpikingConverted`` (``simulate(x, T)`` gives ``[T, B, K]``).

    Raises:
        ConversionError: an unconvertible layer, a lowering that does not reproduce the
            ANN, a bad percentile, ``K``, threshold rule or option, a setting the method
            does not read, ``synchronous`` with per-channel thresholds, a wrongly typed
            argument (a bool for a count, a string for a number, an empty name, a
            non-bool ``synchronous``), a ``batch_size`` or ``max_calibration_values``
            below 1, ``calibration_data`` that is empty, not in the ANN's dtype or not
            shaped as its input, or ``thresholds="module"`` without QCFS activations.
        RegistryError: an unknown ``method`` or ``input_coding``.
    """
    check_name("method", method, METHODS.names())
    check_name("thresholds", thresholds, (*THRESHOLD_RULES, "module"), optional=True,
               default="the method's rule")
    check_name("input_coding", input_coding, INPUT_CODINGS.names(), optional=True,
               default="the method's coding")
    check_flag("synchronous", synchronous, optional=True, default="the method's default")
    batch_size = check_int("batch_size", batch_size, meaning="images per forward pass",
                           example=256)
    check_convertible(ann)
    check_settings(method, {"percentile": percentile, "K": K, "max_spikes": max_spikes,
                            "presim": presim, "max_calibration_values": max_calibration_values},
                   thresholds=thresholds, input_coding=input_coding)
    percentile = check_percentile(DEFAULT_PERCENTILE if percentile is None else percentile)
    cap = check_int("max_calibration_values",
                    DEFAULT_MAX_VALUES if max_calibration_values is None
                    else max_calibration_values,
                    meaning="positive activations kept per layer", example=DEFAULT_MAX_VALUES)
    K = DEFAULT_K if K is None else K
    spiking = build_method(method, K, max_spikes=max_spikes, presim=presim)
    encoder = INPUT_CODINGS.get(spiking.default_encoder if input_coding is None
                                else input_coding)()
    rule = spiking.thresholds if thresholds is None else thresholds
    if rule is not None and rule not in (*THRESHOLD_RULES, "module"):
        raise ConversionError(f"unknown thresholds {rule!r}; expected one of "
                              f"{[*THRESHOLD_RULES, 'module']}")
    if rule is not None and synchronous:
        raise ConversionError("synchronous neurons (SN) need layer-wise normalization; "
                              f"method {method!r} with per-channel thresholds takes "
                              "synchronous=False")
    check_batch(calibration_data, "calibration images", module_dtype(ann))
    device = calibration_data.device
    folded = fold_batchnorm(ann).to(device)
    _check_runs(folded, calibration_data[:1])
    try:
        nodes = lower(folded, calibration_data[:1])
    except RuntimeError as err:  # the ANN runs on the data: forward is not children-in-order
        raise ConversionError(
            f"lowering failed ({err}); the lowered network does not reproduce the ANN. "
            "Convertible models apply their children in registration order."
        ) from err
    check_lowering(nodes, folded, calibration_data[:batch_size])
    sync = spiking.default_synchronous if synchronous is None else bool(synchronous)
    if rule is not None:
        found = _channel_thresholds(nodes, calibration_data, rule, percentile, batch_size)
        summary = {name: float(th.max()) for name, th in found.items()}
        return SpikingConverted(nodes, spiking, encoder, input_scale=1.0, output_scale=1.0,
                                lambdas=summary, synchronous=False)
    lambdas = record_lambdas(lambda x, rec: run_analog(nodes, x, rec), calibration_data,
                             percentile, batch_size, cap)
    lam_in = encoder.input_scale(calibration_data, percentile)
    normalized, lam_out = normalize_nodes(nodes, lam_in, lambdas)
    return SpikingConverted(normalized, spiking, encoder, input_scale=lam_in,
                            output_scale=lam_out, lambdas=lambdas, synchronous=sync)


def _check_runs(ann: nn.Module, x: Tensor) -> None:
    """Raise unless ``ann`` runs on the sample ``x`` ``[1, ...]`` (the input's shape)."""
    try:
        with torch.no_grad():
            ann(x)
    except RuntimeError as err:
        first = next((m for m in ann.modules() if hasattr(m, "in_channels")
                      or hasattr(m, "in_features")), None)
        wants = ("" if first is None else
                 f"; its first layer is {type(first).__name__} with "
                 + (f"{first.in_channels} input channels ([N, {first.in_channels}, H, W])"
                    if hasattr(first, "in_channels")
                    else f"{first.in_features} input features ([N, {first.in_features}])"))
        raise ConversionError(
            f"the ANN does not run on calibration_data of shape [N, "
            f"{', '.join(map(str, x.shape[1:]))}] ({err}){wants}. Pass calibration images "
            "shaped like the ANN's training inputs") from err


def _spiking_nodes(nodes: list[Node]) -> dict[str, Node]:
    """Every node that fires (neurons, residual outputs), by name, nested ones included."""
    return {m.name: m for node in nodes for m in node.modules()
            if isinstance(m, (Neuron, Residual))}


def _channel_thresholds(nodes: list[Node], data: Tensor, rule: str, percentile: float,
                        batch_size: int) -> dict[str, Tensor]:
    """Set per-channel (or QCFS) thresholds on every spiking node; returns them."""
    spiking = _spiking_nodes(nodes)
    if rule == "module":
        found = module_thresholds(nodes)
        missing = sorted(set(spiking) - set(found))
        if missing:
            raise ConversionError(
                f"thresholds='module' needs QCFS activations in every spiking layer; layers "
                f"{missing} have none. Build the ANN with spikebit.conversion.qcfs.to_qcfs "
                "and fine-tune it, or use thresholds='ltb'")
    else:
        found = calibrate_thresholds(lambda x, rec: run_analog(nodes, x, rec), data, rule,
                                     percentile, batch_size, set(spiking))
    device = data.device
    for name, node in spiking.items():
        node.set_threshold(found[name].to(device))
    return found
