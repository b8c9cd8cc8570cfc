"""MACs vs SOPs is decided by where a layer's input came from, not by its values."""

import pytest
import torch

from spikebit.metrics import measure_activity
from spikebit.models import ModelConfig, build_network


def _conv_pool_fc():
    """4x4 input -> 2C3 (padding 1) -> LIF -> AP2 -> FC 3, T=2, no BN."""
    cfg = ModelConfig(spec="2C3-AP2-3", in_shape=(1, 4, 4), num_classes=3, steps=2,
                      batchnorm=False)
    return build_network(cfg)


def _layers(report):
    return {x.name: x for x in report.layers}


def test_analog_input_on_a_quarter_grid_costs_macs_and_pooled_spikes_cost_sops():
    torch.manual_seed(0)
    model = _conv_pool_fc()
    x = torch.randint(0, 5, (3, 1, 4, 4)).float() / 4  # analog, but multiples of 1/4
    x[0, 0, 0, 0] = 0.25  # never all-integer
    first, last = list(_layers(measure_activity(model, [x])).values())
    assert first.real_valued_input and first.macs == 2 * first.flops_per_step
    assert first.sops == 0
    # the FC layer sees average-pooled spikes: provenance says spikes, whatever the values
    assert not last.real_valued_input and last.macs == 0
    assert last.sops == pytest.approx(2 * last.flops_per_step * last.input_rate)


def test_integer_event_counts_of_unknown_origin_cost_sops():
    model = _conv_pool_fc()
    counts = torch.randint(0, 3, (2, 1, 4, 4)).float()  # event-frame spike counts
    first = next(iter(_layers(measure_activity(model, [counts])).values()))
    assert not first.real_valued_input and first.macs == 0
    assert first.input_rate == pytest.approx(float(counts.mean()))
