"""Neuron constructors refuse counts that are not integers and reals that are not finite,
instead of casting them: ``steps=2.7`` used to become 2 and ``threshold=nan`` gave a neuron
that never fires. LIF/IF/multi-threshold LIF, MFP (and its mixings) and the eq. 9 neuron."""

import numpy as np
import pytest
import torch

from spikebit.errors import ConfigError
from spikebit.functional.surrogate import get_surrogate
from spikebit.methods.mfp import FoldedThresholdNeuron, MFPNeuron
from spikebit.methods.mfp.folding import FoldingError
from spikebit.methods.mfp.neuron import LowerTriangularMixing, StepGainMixing
from spikebit.neurons import IF, LIF, MultiThresholdLIF, make_neuron
from spikebit.neurons.params import check_count, check_real

NAN, INF = float("nan"), float("inf")


def test_check_count():
    assert check_count(3, "n") == 3 and check_count(np.int64(2), "n") == 2
    assert type(check_count(np.int64(2), "n")) is int
    for bad in (2.7, 3.0, True, "3", None):
        with pytest.raises(ConfigError, match=r"n must be an integer >= 1, got"):
            check_count(bad, "n")
    with pytest.raises(ConfigError, match="got 0"):
        check_count(0, "n")
    assert check_count(0, "n", minimum=0) == 0


def test_check_real():
    assert check_real(2, "v") == 2.0 and check_real(torch.tensor(0.5), "v") == 0.5
    for bad in (NAN, INF, -INF, True, "1.0", None, torch.ones(3)):
        with pytest.raises(ConfigError, match="v must be a finite number"):
            check_real(bad, "v")
    assert check_real(-1.0, "v") == -1.0
    with pytest.raises(ConfigError, match="v must be > 0, got 0.0"):
        check_real(0, "v", positive=True)


@pytest.mark.parametrize("steps", [2.7, 3.0, True, 0])
def test_mfp_refuses_steps_that_are_not_whole(steps):
    with pytest.raises(ConfigError, match=r"steps \(T\) must be an integer >= 1"):
        MFPNeuron(steps)
    for form in (LowerTriangularMixing, StepGainMixing):
        with pytest.raises(ConfigError, match=r"steps \(T\)"):
            form(steps)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"threshold": NAN}, r"threshold \(V\) must be a finite number, got nan"),
    ({"threshold": INF}, r"threshold \(V\) must be a finite number, got inf"),
    ({"alpha": NAN}, r"alpha .* must be a finite number"),
    ({"alpha": 0.0}, "alpha .* must be non-zero"),
    ({"tau": NAN}, "tau must be a finite number"),
    ({"width": 0.0}, r"width \(surrogate\) must be > 0"),
    ({"width": NAN}, r"width \(surrogate\) must be a finite number"),
])
def test_mfp_refuses_non_finite_reals(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        MFPNeuron(4, **kwargs)


def test_mfp_keeps_integer_like_steps_and_its_values():
    n = MFPNeuron(np.int64(3), threshold=2, alpha=0.5)
    assert (n.steps, n.threshold, n.alpha) == (3, 2.0, 0.5) and type(n.steps) is int
    assert n(torch.ones(3, 1, 2)).shape == (3, 1, 2)


@pytest.mark.parametrize("cls", [LIF, IF, MultiThresholdLIF])
def test_integrate_fire_neurons_refuse_non_finite_thresholds(cls):
    for bad in (NAN, INF, True):
        with pytest.raises(ConfigError, match=r"threshold \(V\) must be a finite number"):
            cls(threshold=bad)
    with pytest.raises(ConfigError, match="must be a finite number"):
        cls(width=NAN)
    with pytest.raises(ConfigError, match=r"channels \(C\) must be an integer >= 1, got 2.5"):
        cls(learn_threshold=True, per_channel=True, channels=2.5)


def test_leak_and_multi_threshold_counts():
    with pytest.raises(ConfigError, match="tau must be a finite number"):
        LIF(tau=NAN)
    with pytest.raises(ConfigError, match=r"max_spikes \(O_max\) must be an integer >= 1, got 2.7"):
        MultiThresholdLIF(max_spikes=2.7)
    with pytest.raises(ConfigError, match=r"threshold \(V\) must be > 0"):
        MultiThresholdLIF(threshold=0.0)  # its output is floor(h / V)
    with pytest.raises(ConfigError, match="height"):
        MultiThresholdLIF(height=INF)
    assert LIF(threshold=np.float32(0.5)).threshold == 0.5


def test_make_neuron_refuses_fractional_steps_in_the_kwargs():
    with pytest.raises(ConfigError, match="got steps=2.7 in its kwargs"):
        make_neuron("mfp", {"steps": 2.7}, steps=2)


def test_folded_neuron_refuses_non_finite_thresholds():
    sur = get_surrogate("rectangle")
    for bad in (torch.tensor([1.0, NAN]), torch.tensor([INF, 1.0]), torch.ones(2, 2),
                torch.ones(0)):
        with pytest.raises(FoldingError, match=r"non-empty \[T\] vector of finite values"):
            FoldedThresholdNeuron(bad, sur)
    assert FoldedThresholdNeuron(torch.tensor([1.0, 2.0]), sur).steps == 2


@pytest.mark.parametrize("bad", [2.7, 3.0, True, "3"])
def test_mt_zoo_models_and_agmm_blocks_refuse_non_integer_counts(bad):
    """The staircase O_max reaches MultiThresholdLIF through the MT zoo parameters, and AGMM
    takes T: neither may truncate 2.7 to 2 or read True as 1."""
    from spikebit.methods.agmm.module import AGMM
    from spikebit.methods.multithreshold.params import mt_neuron_kwargs
    from spikebit.models import build_model

    with pytest.raises(ConfigError):
        build_model("mt-mlp-800", max_spikes=bad)
    with pytest.raises(ConfigError):
        mt_neuron_kwargs(max_spikes=bad)
    with pytest.raises(ConfigError):
        AGMM(bad)
    assert mt_neuron_kwargs(max_spikes=np.int64(3))["max_spikes"] == 3
    assert AGMM(np.int64(4)).steps == 4


@pytest.mark.parametrize("bad", [2.5, True, 0, -1])
def test_event_frames_refuse_a_non_integer_number_of_frames(bad):
    from spikebit.data.events.frames import events_to_frames
    from spikebit.errors import DataError

    events = np.zeros(3, dtype=[("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("p", "<i1")])
    events["t"] = [0, 10, 20]
    with pytest.raises(DataError):
        events_to_frames(events, (4, 4, 2), T=bad, time_unit="us")
    assert events_to_frames(events, (4, 4, 2), T=np.int64(2), time_unit="us").shape[0] == 2


def test_boolean_tensors_and_numpy_bools_are_not_counts():
    for bad in (np.bool_(True), torch.tensor(True)):
        with pytest.raises(ConfigError):
            check_count(bad, "steps")
    assert check_count(torch.tensor(4), "steps") == 4


def test_count_mse_computes_in_float32_for_bf16_outputs():
    from spikebit.methods.multithreshold.loss import count_mse

    out = torch.tensor([[[1.0, 3.0]]], dtype=torch.bfloat16)  # [T=1, B=1, K=2]
    loss = count_mse(out, torch.tensor([1]), target_count=4.0)
    assert loss.dtype == torch.float32 and loss.item() == (1.0 + 1.0) / 2
