"""Run a NIR graph in other libraries (snnTorch, Norse) and spikebit networks, recording spikes.

The importers map NIR ``Flatten(start_dim=0)`` (per-sample dims, the NIR convention)
to ``torch.nn.Flatten(0)``, so they are driven one unbatched sample at a time.
"""

from __future__ import annotations

import contextlib
import io
import logging

import torch
from torch import nn


def _hooked(modules: list[nn.Module]) -> tuple[list[list[torch.Tensor]], list]:
    records: list[list[torch.Tensor]] = [[] for _ in modules]
    handles = []
    for rec, m in zip(records, modules):
        handles.append(m.register_forward_hook(
            lambda _m, _i, out, rec=rec: rec.append(out[0] if isinstance(out, tuple) else out)))
    return records, handles


def _run(net: nn.Module, cells: list[nn.Module], x: torch.Tensor, steps: int, call):
    """``call(net, x_t, state) -> (out, state)``; returns ``(logits [T,B,K], spikes [T,B,...])``."""
    outs, spikes = [], []
    with torch.no_grad():
        for b in range(x.shape[0]):
            records, handles = _hooked(cells)
            state, seq = None, []
            for t in range(steps):
                xt = x[t, b] if x.ndim == 5 else x[b]
                out, state = call(net, xt, state)
                seq.append(out)
            for h in handles:
                h.remove()
            outs.append(torch.stack(seq))
            spikes.append([torch.stack(r) for r in records])
    logits = torch.stack(outs, 1)
    per_layer = [torch.stack([s[i] for s in spikes], 1) for i in range(len(cells))]
    return logits, per_layer


def run_snntorch(graph, x: torch.Tensor, steps: int):
    """snnTorch's ``import_from_nir``: returns ``(logits, spikes per neuron layer)``."""
    import snntorch
    import snntorch.utils
    from snntorch.import_nir import import_from_nir

    with contextlib.redirect_stdout(io.StringIO()):  # the importer prints warnings
        net = import_from_nir(graph)
    cells = [m for m in net.modules() if isinstance(m, snntorch.Leaky)]

    def call(net, xt, state):
        if state is None:
            snntorch.utils.reset(net)
        out = net(xt)
        return (out[0] if isinstance(out, tuple) else out), True

    return _run(net, cells, x, steps, call)


def run_norse(graph, x: torch.Tensor, steps: int, dt: float):
    """Norse's ``from_nir`` with the graph's ``dt``: returns ``(logits, spikes per layer)``."""
    import norse.torch as norse

    logging.disable(logging.WARNING)  # Norse warns that it ignores r (we write r = 1)
    try:
        net = norse.from_nir(graph, dt=dt)
    finally:
        logging.disable(logging.NOTSET)
    cells = [m for m in net.modules() if type(m).__name__ in ("LIFBoxCell", "IAFCell")]

    def call(net, xt, state):
        return net(xt, state)

    return _run(net, cells, x, steps, call)


def run_spikebit(model: nn.Module, x: torch.Tensor):
    """``model(x)`` in eval mode with every neuron layer's spikes recorded."""
    from spikebit.export.adapters import read_dynamics

    cells = [m for m in model.modules() if read_dynamics(m) is not None]
    records, handles = _hooked(cells)
    with torch.no_grad():
        out = model(x)
    for h in handles:
        h.remove()
    return out, [r[0] for r in records]
