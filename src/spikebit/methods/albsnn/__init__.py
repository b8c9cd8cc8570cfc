"""ALBSNN (Pei et al. 2023): accuracy loss estimator, adaptive local binarization, BWO.

- :mod:`.ale`: eq. 5-10, the criterion ``R`` per quantizable layer.
- :mod:`.rules`: selection rules ``top-k``, ``sc1``..``sc4`` (``SELECTION_RULES``).
- :mod:`.selector`: the ``albsnn-selector`` callback ("Box": applied one step late).
- :mod:`.bwo`: binary weight optimization (§3.5) and its readings; :mod:`.bwo_callback`:
  the ``albsnn-bwo`` callback; :mod:`.bwo_probe`: the literal bound vs our cap on a
  trained model (``albsnn-bwo-bound``); :mod:`.bwo_readings`: the readings trained side
  by side (``albsnn-bwo-readings``).
- :mod:`.recipes` / :mod:`.experiments`: the Table 5 and Table 8 runs.

The GAP output block and the ABC-Net quantizer live in the core
(``spikebit.models.network``, ``spikebit.quant``).
"""

from spikebit.methods.albsnn.ale import (
    THETA_METHODS,
    ALEScores,
    LayerError,
    ale_scores,
    criterion,
    layer_error,
    parabola,
)
from spikebit.methods.albsnn.bwo import (
    BWOSettings,
    BWOStep,
    apply_bwo,
    apply_bwo_steps,
    bwo_layers,
    bwo_update,
)
from spikebit.methods.albsnn.bwo_callback import BinaryWeightOptimization
from spikebit.methods.albsnn.rules import SELECTION_RULES, select
from spikebit.methods.albsnn.selector import ALBSNNSelector, model_scores, selectable_layers

__all__ = [
    "SELECTION_RULES",
    "THETA_METHODS",
    "ALBSNNSelector",
    "ALEScores",
    "BWOSettings",
    "BWOStep",
    "BinaryWeightOptimization",
    "LayerError",
    "ale_scores",
    "apply_bwo",
    "apply_bwo_steps",
    "bwo_layers",
    "bwo_update",
    "criterion",
    "layer_error",
    "model_scores",
    "parabola",
    "select",
    "selectable_layers",
]
