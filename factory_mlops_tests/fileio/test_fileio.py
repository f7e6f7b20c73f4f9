"""The shared durable-write and hashing helpers (`factory_mlops.fileio`).

Crash safety itself (a power cut between rename and folder fsync) cannot be tested here; these
tests pin what can be: content, permissions, the temp file never outliving the call, hashes.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from factory_mlops import fileio
from factory_mlops.fileio import (
    atomic_path,
    atomic_write_bytes,
    atomic_write_text,
    fsync_dir,
    sha256_bytes,
    sha256_file,
)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _umask() -> int:
    old = os.umask(0)
    os.umask(old)
    return old


def test_atomic_write_bytes_writes_and_replaces(tmp_path: Path):
    target = tmp_path / "a.bin"
    atomic_write_bytes(target, b"first")
    assert target.read_bytes() == b"first"
    atomic_write_bytes(target, b"second, longer")
    assert target.read_bytes() == b"second, longer"
    atomic_write_bytes(target, b"")
    assert target.read_bytes() == b""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin"]


def test_atomic_write_text_encodes_without_newline_translation(tmp_path: Path):
    target = tmp_path / "t.txt"
    atomic_write_text(target, "é\r\nx\n")
    assert target.read_bytes() == "é\r\nx\n".encode()
    atomic_write_text(target, "é", encoding="latin-1")
    assert target.read_bytes() == b"\xe9"


def test_a_new_file_gets_mode_less_the_umask(tmp_path: Path):
    atomic_write_bytes(tmp_path / "default", b"x")
    assert _mode(tmp_path / "default") == 0o666 & ~_umask()
    atomic_write_bytes(tmp_path / "private", b"x", mode=0o600)
    assert _mode(tmp_path / "private") == 0o600


@pytest.mark.parametrize("writer", ["bytes", "path"])
def test_an_existing_file_keeps_its_permissions(tmp_path: Path, writer: str):
    target = tmp_path / "kept"
    target.write_bytes(b"old")
    os.chmod(target, 0o640)
    if writer == "bytes":
        atomic_write_bytes(target, b"new", mode=0o666)
    else:
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new"
    assert _mode(target) == 0o640


def test_atomic_path_yields_a_hidden_sibling_and_renames_it(tmp_path: Path):
    target = tmp_path / "frame.csv"
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".frame.csv.")
        assert tmp.name.endswith(".tmp") and tmp.exists() and not target.exists()
        with tmp.open("w", encoding="utf-8", newline="") as fh:
            fh.write("a,b\r\n1,2\n")
    assert target.read_bytes() == b"a,b\r\n1,2\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frame.csv"]


def test_a_failing_writer_leaves_the_target_and_no_temp_file(tmp_path: Path):
    target = tmp_path / "report.html"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="boom"), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]


def test_a_failed_rename_leaves_no_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    target = tmp_path / "head.json"
    target.write_bytes(b"old")

    def fail(*_args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(fileio.os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_bytes(target, b"new")
    with pytest.raises(OSError, match="disk full"), atomic_path(target) as tmp:
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["head.json"]


def test_a_missing_folder_raises_and_creates_nothing(tmp_path: Path):
    with pytest.raises(FileNotFoundError):
        atomic_write_bytes(tmp_path / "no" / "such.bin", b"x")
    assert list(tmp_path.iterdir()) == []


def test_fsync_dir_skips_or_raises(tmp_path: Path):
    fsync_dir(tmp_path)
    fsync_dir(tmp_path, strict=True)
    fsync_dir(tmp_path / "missing")  # skipped by default
    with pytest.raises(FileNotFoundError):
        fsync_dir(tmp_path / "missing", strict=True)


def test_hashes_match_hashlib(tmp_path: Path):
    data = os.urandom(3 * (1 << 20) + 17)  # more than one read chunk
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    want = hashlib.sha256(data).hexdigest()
    assert sha256_file(path) == want == sha256_bytes(data)
    assert sha256_file(str(path)) == want
    (tmp_path / "empty").write_bytes(b"")
    assert sha256_file(tmp_path / "empty") == hashlib.sha256(b"").hexdigest()
    with pytest.raises(FileNotFoundError):
        sha256_file(tmp_path / "missing")
