"""Error compensation from a pre-simulation: srp and cos (Hao et al. 2023), and the QCFS
equivalence they build on (Bu et al. 2022)."""

import pytest
import torch
from conv_helpers import images, mean_error, tiny_cnn, tiny_resnet
from torch import nn

from spikebit.conversion import ConversionError, convert
from spikebit.conversion.dynamics import Clock, build_method
from spikebit.conversion.qcfs import QCFS
from spikebit.conversion.resnet import BasicBlock


def _run(method, currents: list[list[float]], state=None) -> tuple[list[list[float]], object]:
    """Feed one neuron per column the rows of ``currents``; spikes per step and the state."""
    out = []
    for row in currents:
        s, state = method.fire(torch.tensor(row), Clock(0, 1), state)
        out.append(s.tolist())
    return out, state


def test_srp_silences_neurons_with_nonpositive_residual_potential() -> None:
    srp = build_method("srp", presim=2)
    currents = [[0.6, 0.3], [-0.6, 0.3]]
    # A: v 0.5+0.6=1.1 -> spike, 0.1; 0.1-0.6=-0.5 -> v(2)=-0.5 <= 1e-3: silenced.
    # B: 0.8; 1.1 -> spike, v(2)=0.1 > 1e-3: kept
    pre, state = _run(srp, currents)
    assert pre == [[1.0, 0.0], [0.0, 1.0]]
    state = srp.restart(state)
    torch.testing.assert_close(state.v, torch.tensor([0.5, 0.5]))
    assert state.mask.tolist() == [0.0, 1.0]
    measured, state = _run(srp, currents, state)
    # A still crosses the threshold at step 1 and resets, but sends nothing
    assert measured == [[0.0, 0.0], [0.0, 1.0]]
    torch.testing.assert_close(state.v, torch.tensor([-0.5, 0.1]))


def test_cos_removes_an_extra_spike_and_adds_a_missing_one() -> None:
    cos = build_method("cos", presim=4)
    # A: 1.1 -> spike (pre-reset 1.1), 0.1; 0.7; 0.2; -0.3: N=1 but round(S=0.2)=0 ->
    #    v(4)<0, N>0: shift down by max(1, 1.1-0.999) = 1, v'(0) = -0.5.
    # B: 0.5, 0.5, 0.5, 2.3 -> spike, 1.3: N=1 but round(S=1.8)=2 -> v(4)>=1: shift up by
    #    max(1, 1.001-0.5) = 1, v'(0) = 1.5.
    # C: constant 0.3: 0.8, 1.1->0.1, 0.4, 0.7: N=1=round(1.2), v(4)=0.7: no shift.
    currents = [[0.6, 0.0, 0.3], [0.6, 0.0, 0.3], [-0.5, 0.0, 0.3], [-0.5, 1.8, 0.3]]
    pre, state = _run(cos, currents)
    assert [sum(col) for col in zip(*pre)] == [1.0, 1.0, 1.0]
    state = cos.restart(state)
    torch.testing.assert_close(state.v, torch.tensor([-0.5, 1.5, 0.5]))
    measured, _ = _run(cos, currents, state)
    # the measured counts are round(S): 0, 2, 1
    assert [sum(col) for col in zip(*measured)] == [0.0, 2.0, 1.0]


def test_cos_shift_is_the_smallest_that_changes_the_count() -> None:
    cos = build_method("cos", presim=2)
    # 0.5 + 2.5 = 3.0 -> spike (pre-reset 3.0), 2.0; 2.0 - 2.5 = -0.5 -> v(2) < 0, N = 1:
    # a shift of 1 would leave 2.0 >= 1 at step 1; the shift is 3.0 - 0.999 = 2.001
    _, state = _run(cos, [[2.5], [-2.5]])
    state = cos.restart(state)
    torch.testing.assert_close(state.v, torch.tensor([0.5 - 2.001]))
    # a neuron that fired at every step gets no upward shift (it cannot fire more)
    _, state = _run(cos, [[3.0], [3.0]])
    assert float(state.v[0]) >= 1.0
    torch.testing.assert_close(cos.restart(state).v, torch.tensor([0.5]))


