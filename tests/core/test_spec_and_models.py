import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from spikebit.errors import ShapeError, SpecError
from spikebit.metrics import model_storage
from spikebit.models import (
    MODELS,
    ModelConfig,
    build_model,
    build_network,
    format_spec,
    parse_spec,
)
from spikebit.quant import quantized_layers

PAPER_SPECS = [
    "16C3-16C3-AP2-64C3-64C3-AP2-256C3-1024C3-GAP",
    "15C5-P2-40C5-P2-300",
    "96C3-256C3-P2-384C3-P2-384C3-256C3-1024-1024",
    "12C5-P2-64C5-P2-10",
]

conv = st.builds(lambda c, k: f"{c}C{k}", st.integers(1, 512), st.sampled_from([1, 3, 5, 7]))
pool = st.builds(lambda p, k: f"{p}{k}", st.sampled_from(["AP", "P"]), st.integers(1, 4))
fc = st.integers(1, 4096).map(str)


@st.composite
def specs(draw):
    spatial = draw(st.lists(st.one_of(conv, pool), min_size=0, max_size=6))
    tail = draw(st.lists(fc, min_size=0, max_size=3))
    end = draw(st.sampled_from(["", "GAP"])) if not tail else ""
    tokens = spatial + tail + ([end] if end else [])
    return "-".join(tokens) if tokens else "10"


@given(specs())
@settings(max_examples=200, deadline=None)
def test_parse_format_roundtrip(spec):
    assert format_spec(parse_spec(spec)) == spec


@pytest.mark.parametrize("spec", PAPER_SPECS)
def test_paper_specs_parse(spec):
    assert format_spec(parse_spec(spec)) == spec


@pytest.mark.parametrize(
    "spec, bad",
    [
        ("16C3-AP2-6x4-GAP", "6x4"),
        ("16C3--AP2", ""),
        ("16C3-GAP-10", "GAP"),
        ("16C3-100-16C3", "16C3"),
        ("0C3-10", "0C3"),
    ],
)
def test_malformed_spec_points_at_bad_token(spec, bad):
    with pytest.raises(SpecError) as info:
        parse_spec(spec)
    msg = str(info.value)
    assert f"token {bad!r}" in msg and "^" in msg and spec in msg


@given(st.text(alphabet="0123456789CAPGX-", min_size=1, max_size=20))
@settings(max_examples=200, deadline=None)
def test_parser_never_crashes_with_an_unexpected_error(text):
    try:
        parse_spec(text)
    except SpecError:
        pass


def test_build_counts_and_output_shapes():
    x = torch.rand(3, 1, 28, 28)
    for spec, padding in [(PAPER_SPECS[0], "same"), (PAPER_SPECS[1], "valid"),
                          (PAPER_SPECS[3], "valid")]:
        m = build_network(ModelConfig(spec=spec, steps=2, padding=padding))
        assert m(x).shape == (2, 3, 10)
    m = build_network(ModelConfig(spec=PAPER_SPECS[3], padding="valid"))
    assert len(quantized_layers(m)) == 3  # the final '10' is the output layer
    m = build_network(ModelConfig(spec="15C5-P2-40C5-P2-300", padding="valid"))
    assert len(quantized_layers(m)) == 4  # output FC appended


def test_full_precision_selection_and_storage():
    cfg = ModelConfig(spec="4C3-AP2-8C3-GAP", quantizer="sign", full_precision=[0, -1])
    m = build_network(cfg)
    flags = [layer.quantize for _, layer in quantized_layers(m)]
    assert flags == [False, True, False]
    s = model_storage(m)
    conv1 = 32 * 4 * 9
    conv2 = 8 * 4 * 9 + 32 * 8
    gap = 32 * (10 * 8 * 9 + 10)
    assert [x.bits for x in s.layers] == [conv1, conv2, gap]
    bn = 32 * 2 * (4 + 8)
    assert s.other_bits == bn and s.total_bits == conv1 + conv2 + gap + bn
    with pytest.raises(SpecError, match="out of range"):
        build_network(ModelConfig(spec="4C3-GAP", full_precision=[5]))


def test_input_shape_errors():
    m = build_network(ModelConfig(spec="4C3-GAP", in_shape=(1, 8, 8)))
    with pytest.raises(ShapeError, match="in_shape"):
        m(torch.rand(2, 3, 8, 8))
    with pytest.raises(ShapeError, match="expects input"):
        m(torch.rand(8, 8))
    assert m(torch.rand(1, 2, 1, 8, 8)).shape == (1, 2, 10)  # a sequence input
    with pytest.raises(ShapeError, match="time_first=False"):
        m(torch.rand(3, 2, 1, 8, 8))  # T=3 but the model was built for steps=1
    assert m(torch.rand(3, 2, 1, 8, 8), check_steps=False).shape == (3, 2, 10)
    with pytest.raises(SpecError, match="too small"):
        build_network(ModelConfig(spec="4C5-P2-4C5-P2-4C5", in_shape=(1, 8, 8), padding="valid"))


@pytest.mark.parametrize("name", MODELS.names())
def test_every_zoo_model_trains_one_step(name):
    """Contract over the zoo: builds narrow, no NaN, every parameter gets a gradient."""
    overrides = _small_overrides(name)
    m = build_model(name, **overrides)
    cfg = m.config if hasattr(m, "config") else None
    shape = overrides.get("in_shape", getattr(cfg, "in_shape", (1, 28, 28)))
    x = torch.rand(2, *shape)
    out = m(x)
    assert torch.isfinite(out).all()
    out.float().mean(0).logsumexp(-1).sum().backward()
    for pname, p in m.named_parameters():
        assert p.grad is not None, f"{name}: {pname} got no gradient"
        assert torch.isfinite(p.grad).all()


def _small_overrides(name: str) -> dict:
    spec_small = {
        "albsnn-mnist": "4C3-4C3-AP2-8C3-GAP",
        "albsnn-mnist-narrow": "4C3-AP2-8C3-GAP",
        "albsnn-cifar10": "4C3-AP2-8C3-GAP",
        "albsnn-cifar100": "4C3-AP2-8C3-GAP",
        "albsnn-table7": "4C3-AP2-8C3-GAP",
    }
    if name in spec_small:
        return {"spec": spec_small[name]}
    other = {
        "agmm-resnet19": {"width": 1 / 32, "in_shape": (3, 16, 16)},
        "agmm-resnet18": {"width": 1 / 16, "in_shape": (3, 32, 32)},
        "agmm-vggsnn": {"width": 1 / 16, "in_shape": (2, 16, 16), "steps": 3},
        "ann-vgg16": {"width": 1 / 16},
        "ann-resnet18": {"width": 1 / 16},
        "ann-resnet20": {"width": 1 / 4},
        "ann-resnet34": {"width": 1 / 16},
    }
    if name.startswith("mfp-"):
        return {"width": 1 / 16}
    return other.get(name, {})
