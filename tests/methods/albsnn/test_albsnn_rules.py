"""Selection rules on constructed R values."""

from __future__ import annotations

import pytest

from spikebit.errors import ConfigError, RegistryError
from spikebit.methods.albsnn import SELECTION_RULES, select

R = [5.0, 1.0, 3.0, 0.0, 2.0, 4.0]  # L = 6


@pytest.mark.parametrize(
    "rule, k, expected",
    [
        ("top-k", 2, [0, 5]),  # the two largest: 5 and 4
        ("top-k", 3, [0, 2, 5]),
        ("top-k", 0, []),
        ("sc1", 0, [0, 2, 5]),  # mean 2.5 -> 5, 3, 4
        ("sc2", 0, [0]),  # above the last layer's 4
        ("sc3", 0, [0, 2, 4, 5]),  # ends + others (1, 3, 0, 2; mean 1.5) above: 3, 2
        ("sc4", 0, [0, 1, 5]),  # ends + closest to 1.5: 1 and 2 tie at 0.5 -> lower index
    ],
)
def test_rules_pick_expected_layers(rule, k, expected):
    assert select(rule, R, k) == expected


def test_rules_on_paper_like_R_profile():
    # A tiny first layer dominates the mean, as on the *MNIST structure.
    r = [100.0, 9.0, 1.0, 0.0, 0.5, 0.6, 8.0]
    assert select("top-k", r, 2) == [0, 1]
    assert select("sc1", r) == [0]
    assert select("sc2", r) == [0, 1]
    assert select("sc3", r) == [0, 1, 6]  # others' mean 2.22: only layer 2 above
    assert select("sc4", r) == [0, 2, 6]  # layer 3 (R=1) is closest to 2.22


def test_rule_registry_and_errors():
    assert {"top-k", "sc1", "sc2", "sc3", "sc4"} <= set(SELECTION_RULES.names())
    with pytest.raises(ConfigError, match="0 <= k <= 6"):
        select("top-k", R, 7)
    with pytest.raises(ConfigError, match="at least 3 layers"):
        select("sc3", [1.0, 2.0])
    with pytest.raises(RegistryError, match="Did you mean 'sc1'"):
        select("sc11", R)
