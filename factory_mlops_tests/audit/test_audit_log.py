"""AuditLog: what an entry holds and how it is hashed, validation, queries, and refusing to append
to a damaged log."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from factory_mlops.audit import GENESIS_HASH, KINDS, AuditEntry, AuditError, AuditLog
from factory_mlops.errors import FactoryMLOpsError
from factory_mlops.home import FactoryHome
from factory_mlops_tests.audit._helpers import edit_entry, make_log, read_lines, write_lines

AT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+00:00$")


def test_for_home_path_and_a_missing_file_is_an_empty_log(tmp_path: Path):
    log = AuditLog.for_home(FactoryHome(tmp_path / "home"))
    assert log.path == tmp_path / "home" / "audit" / "audit.jsonl"
    assert log.head_path == tmp_path / "home" / "audit" / "audit.head.json"
    assert log.entries() == [] and log.last() is None
    result = log.verify()
    assert (result.ok, result.entries, result.first_bad, result.last_hash) == (True, 0, None, None)
    assert not (tmp_path / "home").exists()  # reading creates nothing
    log.append("feedback", actor="person:op1", plant="plant_a")
    assert log.path.is_file() and log.head_path.is_file()
    assert (tmp_path / "home" / "audit" / "audit.jsonl.lock").is_file()


def test_entry_fields_hash_and_chain_are_exactly_as_specified(tmp_path: Path):
    log = AuditLog(tmp_path / "audit.jsonl")
    before = dt.datetime.now(dt.UTC)
    first = log.append(
        "rollback",
        actor="person:j.doe",
        plant="plant_a",
        reason="false alarms on line 2",
        versions={"from": 3, "to": 2},
        details={"ticket": "CR-1182", "alarms": [4, 7]},
    )
    second = log.append("gate_decision", actor="system:gate", versions={"version": 4})
    assert (first.seq, second.seq) == (1, 2)
    assert first.prev_hash == GENESIS_HASH == "0" * 64 and second.prev_hash == first.hash
    assert AT.match(first.at) and before <= dt.datetime.fromisoformat(first.at) <= dt.datetime.now(
        dt.UTC
    )
    assert (second.plant, second.reason, second.details) == (None, "", {})
    # The hash is sha256 of the canonical JSON of every field but `hash`, recomputed here by hand
    # from the stored line.
    for raw, entry in zip(read_lines(log.path), (first, second), strict=True):
        stored = json.loads(raw)
        assert stored == entry.to_dict()
        body = {k: v for k, v in stored.items() if k != "hash"}
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert hashlib.sha256(canonical.encode()).hexdigest() == stored["hash"] == entry.hash
    head = json.loads(log.head_path.read_text())
    assert head == {"entries": 2, "last_hash": second.hash}


def test_entries_round_trip(tmp_path: Path):
    log, written = make_log(tmp_path / "audit.jsonl", n=6)
    log.append(
        "contract_change", actor="person:Zoë", reason="añadir sensor µm", details={"ünï": "çødé"}
    )
    back = log.entries()
    assert back == [*written, back[-1]] and back[-1].details == {"ünï": "çødé"}
    assert [AuditEntry.from_dict(e.to_dict()) for e in back] == back
    assert all(e.computed_hash() == e.hash for e in back)
    assert AuditLog(log.path).verify().ok  # non-ASCII text hashes the same on read


def test_to_dict_returns_copies(tmp_path: Path):
    entry = AuditLog(tmp_path / "a.jsonl").append("feedback", actor="person:a", details={"x": [1]})
    entry.to_dict()["details"]["x"].append(2)
    assert entry.details == {"x": [1]} and entry.computed_hash() == entry.hash


def test_numpy_values_are_converted_to_python_numbers(tmp_path: Path):
    log = AuditLog(tmp_path / "audit.jsonl")
    entry = log.append(
        "registration",
        actor="system:registry",
        versions={"version": np.int64(7)},
        details={
            "n": np.int32(5),
            "auc": np.float64(0.91),
            "passed": np.bool_(True),
            "shape": (2, 3),
        },
    )
    assert entry.versions == {"version": 7} and type(entry.versions["version"]) is int
    assert entry.details == {"n": 5, "auc": 0.91, "passed": True, "shape": [2, 3]}
    assert [type(entry.details[k]) for k in ("n", "auc", "passed")] == [int, float, bool]
    assert log.entries() == [entry] and log.verify().ok


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"actor": ""}, "actor must be a non-empty string"),
        ({"actor": "   "}, "actor must be a non-empty string"),
        ({"actor": None}, "actor must be a non-empty string"),
        ({"plant": ""}, "plant must be a non-empty string"),
        ({"reason": 3}, "reason must be a string"),
        ({"versions": {"version": "4"}}, r"versions\['version'\] must be an int"),
        ({"versions": {"version": True}}, r"versions\['version'\] must be an int"),
        ({"versions": [3]}, "versions must be a dict"),
        (
            {"details": {"when": dt.datetime(2026, 1, 1)}},
            r"details\.when is a datetime.*not JSON-serialisable",
        ),
        ({"details": {"s": {1, 2}}}, r"details\.s is a set"),
        ({"details": {"a": [1, float("nan")]}}, r"details\.a\[1\] is nan"),
        ({"details": {"m": {3: "x"}}}, r"details\.m has the key 3 \(int\)"),
        ({"details": {"arr": np.arange(3)}}, r"details\.arr is a ndarray.*\.tolist\(\)"),
        ({"details": ["not", "a", "dict"]}, "details must be a dict"),
    ],
)
def test_invalid_arguments_are_refused_before_anything_is_written(tmp_path: Path, kwargs, message):
    log = AuditLog(tmp_path / "audit" / "audit.jsonl")
    with pytest.raises(AuditError, match=message):
        log.append("feedback", **{"actor": "person:a", **kwargs})
    assert not log.path.exists()


def test_unknown_kind_names_it_and_the_known_ones(tmp_path: Path):
    log = AuditLog(tmp_path / "audit.jsonl")
    with pytest.raises(AuditError) as info:
        log.append("promote", actor="person:a")
    assert isinstance(info.value, FactoryMLOpsError)
    assert "'promote'" in str(info.value) and all(kind in str(info.value) for kind in KINDS)
    assert not log.path.exists()


def test_queries_filter_by_plant_and_kinds_in_file_order(tmp_path: Path):
    log, written = make_log(tmp_path / "audit.jsonl", n=10)
    assert log.entries() == written
    assert log.entries(plant="plant_b") == written[1::2]
    assert [e.seq for e in log.entries(kinds=["promotion", "deployment"])] == [4, 5, 9, 10]
    assert log.entries(kinds="promotion") == log.entries(kinds=["promotion"])  # one kind as a str
    assert [e.seq for e in log.entries(plant="plant_a", kinds={"promotion", "deployment"})] == [
        5,
        9,
    ]
    assert log.entries(plant="plant_z") == []
    assert log.last() == written[-1]
    assert log.last("plant_a") == written[8]
    assert log.last(plant="plant_b", kinds=["retrain_requested"]).seq == 6
    assert log.last(kinds=["rollback"]) is None
    with pytest.raises(AuditError, match=r"unknown audit kind.*promotoin"):
        log.entries(kinds=["promotoin"])


def test_queries_raise_on_an_unreadable_line_instead_of_skipping_it(tmp_path: Path):
    log, _ = make_log(tmp_path / "audit.jsonl", n=5)
    lines = read_lines(log.path)
    lines[2] = b'{"seq": 3, "kind": "promo\n'
    write_lines(log.path, lines)
    with pytest.raises(AuditError, match=r"line 3 is not valid JSON.*audit verify"):
        log.entries()
    with pytest.raises(AuditError, match=r"line 3 from the end is not valid JSON.*audit verify"):
        log.last(kinds=["retrain_requested"])  # entry 1: read back past the bad line
    assert log.last().seq == 5  # the most recent entry is found before reaching it
    lines[2] = json.dumps({"seq": 3}).encode() + b"\n"
    write_lines(log.path, lines)
    with pytest.raises(AuditError, match="entry 3: missing field"):
        log.entries()


def test_last_refuses_a_torn_final_line(tmp_path: Path):
    log, _ = make_log(tmp_path / "audit.jsonl", n=3)
    log.path.write_bytes(log.path.read_bytes()[:-20])
    with pytest.raises(AuditError, match=r"incomplete.*audit verify"):
        log.last()
    with pytest.raises(AuditError, match="line 3 is incomplete"):
        log.entries()


def _refused(log: AuditLog, match: str) -> None:
    before = (
        log.path.read_bytes() if log.path.exists() else None,
        log.head_path.read_bytes() if log.head_path.exists() else None,
    )
    with pytest.raises(AuditError, match=match) as info:
        log.append("feedback", actor="person:a")
    assert "factory-mlops audit verify" in str(info.value)
    after = (
        log.path.read_bytes() if log.path.exists() else None,
        log.head_path.read_bytes() if log.head_path.exists() else None,
    )
    assert after == before  # nothing was written


def test_append_refuses_after_a_torn_last_line(tmp_path: Path):
    log, _ = make_log(tmp_path / "audit.jsonl", n=4)
    log.path.write_bytes(log.path.read_bytes()[:-30])  # the last write was cut short
    _refused(log, "last line is not a complete, valid audit entry")


def test_append_refuses_after_a_garbled_or_edited_last_line(tmp_path: Path):
    log, _ = make_log(tmp_path / "audit.jsonl", n=4)
    original = log.path.read_bytes()
    lines = read_lines(log.path)
    write_lines(log.path, [*lines[:-1], b"\x00\x00garbage\n"])
    _refused(log, "last line is not valid JSON")
    log.path.write_bytes(original)
    edit_entry(log.path, 4, reason="nothing to see")
    _refused(log, "hash does not match its content")


def test_append_refuses_when_the_log_and_its_head_anchor_disagree(tmp_path: Path):
    log, _ = make_log(tmp_path / "audit.jsonl", n=4)
    original, head = log.path.read_bytes(), log.head_path.read_bytes()
    write_lines(log.path, read_lines(log.path)[:-1])  # tail deleted
    _refused(log, r"last entry \(seq 3\) does not match the head anchor \(4 entries")
    log.path.unlink()  # whole log deleted: must not start a fresh chain over the evidence
    _refused(log, "log is missing or empty but its head anchor records 4 entries")
    assert not log.path.exists()
    log.path.write_bytes(original)
    log.head_path.unlink()
    _refused(log, "head anchor audit.head.json is missing")
    log.head_path.write_bytes(b"{not json")
    _refused(log, "head anchor audit.head.json is not valid JSON")
    log.head_path.write_bytes(head)
    assert log.append("feedback", actor="person:a").seq == 5 and log.verify().ok


def test_append_reads_only_the_end_of_the_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    log = AuditLog(tmp_path / "audit.jsonl")
    with monkeypatch.context() as fast:
        fast.setattr(os, "fsync", lambda fd: None)  # durability is not under test here
        for i in range(300):
            log.append("feedback", actor="sensor:drift", details={"i": i, "pad": "x" * 2000})
    size = log.path.stat().st_size
    assert size > 600_000
    read = []
    real_pread = os.pread

    def pread(fd: int, n: int, offset: int) -> bytes:
        read.append(n)
        return real_pread(fd, n, offset)

    real_open = Path.open

    def path_open(self: Path, *args, **kwargs):
        assert self != log.path, "append must not read the log front to back"
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(os, "pread", pread)
    monkeypatch.setattr(Path, "open", path_open)
    assert log.append("feedback", actor="sensor:drift").seq == 301
    assert 0 < sum(read) <= 64 * 1024 + 1
    monkeypatch.undo()
    assert log.verify().ok


def test_the_audit_package_needs_neither_dagster_nor_mlflow(tmp_path: Path):
    script = textwrap.dedent(
        """
        import json, sys
        for name in ("dagster", "mlflow"):
            sys.modules[name] = None  # any `import name` now raises ImportError
        from factory_mlops.audit import AuditLog, add_audit_parser
        log = AuditLog(sys.argv[1])
        log.append("deployment", actor="system:edge", plant="plant_a", versions={"version": 2})
        leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("dagster", "mlflow") and sys.modules[m])
        print(json.dumps({"ok": log.verify().ok, "leaked": leaked}))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "audit.jsonl")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"ok": True, "leaked": []}
