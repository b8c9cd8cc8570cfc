"""What a first session with spikebit ran into: each case now gives a clear answer."""

from __future__ import annotations

import pytest

import spikebit
from spikebit.cli.main import main
from spikebit.errors import ConfigError
from spikebit.models import ModelConfig, build_network
from spikebit.train import load_config


def test_an_empty_config_file_is_an_error_not_a_default_run(tmp_path):
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(ConfigError, match="is empty"):
        load_config(empty)


def test_quiet_is_accepted_after_the_command(capsys):
    assert main(["configs", "list", "--quiet"]) == 0
    assert "demo" in capsys.readouterr().out


def test_provenance_records_the_imported_version():
    from spikebit.provenance import environment

    assert environment()["spikebit"] == spikebit.__version__


@pytest.mark.parametrize("field, value, message", [
    ("steps", 0, "steps"), ("steps", 2.5, "steps"), ("quantizer", None, "quantizer"),
    ("neuron", None, "neuron"), ("in_shape", (1, 0, 8), "in_shape"),
    ("num_classes", 0, "num_classes"), ("neuron_kwargs", None, "neuron_kwargs"),
])
def test_model_config_fields_are_checked_in_the_python_api(field, value, message):
    config = ModelConfig(spec="4C3-GAP", in_shape=(1, 8, 8))
    setattr(config, field, value)
    with pytest.raises(ConfigError, match=message):
        build_network(config)


def test_data_fetch_needs_names_and_knows_event_sets(capsys):
    assert main(["data", "fetch"]) == 2
    assert "name the datasets" in capsys.readouterr().err
    assert main(["data", "fetch", "shapez"]) == 2
    err = capsys.readouterr().err
    assert "Did you mean 'shapes'" in err and "nfmnist" in err
