"""One rule for counts and reals across the neuron and conversion argument checks."""

from fractions import Fraction

import numpy as np
import pytest
import torch

from spikebit.checks import finite_real, whole_number
from spikebit.conversion.errors import ConversionError
from spikebit.conversion.validate import check_int, check_number
from spikebit.errors import ConfigError
from spikebit.neurons.params import check_count, check_real


@pytest.mark.parametrize(("value", "expected"), [
    (4, 4), (np.int64(4), 4), (np.uint8(2), 2), (torch.tensor(3), 3),
    (True, None), (np.bool_(True), None), (torch.tensor(True), None),
    (2.7, None), (3.0, None), ("3", None), (None, None)])
def test_whole_number(value, expected):
    assert whole_number(value) == expected


@pytest.mark.parametrize(("value", "expected"), [
    (0.5, 0.5), (2, 2.0), (np.float32(0.25), 0.25), (torch.tensor(1.5), 1.5),
    (Fraction(1, 4), 0.25), (True, None), ("1", None), (float("nan"), None),
    (float("inf"), None), (torch.ones(2), None)])
def test_finite_real(value, expected):
    assert finite_real(value) == expected


@pytest.mark.parametrize("value", [2.7, 3.0, True, np.bool_(False), "3"])
def test_neurons_and_conversion_refuse_the_same_counts(value):
    with pytest.raises(ConfigError):
        check_count(value, "steps")
    with pytest.raises(ConversionError):
        check_int("T", value)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), True, "0.5"])
def test_neurons_and_conversion_refuse_the_same_reals(value):
    with pytest.raises(ConfigError):
        check_real(value, "tau")
    with pytest.raises(ConversionError):
        check_number("percentile", value)


def test_both_accept_numpy_and_0_dim_tensor_numbers():
    assert check_count(torch.tensor(4), "steps") == check_int("T", torch.tensor(4)) == 4
    assert check_real(np.float32(0.5), "tau") == check_number("lr", np.float32(0.5)) == 0.5
