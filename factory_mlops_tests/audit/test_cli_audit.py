"""`audit verify` / `audit show`: output, JSON, exit codes, home resolution."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from factory_mlops.audit import AuditLog, add_audit_parser
from factory_mlops.home import FactoryHome
from factory_mlops_tests.audit._helpers import edit_entry, read_lines, write_lines


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="factory-mlops")
    sub = parser.add_subparsers(dest="command", required=True)
    add_audit_parser(sub)
    args = parser.parse_args(list(argv))
    return args.func(args)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A home whose audit log tells a small story across two plants."""
    log = AuditLog.for_home(FactoryHome(tmp_path))
    log.append(
        "retrain_requested",
        actor="sensor:drift_sensor",
        plant="plant_a",
        reason="PSI 0.31 on barrel_temp_c",
    )
    log.append(
        "gate_decision",
        actor="system:gate",
        plant="plant_a",
        versions={"version": 4},
        reason="passed",
    )
    log.append(
        "promotion",
        actor="person:j.doe",
        plant="plant_a",
        versions={"from": 3, "to": 4},
        reason="CR-1182",
    )
    log.append(
        "deployment",
        actor="system:edge",
        plant="plant_b",
        versions={"version": 2},
        details={"node": "n1"},
    )
    log.append(
        "rollback",
        actor="person:m.roe",
        plant="plant_a",
        versions={"from": 4, "to": 3},
        reason="false alarms",
    )
    return tmp_path


def audit_log(home: Path) -> AuditLog:
    return AuditLog.for_home(FactoryHome(home))


def test_verify_ok(home: Path, capsys: pytest.CaptureFixture[str]):
    assert run("audit", "verify", "--home", str(home)) == 0
    last = audit_log(home).last()
    assert capsys.readouterr().out == f"audit log OK: 5 entries, last hash {last.hash}\n"


def test_verify_json(home: Path, capsys: pytest.CaptureFixture[str]):
    assert run("audit", "verify", "--home", str(home), "--json") == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert json.loads(out) == {
        "ok": True,
        "entries": 5,
        "first_bad": None,
        "problem": None,
        "last_hash": audit_log(home).last().hash,
    }


def test_verify_broken_exits_1(home: Path, capsys: pytest.CaptureFixture[str]):
    log = audit_log(home)
    second = log.entries()[1]
    edit_entry(log.path, 3, reason="approved")
    assert run("audit", "verify", "--home", str(home)) == 1
    out = capsys.readouterr().out.splitlines()
    assert (
        out[0]
        == "audit log BROKEN: entry 3: hash does not match its content (edited after it was written)"
    )
    assert out[1] == f"  entries 1-2 are intact (last hash {second.hash}); 5 lines in {log.path}"
    assert run("audit", "verify", "--home", str(home), "--json") == 1
    result = json.loads(capsys.readouterr().out)
    assert (result["ok"], result["first_bad"], result["entries"], result["last_hash"]) == (
        False,
        3,
        5,
        second.hash,
    )
    assert result["problem"].startswith("entry 3: hash does not match")


def test_verify_tail_deleted_exits_1(home: Path, capsys: pytest.CaptureFixture[str]):
    log = audit_log(home)
    write_lines(log.path, read_lines(log.path)[:-1])
    assert run("audit", "verify", "--home", str(home), "--json") == 1
    result = json.loads(capsys.readouterr().out)
    assert result["first_bad"] == 5
    assert (
        result["problem"]
        == "log has 4 entries but the head anchor records 5 (entries deleted from the end)"
    )


def test_verify_against_an_external_anchor(home: Path, capsys: pytest.CaptureFixture[str]):
    kept = audit_log(home).last().hash
    assert run("audit", "verify", "--home", str(home), "--anchor", kept) == 0
    assert run("audit", "verify", "--home", str(home), "--anchor", "c" * 64) == 1
    assert "the external anchor cccc" in capsys.readouterr().out
    assert run("audit", "verify", "--home", str(home), "--anchor", "not-a-hash") == 2
    assert "anchor must be a sha256 hex digest" in capsys.readouterr().err


def test_verify_empty_home_and_home_from_the_environment(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.setenv("FACTORY_MLOPS_HOME", str(tmp_path / "env_home"))
    assert run("audit", "verify") == 0
    out = capsys.readouterr().out
    assert out.startswith("audit log OK: 0 entries (empty log at ")
    assert str(tmp_path / "env_home" / "audit" / "audit.jsonl") in out
    assert not (tmp_path / "env_home").exists()  # verifying creates nothing


def test_show_table(home: Path, capsys: pytest.CaptureFixture[str]):
    assert run("audit", "show", "--home", str(home)) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[0].split() == [
        "#",
        "time",
        "(UTC)",
        "kind",
        "plant",
        "actor",
        "versions",
        "reason",
    ]
    assert len(lines) == 6 and captured.err == ""
    first = audit_log(home).entries()[0]
    assert lines[1].split()[:6] == [
        "1",
        *first.at[:19].split("T"),
        "retrain_requested",
        "plant_a",
        "sensor:drift_sensor",
    ]
    assert lines[1].endswith("PSI 0.31 on barrel_temp_c")
    assert "v3 → v4" in lines[3] and lines[3].endswith("CR-1182")
    assert "v4 → v3" in lines[5] and "person:m.roe" in lines[5]


def test_show_filters_and_limit(home: Path, capsys: pytest.CaptureFixture[str]):
    assert (
        run(
            "audit",
            "show",
            "--home",
            str(home),
            "--plant",
            "plant_a",
            "--kind",
            "promotion",
            "--kind",
            "rollback",
            "--json",
        )
        == 0
    )
    assert [e["seq"] for e in json.loads(capsys.readouterr().out)] == [3, 5]
    assert (
        run("audit", "show", "--home", str(home), "--plant", "plant_a", "--limit", "2", "--json")
        == 0
    )
    assert [e["kind"] for e in json.loads(capsys.readouterr().out)] == ["promotion", "rollback"]
    assert run("audit", "show", "--home", str(home), "--plant", "plant_c") == 0
    assert capsys.readouterr().out == "no matching audit entries\n"


def test_show_json_is_the_entries(home: Path, capsys: pytest.CaptureFixture[str]):
    assert run("audit", "show", "--home", str(home), "--json") == 0
    assert json.loads(capsys.readouterr().out) == [e.to_dict() for e in audit_log(home).entries()]


def test_show_warns_when_the_log_is_broken_and_fails_when_unreadable(home: Path, capsys):
    log = audit_log(home)
    edit_entry(log.path, 2, reason="failed")
    assert run("audit", "show", "--home", str(home)) == 0
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 6
    assert captured.err.startswith("warning: audit log BROKEN: entry 2: hash does not match")
    lines = read_lines(log.path)
    write_lines(log.path, [*lines[:3], b"garbage\n", *lines[4:]])
    assert run("audit", "show", "--home", str(home)) == 1
    err = capsys.readouterr().err
    assert "line 4 is not valid JSON" in err and "factory-mlops audit verify" in err


def test_show_usage_errors_exit_2(home: Path, capsys: pytest.CaptureFixture[str]):
    for argv in (["--kind", "promote"], ["--limit", "0"]):
        with pytest.raises(SystemExit) as info:
            run("audit", "show", "--home", str(home), *argv)
        assert info.value.code == 2
    assert "invalid choice: 'promote'" in capsys.readouterr().err
