"""ANN -> SNN conversion (BSNN, Li et al. 2022) with rate and phase baselines.

``convert(ann, calibration_data, method="bsnn"|"phase"|"rate")`` returns a
:class:`SpikingConverted` whose ``simulate(x, T)`` gives the running readout
``[T, B, K]``; :func:`evaluate_conversion` measures accuracy per step.
Importing the package also registers the ANNs as ``ann-<name>`` in the model
zoo, so the project trainer trains them.
"""

from spikebit.conversion import resnet as _resnet  # noqa: F401  (registers the ResNets)
from spikebit.conversion import zoo_models as _zoo_models  # noqa: F401  (ann-* in MODELS)
from spikebit.conversion.calibrate import percentile
from spikebit.conversion.dynamics import INPUT_CODINGS, METHODS, build_method
from spikebit.conversion.errors import ConversionError
from spikebit.conversion.evaluate import evaluate_conversion, output_differences
from spikebit.conversion.fold import fold_batchnorm
from spikebit.conversion.snn import SpikingConverted, convert
from spikebit.conversion.zoo import ANN_ZOO, build_ann

__all__ = [
    "ANN_ZOO",
    "INPUT_CODINGS",
    "METHODS",
    "ConversionError",
    "SpikingConverted",
    "build_ann",
    "build_method",
    "convert",
    "evaluate_conversion",
    "fold_batchnorm",
    "output_differences",
    "percentile",
]
