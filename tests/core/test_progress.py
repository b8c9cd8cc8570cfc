"""Progress reports: plain lines off a terminal, quiet mode, ETA text from tqdm."""

from __future__ import annotations

import pytest

from spikebit import progress
from spikebit.progress import ProgressBar, track


@pytest.fixture(autouse=True)
def _not_quiet(monkeypatch):
    monkeypatch.delenv("SPIKEBIT_QUIET", raising=False)
    progress.set_quiet(False)
    yield
    progress._quiet = None


def test_plain_lines_every_n_updates_with_rate_and_eta(capsys):
    bar = ProgressBar(10, "epoch 1/2", unit="batch", every=4)
    for _ in range(10):
        bar.update(1, loss=0.5)
    bar.close()
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 3  # after 4, 8 and the final 10th update
    assert lines[0].startswith("epoch 1/2:") and "4/10" in lines[0]
    assert "<" in lines[0] and "batch/s" in lines[0]  # elapsed<ETA and the rate
    assert "10/10" in lines[-1] and "loss=0.5000" in lines[-1]


def test_close_prints_the_last_state_once(capsys, monkeypatch):
    monkeypatch.setenv("SPIKEBIT_PROGRESS_INTERVAL", "3600")
    bar = ProgressBar(None, "simulate", unit="sample")
    bar.update(3)
    bar.close()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "3sample" in err.replace(" ", "")


def test_quiet_silences_everything(capsys, monkeypatch):
    monkeypatch.setenv("SPIKEBIT_QUIET", "1")
    progress._quiet = None
    assert list(track(range(5), "x")) == [0, 1, 2, 3, 4]
    progress.set_quiet(True)
    with ProgressBar(2, "y", every=1) as bar:
        bar.update(2)
    assert capsys.readouterr().err == ""


def test_track_yields_every_item_and_reports_total(capsys):
    assert list(track(["a", "b"], "items", unit="file")) == ["a", "b"]
    assert "2/2" in capsys.readouterr().err
