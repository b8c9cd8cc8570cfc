"""The CLI side of issue 20: one-line errors for refused resumes and corrupt checkpoints,
``--no-verify`` to skip hashing, and the environment a checkpoint was trained in."""

import os

import yaml
from tests_toy import toy_config_dict

from spikebit.cli.main import main
from spikebit.train.checkpoint import VERIFY_ENV


def test_resume_refusal_flip_detection_and_no_verify(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(VERIFY_ENV, raising=False)
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(toy_config_dict(tmp_path / "runs", epochs=1)))
    assert main(["train", str(path)]) == 0
    capsys.readouterr()
    assert main(["train", str(path), "--resume", "--set", "seed=9", "--set",
                 "optim.epochs=2"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cannot resume" in err and "seed: 3 -> 9" in err
    assert main(["train", str(path), "--resume", "--set", "optim.epochs=2",
                 "--set", "optim.lr=0.005"]) == 0  # allowed changes
    capsys.readouterr()
    best = tmp_path / "runs" / "toy" / "best.safetensors"
    raw = bytearray(best.read_bytes())
    raw[-1] ^= 0x01  # last byte of the last tensor
    best.write_bytes(bytes(raw))
    assert main(["info", str(best), "--no-activity"]) == 2
    assert "fails its SHA-256 check" in capsys.readouterr().err
    monkeypatch.setenv(VERIFY_ENV, "1")  # restored by monkeypatch after the test
    assert main(["info", str(best), "--no-activity", "--no-verify"]) == 0
    assert os.environ[VERIFY_ENV] == "0"
    assert "trained with: spikebit" in capsys.readouterr().out
