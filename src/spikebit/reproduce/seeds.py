"""Aggregate the results of several seed repeats of one experiment: mean ± standard deviation.

Rows are matched by position (a runner returns the same rows, in the same order, for
every seed). A numeric column whose value differs between seeds becomes its mean, with
the sample standard deviation (``ddof=1``) in ``<column>_std`` and the per-seed values in
``<column>_seeds``; values equal in every repeat (the paper's number, a setting) stay as
they are.
"""

from __future__ import annotations

import math
from typing import Any

from spikebit.errors import SpikebitError


def _numeric(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (``ddof=1``; 0.0 for one value) of ``values``."""
    n = len(values)
    mean = sum(values) / n
    if n == 1:
        return mean, 0.0
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))


def _aggregate(first: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Any]:
    """``first`` with every numeric entry that varies across ``records`` replaced by its
    mean, plus ``<key>_std`` and ``<key>_seeds``."""
    out: dict[str, Any] = {}
    for key, value in first.items():
        values = [r.get(key) for r in records]
        if all(_numeric(v) for v in values) and len(set(values)) > 1:
            mean, std = mean_std([float(v) for v in values])
            out[key], out[f"{key}_std"], out[f"{key}_seeds"] = mean, std, values
        else:
            out[key] = value
    return out


def aggregate_fields(per_seed: list[dict[str, Any]], skip: tuple[str, ...] = ("rows",)
                     ) -> dict[str, Any]:
    """The top-level entries of several repeats' results: a number that varies (e.g. an
    experiment's ``accuracy_gap_points``) becomes its mean with ``_std`` and ``_seeds``.

    Args:
        per_seed: the result mapping of each seed repeat.
        skip: keys copied from the first repeat untouched (the rows are aggregated by
            :func:`aggregate_rows`).

    Returns:
        The first repeat's mapping with varying numbers aggregated.
    """
    first = {k: v for k, v in per_seed[0].items() if k not in skip}
    return {**per_seed[0], **_aggregate(first, per_seed)}


def aggregate_rows(per_seed: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One row per position: mean, ``_std`` and ``_seeds`` of every varying numeric column.

    ``per_seed[k]`` is the list of rows that seed repeat ``k`` returned.

    Raises:
        SpikebitError: the repeats returned different numbers of rows.
    """
    counts = {len(rows) for rows in per_seed}
    if len(counts) != 1:
        raise SpikebitError(
            f"seed repeats returned different numbers of rows ({sorted(counts)}); the "
            "experiment's rows must not depend on the seed to be aggregated."
        )
    return [_aggregate(first, [rows[i] for rows in per_seed])
            for i, first in enumerate(per_seed[0])]
