"""The albsnn-bwo-bound experiment: literal BWO bound vs the cap, on a trained toy ALBSNN."""

from __future__ import annotations

import pytest

from spikebit.methods.albsnn import bwo_probe
from spikebit.reproduce import EXPERIMENTS


def test_bwo_bound_rows_on_a_trained_toy_model(monkeypatch, quad_config, tmp_path):
    quad_config["optim"]["batch_size"] = 32
    monkeypatch.setattr(bwo_probe, "variant_run", lambda variant, budget: dict(quad_config))
    result = EXPERIMENTS.get("albsnn-bwo-bound").runner("smoke", tmp_path / "bwo")
    assert (tmp_path / "albsnn-table5" / "quad" / "last.safetensors").is_file()  # shared run
    rows = result["rows"]
    assert [(r["setting"], r["times"]) for r in rows][0] == ("trained ALBSNN, no BWO", 0)
    assert len(rows) == 1 + 2 * len(bwo_probe.PROBE_SETTINGS)
    for r in rows:
        assert 0.0 <= r["adjusted_share"] <= 1.0 and 0.0 <= r["acc"] <= 100.0
    share = {(r["setting"], r["times"]): r["adjusted_share"] for r in rows}
    literal, capped = list(bwo_probe.PROBE_SETTINGS)[0], list(bwo_probe.PROBE_SETTINGS)[2]
    # the literal |g| bound admits weights on this model; more applications touch more
    assert share[(literal, 5)] >= share[(literal, 1)] > 0.0
    # the cap admits at most floor(0.001 n) per layer per application: none on layers this small
    assert share[(capped, 1)] == share[(capped, 5)] == 0.0
    # nothing adjusted -> the model (BN running statistics included) is the trained one
    acc = {(r["setting"], r["times"]): r["acc"] for r in rows}
    assert acc[(capped, 5)] == acc[("trained ALBSNN, no BWO", 0)]


def test_probe_leaves_the_given_model_alone(quad_config):
    from spikebit.train import config_from_dict
    from spikebit.train.losses import LOSSES
    from spikebit.train.run import prepare

    model, train, test, _ = prepare(config_from_dict(quad_config))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    out = bwo_probe.probe(model, train, test, LOSSES.get("mse"),
                          bwo_probe.PROBE_SETTINGS["literal, bound |g|"], times=2, batch_size=16)
    assert out["adjusted_share"] > 0.0
    assert all(v.equal(model.state_dict()[k]) for k, v in before.items())
    again = bwo_probe.probe(model, train, test, LOSSES.get("mse"),
                            bwo_probe.PROBE_SETTINGS["literal, bound |g|"], times=2, batch_size=16)
    assert again == pytest.approx(out)
