import json
from pathlib import Path

import pytest
import yaml

from spikebit.cli.main import main


@pytest.fixture
def toy_yaml(tmp_path, toy_config):
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(toy_config))
    return path


def test_train_info_eval_end_to_end(toy_yaml, toy_config, capsys):
    assert main(["train", str(toy_yaml)]) == 0
    out = capsys.readouterr().out
    assert "test accuracy (last epoch)" in out and "storage:" in out and "run files:" in out
    run = f"{toy_config['out_dir']}/toy"
    assert main(["info", f"{run}/best.safetensors"]) == 0
    info = capsys.readouterr().out
    assert "firing rates" in info and "SOPs" in info and "energy" in info
    assert main(["info", f"{run}/best.safetensors", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["storage"]["total_bits"] > 0 and data["activity"]["sops"] > 0
    assert main(["eval", run]) == 0
    result = json.loads(capsys.readouterr().out)
    assert 0.5 < result["test_acc"] <= 1.0
    # the last checkpoint, evaluated again: the trainer's last-epoch numbers, with the
    # shares of samples without a single top class beside the accuracy
    final = json.loads((Path(run) / "metrics.json").read_text())["final"]
    for key in ("test_acc", "test_no_output", "test_tied"):
        assert result[key] == final[key], key


def test_models_and_data_list(capsys):
    assert main(["models"]) == 0
    assert "albsnn-mnist" in capsys.readouterr().out
    assert main(["data", "list"]) == 0
    assert "fashion-mnist" in capsys.readouterr().out


def test_errors_are_one_clear_line(toy_yaml, tmp_path, capsys):
    assert main(["train", str(toy_yaml), "--set", "optim.lrr=0.1"]) == 2
    err = capsys.readouterr().err
    assert "Did you mean 'lr'" in err and "Traceback" not in err
    assert main(["info", str(tmp_path / "missing.safetensors")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["train", str(toy_yaml), "--set", "model.name=albsnn-mnst"]) == 2
    assert "Did you mean 'albsnn-mnist'" in capsys.readouterr().err
    assert main(["train", str(toy_yaml), "--set", "model.args.spec=4C3-XX-GAP"]) == 2
    assert "unrecognized layer" in capsys.readouterr().err
