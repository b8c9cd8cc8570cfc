"""Eq. 9 threshold folding, as the paper states it: where it equals eq. 7 and where not."""

import pytest
import torch

from spikebit.methods.mfp import (
    THRESHOLD_READINGS,
    FoldedThresholdNeuron,
    MFPNeuron,
    fold_network,
    fold_neuron,
    layer_spike_mismatch,
)
from spikebit.methods.mfp.folding import FoldingError
from spikebit.models import ModelConfig, build_network


def test_thresholds_of_the_initial_matrix_by_hand():
    # M[t,i] = tau^(t-i)  =>  M^-1 = I - tau * subdiagonal, so M^-1 (V 1) = V [1, 1-tau, ...]
    n = MFPNeuron(steps=4, threshold=0.8, tau=0.25, alpha=2.0)
    rowsum = fold_neuron(n, "rowsum").thresholds
    torch.testing.assert_close(rowsum, torch.tensor([0.4, 0.3, 0.3, 0.3]))
    diagonal = fold_neuron(n, "diagonal").thresholds
    torch.testing.assert_close(diagonal, torch.tensor([0.4, 0.4, 0.4, 0.4]))


@pytest.mark.parametrize("reading", ["rowsum", "diagonal"])
def test_equivalent_when_m_is_diagonal(reading):
    """No temporal mixing (M diagonal, positive): eq. 9 equals eq. 7 exactly."""
    n = MFPNeuron(steps=5, threshold=0.7, alpha=1.0).double()
    with torch.no_grad():
        n.mixing.weight.copy_(torch.diag(torch.tensor([1.0, 2.0, 0.5, 4.0, 1.0])))
    x = torch.randn(5, 64, 9, dtype=torch.float64)
    assert torch.equal(n(x), fold_neuron(n, reading).double()(x))


def test_not_equivalent_with_temporal_mixing_hand_example():
    # tau=0.5, V=1, x = 0.6 each step: eq. 7 H = 0.6, 0.9, 1.05 -> 0, 0, 1
    n = MFPNeuron(steps=3, threshold=1.0, tau=0.5)
    x = torch.full((3, 1), 0.6)
    assert n(x).flatten().tolist() == [0.0, 0.0, 1.0]
    # rowsum thresholds 1, 0.5, 0.5 -> fires at steps 1 and 2; diagonal 1, 1, 1 -> never
    assert fold_neuron(n, "rowsum")(x).flatten().tolist() == [0.0, 1.0, 1.0]
    assert fold_neuron(n, "diagonal")(x).flatten().tolist() == [0.0, 0.0, 0.0]
    # the first step has no history: it always agrees
    for reading in THRESHOLD_READINGS.names():
        assert torch.equal(fold_neuron(n, reading)(x)[0], n(x)[0])


@pytest.mark.parametrize("reading", ["rowsum", "diagonal"])
def test_mismatch_rate_on_random_inputs_is_far_from_zero(reading):
    """Random currents (N(0.5, 1)), initial M (tau=0.5), T=4: a large fraction of spikes differ.
    Measured values are recorded by benchmarks/mfp_speed.py (section eq9)."""
    torch.manual_seed(0)
    n = MFPNeuron(steps=4, threshold=1.0, tau=0.5)
    x = torch.randn(4, 4096) + 0.5
    exact, folded = n(x), fold_neuron(n, reading)(x)
    assert torch.equal(exact[0], folded[0])
    later = (exact[1:] != folded[1:]).float().mean().item()
    assert later > 0.05


def test_folded_neuron_step_matches_its_forward_and_is_memoryless():
    n = MFPNeuron(steps=3, threshold=0.5)
    f = fold_neuron(n)
    x = torch.randn(3, 2, 5)
    state, outs = None, []
    for t in range(3):
        s, state = f.step(x[t], state)
        outs.append(s)
    assert torch.equal(torch.stack(outs), f(x))
    assert state.t == 3  # the only state is the step index


def test_singular_m_is_a_clear_error():
    n = MFPNeuron(steps=2)
    with torch.no_grad():
        n.mixing.weight[1, 1] = 0.0
    with pytest.raises(FoldingError, match="singular"):
        fold_neuron(n)


def test_fold_network_and_layer_mismatch():
    torch.manual_seed(0)
    net = build_network(ModelConfig(spec="6C3-AP2-8C3", in_shape=(1, 8, 8), steps=4,
                                    neuron="mfp", neuron_kwargs={"threshold": 0.5}))
    folded = fold_network(net)
    assert not any(isinstance(m, MFPNeuron) for m in folded.modules())
    assert sum(isinstance(m, FoldedThresholdNeuron) for m in folded.modules()) == 2
    assert any(isinstance(m, MFPNeuron) for m in net.modules())  # the original is untouched
    mismatch = layer_spike_mismatch(net, torch.rand(8, 1, 8, 8))
    assert set(mismatch) == {"body.2", "body.6"}
    assert all(0.0 < v < 1.0 for v in mismatch.values())