def test_presim_option_is_checked() -> None:
    for bad in (0, -1, 2.0, True):
        with pytest.raises(ConversionError, match="presim"):
            build_method("srp", presim=bad)
    with pytest.raises(ConversionError, match="presim is not used by method 'ltb'"):
        convert(tiny_cnn(), images(4), method="ltb", presim=4)
    with pytest.raises(ConversionError, match="takes no option.*presim: cos, srp"):
        build_method("ltb", presim=4)
    snn = convert(tiny_cnn(), images(4), method="cos", presim=3)
    assert snn.presim == 3
    assert convert(tiny_cnn(), images(4), method="ltb").presim == 0


def _one_layer_qcfs(levels: int, pool: nn.Module) -> nn.Sequential:
    """conv -> QCFS -> pool -> linear: one spiking layer, then the readout."""
    torch.manual_seed(3)
    return nn.Sequential(nn.Conv2d(2, 5, 3, padding=1), QCFS(levels, threshold=0.6), pool,
                         nn.Flatten(), nn.Linear(5 * 4 * 4, 4)).eval()


@pytest.mark.parametrize("pool", [nn.AvgPool2d(2), nn.MaxPool2d(2)], ids=["avg", "max"])
@pytest.mark.parametrize("levels", [1, 2, 4, 8])
def test_qcfs_snn_at_T_equal_L_is_the_qcfs_ann(levels: int, pool: nn.Module) -> None:
    # Bu et al. 2022: an IF neuron with threshold lambda, v(0) = lambda/2, fed the constant
    # current z, has fired clip(floor(z T / lambda + 1/2), 0, T) spikes of lambda after T
    # steps: at T = L exactly the QCFS activation times T / L. With one spiking layer the
    # readout (linear in the spike counts; max-pool of counts = max of activations) is
    # the QCFS ANN's output. cos changes nothing here: a constant current leaves v(T) in
    # [0, 1), or never fires, or fires at every step. (srp would silence the neurons whose
    # v(T) happens to fall in [0, 1e-3].)
    net, x = _one_layer_qcfs(levels, pool), images(8)
    ref = net(x).detach()
    for method in ("qcfs", "cos"):
        snn = convert(net, x, method=method, thresholds="module",
                      **({} if method == "qcfs" else {"presim": levels}))
        out = snn.simulate(x, levels)[-1]
        torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5, msg=method)


def test_qcfs_snn_differs_from_the_ann_between_multiples_of_L() -> None:
    # ... but only at T = L: after T = 3 steps the counts resolve thirds, not quarters
    net, x = _one_layer_qcfs(4, nn.AvgPool2d(2)), images(8)
    snn = convert(net, x, method="qcfs")
    out = snn.simulate(x, 4)
    assert (out[2] - net(x).detach()).abs().max() > 1e-3
    torch.testing.assert_close(out[3], net(x).detach(), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("make", [tiny_cnn, tiny_resnet])
@pytest.mark.parametrize("method", ["srp", "cos"])
def test_presim_methods_run_deep_graphs_and_cos_converges(make, method: str) -> None:
    net, x = make(), images(16)
    snn = convert(net, x, method=method, thresholds="percentile", percentile=100.0, presim=4)
    err = mean_error(snn.simulate(x, 128), net(x).detach())
    assert torch.isfinite(err).all()
    if method == "cos":  # only the initial potential moves: the rate still converges
        assert err[-1] < 0.1 * err[0] and err[-1] < 5e-3, (err[0], err[-1])


def test_presim_restarts_residual_blocks() -> None:
    # a restart reaches the neurons inside a residual block's body and its output neurons
    net = nn.Sequential(nn.Conv2d(2, 6, 3, padding=1), nn.ReLU(), BasicBlock(6, 6),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 4)).eval()
    x = images(4)
    snn = convert(net, x, method="srp", presim=3)
    nodes = list(snn.nodes)
    seen = []

    def record(state):
        seen.append(state)
        return state.__class__(state.v, torch.ones_like(state.v))

    snn.method.restart = record  # count the neuron states restarted
    snn.simulate(x, 2)
    block_neurons = 1 + sum(1 for m in nodes[1].body.modules() if hasattr(m, "chain"))
    assert len(seen) == 1 + block_neurons
