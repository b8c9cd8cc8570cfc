"""The paper's neuron settings (Table 1) and their translation into our units.

The paper measures the membrane potential in mV with threshold ``V = 10 mV``
and gives its surrogate parameters in those units: height ``a = 1`` (per mV)
and width ``b = 20`` (a variance, in mV^2). Our staircase curves
(``spikebit.functional.staircase``) are functions of the normalized potential
``x = h / V`` and the firing function multiplies them by ``1 / V``. The same
curve in our units therefore has::

    height = a * V_paper            (so d o / d u peaks at a per mV)
    width  = b / V_paper ** 2       (b = 20 mV^2 -> 0.2, a std of 0.32 V)

whatever threshold the network uses. See ``docs/methods/multithreshold.md``.
"""

from __future__ import annotations

from typing import Any

from spikebit.errors import ConfigError
from spikebit.neurons.params import check_count

PAPER_THRESHOLD_MV = 10.0
"""Table 1: threshold ``V = 10 mV`` (the unit the paper's ``a`` and ``b`` refer to)."""
PAPER_LEAK = 0.9
"""Table 1: ``tau_m = 10 ms``; forward Euler with ``dt = 1 ms`` gives ``1 - dt/tau = 0.9``."""
PAPER_A = 1.0
PAPER_B = 20.0
DEFAULT_B = 200.0
"""Ours: the zoo's default width of curve 2 (mV^2), ten times the paper's ``PAPER_B``.
With ``b = 20`` (a bump of std 0.32 V around each level 1..O_max) a neuron whose
potential stays below the first level gets almost no gradient (``exp(-1/0.2)`` = 0.7%
of the peak at ``h = 0``); at T >= 3 whole output neurons fell silent for every input
and their classes were never predicted (``results/mt-steps-ablation.json``). ``b = 200``
(std 1 V) keeps them trainable; pass ``b=PAPER_B`` for the paper's curve."""
PAPER_MAX_SPIKES = 15
PAPER_CURVE = "mt-gauss"  # "curve 2" (Sec. 3.4.1: the paper's choice)
DETACH_RESET = True
"""Ours: the reset's gradient path is cut. Exact BPTT through ``v = h - V o`` has
``dv/dh = 1 - V g``; with the paper's curve ``V g`` peaks at ``a V_paper = 10``, so the
temporal gradient flips sign and grows ninefold, and training diverges."""


def paper_curve_params(a: float = PAPER_A, b: float = PAPER_B,
                       threshold_mv: float = PAPER_THRESHOLD_MV) -> dict[str, float]:
    """``(a [1/mV], b [mV^2])`` -> our ``height`` and ``width`` (curves of ``x = h / V``).

    The surrogate curves of the multi-threshold LIF paper (eq. 14-16, Table 1).

    Args:
        a: the curve's height, per mV (paper units).
        b: the curve's width, a variance in mV^2 (paper units).
        threshold_mv: the paper's threshold ``V_paper`` in mV.

    Returns:
        ``{"height": a * V_paper, "width": b / V_paper^2}``.

    Raises:
        ConfigError: ``a`` or ``b`` not positive.
    """
    if a <= 0 or b <= 0:
        raise ConfigError(f"surrogate height a and width b must be > 0, got a={a}, b={b}")
    return {"height": a * threshold_mv, "width": b / threshold_mv**2}


def mt_neuron_kwargs(
    curve: str = PAPER_CURVE,
    a: float = PAPER_A,
    b: float = PAPER_B,
    max_spikes: int = PAPER_MAX_SPIKES,
    threshold: float = PAPER_THRESHOLD_MV,
    tau: float = PAPER_LEAK,
    detach_reset: bool = DETACH_RESET,
) -> dict[str, Any]:
    """Keyword arguments of a ``"mtlif"`` neuron with the paper's curve in paper units.

    ``threshold`` is ours (the network's scale); ``a`` and ``b`` stay in the paper's
    units (mV, with ``V_paper = 10 mV``) and are translated by :func:`paper_curve_params`.
    Neuron of the multi-threshold LIF paper eq. 4-5, settings of its Table 1.

    Args:
        curve: staircase surrogate name (``"mt-gauss"``: the paper's curve 2).
        a: surrogate height per mV (paper units).
        b: surrogate width in mV^2 (paper units).
        max_spikes: ``O_max``, the largest spike count per step.
        threshold: ``V`` in the network's units (paper scale: 10).
        tau: leak factor per step in ``[0, 1]`` (0.9: ``tau_m = 10 ms`` at 1 ms steps).
        detach_reset: cut the reset's gradient path (see ``DETACH_RESET``).

    Returns:
        Keyword arguments for ``make_neuron("mtlif", ...)``.

    Raises:
        ConfigError: ``max_spikes`` not an integer >= 1 (``2.7``, ``True``), or ``a``/``b``
            not positive.
    """
    max_spikes = check_count(max_spikes, "max_spikes (O_max)")
    return {"threshold": float(threshold), "tau": float(tau), "max_spikes": max_spikes,
            "surrogate": curve, "detach_reset": detach_reset, **paper_curve_params(a, b)}
