"""Which conversion settings a method reads, and the check that refuses the others.

A setting the chosen method would ignore -- ``K`` for a method without phases,
``percentile`` with LTB or learned (``module``) thresholds, ``max_calibration_values``
with any per-channel threshold rule, ``max_spikes`` without
bursts, ``presim`` without a pre-simulation, the QCFS fine-tuning of
``convert_checkpoint`` for another method -- is an error when it is given, not
silently dropped. ``None`` means "not given" (the default), so defaults never trip
the check. :func:`check_checkpoint_arguments` adds the type and range checks that
:func:`~spikebit.conversion.from_checkpoint.convert_checkpoint` runs before loading.
:func:`check_settings` is called by
:func:`~spikebit.conversion.snn.convert`,
:func:`~spikebit.conversion.from_checkpoint.convert_checkpoint` and ``spikebit convert``;
:func:`uses` also decides what a report shows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from spikebit.conversion.calibrate import check_percentile
from spikebit.conversion.dynamics import INPUT_CODINGS, METHODS, build_method, option_users
from spikebit.conversion.errors import ConversionError
from spikebit.conversion.thresholds import THRESHOLD_RULES
from spikebit.conversion.validate import (
    check_flag,
    check_int,
    check_name,
    check_number,
    check_steps,
)

DEFAULT_PERCENTILE = 99.99  # layer-wise normalization / percentile thresholds, in %
DEFAULT_K = 8  # phases per period of the phase codings
QCFS_SETTINGS = ("qcfs_levels", "qcfs_epochs")  # convert_checkpoint: QCFS fine-tuning
QCFS_LEVELS, QCFS_EPOCHS = 4, 2  # their defaults: L and fine-tuning epochs


def threshold_rule(method: str, thresholds: str | None = None) -> str | None:
    """The threshold rule a conversion runs with.

    Args:
        method: a name in ``METHODS``.
        thresholds: the rule asked for (``"ltb"``, ``"percentile"``, ``"module"``), or None
            for the method's default.

    Returns:
        ``thresholds`` if given, else the method's default; None means layer-wise
        data-based normalization (rate, phase, bsnn).

    Raises:
        RegistryError: ``method`` is not registered.
    """
    return METHODS.get(method).thresholds if thresholds is None else thresholds


def uses(setting: str, method: str, *, thresholds: str | None = None,
         input_coding: str | None = None) -> bool:
    """Whether a conversion with ``method`` reads ``setting``.

    ``percentile``: layer-wise normalization (no threshold rule) or the ``"percentile"``
    rule. ``max_calibration_values``: layer-wise normalization only. ``K``: methods whose
    dynamics have phases (``Method.phased``: phase, bsnn) or a phase input coding.
    ``qcfs_levels``, ``qcfs_epochs``: method ``qcfs``. Any other setting: the method's own
    options (``Method.options``, e.g. ``max_spikes`` for burst, ``presim`` for srp and cos).

    Args:
        setting: a setting name as :func:`~spikebit.conversion.snn.convert` spells it.
        method: a name in ``METHODS``.
        thresholds: the threshold rule asked for (None: the method's default).
        input_coding: the input coding asked for (None: the method's default).

    Returns:
        True if the setting changes the conversion.

    Raises:
        RegistryError: an unknown ``method`` or ``input_coding``.
    """
    cls = METHODS.get(method)
    if setting == "percentile":
        return threshold_rule(method, thresholds) in (None, "percentile")
    if setting == "max_calibration_values":  # the cap of layer-wise normalization
        return threshold_rule(method, thresholds) is None
    if setting == "K":
        coding = cls.default_encoder if input_coding is None else input_coding
        return cls.phased or INPUT_CODINGS.get(coding).phased
    if setting in QCFS_SETTINGS:
        return method == "qcfs"
    return setting in cls.options


def _users(setting: str) -> str:
    """Who reads ``setting`` at their defaults, for messages."""
    if setting in ("percentile", "max_calibration_values", "K", *QCFS_SETTINGS):
        names = [m for m in METHODS.names() if uses(setting, m)]
    else:
        names = option_users(setting)
    extra = {"percentile": " with their default thresholds, and any method with "
                           "thresholds 'percentile'",
             "max_calibration_values": " without a threshold rule",
             "K": ", and any method with input coding 'phase'"}.get(setting, "")
    return (", ".join(names) or "no registered method") + extra


def _reason(setting: str, method: str, thresholds: str | None) -> str:
    """Why ``method`` does not read ``setting``, for messages."""
    if setting in ("percentile", "max_calibration_values"):
        return f"its thresholds come from the {threshold_rule(method, thresholds)!r} rule"
    if setting == "K":
        return "its neurons and input coding have no phases"
    if setting in QCFS_SETTINGS:
        return "only method 'qcfs' fine-tunes a QCFS ANN"
    own = METHODS.get(method).options
    return f"its own options are {', '.join(own)}" if own else "it has no options of its own"


def check_settings(method: str, given: Mapping[str, Any], *, thresholds: str | None = None,
                   input_coding: str | None = None,
                   spell: Callable[[str], str] = str) -> None:
    """Raise if a setting in ``given`` is not None but ``method`` does not read it.

    Args:
        method: a name in ``METHODS``.
        given: ``{setting: value}``; None values are "not given" and pass.
        thresholds: the threshold rule asked for (None: the method's default).
        input_coding: the input coding asked for (None: the method's default).
        spell: how a setting is named in the message (e.g. ``--max-spikes`` on the
            command line).

    Raises:
        ConversionError: a given setting that ``method`` ignores; the message names the
            setting, the method and the methods that use the setting.
        RegistryError: an unknown ``method`` or ``input_coding``.
    """
    for setting, value in given.items():
        if value is None or uses(setting, method, thresholds=thresholds,
                                 input_coding=input_coding):
            continue
        name = spell(setting)
        raise ConversionError(
            f"{name} is not used by method {method!r} ({_reason(setting, method, thresholds)})"
            f"; it is used by: {_users(setting)}. Drop {name} or choose one of those methods")


def check_checkpoint_arguments(method: str, T: int, calibration: int, batch_size: int,
                               tolerance: float, write: bool, settings: Mapping[str, Any],
                               thresholds: str | None) -> dict[str, Any]:
    """Check what :func:`~spikebit.conversion.from_checkpoint.convert_checkpoint` (and so
    ``spikebit convert``) can check before loading anything, and return the values as
    plain Python numbers (NumPy ints and floats are accepted like ``int`` and ``float``).

    Args:
        method: the conversion method name.
        T: time steps, ``1 .. MAX_T`` (:mod:`spikebit.conversion.validate`).
        calibration: training images, an int >= 1.
        batch_size: images per forward pass, an int >= 1.
        tolerance: loss in points counted as lossless, a number >= 0.
        write: whether the report is written, a bool.
        settings: ``percentile``, ``K``, ``max_spikes``, ``presim``, ``qcfs_levels``,
            ``qcfs_epochs`` as given (None: not given).
        thresholds: the threshold rule asked for, or None.

    Returns:
        ``{"T", "calibration", "batch_size", "tolerance"}`` and every key of ``settings``,
        as ``int``/``float`` (None stays None).

    Raises:
        ConversionError: a wrongly typed or out-of-range argument (bools are refused
            where numbers are meant, strings where numbers are meant, empty names), or a
            setting given that ``method`` does not read.
        RegistryError: an unknown ``method``.
    """
    check_name("method", method, METHODS.names())
    check_name("thresholds", thresholds, (*THRESHOLD_RULES, "module"), optional=True,
               default="the method's rule")
    out: dict[str, Any] = {
        "T": check_steps(T),
        "calibration": check_int("calibration", calibration, meaning="training images",
                                 example=2000),
        "batch_size": check_int("batch_size", batch_size, meaning="images per forward pass",
                                example=256),
        "tolerance": check_number("tolerance", tolerance, 0.0,
                                  meaning="loss in points counted as lossless", example=0.1)}
    check_flag("write", write)
    check_settings(method, settings, thresholds=thresholds)
    K = settings.get("K")
    build_method(method, DEFAULT_K if K is None else K,  # the ranges of K and the options
                 max_spikes=settings.get("max_spikes"), presim=settings.get("presim"))
    out.update(settings)
    for name in ("K", "max_spikes", "presim"):  # ranges checked by build_method
        if settings.get(name) is not None:
            out[name] = check_int(name, settings[name], 0)
    if settings.get("percentile") is not None:
        out["percentile"] = check_percentile(settings["percentile"])
    if settings.get("qcfs_levels") is not None:
        out["qcfs_levels"] = check_int("qcfs_levels", settings["qcfs_levels"],
                                       meaning="QCFS quantization steps L", example=QCFS_LEVELS)
    if settings.get("qcfs_epochs") is not None:
        out["qcfs_epochs"] = check_int("qcfs_epochs", settings["qcfs_epochs"], 0,
                                       meaning="fine-tuning epochs", example=QCFS_EPOCHS)
    return out
