"""Multi-threshold LIF (Xu et al.): several spikes per step, direct training at T=1-2.

Public API: :func:`mt_init_` (eq. 17, reconstructed), :func:`count_mse` (eq. 6,
registered as loss ``"mt-mse"``; callback ``"mt-count-loss"`` installs it),
:func:`mt_network` and the zoo entries ``mt-*``, :func:`paper_curve_params` /
:func:`mt_neuron_kwargs` (Table 1 in our units). The neuron itself is
``spikebit.neurons.MultiThresholdLIF`` (``"mtlif"``); its surrogate curves live
in ``spikebit.functional.staircase``. Experiments: ``experiments.py``.
"""

from spikebit.methods.multithreshold.init import fan_in, model_threshold, mt_init_
from spikebit.methods.multithreshold.loss import CountLoss, count_mse, count_targets
from spikebit.methods.multithreshold.params import mt_neuron_kwargs, paper_curve_params
from spikebit.methods.multithreshold.zoo import mt_network, with_pooling

__all__ = [
    "CountLoss",
    "count_mse",
    "count_targets",
    "fan_in",
    "model_threshold",
    "mt_init_",
    "mt_network",
    "mt_neuron_kwargs",
    "paper_curve_params",
    "with_pooling",
]
