"""Issue 21 item 6: results files and checkpoints record what produced them."""

import json

import torch
from tests_toy import toy_config_dict

from spikebit.cli.report import info_report
from spikebit.provenance import describe, environment, with_provenance, write_result_json
from spikebit.train import config_from_dict
from spikebit.train.run import train_from_config


def test_environment_names_software_machine_and_threads():
    env = environment()
    assert env["torch"] == torch.__version__
    assert env["threads"] == torch.get_num_threads()
    assert env["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert env["device"] == ("cpu" if not torch.cuda.is_available() else env["device"])
    assert env["cpu"] and env["spikebit"]
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert environment()["threads"] == 1  # read at write time, not cached
    finally:
        torch.set_num_threads(old)


def test_results_files_carry_provenance(tmp_path):
    write_result_json(tmp_path / "r.json", {"rows": [1]})
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["rows"] == [1] and data["provenance"]["torch"] == torch.__version__
    kept = {"provenance": {"torch": "older"}}
    assert with_provenance(kept)["provenance"] == {"torch": "older"}


def test_run_metrics_and_info_show_the_training_environment(tmp_path):
    _, run_dir = train_from_config(config_from_dict(toy_config_dict(tmp_path, epochs=1)))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["provenance"]["threads"] == torch.get_num_threads()
    text = info_report(run_dir / "best.safetensors", measure=False)
    line = next(ln for ln in text.splitlines() if ln.startswith("trained with: "))
    assert line == "trained with: " + describe(environment())
    as_json = json.loads(info_report(run_dir / "best.safetensors", measure=False, as_json=True))
    assert as_json["provenance"]["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert describe(None).startswith("unknown")
