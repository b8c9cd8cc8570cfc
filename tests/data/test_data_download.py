"""download(): checksum-verified, atomic, against a local HTTP server."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from spikebit.data import download
from spikebit.data.download import parse_checksum, verify
from spikebit.errors import DataError

BODY = bytes(range(256)) * 4000  # ~1 MB, crosses the 1 MiB read size
SHA = hashlib.sha256(BODY).hexdigest()
MD5 = hashlib.md5(BODY).hexdigest()


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.mark.parametrize(
    "checksum",
    [SHA, f"sha256:{SHA}", MD5, f"md5:{MD5.upper()}"],
    ids=["sha", "sha:", "md5", "MD5:"],
)
def test_good_file_is_saved(http_server, tmp_path, checksum):
    http_server.files["/good.bin"] = BODY
    dest = tmp_path / "sub" / "good.bin"
    assert download(f"{http_server.url}/good.bin", dest, checksum) == dest
    assert dest.read_bytes() == BODY
    assert _leftovers(dest.parent) == ["good.bin"]


def test_existing_good_file_is_not_downloaded_again(http_server, tmp_path):
    http_server.files["/good.bin"] = BODY
    dest = tmp_path / "good.bin"
    download(f"{http_server.url}/good.bin", dest, SHA)
    download(f"{http_server.url}/good.bin", dest, SHA)
    assert http_server.requests == ["/good.bin"]


def test_corrupted_file_is_rejected_and_not_left(http_server, tmp_path):
    http_server.files["/bad.bin"] = BODY[:-1] + b"\x00"
    dest = tmp_path / "bad.bin"
    with pytest.raises(DataError, match="sha256 check") as err:
        download(f"{http_server.url}/bad.bin", dest, SHA)
    assert str(dest) in str(err.value) and SHA in str(err.value)
    assert _leftovers(tmp_path) == []


def test_truncated_download_is_rejected_and_not_left(http_server, tmp_path):
    http_server.files["/cut.bin"] = BODY
    http_server.cut["/cut.bin"] = len(BODY) // 3
    dest = tmp_path / "cut.bin"
    with pytest.raises(DataError, match="truncated") as err:
        download(f"{http_server.url}/cut.bin", dest, SHA)
    assert str(dest) in str(err.value)
    assert _leftovers(tmp_path) == []


def test_stale_file_is_replaced_and_failure_keeps_no_partial(http_server, tmp_path):
    dest = tmp_path / "f.bin"
    dest.write_bytes(b"stale")
    http_server.files["/f.bin"] = BODY
    download(f"{http_server.url}/f.bin", dest, MD5)
    assert verify(dest, MD5)
    dest.write_bytes(b"stale")
    with pytest.raises(DataError, match="could not download"):
        download(f"{http_server.url}/missing.bin", dest, MD5)
    assert _leftovers(tmp_path) == ["f.bin"] and dest.read_bytes() == b"stale"
    assert not verify(dest, MD5)


@pytest.mark.parametrize("bad", ["", "abc", "sha1:" + "0" * 40, "md5:" + "z" * 32, "0" * 40])
def test_bad_checksum_strings(bad):
    with pytest.raises(DataError, match="checksum"):
        parse_checksum(bad)
