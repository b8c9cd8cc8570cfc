"""Model spec parser, network builder and the model zoo."""

from spikebit.models.network import ModelConfig, SpikingNet, build_network
from spikebit.models.spec import LayerSpec, format_spec, parse_spec
from spikebit.models.zoo import MODEL_INFO, MODELS, register_model

__all__ = [
    "MODELS",
    "MODEL_INFO",
    "LayerSpec",
    "ModelConfig",
    "SpikingNet",
    "build_model",
    "build_network",
    "format_spec",
    "parse_spec",
    "register_model",
]


def build_model(name: str, **overrides: object):  # noqa: ANN201 - returns nn.Module
    """Build a zoo model by name with keyword overrides.

    Args:
        name: a name in ``MODELS`` (``spikebit models`` lists them).
        **overrides: the factory's keyword arguments (e.g. :class:`ModelConfig` fields
            such as ``steps``, ``quantizer``; ``width`` for scaled families).

    Returns:
        model (nn.Module): the model, typically a :class:`SpikingNet`.

    Raises:
        RegistryError: unknown ``name``.
        SpecError: an invalid spec or ``full_precision`` index.
        ConfigError: invalid neuron arguments (and, for some families, unknown overrides).
    """
    return MODELS.get(name)(**overrides)
