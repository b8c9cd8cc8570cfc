"""Every CLI argument explains itself; configs by name; data list shows cache state."""

from __future__ import annotations

import argparse

import pytest

from spikebit.cli.main import build_parser, main


def _subparsers(parser: argparse.ArgumentParser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            yield from action.choices.items()


def test_every_argument_of_every_command_has_help():
    parser = build_parser()
    assert "``" not in (parser.description or "")  # no raw reST in --help
    missing = []
    for name, sub in _subparsers(parser):
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            if not action.help:
                missing.append(f"{name} {action.dest}")
    assert missing == []


def test_version_flag(capsys):
    import spikebit

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"spikebit {spikebit.__version__}"


def test_configs_list_show_copy_and_clear_errors(tmp_path, capsys):
    assert main(["configs", "list"]) == 0
    names = capsys.readouterr().out.split()
    assert "demo" in names and all(not n.endswith(".yaml") for n in names)
    assert main(["configs", "show", "demo"]) == 0
    assert "albsnn-mnist-narrow" in capsys.readouterr().out
    assert main(["configs", "copy", "demo", str(tmp_path)]) == 0
    assert (tmp_path / "demo.yaml").is_file()
    assert main(["configs", "copy", "demo", str(tmp_path)]) == 2  # never overwrites silently
    assert "--overwrite" in capsys.readouterr().err
    assert main(["configs", "show", "dmeo"]) == 2
    assert "Did you mean 'demo'" in capsys.readouterr().err


def test_train_accepts_a_shipped_name_and_resolves_paths(tmp_path, monkeypatch):
    from spikebit.train.shipped import resolve_config, shipped_config

    monkeypatch.chdir(tmp_path)  # outside the checkout
    assert resolve_config("demo") == shipped_config("demo")
    assert resolve_config("configs/demo.yaml") == shipped_config("demo")
    mine = tmp_path / "demo.yaml"
    mine.write_text("name: mine\n")
    assert resolve_config("demo.yaml").resolve() == mine  # an existing file wins


def test_data_list_shows_event_sets_and_cache_state(tmp_path, capsys):
    (tmp_path / "digits").mkdir()
    (tmp_path / "digits" / "digits.csv.gz").write_bytes(b"x")
    assert main(["data", "list", "--data-dir", str(tmp_path)]) == 0
    rows = {line.split()[0]: line.split()[1:3] for line in capsys.readouterr().out.splitlines()[1:]}
    assert rows["digits"] == ["static", "yes"] and rows["fashion-mnist"] == ["static", "no"]
    assert rows["nfmnist"] == ["events", "no"]
